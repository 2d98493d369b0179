#include "wire/replication_results.h"

#include <initializer_list>
#include <string>
#include <utility>

#include "gtest/gtest.h"

namespace walrep {
namespace {

using Cell = std::optional<std::string>;

ResultSet Make(std::initializer_list<std::pair<const char*, uint32_t>> cols,
               std::initializer_list<std::vector<Cell>> rows) {
  ResultSet rs;
  for (const auto& [name, oid] : cols) {
    FieldDescription f;
    f.name = name;
    f.type_oid = oid;
    rs.description.fields.push_back(f);
  }
  for (const auto& r : rows) rs.rows.push_back(DataRow{r});
  return rs;
}

ResultSet IdentifySystem(Cell sysid, Cell tli, Cell pos, Cell db) {
  return Make(
      {{"systemid", kTextOid}, {"timeline", kInt8Oid}, {"xlogpos", kTextOid}, {"dbname", kTextOid}},
      {{sysid, tli, pos, db}});
}

void ExpectDataLoss(const absl::Status& s, absl::string_view needle) {
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_NE(s.message().find(needle), absl::string_view::npos) << s;
}

TEST(IdentifySystemTest, Parses) {
  auto r =
      ParseIdentifySystem(IdentifySystem("7301234567890123456", "3", "0/16B3748", std::nullopt));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->system_id, 7301234567890123456u);
  EXPECT_EQ(r->timeline, 3u);
  EXPECT_EQ(r->xlogpos, Lsn(0x16B3748));
  EXPECT_FALSE(r->dbname.has_value());
  auto with_db = ParseIdentifySystem(IdentifySystem("18446744073709551615", "1", "1/0", "db"));
  ASSERT_TRUE(with_db.ok());
  EXPECT_EQ(with_db->system_id, 18446744073709551615u);
  EXPECT_EQ(*with_db->dbname, "db");
}

TEST(IdentifySystemTest, Errors) {
  ExpectDataLoss(
      ParseIdentifySystem(IdentifySystem("18446744073709551616", "1", "0/1", {})).status(),
      "systemid");
  ExpectDataLoss(ParseIdentifySystem(IdentifySystem("-1", "1", "0/1", {})).status(), "systemid");
  ExpectDataLoss(ParseIdentifySystem(IdentifySystem(" 1", "1", "0/1", {})).status(), "systemid");
  ExpectDataLoss(ParseIdentifySystem(IdentifySystem(std::nullopt, "1", "0/1", {})).status(),
                 "systemid");
  ExpectDataLoss(ParseIdentifySystem(IdentifySystem("1", "0", "0/1", {})).status(), "timeline");
  ExpectDataLoss(ParseIdentifySystem(IdentifySystem("1", "4294967296", "0/1", {})).status(),
                 "timeline");
  ExpectDataLoss(ParseIdentifySystem(IdentifySystem("1", "1", "nope", {})).status(), "xlogpos");
  ExpectDataLoss(ParseIdentifySystem(Make({{"systemid", kTextOid}}, {{"1"}})).status(),
                 "IDENTIFY_SYSTEM");
  auto wrong_type = IdentifySystem("1", "1", "0/1", {});
  wrong_type.description.fields[1].type_oid = kByteaOid;
  ExpectDataLoss(ParseIdentifySystem(wrong_type).status(), "timeline");
  auto binary = IdentifySystem("1", "1", "0/1", {});
  binary.description.fields[2].format = 1;
  ExpectDataLoss(ParseIdentifySystem(binary).status(), "xlogpos");
  auto no_rows = IdentifySystem("1", "1", "0/1", {});
  no_rows.rows.clear();
  ExpectDataLoss(ParseIdentifySystem(no_rows).status(), "rows");
  auto two_rows = IdentifySystem("1", "1", "0/1", {});
  two_rows.rows.push_back(two_rows.rows[0]);
  ExpectDataLoss(ParseIdentifySystem(two_rows).status(), "rows");
  auto short_row = IdentifySystem("1", "1", "0/1", {});
  short_row.rows[0].values.pop_back();
  ExpectDataLoss(ParseIdentifySystem(short_row).status(), "values");
}

ResultSet History(Cell name, Cell content, uint32_t content_oid = kTextOid) {
  return Make({{"filename", kTextOid}, {"content", content_oid}}, {{name, content}});
}

TEST(TimelineHistoryTest, Parses) {
  std::string content = "1\t0/3000000\tno recovery target specified\n";
  auto r = ParseTimelineHistory(History("00000002.history", content), 2);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->timeline, 2u);
  EXPECT_EQ(r->filename, "00000002.history");
  EXPECT_EQ(r->content, content);
  auto bytea = ParseTimelineHistory(History("0000001A.history", "", kByteaOid));
  ASSERT_TRUE(bytea.ok());
  EXPECT_EQ(bytea->timeline, 26u);
}

