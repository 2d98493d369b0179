#include "wire/backend_query.h"

#include <string>

#include "gtest/gtest.h"
#include "wire/bytes.h"

namespace walrep {
namespace {

using std::string_literals::operator""s;

void PutField(ByteWriter* w, absl::string_view name, uint32_t type_oid, int16_t format = 0) {
  w->PutCString(name);
  w->PutU32(0);
  w->PutI16(0);
  w->PutU32(type_oid);
  w->PutI16(-1);
  w->PutI32(-1);
  w->PutI16(format);
}

TEST(RowDescriptionTest, Decodes) {
  std::string body;
  ByteWriter w(&body);
  w.PutI16(2);
  PutField(&w, "systemid", kTextOid);
  w.PutCString("timeline");
  w.PutU32(1259);
  w.PutI16(3);
  w.PutU32(kInt8Oid);
  w.PutI16(8);
  w.PutI32(-1);
  w.PutI16(1);
  auto rd = DecodeRowDescription(body);
  ASSERT_TRUE(rd.ok()) << rd.status();
  ASSERT_EQ(rd->fields.size(), 2u);
  EXPECT_EQ(rd->fields[0].name, "systemid");
  EXPECT_EQ(rd->fields[0].type_oid, kTextOid);
  const auto& f = rd->fields[1];
  EXPECT_EQ(f.table_oid, 1259u);
  EXPECT_EQ(f.column_attnum, 3);
  EXPECT_EQ(f.type_oid, kInt8Oid);
  EXPECT_EQ(f.type_size, 8);
  EXPECT_EQ(f.type_modifier, -1);
  EXPECT_EQ(f.format, 1);
}

TEST(RowDescriptionTest, ZeroFields) {
  auto rd = DecodeRowDescription("\0\0"s);
  ASSERT_TRUE(rd.ok());
  EXPECT_TRUE(rd->fields.empty());
}

TEST(RowDescriptionTest, Hostile) {
  EXPECT_FALSE(DecodeRowDescription("").ok());
  EXPECT_FALSE(DecodeRowDescription("\xff\xff"s).ok());  // negative
  EXPECT_FALSE(DecodeRowDescription("\x7f\xff"s).ok());  // over cap, no bytes
  std::string body;
  ByteWriter w(&body);
  w.PutI16(3);
  PutField(&w, "a", kTextOid);
  PutField(&w, "b", kTextOid);
  EXPECT_FALSE(DecodeRowDescription(body).ok());  // count larger than fields present
  std::string bad_format;
  ByteWriter w2(&bad_format);
  w2.PutI16(1);
  PutField(&w2, "a", kTextOid, 2);
  EXPECT_FALSE(DecodeRowDescription(bad_format).ok());
  std::string trailing;
  ByteWriter w3(&trailing);
  w3.PutI16(1);
  PutField(&w3, "a", kTextOid);
  w3.PutU8(0);
  EXPECT_FALSE(DecodeRowDescription(trailing).ok());
  std::string two;
  ByteWriter w4(&two);
  w4.PutI16(2);
  PutField(&w4, "a", kTextOid);
  PutField(&w4, "b", kTextOid);
  EXPECT_TRUE(DecodeRowDescription(two).ok());
  EXPECT_FALSE(DecodeRowDescription(two, 1).ok());  // caller's cap
  // Unterminated name.
  std::string unterminated = "\0\1"s + std::string(30, 'x');
  EXPECT_FALSE(DecodeRowDescription(unterminated).ok());
}

TEST(DataRowTest, ValuesAndNulls) {
  std::string body;
  ByteWriter w(&body);
  w.PutI16(3);
  w.PutI32(3);
  w.PutBytes("abc");
  w.PutI32(-1);
  w.PutI32(0);
  auto row = DecodeDataRow(body);
  ASSERT_TRUE(row.ok()) << row.status();
  ASSERT_EQ(row->values.size(), 3u);
  EXPECT_EQ(*row->values[0], "abc");
  EXPECT_FALSE(row->values[1].has_value());
  ASSERT_TRUE(row->values[2].has_value());
  EXPECT_EQ(*row->values[2], "");
}

TEST(DataRowTest, Hostile) {
  EXPECT_FALSE(DecodeDataRow("").ok());
  EXPECT_FALSE(DecodeDataRow("\xff\xff"s).ok());
  EXPECT_FALSE(DecodeDataRow("\x7f\xff"s).ok());
  EXPECT_FALSE(DecodeDataRow("\0\1\0\0\0\5abc"s).ok());                          // value past body
  EXPECT_FALSE(DecodeDataRow("\0\1\xff\xff\xff\xfe"s).ok());                     // length -2
  EXPECT_FALSE(DecodeDataRow("\0\1\x7f\xff\xff\xff"s).ok());                     // huge length
  EXPECT_FALSE(DecodeDataRow("\0\1\0\0\0\1ab"s).ok());                           // trailing
  EXPECT_FALSE(DecodeDataRow("\0\2\0\0\0\1a"s).ok());                            // missing column
  EXPECT_FALSE(DecodeDataRow("\0\2\xff\xff\xff\xff\xff\xff\xff\xff"s, 1).ok());  // cap
}

TEST(CommandCompleteTest, Decodes) {
  EXPECT_EQ(*DecodeCommandComplete("SELECT 1\0"s), "SELECT 1");
  EXPECT_FALSE(DecodeCommandComplete("SELECT").ok());
  EXPECT_FALSE(DecodeCommandComplete("A\0B"s).ok());
}

TEST(EmptyQueryResponseTest, Decodes) {
  EXPECT_TRUE(DecodeEmptyQueryResponse("").ok());
  EXPECT_EQ(DecodeEmptyQueryResponse("x").code(), absl::StatusCode::kDataLoss);
}

TEST(CopyResponseTest, Decodes) {
  auto both = DecodeCopyResponse("\0\0\0"s);  // CopyBoth for replication: text, 0 columns
  ASSERT_TRUE(both.ok());
  EXPECT_EQ(both->overall_format, 0);
  EXPECT_TRUE(both->column_formats.empty());
  auto bin = DecodeCopyResponse("\1\0\2\0\1\0\0"s);
  ASSERT_TRUE(bin.ok());
  EXPECT_EQ(bin->overall_format, 1);
  ASSERT_EQ(bin->column_formats.size(), 2u);
  EXPECT_EQ(bin->column_formats[0], 1);
  EXPECT_EQ(bin->column_formats[1], 0);
}

TEST(CopyResponseTest, Hostile) {
  EXPECT_FALSE(DecodeCopyResponse("").ok());
  EXPECT_FALSE(DecodeCopyResponse("\2\0\0"s).ok());         // overall format 2
  EXPECT_FALSE(DecodeCopyResponse("\0\0\1"s).ok());         // missing formats
  EXPECT_FALSE(DecodeCopyResponse("\0\0\1\0\0\0"s).ok());   // trailing
  EXPECT_FALSE(DecodeCopyResponse("\0\0\1\0\1"s).ok());     // binary column in text copy
  EXPECT_FALSE(DecodeCopyResponse("\1\0\1\0\3"s).ok());     // format 3
  EXPECT_FALSE(DecodeCopyResponse("\0\xff\xff"s).ok());     // negative count
  EXPECT_FALSE(DecodeCopyResponse("\1\0\1\0\1"s, 0).ok());  // caller's cap
}

}  // namespace
}  // namespace walrep
