#include "engine/log_tailer.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/match.h"
#include "absl/time/clock.h"

namespace walrep {
namespace {

struct Marker {
  absl::string_view text;
  PostgresLogLine::Kind kind;
  spdlog::level::level_enum level;
};

constexpr Marker kMarkers[] = {
    {"WARNING:  ", PostgresLogLine::Kind::kSeverity, spdlog::level::warn},
    {"ERROR:  ", PostgresLogLine::Kind::kSeverity, spdlog::level::err},
    {"FATAL:  ", PostgresLogLine::Kind::kSeverity, spdlog::level::err},
    {"PANIC:  ", PostgresLogLine::Kind::kSeverity, spdlog::level::critical},
    {"LOG:  ", PostgresLogLine::Kind::kSeverity, spdlog::level::debug},
    {"INFO:  ", PostgresLogLine::Kind::kSeverity, spdlog::level::debug},
    {"NOTICE:  ", PostgresLogLine::Kind::kSeverity, spdlog::level::debug},
    {"DEBUG", PostgresLogLine::Kind::kSeverity, spdlog::level::debug},
    {"DETAIL:  ", PostgresLogLine::Kind::kDetail, spdlog::level::debug},
    {"HINT:  ", PostgresLogLine::Kind::kDetail, spdlog::level::debug},
    {"CONTEXT:  ", PostgresLogLine::Kind::kDetail, spdlog::level::debug},
    {"STATEMENT:  ", PostgresLogLine::Kind::kDetail, spdlog::level::debug},
    {"QUERY:  ", PostgresLogLine::Kind::kDetail, spdlog::level::debug},
    {"LOCATION:  ", PostgresLogLine::Kind::kDetail, spdlog::level::debug},
};

constexpr size_t kMaxLine = 64 << 10;  // longer lines are forwarded in pieces

}  // namespace

PostgresLogLine ClassifyPostgresLogLine(absl::string_view line) {
  PostgresLogLine out;
  size_t best = absl::string_view::npos;
  for (const Marker& m : kMarkers) {
    size_t at = line.find(m.text);
    if (at == absl::string_view::npos || at >= best) continue;
    // "DEBUG" only as DEBUG1..5 followed by ":  ".
    if (m.text == "DEBUG" && line.substr(at + 6, 3) != ":  ") continue;
    best = at;
    out.kind = m.kind;
    out.level = m.level;
  }
  return out;
}

LogTailer::LogTailer(std::string path, std::shared_ptr<spdlog::logger> logger,
                     std::vector<std::string> expected, LineObserver observer,
                     uint64_t max_bytes)
    : path_(std::move(path)),
      logger_(std::move(logger)),
      expected_(std::move(expected)),
      observer_(std::move(observer)),
      max_bytes_(max_bytes),
      inotify_fd_(inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) {}

LogTailer::~LogTailer() {
  Stop();
  if (inotify_fd_ >= 0) close(inotify_fd_);
}

void LogTailer::Start() {
  if (thread_.joinable()) return;
  {
    absl::MutexLock lock(&mu_);
    stop_ = false;
  }
  if (stop_fd_ < 0) stop_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  {
    absl::MutexLock lock(&read_mu_);
    struct stat st;
    offset_ = 0;
    inode_ = 0;
    if (stat(path_.c_str(), &st) == 0) {
      offset_ = st.st_size;
      inode_ = st.st_ino;
    }
    pending_.clear();
    continued_ = false;
    path_checked_ = absl::InfinitePast();
    active_ = true;
  }
  thread_ = std::thread([this] { Run(); });
}

void LogTailer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (stop_fd_ >= 0) {
    const uint64_t one = 1;
    (void)!write(stop_fd_, &one, sizeof(one));
  }
  if (thread_.joinable()) thread_.join();
  if (stop_fd_ >= 0) close(stop_fd_);
  stop_fd_ = -1;
  absl::MutexLock lock(&read_mu_);
  active_ = false;
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  if (watch_ >= 0 && inotify_fd_ >= 0) inotify_rm_watch(inotify_fd_, watch_);
  watch_ = -1;
}

void LogTailer::ReadNow() {
  last_read_now_.store(absl::ToUnixNanos(absl::Now()), std::memory_order_relaxed);
  // No event, nothing written since the last drain: no read of the file (this runs on
  // every wake of the caller). Lines written before that drain were read by whoever
  // drained them, or are being read under read_mu_ now.
  if (!DrainEvents() && inotify_fd_ >= 0) return;
  absl::MutexLock lock(&read_mu_);
  if (active_) ReadLocked(/*may_cap=*/false);
}

