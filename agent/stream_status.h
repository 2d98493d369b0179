// What the replica stream publishes about itself for GetProgress, WatchProgress and
// /metrics: state, the primary's positions, counters, the last error. Written by the
// stream thread, read by RPC threads; every change calls the ChangeNotifier so watchers
// wake. Thread-safe.
#ifndef WALREP_AGENT_STREAM_STATUS_H_
#define WALREP_AGENT_STREAM_STATUS_H_

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "agent/change_notifier.h"
#include "walrep/v1/agent.pb.h"

namespace walrep {

class StreamStatus {
 public:
  explicit StreamStatus(ChangeNotifier* changes) : changes_(changes) {}

  void SetState(v1::StreamState state) {
    state_.store(state);
    changes_->Notify();
  }
  v1::StreamState state() const { return static_cast<v1::StreamState>(state_.load()); }

  // `error` empty: healthy again (code OK). Otherwise the code says what kind of error it
  // is (the code of the Status it came from; Unknown when it came from none).
  void SetError(std::string error, absl::StatusCode code = absl::StatusCode::kUnknown) {
    {
      absl::MutexLock lock(&mu_);
      last_error_code_ = error.empty() ? absl::StatusCode::kOk : code;
      last_error_ = std::move(error);
    }
    changes_->Notify();
  }
  // The message of `st`, prefixed, with its code.
  void SetError(absl::string_view prefix, const absl::Status& st) {
    SetError(absl::StrCat(prefix, st.message()), st.code());
  }
  std::string last_error() const {
    absl::MutexLock lock(&mu_);
    return last_error_;
  }
  absl::StatusCode last_error_code() const {
    absl::MutexLock lock(&mu_);
    return last_error_code_;
  }

  // Why the stream is STREAM_STATE_FAILED (UNSPECIFIED otherwise).
  void SetFailed(v1::FailureReason reason, std::string error,
                 absl::StatusCode code = absl::StatusCode::kFailedPrecondition) {
    failure_reason_.store(reason);
    {
      absl::MutexLock lock(&mu_);
      last_error_code_ = code;
      last_error_ = std::move(error);
    }
    SetState(v1::STREAM_STATE_FAILED);
  }
  void ClearFailure() { failure_reason_.store(v1::FAILURE_REASON_UNSPECIFIED); }
  v1::FailureReason failure_reason() const {
    return static_cast<v1::FailureReason>(failure_reason_.load());
  }

  // The primary's WAL end and the time of its last message (XLogData or keepalive).
  void OnPrimaryMessage(uint64_t wal_end) {
    uint64_t prev = primary_wal_end_.load();
    while (wal_end > prev && !primary_wal_end_.compare_exchange_weak(prev, wal_end)) {
    }
    last_message_us_.store(absl::ToUnixMicros(absl::Now()));
  }
  uint64_t primary_wal_end() const { return primary_wal_end_.load(); }
  absl::Time last_message_time() const { return absl::FromUnixMicros(last_message_us_.load()); }
  bool has_message() const { return last_message_us_.load() != 0; }

  std::atomic<uint64_t> sessions_started{0};
  std::atomic<uint64_t> sessions_failed{0};
  std::atomic<uint64_t> reconnects{0};
  std::atomic<uint64_t> wal_bytes_received{0};
  std::atomic<uint64_t> status_updates_sent{0};
  std::atomic<int64_t> last_session_start_us{0};

  void Notify() { changes_->Notify(); }

 private:
  ChangeNotifier* changes_;
  std::atomic<int> state_{v1::STREAM_STATE_STOPPED};
  std::atomic<int> failure_reason_{v1::FAILURE_REASON_UNSPECIFIED};
  std::atomic<uint64_t> primary_wal_end_{0};
  std::atomic<int64_t> last_message_us_{0};
  mutable absl::Mutex mu_;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  absl::StatusCode last_error_code_ ABSL_GUARDED_BY(mu_) = absl::StatusCode::kOk;
};

}  // namespace walrep

#endif  // WALREP_AGENT_STREAM_STATUS_H_
