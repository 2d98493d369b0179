#include "engine/log_tailer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "absl/strings/match.h"

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
                     std::vector<std::string> expected)
    : path_(std::move(path)), logger_(std::move(logger)), expected_(std::move(expected)) {}

LogTailer::~LogTailer() { Stop(); }

void LogTailer::Start() {
  if (thread_.joinable()) return;
  {
    absl::MutexLock lock(&mu_);
    stop_ = false;
  }
  struct stat st;
  uint64_t offset = 0;
  ino_t inode = 0;
  if (stat(path_.c_str(), &st) == 0) {
    offset = st.st_size;
    inode = st.st_ino;
  }
  thread_ = std::thread([this, offset, inode] { Run(offset, inode); });
}

void LogTailer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void LogTailer::Emit(absl::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
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

void LogTailer::Run(uint64_t offset, ino_t inode) {
  std::string pending;
  int fd = -1;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      if (stop_) break;
    }
    // The file can be absent before the first start, replaced by log rotation (another
    // inode) or truncated: follow it as `tail -F` does.
    struct stat st;
    if (stat(path_.c_str(), &st) == 0) {
      if (fd >= 0 && st.st_ino != inode) {
        close(fd);
        fd = -1;
        offset = 0;
      }
      if (fd < 0) {
        fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        if (st.st_ino != inode) offset = 0;
        inode = st.st_ino;
      }
      if (static_cast<uint64_t>(st.st_size) < offset) offset = 0;
    }
    bool read_any = false;
    if (fd >= 0) {
      char buf[8192];
      for (;;) {
        ssize_t n = pread(fd, buf, sizeof(buf), offset);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        read_any = true;
        offset += n;
        pending.append(buf, n);
        size_t start = 0;
        for (size_t nl; (nl = pending.find('\n', start)) != std::string::npos; start = nl + 1) {
          Emit(absl::string_view(pending).substr(start, nl - start));
        }
        pending.erase(0, start);
        if (pending.size() > kMaxLine) {
          Emit(pending);
          pending.clear();
        }
      }
    }
    if (read_any) continue;
    absl::MutexLock lock(&mu_);
    mu_.AwaitWithTimeout(absl::Condition(&stop_), kPollInterval);
  }
  if (fd >= 0) close(fd);
}

}  // namespace walrep