uint64_t LogTailer::Cap(int fd, uint64_t offset) {
  struct stat st;
  if (fstat(fd, &st) != 0) return 0;
  const uint64_t block = st.st_blksize > 0 ? st.st_blksize : 4096;
  // Only bytes already read go, and never up to the end (the range must end before it).
  const uint64_t cut = (offset - max_bytes_ / 2) / block * block;
  if (cut == 0 || cut >= static_cast<uint64_t>(st.st_size)) return 0;
  const int wfd = open(path_.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (wfd < 0) return 0;
  uint64_t removed = 0;
  if (fallocate(wfd, FALLOC_FL_COLLAPSE_RANGE, 0, static_cast<off_t>(cut)) == 0) {
    removed = cut;
  } else if (static_cast<uint64_t>(st.st_size) == offset) {
    // Cannot collapse here: truncated, read to its end. A line the server writes between
    // that read and the truncation is lost from the file (and, below WARNING, from
    // walrep's log).
    if (ftruncate(wfd, 0) == 0) {
      removed = offset;
      if (!truncation_logged_) {
        truncation_logged_ = true;
        logger_->info("the server log {} passed {} bytes and is truncated (this file system "
                      "cannot remove its start)", path_, max_bytes_);
      }
    }
  }
  close(wfd);
  return removed;
}

bool LogTailer::DrainEvents() {
  if (inotify_fd_ < 0) return false;
  // The events only say "written": what was written is read from the file.
  alignas(inotify_event) char buf[4096];
  bool any = false;
  while (read(inotify_fd_, buf, sizeof(buf)) > 0) any = true;
  return any;
}

void LogTailer::Wait() {
  if (stop_fd_ < 0) {
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stop_), kPollInterval);
    return;
  }
  const int64_t since_read_now =
      absl::ToUnixNanos(absl::Now()) - last_read_now_.load(std::memory_order_relaxed);
  const bool others_read = since_read_now < absl::ToInt64Nanoseconds(2 * kPollInterval);
  bool watched;
  {
    absl::MutexLock lock(&read_mu_);
    watched = watch_ >= 0;
  }
  pollfd fds[2] = {{stop_fd_, POLLIN, 0}, {inotify_fd_, POLLIN, 0}};
  const int n = watched && !others_read && inotify_fd_ >= 0 ? 2 : 1;
  (void)poll(fds, n, static_cast<int>(absl::ToInt64Milliseconds(kPollInterval)));
  if (n == 2 && (fds[1].revents & POLLIN)) DrainEvents();
}

void LogTailer::Emit(absl::string_view line, bool whole) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (observer_ && whole) observer_(line);
  PostgresLogLine c = ClassifyPostgresLogLine(line);
  std::optional<spdlog::level::level_enum> level;
  if (c.kind == PostgresLogLine::Kind::kSeverity) {
    last_level_ = c.level >= spdlog::level::warn ? std::optional<spdlog::level::level_enum>(c.level)
                                                 : std::nullopt;
    if (c.level == spdlog::level::warn) {
      for (const std::string& e : expected_) {
        if (absl::StrContains(line, e)) last_level_ = spdlog::level::info;
      }
    }
    level = last_level_;
  } else if (c.kind == PostgresLogLine::Kind::kDetail) {
    level = last_level_;
  } else {
    last_level_.reset();
  }
  if (level) logger_->log(*level, "{}", fmt::string_view(line.data(), line.size()));
}

void LogTailer::Run() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) break;
    }
    {
      absl::MutexLock lock(&read_mu_);
      ReadLocked(/*may_cap=*/true);
    }
    Wait();
  }
}

void LogTailer::ReadLocked(bool may_cap) {
  // The file can be absent before the first start, replaced by log rotation (another
  // inode) or truncated: follow it as `tail -F` does. The path and size are looked at
  // every kPollInterval (and until the file is open and watched), not on every wake: a
  // busy server writes lines by the thousand a second.
  struct stat st;
  const absl::Time now = absl::Now();
  if (fd_ < 0 || (inotify_fd_ >= 0 && watch_ < 0) || now - path_checked_ >= kPollInterval) {
    path_checked_ = now;
    if (stat(path_.c_str(), &st) == 0) {
      if (fd_ >= 0 && st.st_ino != inode_) {
        close(fd_);
        fd_ = -1;
        offset_ = 0;
      }
      if (fd_ < 0) {
        fd_ = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        if (st.st_ino != inode_) offset_ = 0;
        inode_ = st.st_ino;
        // Watched before it is read, so no write after the read goes unnoticed.
        if (inotify_fd_ >= 0 && fd_ >= 0) {
          if (watch_ >= 0) inotify_rm_watch(inotify_fd_, watch_);
          watch_ = inotify_add_watch(inotify_fd_, path_.c_str(), IN_MODIFY);
        }
      }
      if (static_cast<uint64_t>(st.st_size) < offset_) offset_ = 0;
    }
  }
  if (fd_ < 0) return;
  char buf[8192];
  for (;;) {
    ssize_t n = pread(fd_, buf, sizeof(buf), offset_);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    offset_ += n;
    pending_.append(buf, n);
    size_t start = 0;
    for (size_t nl; (nl = pending_.find('\n', start)) != std::string::npos; start = nl + 1) {
      Emit(absl::string_view(pending_).substr(start, nl - start), !continued_);
      continued_ = false;
    }
    pending_.erase(0, start);
    if (pending_.size() > kMaxLine) {
      Emit(pending_, /*whole=*/false);
      pending_.clear();
      continued_ = true;
    }
    // A short read is the end as of now; what is written after it wakes the wait.
    if (static_cast<size_t>(n) < sizeof(buf)) break;
  }
  if (may_cap && offset_ > max_bytes_) offset_ -= Cap(fd_, offset_);
}

}  // namespace walrep
