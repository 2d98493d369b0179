// PgConnection's placed CopyData bodies (CopyDataPlacer) against a scripted fake server:
// a large body lands in the placer's memory, across a deadline in its middle; small
// bodies, other messages and refused bodies arrive in the buffer as before.
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "wire/connection.h"
#include "wire/fake_pg_server.h"
#include "wire/framing.h"

namespace walrep {
namespace {

using namespace ::walrep::fake_pg;  // NOLINT: test helpers

// Places bodies whose head is "PLAC" into `dest`; refuses any other head.
class TestPlacer : public CopyDataPlacer {
 public:
  size_t head_size() const override { return 4; }
  absl::Span<char> Place(absl::string_view head, size_t rest) override {
    heads.emplace_back(head);
    if (head != "PLAC") return {};
    dest.assign(rest + 100, '\0');
    return absl::MakeSpan(dest);
  }
  std::vector<std::string> heads;
  std::string dest;
};

std::string Payload(size_t n, char seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 7 % 113);
  return s;
}

absl::StatusOr<std::optional<BackendMessageView>> ReadSoon(PgConnection& c, CopyDataPlacer* p) {
  return c.ReadMessageView(absl::Now() + absl::Seconds(10), p);
}

// Reads with short deadlines until the placer has taken a body whose rest has not all
// arrived: each read passes its deadline with nothing, and no error.
void ReadUntilPlaced(PgConnection& c, TestPlacer& placer) {
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (placer.heads.empty() && absl::Now() < give_up) {
    auto none = c.ReadMessageView(absl::Now() + absl::Milliseconds(20), &placer);
    ASSERT_TRUE(none.ok()) << none.status();
    ASSERT_FALSE(none->has_value());
  }
  ASSERT_EQ(placer.heads.size(), 1u);
}

// The server's side: CopyBothResponse and `frame` up to 1000 bytes into its body, the rest
// only once `go` is notified — so the client places the body before all of it arrived.
void SendInTwoPieces(Peer& p, const std::string& frame, absl::Notification& go) {
  p.Send(CopyResp('W') + frame.substr(0, 5 + 4 + 1000));
  go.WaitForNotification();
  p.Send(frame.substr(5 + 4 + 1000));
}

// A connection to the fake server at `port`, in COPY BOTH.
absl::StatusOr<std::unique_ptr<PgConnection>> Streaming(int port) {
  auto conn = ConnectTo(port);
  if (!conn.ok()) return conn.status();
  char kind = 0;
  absl::Status st = (*conn)->StartCopy("START_REPLICATION 0/0", &kind).status();
  if (!st.ok()) return st;
  return std::move(*conn);
}

TEST(ConnectionPlacedTest, LargeBodiesLandInThePlacersMemoryOthersInTheBuffer) {
  const std::string big1 = Payload(100 << 10, 'a');
  const std::string big2 = Payload(kMinPlaced + 1, 'b');
  const std::string refused = Payload(64 << 10, 'c');
  absl::Notification placed_first;
  FakeServer server;
  server.Run([&](Peer& p) {
    TrustHandshake(p);
    p.ReadTyped();
    // The first body in two pieces, the second only once the client placed the first.
    SendInTwoPieces(p, EncodeFrame('d', "PLAC" + big1), placed_first);
    // A keepalive-sized message, a small body, one the placer refuses, a large one again.
    p.Send(EncodeFrame('d', "k") + EncodeFrame('d', "PLACsmall") +
           EncodeFrame('d', "NOPE" + refused) + EncodeFrame('d', "PLAC" + big2) +
           EncodeFrame('d', "last"));
    p.ReadTyped();
  });
  auto conn = Streaming(server.port());
  ASSERT_TRUE(conn.ok()) << conn.status();
  TestPlacer placer;
  // The deadline passes in the middle of the placed body: nothing yet, no error.
  ASSERT_NO_FATAL_FAILURE(ReadUntilPlaced(**conn, placer));
  placed_first.Notify();
  auto m1 = ReadSoon(**conn, &placer);
  ASSERT_TRUE(m1.ok() && m1->has_value()) << m1.status();
  EXPECT_EQ((*m1)->type, 'd');
  EXPECT_EQ((*m1)->body, "PLAC");
  EXPECT_EQ((*m1)->placed.data(), placer.dest.data());  // received there, not copied
  EXPECT_EQ((*m1)->placed, big1);
  // Small: in the buffer, whole, and the placer is not asked.
  auto k = ReadSoon(**conn, &placer);
  ASSERT_TRUE(k.ok() && k->has_value()) << k.status();
  EXPECT_EQ((*k)->body, "k");
  EXPECT_TRUE((*k)->placed.empty());
  auto small = ReadSoon(**conn, &placer);
  ASSERT_TRUE(small.ok() && small->has_value()) << small.status();
  EXPECT_EQ((*small)->body, "PLACsmall");
  EXPECT_TRUE((*small)->placed.empty());
  // Refused: read into the buffer, whole. (Asked only if most of it had not arrived.)
  auto no = ReadSoon(**conn, &placer);
  ASSERT_TRUE(no.ok() && no->has_value()) << no.status();
  EXPECT_EQ((*no)->body, "NOPE" + refused);
  EXPECT_TRUE((*no)->placed.empty());
  // Whether the last large body is placed depends on how much of it one read brought in;
  // either way its bytes are exactly what was sent.
  auto m2 = ReadSoon(**conn, &placer);
  ASSERT_TRUE(m2.ok() && m2->has_value()) << m2.status();
  EXPECT_EQ(std::string((*m2)->body) + std::string((*m2)->placed), "PLAC" + big2);
  auto last = (*conn)->ReadMessageView(absl::Now() + absl::Seconds(10), nullptr);
  ASSERT_TRUE(last.ok() && last->has_value()) << last.status();
  EXPECT_EQ((*last)->body, "last");
  for (const std::string& h : placer.heads) EXPECT_NE(h, "PLACsmall");
}

// The connection closing in the middle of a placed body is an error, not a short message.
TEST(ConnectionPlacedTest, AConnectionLostInAPlacedBodyIsAnError) {
  FakeServer server;
  server.Run([&](Peer& p) {
    TrustHandshake(p);
    p.ReadTyped();
    const std::string m = EncodeFrame('d', "PLAC" + Payload(200 << 10, 'x'));
    p.Send(CopyResp('W') + m.substr(0, 50 << 10));
    p.CloseNow();
  });
  auto conn = Streaming(server.port());
  ASSERT_TRUE(conn.ok()) << conn.status();
  TestPlacer placer;
  auto m = ReadSoon(**conn, &placer);
  EXPECT_FALSE(m.ok());
  EXPECT_EQ(m.status().code(), absl::StatusCode::kUnavailable) << m.status();
  EXPECT_FALSE((*conn)->is_open());
}

// A body half placed when the deadline passed is continued only by its placer: a read
// without it (a stream that stopped and drains the connection) fails the connection
// rather than write into memory its owner may have given up.
TEST(ConnectionPlacedTest, OnlyThePlacerThatStartedABodyMayContinueIt) {
  absl::Notification placed_first;
  FakeServer server;
  server.Run([&](Peer& p) {
    TrustHandshake(p);
    p.ReadTyped();
    SendInTwoPieces(p, EncodeFrame('d', "PLAC" + Payload(100 << 10, 'y')), placed_first);
    p.ReadTyped();
  });
  auto conn = Streaming(server.port());
  ASSERT_TRUE(conn.ok()) << conn.status();
  TestPlacer placer;
  ASSERT_NO_FATAL_FAILURE(ReadUntilPlaced(**conn, placer));
  placed_first.Notify();
  auto other = (*conn)->ReadMessage(absl::Now() + absl::Seconds(10));
  EXPECT_EQ(other.status().code(), absl::StatusCode::kFailedPrecondition) << other.status();
  EXPECT_FALSE((*conn)->is_open());
}

}  // namespace
}  // namespace walrep
