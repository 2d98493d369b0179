#include "engine/log_tailer.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "engine/capture_sink.h"
#include "replay/test_util.h"
#include "wire/waker.h"

namespace walrep {
namespace {

// What a tailer's observer was handed, in order, and on which thread.
class SeenLines {
 public:
  LogTailer::LineObserver Observer() {
    return [this](absl::string_view line) {
      absl::MutexLock lock(&mu_);
      lines_.emplace_back(line);
      threads_.push_back(std::this_thread::get_id());
    };
  }
  // Waits until at least `n` lines arrived or `timeout` passed; whether they did.
  bool WaitFor(size_t n, absl::Duration timeout = absl::Seconds(20)) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return lines_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }
  std::vector<std::string> lines() {
    absl::MutexLock lock(&mu_);
    return lines_;
  }
  std::vector<std::thread::id> threads() {
    absl::MutexLock lock(&mu_);
    return threads_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> lines_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread::id> threads_ ABSL_GUARDED_BY(mu_);
};

// Appends "x LOG:  line i" for i in [from, to) to the open descriptor, one write each (as
// the server appends its lines, O_APPEND); `each(i)` after line i's write, if given.
void AppendLines(int fd, int from, int to, const std::function<void(int)>& each = nullptr) {
  for (int i = from; i < to; ++i) {
    const std::string line = absl::StrCat("x LOG:  line ", i, "\n");
    ASSERT_EQ(write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
    if (each) each(i);
  }
}

TEST(LogTailerTest, ForwardsWarningsAndAboveWithTheirDetailLines) {
  const testing::TempDir dir;
  const std::string path = dir.Join("postgres.log");
  std::ofstream(path) << "x ERROR:  written before the tailer started\n";
  auto sink = std::make_shared<CaptureSink>();
  auto logger = std::make_shared<spdlog::logger>("tailer_test", sink);
  logger->set_level(spdlog::level::trace);
  LogTailer tailer(path, logger);
  tailer.Start();
  {
    std::ofstream out(path, std::ios::app);
    out << "x LOG:  checkpoint starting\n"
        << "x DETAIL:  detail of a LOG line\n"
        << "x ERROR:  relation \"nope\" does not exist\n"
        << "x STATEMENT:  SELECT * FROM nope\n"
        << "x WARNING:  partial";
  }
  {
    std::ofstream out(path, std::ios::app);
    out << " line completed\n";
  }
  sink->WaitForLines(3, absl::Seconds(10));
  tailer.Stop();
  auto lines = sink->Lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].first, spdlog::level::err);
  EXPECT_EQ(lines[0].second, "x ERROR:  relation \"nope\" does not exist");
  EXPECT_EQ(lines[1].first, spdlog::level::err);
  EXPECT_EQ(lines[1].second, "x STATEMENT:  SELECT * FROM nope");
  EXPECT_EQ(lines[2].first, spdlog::level::warn);
  EXPECT_EQ(lines[2].second, "x WARNING:  partial line completed");
}

TEST(LogTailerTest, ExpectedWarningsAreInfo) {
  const testing::TempDir dir;
  const std::string path = dir.Join("expected.log");
  std::ofstream(path) << "";
  auto sink = std::make_shared<CaptureSink>();
  auto logger = std::make_shared<spdlog::logger>("tailer_test3", sink);
  logger->set_level(spdlog::level::trace);
  LogTailer tailer(path, logger, {"specified neither primary_conninfo"});
  tailer.Start();
  std::ofstream(path, std::ios::app)
      << "x WARNING:  specified neither primary_conninfo nor restore_command\n"
      << "x HINT:  The database server will regularly poll\n"
      << "x WARNING:  something else\n";
  sink->WaitForLines(3, absl::Seconds(10));
  tailer.Stop();
  auto lines = sink->Lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].first, spdlog::level::info);
  EXPECT_EQ(lines[1].first, spdlog::level::info);
  EXPECT_EQ(lines[2].first, spdlog::level::warn);
}

TEST(LogTailerTest, FollowsAFileCreatedLater) {
  const testing::TempDir dir;
  const std::string path = dir.Join("later.log");
  auto sink = std::make_shared<CaptureSink>();
  auto logger = std::make_shared<spdlog::logger>("tailer_test2", sink);
  LogTailer tailer(path, logger);
  tailer.Start();
  std::ofstream(path) << "x FATAL:  could not open file\n";
  sink->WaitForLines(1, absl::Seconds(10));
  tailer.Stop();
  ASSERT_EQ(sink->Lines().size(), 1u);
  EXPECT_EQ(sink->Lines()[0].second, "x FATAL:  could not open file");
}

TEST(LogTailerTest, ObserverSeesEveryWholeLineButNotThePiecesOfAnOverlongOne) {
  const testing::TempDir dir;
  const std::string path = dir.Join("observed.log");
  std::ofstream(path) << "";
  auto sink = std::make_shared<CaptureSink>();
  auto logger = std::make_shared<spdlog::logger>("tailer_test4", sink);
  SeenLines seen;
  LogTailer tailer(path, logger, {}, seen.Observer());
  tailer.Start();
  // A message longer than a forwarded piece, its text past the piece's end crafted as a
  // server line: once the first piece is out (forwarded: a WARNING), the rest follows.
  std::ofstream(path, std::ios::app) << "x LOG:  first\n"
                                     << "x WARNING:  " << std::string((64 << 10) + 100, 'a');
  sink->WaitForLines(1, absl::Seconds(10));
  ASSERT_EQ(sink->Lines().size(), 1u);
  std::ofstream(path, std::ios::app)
      << "2026-12-07 22:40:01.123 UTC [1] LOG:  invalid record length at 0/1: forged\n"
      << "x LOG:  last\n";
  seen.WaitFor(2, absl::Seconds(10));
  tailer.Stop();
  EXPECT_THAT(seen.lines(), ::testing::ElementsAre("x LOG:  first", "x LOG:  last"));
}

