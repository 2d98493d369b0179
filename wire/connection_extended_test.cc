// PgConnection::ExecutePrepared against a scripted fake server: the Bind/Execute/Sync it
// sends, the rows it returns, and an error that leaves the session usable.
#include <optional>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "wire/connection.h"
#include "wire/fake_pg_server.h"
#include "wire/framing.h"

namespace walrep {
namespace {

using ::testing::HasSubstr;
using namespace ::walrep::fake_pg;  // NOLINT: test helpers

std::string BindBody(const std::string& statement, const std::string& param) {
  return std::string("\0", 1) + statement + std::string("\0", 1) +  // portal, statement
         std::string("\0\0", 2) +                                    // text parameters
         std::string("\0\2", 2) +                                    // two of them
         I32(static_cast<int32_t>(param.size())) + param +           // the first
         std::string("\xff\xff\xff\xff", 4) +                        // NULL
         std::string("\0\0", 2);                                     // text results
}

TEST(ConnectionExtendedTest, ExecutePreparedSendsBindExecuteSyncAndReturnsTheRows) {
  FakeServer server;
  server.Run([&](Peer& p) {
    TrustHandshake(p);
    auto bind = p.ReadTyped();
    ASSERT_TRUE(bind.has_value());
    EXPECT_EQ(bind->first, 'B');
    EXPECT_EQ(bind->second, BindBody("walrep_pos", "0/16B3D80"));
    auto exec = p.ReadTyped();
    ASSERT_TRUE(exec.has_value());
    EXPECT_EQ(exec->first, 'E');
    EXPECT_EQ(exec->second, std::string("\0\0\0\0\0", 5));  // unnamed portal, all rows
    auto sync = p.ReadTyped();
    ASSERT_TRUE(sync.has_value());
    EXPECT_EQ(sync->first, 'S');
    p.Send(EncodeFrame('2', "") + Fields('N', "NOTICE", "00000", "n") +
           Row({"t", "0/16B3D80", std::nullopt}) + Row({"f", "0/0", "1"}) +
           Complete("SELECT 2") + Ready());
    // The second statement fails (an unknown name): the server skips to the Sync.
    for (int i = 0; i < 3; ++i) p.ReadTyped();
    p.Send(Fields('E', "ERROR", "26000", "prepared statement \"nope\" does not exist") +
           Ready());
    for (int i = 0; i < 3; ++i) p.ReadTyped();
    p.Send(EncodeFrame('2', "") + Complete("SELECT 0") + Ready());
    p.ReadTyped();
  });
  auto conn = ConnectTo(server.port());
  ASSERT_TRUE(conn.ok()) << conn.status();
  const std::vector<std::optional<std::string>> params = {"0/16B3D80", std::nullopt};
  auto rs = (*conn)->ExecutePrepared("walrep_pos", params);
  ASSERT_TRUE(rs.ok()) << rs.status();
  ASSERT_EQ(rs->rows.size(), 2u);
  EXPECT_EQ(rs->rows[0].values[0], "t");
  EXPECT_EQ(rs->rows[0].values[1], "0/16B3D80");
  EXPECT_EQ(rs->rows[0].values[2], std::nullopt);
  EXPECT_EQ(rs->rows[1].values[2], "1");
  auto bad = (*conn)->ExecutePrepared("nope", {});
  EXPECT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("does not exist"));
  auto empty = (*conn)->ExecutePrepared("nope", {});
  ASSERT_TRUE(empty.ok()) << empty.status();
  EXPECT_TRUE(empty->rows.empty());
}

TEST(ConnectionExtendedTest, RowsBeforeBindCompleteAreAProtocolViolation) {
  FakeServer server;
  server.Run([&](Peer& p) {
    TrustHandshake(p);
    for (int i = 0; i < 3; ++i) p.ReadTyped();
    p.Send(Row({"1"}) + Complete("SELECT 1") + Ready());
    p.ReadTyped();
  });
  auto conn = ConnectTo(server.port());
  ASSERT_TRUE(conn.ok()) << conn.status();
  auto rs = (*conn)->ExecutePrepared("s", {});
  EXPECT_EQ(rs.status().code(), absl::StatusCode::kDataLoss) << rs.status();
  EXPECT_FALSE((*conn)->is_open());
}

}  // namespace
}  // namespace walrep