TEST(TimelineHistoryTest, RejectsUnsafeOrWrongNames) {
  for (const char* bad :
       {"../../etc/passwd", "00000002.history/", "0000002.history", "0000000a.history",
        "00000000.history", "00000002.historx", "/00000002.history", "000000002.history"}) {
    ExpectDataLoss(ParseTimelineHistory(History(bad, "")).status(), "filename");
  }
  ExpectDataLoss(ParseTimelineHistory(History("00000003.history", ""), 2).status(), "filename");
  ExpectDataLoss(ParseTimelineHistory(History("00000003.history", std::nullopt)).status(),
                 "content");
  ExpectDataLoss(
      ParseTimelineHistory(History("00000003.history", std::string(kMaxHistoryContentBytes + 1, '#')))
          .status(),
      "content");
}

TEST(HistoryContentTest, ParsesLikePostgres) {
  std::string content =
      "# comment\n"
      "\n"
      "1\t0/3000000\tno recovery target specified\n"
      "   \t  \n"
      "  2\t0/5000A28\tbefore 2024-01-01\r\n"
      "5 1/0\n";
  auto r = ParseTimelineHistoryContent(content, 6);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 3u);
  EXPECT_EQ((*r)[0].parent, 1u);
  EXPECT_EQ((*r)[0].switchpoint, Lsn(0x3000000));
  EXPECT_EQ((*r)[0].reason, "no recovery target specified");
  EXPECT_EQ((*r)[1].parent, 2u);
  EXPECT_EQ((*r)[1].switchpoint, Lsn(0x5000A28));
  EXPECT_EQ((*r)[1].reason, "before 2024-01-01");
  EXPECT_EQ((*r)[2].parent, 5u);
  EXPECT_EQ((*r)[2].switchpoint, Lsn(0x100000000));
  EXPECT_EQ((*r)[2].reason, "");
}

TEST(HistoryContentTest, EmptyAndNoTrailingNewline) {
  EXPECT_TRUE(ParseTimelineHistoryContent("")->empty());
  auto r = ParseTimelineHistoryContent("1\t0/10");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 1u);
}

TEST(HistoryContentTest, Errors) {
  ExpectDataLoss(ParseTimelineHistoryContent("x\t0/1\n").status(), "line 1");
  ExpectDataLoss(ParseTimelineHistoryContent("0\t0/1\n").status(), "timeline ID");
  ExpectDataLoss(ParseTimelineHistoryContent("1\n").status(), "switchpoint");
  ExpectDataLoss(ParseTimelineHistoryContent("1\t\n").status(), "switchpoint");
  ExpectDataLoss(ParseTimelineHistoryContent("1x\t0/1\n").status(), "switchpoint");
  ExpectDataLoss(ParseTimelineHistoryContent("1\tzz/1\n").status(), "switchpoint");
  ExpectDataLoss(ParseTimelineHistoryContent("99999999999\t0/1\n").status(), "timeline ID");
  ExpectDataLoss(ParseTimelineHistoryContent("2\t0/1\n1\t0/2\n").status(), "line 2");
  ExpectDataLoss(ParseTimelineHistoryContent("1\t0/1\n1\t0/2\n").status(), "increasing");
  ExpectDataLoss(ParseTimelineHistoryContent("1\t0/5\n# c\n2\t0/4\n").status(), "line 3");
  ExpectDataLoss(ParseTimelineHistoryContent("1\t0/5\n3\t0/6\n", 3).status(), "older");
  ExpectDataLoss(ParseTimelineHistoryContent(std::string(kMaxHistoryContentBytes + 1, '\n')).status(),
                 "limit");
  // Equal switchpoints are allowed (non-decreasing).
  EXPECT_TRUE(ParseTimelineHistoryContent("1\t0/5\n2\t0/5\n").ok());
}

TEST(ReadReplicationSlotTest, ParsesPresentAndAbsent) {
  auto cols = {std::pair<const char*, uint32_t>{"slot_type", kTextOid},
               {"restart_lsn", kTextOid},
               {"restart_tli", kInt8Oid}};
  ResultSet present = Make(cols, {{"physical", "0/3000148", "1"}});
  auto r = ParseReadReplicationSlot(present);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r->slot_type, "physical");
  EXPECT_EQ(*r->restart_lsn, Lsn(0x3000148));
  EXPECT_EQ(*r->restart_tli, 1u);
  ResultSet absent = Make(cols, {{std::nullopt, std::nullopt, std::nullopt}});
  auto a = ParseReadReplicationSlot(absent);
  ASSERT_TRUE(a.ok());
  EXPECT_FALSE(a->slot_type || a->restart_lsn || a->restart_tli);
  ExpectDataLoss(ParseReadReplicationSlot(Make(cols, {{"physical", "bad", "1"}})).status(),
                 "restart_lsn");
  ExpectDataLoss(ParseReadReplicationSlot(Make(cols, {{"physical", "0/1", "x"}})).status(),
                 "restart_tli");
}

