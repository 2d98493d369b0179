#include "wire/waker.h"

#include <poll.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace walrep {
namespace {

bool Readable(const Waker& w) {
  pollfd p{w.fd(), POLLIN, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

TEST(WakerTest, WakeIsLevelTriggeredUntilDrained) {
  Waker w;
  ASSERT_GE(w.fd(), 0);
  EXPECT_FALSE(Readable(w));
  w.Wake();
  w.Wake();
  EXPECT_TRUE(Readable(w));
  EXPECT_TRUE(Readable(w));  // looking does not consume it
  w.Drain();
  EXPECT_FALSE(Readable(w));
  w.Drain();  // nothing pending: no block, no error
  EXPECT_FALSE(Readable(w));
}

// A watched descriptor ends a wait while it is readable; Drain() leaves it alone (its
// reader consumes it), and the waker's own Wake() still works beside it.
TEST(WakerTest, WatchedDescriptorEndsWaitsUntilItsOwnerReadsIt) {
  Waker w;
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  ASSERT_TRUE(w.Watch(pipe_fds[0]).ok());
  EXPECT_FALSE(Readable(w));
  ASSERT_EQ(write(pipe_fds[1], "x", 1), 1);
  EXPECT_TRUE(Readable(w));
  w.Drain();
  EXPECT_TRUE(Readable(w));
  char c;
  ASSERT_EQ(read(pipe_fds[0], &c, 1), 1);
  EXPECT_FALSE(Readable(w));
  w.Wake();
  EXPECT_TRUE(Readable(w));
  w.Drain();
  EXPECT_FALSE(Readable(w));
  // The same descriptor twice is an error, not a silent no-op.
  EXPECT_FALSE(w.Watch(pipe_fds[0]).ok());
  close(pipe_fds[0]);
  close(pipe_fds[1]);
}

}  // namespace
}  // namespace walrep
