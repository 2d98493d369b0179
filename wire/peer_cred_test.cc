#include "wire/peer_cred.h"

#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"

namespace walrep {
namespace {

std::string MyName() {
  struct passwd* pw = getpwuid(geteuid());
  return pw != nullptr ? pw->pw_name : "";
}

class PeerCredTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0); }
  void TearDown() override {
    close(fds_[0]);
    close(fds_[1]);
  }
  int fds_[2] = {-1, -1};
};

// Both ends of a socketpair belong to this process, so the peer is us.
TEST_F(PeerCredTest, PeerIsTheProcessAtTheOtherEnd) {
  absl::StatusOr<std::string> peer = PeerUserName(fds_[0]);
  ASSERT_TRUE(peer.ok()) << peer.status();
  EXPECT_EQ(*peer, MyName());
  EXPECT_TRUE(CheckRequirePeer(fds_[0], MyName()).ok());
}

TEST_F(PeerCredTest, MismatchUsesLibpqsMessage) {
  absl::Status st = CheckRequirePeer(fds_[0], "someone-else");
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(
      st.message(),
      "requirepeer specifies \"someone-else\", but actual peer user name is \"" + MyName() + "\"");
}

TEST_F(PeerCredTest, EmptyRequirementChecksNothing) { EXPECT_TRUE(CheckRequirePeer(-1, "").ok()); }

TEST(PeerCredErrorTest, NotASocketIsUnavailable) {
  absl::StatusOr<std::string> peer = PeerUserName(-1);
  EXPECT_EQ(peer.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(peer.status().message().find("could not get peer credentials"), std::string::npos);
}

}  // namespace
}  // namespace walrep
