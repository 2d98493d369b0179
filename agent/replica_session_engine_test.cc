// ReplicaSession with an engine that reports replay on its own time (engine postgres:
// the server's log, read on the stream thread through the waker): what a remote_apply
// commit waits on leaves without waiting for the stream's other work — the engine is
// woken before the status update that reports a flush, and an apply advance found while
// a batch is read goes out before that batch's fdatasync.
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <utility>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/replica_session.h"
#include "agent/session_test_util.h"
#include "gtest/gtest.h"
#include "replay/fault_file_ops.h"
#include "wire/fake_pg_server.h"
#include "wire/waker.h"

namespace walrep {
namespace {

using namespace session_test;  // NOLINT: the fake primary's vocabulary

// Every status update the session sent, as the primary received them, each with whether
// an fdatasync was held at the time.
class Updates {
 public:
  struct Update {
    StandbyStatusUpdate u;
    bool during_hold = false;
  };
  void ReadFrom(Peer& p, const std::atomic<bool>& holding) {
    for (;;) {
      auto m = p.ReadTyped();
      if (!m || m->first == 'c') break;
      if (m->first != 'd' || m->second.empty() || m->second[0] != 'r') continue;
      auto u = DecodeStandbyStatusUpdate(m->second);
      ASSERT_TRUE(u.ok()) << u.status();
      absl::MutexLock lock(&mu_);
      all_.push_back({*u, holding.load()});
    }
  }
  std::vector<Update> all() const {
    absl::MutexLock lock(&mu_);
    return all_;
  }
  bool WaitFor(const std::function<bool(const std::vector<Update>&)>& pred) const {
    absl::MutexLock lock(&mu_);
    auto done = [&] { return pred(all_); };
    mu_.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(60));
    return pred(all_);
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<Update> all_ ABSL_GUARDED_BY(mu_);
};

class ReplicaSessionEngineTest : public SessionFixture {
 protected:
  void UseEngine() {
    ctx_.engine_apply_lsn = [this] { return Lsn(engine_apply_.load()); };
    ctx_.engine_apply_advances = [this] { return advances_.load(); };
    ctx_.engine_wake = [this](Lsn flushed) {
      absl::MutexLock lock(&mu_);
      wakes_.emplace_back(flushed, status_.status_updates_sent.load());
    };
    ctx_.engine_apply_waker = &waker_;
    // The engine's "log": a replay position written there is read (and counted as an
    // advance) when the stream reads the log.
    ctx_.engine_read_log = [this] {
      const uint64_t said = log_says_.exchange(0);
      if (said > engine_apply_.load()) {
        engine_apply_.store(said);
        advances_.fetch_add(1);
        waker_.Wake();
      }
    };
  }