TEST(LogTailerTest, KeepsTheFileToItsNewestBytesWithoutLosingALine) {
  const testing::TempDir dir;
  const std::string path = dir.Join("capped.log");
  std::ofstream(path) << "";
  auto logger = std::make_shared<spdlog::logger>("tailer_test5", std::make_shared<CaptureSink>());
  SeenLines seen;
  constexpr uint64_t kMax = 64 << 10;
  LogTailer tailer(path, logger, {}, seen.Observer(), kMax);
  tailer.Start();
  // Appended as the server appends (O_APPEND), in bursts, while the tailer reads and cuts.
  constexpr int kLines = 20000;
  {
    const int fd = open(path.c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0);
    AppendLines(fd, 0, kLines);
    close(fd);
  }
  seen.WaitFor(kLines);
  tailer.Stop();
  const std::vector<std::string> lines = seen.lines();
  ASSERT_EQ(lines.size(), static_cast<size_t>(kLines));
  for (int i = 0; i < kLines; ++i) ASSERT_EQ(lines[i], absl::StrCat("x LOG:  line ", i));
  struct stat st;
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_LE(static_cast<uint64_t>(st.st_size), kMax);
  // The newest line is still there, whole, at the end.
  std::ifstream in(path);
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_TRUE(absl::EndsWith(content, absl::StrCat("x LOG:  line ", kLines - 1, "\n")));
}

// ReadNow on a thread that waits on watch_fd() (through a Waker, as the replica stream
// does): every line reaches the observer once, in order, most of them on that thread;
// when its calls stop, the tailer's own thread takes the lines again.
TEST(LogTailerTest, ReadNowOnAWatchingThreadSeesEachLineOnceInOrder) {
  const testing::TempDir dir;
  const std::string path = dir.Join("read_now.log");
  std::ofstream(path) << "";
  auto logger = std::make_shared<spdlog::logger>("tailer_test6", std::make_shared<CaptureSink>());
  SeenLines seen;
  LogTailer tailer(path, logger, {}, seen.Observer());
  tailer.Start();
  ASSERT_GE(tailer.watch_fd(), 0);
  Waker waker;
  ASSERT_TRUE(waker.Watch(tailer.watch_fd()).ok());
  std::atomic<bool> stop{false};
  std::thread stream([&] {
    while (!stop.load()) {
      pollfd p{waker.fd(), POLLIN, 0};
      (void)poll(&p, 1, 20);
      tailer.ReadNow();
    }
  });
  constexpr int kLines = 5000;
  const int fd = open(path.c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0);
  // A line at a time, each waited for: every one is a wake of the watching thread.
  AppendLines(fd, 0, kLines, [&](int i) {
    if (i % 50 == 0) seen.WaitFor(i + 1);
  });
  seen.WaitFor(kLines);
  const std::thread::id stream_id = stream.get_id();
  stop = true;
  stream.join();
  {
    const std::vector<std::string> lines = seen.lines();
    ASSERT_EQ(lines.size(), static_cast<size_t>(kLines));
    for (int i = 0; i < kLines; ++i) ASSERT_EQ(lines[i], absl::StrCat("x LOG:  line ", i));
    const std::vector<std::thread::id> by = seen.threads();
    const auto on_stream = std::count(by.begin(), by.end(), stream_id);
    EXPECT_GT(on_stream, kLines / 2) << "lines read on the watching thread";
  }
  // No ReadNow any more: the tailer's thread reads (and is woken by) the next line.
  const std::string last = "x LOG:  after\n";
  ASSERT_EQ(write(fd, last.data(), last.size()), static_cast<ssize_t>(last.size()));
  close(fd);
  seen.WaitFor(kLines + 1);
  tailer.Stop();
  const std::vector<std::string> lines = seen.lines();
  ASSERT_EQ(lines.size(), static_cast<size_t>(kLines + 1));
  EXPECT_EQ(lines.back(), "x LOG:  after");
  EXPECT_NE(seen.threads().back(), stream_id);
}

// ReadNow before Start or after Stop reads nothing (the position belongs to a running
// tailer), and does not block.
TEST(LogTailerTest, ReadNowWhileStoppedIsANoOp) {
  const testing::TempDir dir;
  const std::string path = dir.Join("stopped.log");
  std::ofstream(path) << "x LOG:  before\n";
  auto logger = std::make_shared<spdlog::logger>("tailer_test7", std::make_shared<CaptureSink>());
  int calls = 0;
  LogTailer tailer(path, logger, {}, [&](absl::string_view) { ++calls; });
  tailer.ReadNow();
  tailer.Start();
  tailer.Stop();
  std::ofstream(path, std::ios::app) << "x LOG:  after stop\n";
  tailer.ReadNow();
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace walrep
