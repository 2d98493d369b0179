// PgConnection after startup against a scripted fake server: simple queries with
// notices interleaved, errors that leave the session usable, COPY entry with and without
// preceding result sets, deadlines, buffering, and size caps.
#include <map>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wire/backend_error.h"
#include "wire/connection.h"
#include "wire/fake_pg_server.h"
#include "wire/framing.h"

namespace walrep {
namespace {

using ::testing::HasSubstr;
using namespace ::walrep::fake_pg;  // NOLINT: test helpers

TEST(ConnectionTest, QueryReturnsResultSetsWithNoticesInterleaved) {
  FakeServer server;
  server.Run([&](Peer& p) {
    TrustHandshake(p);
    auto q = p.ReadTyped();
    ASSERT_TRUE(q.has_value());
    EXPECT_EQ(q->second, std::string("IDENTIFY_SYSTEM") + '\0');
    p.Send(RowDesc({"a", "b"}) + Fields('N', "NOTICE", "00000", "n1") + Row({"1", std::nullopt}) +
           Param("application_name", "x") + Row({"2", "z"}) + Complete("SELECT 2") +
           Complete("SET") + Fields('N', "WARNING", "01000", "n2") + Ready());
  });
  auto conn = ConnectTo(server.port());
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto rs = (*conn)->Query("IDENTIFY_SYSTEM");
  ASSERT_TRUE(rs.ok()) << rs.status();
  ASSERT_EQ(rs->size(), 1u);
  ASSERT_EQ((*rs)[0].rows.size(), 2u);
  EXPECT_EQ((*rs)[0].rows[0].values[1], std::nullopt);
  EXPECT_EQ((*rs)[0].rows[1].values[1], "z");
  EXPECT_EQ((*conn)->parameter("application_name"), "x");
}

TEST(ConnectionTest, QueryErrorDrainsToReadyAndConnectionStaysUsable) {
  FakeServer server;
  server.Run([&](Peer& p) {
    TrustHandshake(p);
    p.ReadTyped();
    p.Send(Fields('E', "ERROR", "42704", "no such slot") + Ready());
    p.ReadTyped();
    p.Send(Complete("SET") + Ready());
  });
  auto conn = ConnectTo(server.port());
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto rs = (*conn)->Query("READ_REPLICATION_SLOT x");
  EXPECT_EQ(rs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(rs.status().message(), HasSubstr("no such slot"));
  auto again = (*conn)->Query("SET x = 1");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->empty());
}

TEST(ConnectionTest, QueryRefusesUnexpectedMessageAndCloses) {
  FakeServer server;
  server.Run([&](Peer& p) {
    TrustHandshake(p);
    p.ReadTyped();
    p.Send(EncodeFrame('?', "zz"));
  });
  auto conn = ConnectTo(server.port());
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto rs = (*conn)->Query("SELECT 1");
  EXPECT_EQ(rs.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE((*conn)->is_open());
  EXPECT_EQ((*conn)->Query("SELECT 1").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ConnectionTest, StartCopyReturnsResultSetsBeforeCopyOut) {
  FakeServer server;
  server.Run([&](Peer& p) {
    TrustHandshake(p);
    p.ReadTyped();
    p.Send(RowDesc({"recptr", "tli"}) + Row({"0/2000028", "1"}) + Complete("SELECT") +
           RowDesc({"spcoid"}) + Row({std::nullopt}) + Complete("SELECT") + CopyResp('H') +
           EncodeFrame('d', "chunk") + Fields('N', "NOTICE", "00000", "x") + EncodeFrame('c', "") +
           Complete("SELECT") + Ready());
  });
  auto conn = ConnectTo(server.port());
  ASSERT_TRUE(conn.ok()) << conn.status();
  char kind = 'x';
  auto rs = (*conn)->StartCopy("BASE_BACKUP", &kind);
  ASSERT_TRUE(rs.ok()) << rs.status();
  EXPECT_EQ(kind, 'H');
  EXPECT_EQ(rs->size(), 2u);
  std::string types;
  for (;;) {
    auto m = (*conn)->ReadMessage(absl::Now() + absl::Seconds(5));
    ASSERT_TRUE(m.ok()) << m.status();
    ASSERT_TRUE(m->has_value());
    types += (*m)->type;
    if ((*m)->type == 'd') {
      EXPECT_EQ((*m)->body, "chunk");
    }
    if ((*m)->type == 'Z') break;
  }
  EXPECT_EQ(types, "dcCZ");
  EXPECT_FALSE((*conn)->HasBufferedMessage());
  // Back at ReadyForQuery: an ordinary query is allowed again (the server has quit, so
  // it fails on I/O, not as "busy").
  EXPECT_NE((*conn)->Query("x").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ConnectionTest, StartCopyWithoutCopyReturnsResultsAndZeroKind) {
  FakeServer server;
  server.Run([&](Peer& p) {
    TrustHandshake(p);
    p.ReadTyped();
    p.Send(RowDesc({"next_tli", "next_tli_startpos"}) + Row({"2", "0/3000000"}) +
           Complete("START_STREAMING") + Complete("START_REPLICATION") + Ready());
  });
  auto conn = ConnectTo(server.port());
  ASSERT_TRUE(conn.ok()) << conn.status();
  char kind = 'x';
  auto rs = (*conn)->StartCopy("START_REPLICATION 0/3000000 TIMELINE 1", &kind);
  ASSERT_TRUE(rs.ok()) << rs.status();
  EXPECT_EQ(kind, 0);
  ASSERT_EQ(rs->size(), 1u);
  EXPECT_EQ((*rs)[0].rows[0].values[0], "2");
}

TEST(ConnectionTest, CopyBothDeadlineBufferingAndErrors) {
  FakeServer server;
  server.Run([&](Peer& p) {
    TrustHandshake(p);
    p.ReadTyped();
    p.Send(CopyResp('W'));
    auto d = p.ReadTyped();  // the client's CopyData
    EXPECT_TRUE(d.has_value() && d->first == 'd' && d->second == "r-status");
    p.Send(EncodeFrame('d', "k1") + EncodeFrame('d', "k2"));
    auto done = p.ReadTyped();
    EXPECT_TRUE(done.has_value() && done->first == 'c');
    p.Send(Fields('E', "ERROR", "XX001", "corrupt"));
    p.ReadTyped();
  });
  auto conn = ConnectTo(server.port());
  ASSERT_TRUE(conn.ok()) << conn.status();
  char kind = 0;
  ASSERT_TRUE((*conn)->StartCopy("START_REPLICATION 0/0", &kind).ok());
  EXPECT_EQ(kind, 'W');
  // Nothing sent yet: the deadline passes without error.
  auto none = (*conn)->ReadMessage(absl::Now() + absl::Milliseconds(50));
  ASSERT_TRUE(none.ok()) << none.status();
  EXPECT_FALSE(none->has_value());
  ASSERT_TRUE((*conn)->SendCopyData("r-status").ok());
  auto k1 = (*conn)->ReadMessage(absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(k1.ok() && k1->has_value());
  EXPECT_EQ((*k1)->body, "k1");
  EXPECT_TRUE((*conn)->HasBufferedMessage());
  auto k2 = (*conn)->ReadMessage(absl::InfinitePast());
  ASSERT_TRUE(k2.ok() && k2->has_value());
  EXPECT_EQ((*k2)->body, "k2");
  ASSERT_TRUE((*conn)->SendCopyDone().ok());
  auto err = (*conn)->ReadMessage(absl::Now() + absl::Seconds(5));
  EXPECT_EQ(err.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(err.status().message(), HasSubstr("corrupt"));
}

TEST(ConnectionTest, CopyDataOverItsCapIsDataLoss) {
  FakeServer server;
  server.Run([&](Peer& p) {
    TrustHandshake(p);
    p.ReadTyped();
    p.Send(CopyResp('W') + std::string("d") + I32(1 << 20));
    p.ReadTyped();
  });
  ConnectionOptions options = TestOptions();
  options.limits.max_copy_data = 1024;
  auto conn = ConnectTo(server.port(), "", options);
  ASSERT_TRUE(conn.ok()) << conn.status();
  char kind = 0;
  ASSERT_TRUE((*conn)->StartCopy("START_REPLICATION 0/0", &kind).ok());
  auto m = (*conn)->ReadMessage(absl::Now() + absl::Seconds(5));
  EXPECT_EQ(m.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_FALSE((*conn)->is_open());
}

TEST(ConnectionTest, QueryResultOverByteCapIsDataLoss) {
  FakeServer server;
  server.Run([&](Peer& p) {
    TrustHandshake(p);
    p.ReadTyped();
    std::string rows = RowDesc({"a"});
    for (int i = 0; i < 100; ++i) rows += Row({std::string(100, 'x')});
    p.Send(rows);
    p.ReadTyped();
  });
  ConnectionOptions options = TestOptions();
  options.max_result_bytes = 4096;
  auto conn = ConnectTo(server.port(), "", options);
  ASSERT_TRUE(conn.ok()) << conn.status();
  EXPECT_EQ((*conn)->Query("SELECT").status().code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace walrep