TEST(CreateReplicationSlotTest, Parses) {
  auto cols = {std::pair<const char*, uint32_t>{"slot_name", kTextOid},
               {"consistent_point", kTextOid},
               {"snapshot_name", kTextOid},
               {"output_plugin", kTextOid}};
  auto r = ParseCreateReplicationSlot(Make(cols, {{"s", "0/0", std::nullopt, std::nullopt}}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->slot_name, "s");
  EXPECT_EQ(r->consistent_point, Lsn(0));
  EXPECT_FALSE(r->snapshot_name.has_value());
  auto logical = ParseCreateReplicationSlot(Make(cols, {{"s", "0/10", "00000003-2", "pgoutput"}}));
  ASSERT_TRUE(logical.ok());
  EXPECT_EQ(*logical->snapshot_name, "00000003-2");
  EXPECT_EQ(*logical->output_plugin, "pgoutput");
  ExpectDataLoss(ParseCreateReplicationSlot(Make(cols, {{std::nullopt, "0/0", {}, {}}})).status(),
                 "slot_name");
  ExpectDataLoss(ParseCreateReplicationSlot(Make(cols, {{"s", "0-0", {}, {}}})).status(),
                 "consistent_point");
}

TEST(EndOfTimelineTest, Parses) {
  auto cols = {std::pair<const char*, uint32_t>{"next_tli", kInt8Oid},
               {"next_tli_startpos", kTextOid}};
  auto r = ParseEndOfTimeline(Make(cols, {{"2", "0/5000A28"}}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->next_timeline, 2u);
  EXPECT_EQ(r->switchpoint, Lsn(0x5000A28));
  ExpectDataLoss(ParseEndOfTimeline(Make(cols, {{"2", std::nullopt}})).status(),
                 "next_tli_startpos");
  ExpectDataLoss(ParseEndOfTimeline(Make(cols, {{"-2", "0/1"}})).status(), "next_tli");
}

TEST(BaseBackupResultsTest, StartAndEnd) {
  auto cols = {std::pair<const char*, uint32_t>{"recptr", kTextOid}, {"tli", kInt8Oid}};
  auto s = ParseBaseBackupStart(Make(cols, {{"0/2000028", "1"}}));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(s->lsn, Lsn(0x2000028));
  EXPECT_EQ(s->timeline, 1u);
  auto e = ParseBaseBackupEnd(Make(cols, {{"0/2000100", "1"}}));
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->lsn, Lsn(0x2000100));
  ExpectDataLoss(ParseBaseBackupEnd(Make(cols, {{"0/2000100", "0"}})).status(), "BASE_BACKUP end");
  ExpectDataLoss(ParseBaseBackupStart(Make(cols, {{"x", "1"}})).status(), "recptr");
}

TEST(BaseBackupResultsTest, Tablespaces) {
  auto cols = {std::pair<const char*, uint32_t>{"spcoid", kOidOid},
               {"spclocation", kTextOid},
               {"size", kInt8Oid}};
  auto r = ParseBaseBackupTablespaces(
      Make(cols, {{"16384", "/srv/ts1", "1024"}, {std::nullopt, std::nullopt, "30000"}}));
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 2u);
  EXPECT_EQ(*(*r)[0].oid, 16384u);
  EXPECT_EQ(*(*r)[0].location, "/srv/ts1");
  EXPECT_EQ(*(*r)[0].size_kb, 1024);
  EXPECT_FALSE((*r)[1].oid.has_value());
  EXPECT_EQ(*(*r)[1].size_kb, 30000);
  auto no_progress =
      ParseBaseBackupTablespaces(Make(cols, {{std::nullopt, std::nullopt, std::nullopt}}));
  ASSERT_TRUE(no_progress.ok());
  EXPECT_FALSE((*no_progress)[0].size_kb.has_value());
  EXPECT_TRUE(ParseBaseBackupTablespaces(Make(cols, {}))->empty());
  ExpectDataLoss(ParseBaseBackupTablespaces(Make(cols, {{"abc", "/x", "1"}})).status(), "spcoid");
  ExpectDataLoss(ParseBaseBackupTablespaces(Make(cols, {{"1", "/x", "-1"}})).status(), "size");
  ExpectDataLoss(ParseBaseBackupTablespaces(Make(cols, {{"1", std::nullopt, "1"}})).status(),
                 "both");
}

}  // namespace
}  // namespace walrep