  std::atomic<uint64_t> engine_apply_{0};
  std::atomic<uint64_t> advances_{0};
  std::atomic<uint64_t> log_says_{0};
  Waker waker_;
  absl::Mutex mu_;
  // Each engine wake: the flushed position and how many status updates had been sent.
  std::vector<std::pair<Lsn, uint64_t>> wakes_ ABSL_GUARDED_BY(mu_);
};

TEST_F(ReplicaSessionEngineTest, ApplyAdvanceGoesOutBeforeTheNextFsyncAndTheEngineBeforeTheAck) {
  UseEngine();
  const Lsn first_end = RecordEndWithin(5000);
  auto msg = [](uint64_t off, size_t n) { return WalMsg(kSeg1 + off, W(off, n)); };
  fake_pg::FakeServer server;
  Updates updates;
  std::atomic<bool> holding{false};
  server.Run([&](Peer& p) {
    ASSERT_TRUE(Handshake(p, kSysId));
    std::thread reader([&] { updates.ReadFrom(p, holding); });
    absl::Cleanup end_stream = [&] {
      fault_.ReleaseSync();
      stop_.store(true);
      reader.join();
      p.Send(EncodeCopyDone() + Complete("COPY 0") + Ready());
    };
    // 1. A batch, fsynced and acknowledged.
    p.Send(msg(0, 5000));
    ASSERT_TRUE(updates.WaitFor([&](const std::vector<Updates::Update>& all) {
      return !all.empty() && all.back().u.flush == first_end;
    }));
    // 2. The engine has replayed it (its line is in the log, not read yet); the next
    //    batch's fdatasync is held. The advance must reach the primary while it is held.
    holding = true;
    fault_.HoldNextSync();
    log_says_ = first_end.value();
    p.Send(msg(5000, 4000));
    ASSERT_TRUE(fault_.WaitUntilSyncHeld(absl::Seconds(60)).has_value());
    EXPECT_TRUE(updates.WaitFor([&](const std::vector<Updates::Update>& all) {
      return std::any_of(all.begin(), all.end(), [&](const Updates::Update& x) {
        return x.during_hold && x.u.apply == first_end;
      });
    })) << "the apply advance waited for the held fdatasync";
    // Still nothing reported as flushed past what is fsynced.
    for (const Updates::Update& x : updates.all()) EXPECT_LE(x.u.flush, first_end);
    holding = false;
    fault_.ReleaseSync();
    ASSERT_TRUE(updates.WaitFor([&](const std::vector<Updates::Update>& all) {
      return all.back().u.flush == RecordEndWithin(9000);
    }));
  });
  StreamSettings settings = Settings(server.port());
  settings.status_interval = absl::Hours(1);
  absl::Status st = ReplicaSession(settings, &ctx_, &stop_).Run(nullptr);
  server.Join();
  EXPECT_TRUE(st.ok()) << st;

  // The engine was woken for the first flush before the update that reported it was sent.
  const std::vector<Updates::Update> all = updates.all();
  const auto reported = std::find_if(all.begin(), all.end(), [&](const Updates::Update& x) {
    return x.u.flush == first_end;
  });
  ASSERT_NE(reported, all.end());
  const uint64_t before = static_cast<uint64_t>(reported - all.begin());
  absl::MutexLock lock(&mu_);
  const auto wake = std::find_if(wakes_.begin(), wakes_.end(),
                                 [&](const auto& w) { return w.first == first_end; });
  ASSERT_NE(wake, wakes_.end());
  EXPECT_EQ(wake->second, before) << "updates sent when the engine was woken";
}


// Reads outside the stream loop do not watch the waker: what it watches stays readable
// until the loop consumes it, so a read that watched it would return at once, again and
// again. Here the session stops, sends CopyDone and waits for the primary to end the COPY
// while the watched descriptor is readable: it must wait for that end (not give up on it,
// not spin).
TEST_F(ReplicaSessionEngineTest, TheEndOfTheCopyIsAwaitedWhileAWatchedDescriptorIsReadable) {
  UseEngine();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_TRUE(waker_.Watch(fds[0]).ok());
  fake_pg::FakeServer server;
  double cpu_during_wait = -1;
  server.Run([&](Peer& p) {
    ASSERT_TRUE(Handshake(p, kSysId));
    p.Send(WalMsg(kSeg1, W(0, 5000)));
    stop_.store(true);
    for (;;) {  // until the session's CopyDone
      auto m = p.ReadTyped();
      ASSERT_TRUE(m.has_value());
      if (m->first == 'c') break;
    }
    auto cpu = [] {
      timespec t;
      clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
      return t.tv_sec + t.tv_nsec / 1e9;
    };
    const double before = cpu();
    ASSERT_EQ(write(fds[1], "x", 1), 1);  // readable from now on, and nobody reads it
    absl::SleepFor(absl::Milliseconds(300));  // the primary is slow to end the COPY
    cpu_during_wait = cpu() - before;
    EXPECT_FALSE(p.ClientLeft()) << "the session gave up on the end of the COPY";
    p.Send(EncodeCopyDone() + Complete("COPY 0") + Ready());
  });
  absl::Status st = ReplicaSession(Settings(server.port()), &ctx_, &stop_).Run(nullptr);
  server.Join();
  EXPECT_TRUE(st.ok()) << st;
  // A spinning reader would have used about all of the 300 ms.
  EXPECT_GE(cpu_during_wait, 0);
  EXPECT_LT(cpu_during_wait, 0.1) << "CPU seconds used while the session waited";
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace walrep
