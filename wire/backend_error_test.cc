#include "wire/backend_error.h"

#include <string>

#include "gtest/gtest.h"

namespace walrep {
namespace {

using std::string_literals::operator""s;

const std::string kFull =
    "SERROR\0VERROR\0C42704\0Mreplication slot \"s\" does not exist\0Dsome detail\0"
    "Hsome hint\0P12\0p3\0qselect\0Win function\0spublic\0tt\0cc\0dint4\0nfk\0"
    "Fslot.c\0L123\0RReplicationSlotAcquire\0Zfuture\0\0"s;

TEST(ErrorFieldsTest, DecodesEveryField) {
  auto e = DecodeErrorFields(kFull);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(e->severity, "ERROR");
  EXPECT_EQ(e->severity_nonlocalized, "ERROR");
  EXPECT_EQ(e->sqlstate, "42704");
  EXPECT_EQ(e->message, "replication slot \"s\" does not exist");
  EXPECT_EQ(e->detail, "some detail");
  EXPECT_EQ(e->hint, "some hint");
  EXPECT_EQ(e->position, "12");
  EXPECT_EQ(e->internal_position, "3");
  EXPECT_EQ(e->internal_query, "select");
  EXPECT_EQ(e->where, "in function");
  EXPECT_EQ(e->schema_name, "public");
  EXPECT_EQ(e->table_name, "t");
  EXPECT_EQ(e->column_name, "c");
  EXPECT_EQ(e->data_type_name, "int4");
  EXPECT_EQ(e->constraint_name, "fk");
  EXPECT_EQ(e->file, "slot.c");
  EXPECT_EQ(e->line, "123");
  EXPECT_EQ(e->routine, "ReplicationSlotAcquire");
  ASSERT_EQ(e->unknown.size(), 1u);
  EXPECT_EQ(e->unknown[0].first, 'Z');
  EXPECT_EQ(e->unknown[0].second, "future");
}

TEST(ErrorFieldsTest, ToStringAndStatus) {
  auto e = DecodeErrorFields(kFull);
  ASSERT_TRUE(e.ok());
  absl::Status s = e->ToStatus();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "ERROR: replication slot \"s\" does not exist (SQLSTATE 42704) DETAIL: some detail "
            "HINT: some hint");
  EXPECT_EQ(SqlStateOf(s), "42704");
  EXPECT_EQ(SqlStateOf(absl::InternalError("x")), std::nullopt);
}

TEST(ErrorFieldsTest, StatusCodesBySqlState) {
  auto code = [](const std::string& state) {
    ErrorFields e;
    e.message = "m";
    e.sqlstate = state;
    return e.ToStatus().code();
  };
  EXPECT_EQ(code("08006"), absl::StatusCode::kUnavailable);
  EXPECT_EQ(code("57P01"), absl::StatusCode::kUnavailable);
  EXPECT_EQ(code("53300"), absl::StatusCode::kUnavailable);
  EXPECT_EQ(code("28P01"), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(code("42601"), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(code("55006"), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(code("XX001"), absl::StatusCode::kDataLoss);
  EXPECT_EQ(code("XX000"), absl::StatusCode::kUnknown);
  EXPECT_EQ(code(""), absl::StatusCode::kUnknown);
}

TEST(ErrorFieldsTest, MinimalAndLocalized) {
  auto e = DecodeErrorFields("SFATAL\0Mbye\0\0"s);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->ToString(), "FATAL: bye");
  auto localized = DecodeErrorFields("SFEHLER\0VERROR\0C42601\0Mx\0\0"s);
  ASSERT_TRUE(localized.ok());
  EXPECT_EQ(localized->ToString(), "ERROR: x (SQLSTATE 42601)");
  auto empty = DecodeErrorFields("\0"s);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->ToString(), "ERROR: ");
}

TEST(ErrorFieldsTest, LastDuplicateWins) {
  auto e = DecodeErrorFields("Ma\0Mb\0\0"s);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->message, "b");
}

TEST(ErrorFieldsTest, Hostile) {
  EXPECT_EQ(DecodeErrorFields("").status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE(DecodeErrorFields("Mmessage"s).ok());
  EXPECT_FALSE(DecodeErrorFields("Mmessage\0"s).ok());
  EXPECT_FALSE(DecodeErrorFields("Mm\0\0extra"s).ok());
  std::string many;
  for (size_t i = 0; i <= kMaxErrorFields; ++i) many += "z\0"s;
  EXPECT_FALSE(DecodeErrorFields(many + "\0"s).ok());
}

}  // namespace
}  // namespace walrep
