// CaptureSink (tests only): an spdlog sink that keeps every message it receives, with its
// level, so a test can assert on what reached a logger. Thread-safe (the server log's
// lines arrive on the tailer's thread).
#ifndef WALREP_ENGINE_CAPTURE_SINK_H_
#define WALREP_ENGINE_CAPTURE_SINK_H_

#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "spdlog/sinks/base_sink.h"

namespace walrep {

class CaptureSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::vector<std::pair<spdlog::level::level_enum, std::string>> Lines() {
    absl::MutexLock lock(&mu_);
    return lines_;
  }
  // Waits until at least `n` messages arrived or `timeout` passed; whether they did.
  bool WaitForLines(size_t n, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return lines_.size() >= n; };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }
  // Whether a message at `level` containing `text` arrived.
  bool Saw(spdlog::level::level_enum level, const std::string& text) {
    absl::MutexLock lock(&mu_);
    for (const auto& [l, line] : lines_) {
      if (l == level && absl::StrContains(line, text)) return true;
    }
    return false;
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    absl::MutexLock lock(&mu_);
    lines_.emplace_back(msg.level, std::string(msg.payload.data(), msg.payload.size()));
  }
  void flush_() override {}

 private:
  absl::Mutex mu_;
  std::vector<std::pair<spdlog::level::level_enum, std::string>> lines_;
};

}  // namespace walrep

#endif  // WALREP_ENGINE_CAPTURE_SINK_H_
