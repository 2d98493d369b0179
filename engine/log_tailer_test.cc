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

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "engine/capture_sink.h"
#include "wire/waker.h"

namespace walrep {
namespace {

std::string TempDir() {
  std::string tmpl = absl::StrCat(getenv("TEST_TMPDIR"), "/tailer.XXXXXX");
  EXPECT_NE(mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

TEST(LogTailerTest, ForwardsWarningsAndAboveWithTheirDetailLines) {
  const std::string path = TempDir() + "/postgres.log";
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
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (sink->Lines().size() < 3 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
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
  const std::string path = TempDir() + "/expected.log";
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
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (sink->Lines().size() < 3 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  tailer.Stop();
  auto lines = sink->Lines();
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].first, spdlog::level::info);
  EXPECT_EQ(lines[1].first, spdlog::level::info);
  EXPECT_EQ(lines[2].first, spdlog::level::warn);
}

TEST(LogTailerTest, FollowsAFileCreatedLater) {
  const std::string path = TempDir() + "/later.log";
  auto sink = std::make_shared<CaptureSink>();
  auto logger = std::make_shared<spdlog::logger>("tailer_test2", sink);
  LogTailer tailer(path, logger);
  tailer.Start();
  std::ofstream(path) << "x FATAL:  could not open file\n";
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (sink->Lines().empty() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  tailer.Stop();
  ASSERT_EQ(sink->Lines().size(), 1u);
  EXPECT_EQ(sink->Lines()[0].second, "x FATAL:  could not open file");
}

TEST(LogTailerTest, ObserverSeesEveryWholeLineButNotThePiecesOfAnOverlongOne) {
  const std::string path = TempDir() + "/observed.log";
  std::ofstream(path) << "";
  auto sink = std::make_shared<CaptureSink>();
  auto logger = std::make_shared<spdlog::logger>("tailer_test4", sink);
  absl::Mutex mu;
  std::vector<std::string> seen;
  LogTailer tailer(path, logger, {}, [&](absl::string_view line) {
    absl::MutexLock lock(&mu);
    seen.emplace_back(line);
  });
  tailer.Start();
  auto wait_until = [](const std::function<bool()>& done) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (!done() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  };
  // A message longer than a forwarded piece, its text past the piece's end crafted as a
  // server line: once the first piece is out (forwarded: a WARNING), the rest follows.
  std::ofstream(path, std::ios::app) << "x LOG:  first\n"
                                     << "x WARNING:  " << std::string((64 << 10) + 100, 'a');
  wait_until([&] { return !sink->Lines().empty(); });
  ASSERT_EQ(sink->Lines().size(), 1u);
  std::ofstream(path, std::ios::app)
      << "2026-12-07 22:40:01.123 UTC [1] LOG:  invalid record length at 0/1: forged\n"
      << "x LOG:  last\n";
  auto count = [&] {
    absl::MutexLock lock(&mu);
    return seen.size();
  };
  wait_until([&] { return count() >= 2; });
  tailer.Stop();
  absl::MutexLock lock(&mu);
  EXPECT_THAT(seen, testing::ElementsAre("x LOG:  first", "x LOG:  last"));
}

TEST(LogTailerTest, KeepsTheFileToItsNewestBytesWithoutLosingALine) {
  const std::string path = TempDir() + "/capped.log";
  std::ofstream(path) << "";
  auto logger = std::make_shared<spdlog::logger>("tailer_test5", std::make_shared<CaptureSink>());
  absl::Mutex mu;
  std::vector<std::string> seen;
  constexpr uint64_t kMax = 64 << 10;
  LogTailer tailer(
      path, logger, {},
      [&](absl::string_view line) {
        absl::MutexLock lock(&mu);
        seen.emplace_back(line);
      },
      kMax);
  tailer.Start();
  // Appended as the server appends (O_APPEND), in bursts, while the tailer reads and cuts.
  constexpr int kLines = 20000;
  {
    const int fd = open(path.c_str(), O_WRONLY | O_APPEND);
    ASSERT_GE(fd, 0);
    for (int i = 0; i < kLines; ++i) {
      const std::string line = absl::StrCat("x LOG:  line ", i, "\n");
      ASSERT_EQ(write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
    }
    close(fd);
  }
  auto count = [&] {
    absl::MutexLock lock(&mu);
    return seen.size();
  };
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (count() < kLines && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
  tailer.Stop();
  absl::MutexLock lock(&mu);
  ASSERT_EQ(seen.size(), static_cast<size_t>(kLines));
  for (int i = 0; i < kLines; ++i) ASSERT_EQ(seen[i], absl::StrCat("x LOG:  line ", i));
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
  const std::string path = TempDir() + "/read_now.log";
  std::ofstream(path) << "";
  auto logger = std::make_shared<spdlog::logger>("tailer_test6", std::make_shared<CaptureSink>());
  absl::Mutex mu;
  std::vector<std::string> seen;
  std::vector<std::thread::id> by;
  LogTailer tailer(path, logger, {}, [&](absl::string_view line) {
    absl::MutexLock lock(&mu);
    seen.emplace_back(line);
    by.push_back(std::this_thread::get_id());
  });
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
  auto count = [&] {
    absl::MutexLock lock(&mu);
    return seen.size();
  };
  auto wait_for = [&](size_t n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(20);
    while (count() < n && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(2));
  };
  constexpr int kLines = 5000;
  const int fd = open(path.c_str(), O_WRONLY | O_APPEND);
  ASSERT_GE(fd, 0);
  // A line at a time, each waited for: every one is a wake of the watching thread.
  for (int i = 0; i < kLines; ++i) {
    const std::string line = absl::StrCat("x LOG:  line ", i, "\n");
    ASSERT_EQ(write(fd, line.data(), line.size()), static_cast<ssize_t>(line.size()));
    if (i % 50 == 0) wait_for(i + 1);
  }
  wait_for(kLines);
  const std::thread::id stream_id = stream.get_id();
  stop = true;
  stream.join();
  {
    absl::MutexLock lock(&mu);
    ASSERT_EQ(seen.size(), static_cast<size_t>(kLines));
    for (int i = 0; i < kLines; ++i) ASSERT_EQ(seen[i], absl::StrCat("x LOG:  line ", i));
    const auto on_stream = std::count(by.begin(), by.end(), stream_id);
    EXPECT_GT(on_stream, kLines / 2) << "lines read on the watching thread";
  }
  // No ReadNow any more: the tailer's thread reads (and is woken by) the next line.
  const std::string last = "x LOG:  after\n";
  ASSERT_EQ(write(fd, last.data(), last.size()), static_cast<ssize_t>(last.size()));
  close(fd);
  wait_for(kLines + 1);
  tailer.Stop();
  absl::MutexLock lock(&mu);
  ASSERT_EQ(seen.size(), static_cast<size_t>(kLines + 1));
  EXPECT_EQ(seen.back(), "x LOG:  after");
  EXPECT_NE(by.back(), stream_id);
}

// ReadNow before Start or after Stop reads nothing (the position belongs to a running
// tailer), and does not block.
TEST(LogTailerTest, ReadNowWhileStoppedIsANoOp) {
  const std::string path = TempDir() + "/stopped.log";
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
