#include "agent/replica_stream.h"

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/logging.h"
#include "agent/stream_failure.h"

namespace walrep {

ReplicaStream::ReplicaStream(StreamSettings settings, StreamContext* ctx, Bootstrap bootstrap,
                             StreamDialect* dialect)
    : settings_(std::move(settings)), ctx_(ctx), bootstrap_(std::move(bootstrap)) {
  if (dialect == nullptr) {
    own_dialect_ = std::make_unique<PgStreamDialect>(ctx_);
    dialect = own_dialect_.get();
  }
  dialect_ = dialect;
}

void ReplicaStream::Start() {
  if (thread_.joinable()) return;
  stop_.store(false);
  connect_cancel_ = std::make_unique<CancelToken>();
  thread_ = std::thread([this] { Run(); });
}

void ReplicaStream::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_.store(true);
    cv_.SignalAll();
  }
  if (connect_cancel_) connect_cancel_->Cancel();
  if (thread_.joinable()) thread_.join();
}

absl::Status ReplicaStream::WaitForIdentity(absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  while (!identity_.has_value()) {
    if (cv_.WaitWithDeadline(&mu_, deadline)) break;
  }
  if (!identity_.has_value()) {
    return absl::DeadlineExceededError("no answer from the primary yet");
  }
  return *identity_;
}

void ReplicaStream::SleepInterruptibly(absl::Duration d) {
  absl::Time deadline = absl::Now() + d;
  absl::MutexLock lock(&mu_);
  while (!stop_.load()) {
    if (cv_.WaitWithDeadline(&mu_, deadline)) break;
  }
}

void ReplicaStream::Run() {
  auto log = ModuleLogger("stream");
  absl::BitGen gen;
  Backoff backoff([&gen] { return absl::Uniform(gen, 0.0, 1.0); });
  StreamStatus* status = ctx_->status;
  status->ClearFailure();
  while (bootstrap_ && !stop_.load()) {
    status->SetState(v1::STREAM_STATE_BOOTSTRAPPING);
    absl::Status st = bootstrap_([this] { return stop_.load(); });
    if (st.ok()) {
      bootstrap_ = nullptr;
      break;
    }
    if (stop_.load()) break;
    if (std::optional<v1::FailureReason> reason = FailureReasonOf(st)) {
      status->SetFailed(*reason, absl::StrCat("bootstrap from a base backup failed: ", st.message()),
                        st.code());
      log->error("bootstrap failed for good ({}): {}", FailureReasonName(*reason), st.message());
      absl::MutexLock lock(&mu_);
      failed_ = true;
      if (!identity_.has_value()) {
        identity_ = st;
        cv_.SignalAll();
      }
      return;
    }
    status->SetError("bootstrap from a base backup failed: ", st);
    log->warn("bootstrap failed: {}", st.message());
    {
      absl::MutexLock lock(&mu_);
      // An identity mismatch will not go away by retrying: settle StartReplica's wait.
      if (!identity_.has_value() && st.code() == absl::StatusCode::kFailedPrecondition) {
        identity_ = st;
        cv_.SignalAll();
      }
    }
    absl::Duration delay = backoff.Next();
    status->SetState(v1::STREAM_STATE_BACKOFF);
    SleepInterruptibly(delay);
  }
  bool first = true;
  while (!stop_.load()) {
    if (!first) status->reconnects.fetch_add(1);
    first = false;
    status->sessions_started.fetch_add(1);
    status->last_session_start_us.store(absl::ToUnixMicros(absl::Now()));
    std::unique_ptr<DialectSession> session =
        dialect_->NewSession(settings_, &stop_, connect_cancel_.get());
    const uint64_t durable_before = dialect_->durable_position();
    absl::Status st = session->Run([this](const absl::Status& verdict) {
      absl::MutexLock lock(&mu_);
      // Only a verdict about the primary's identity settles the wait; a connection
      // failure leaves the caller to see BACKOFF and last_error.
      if (!identity_.has_value() &&
          (verdict.ok() || verdict.code() == absl::StatusCode::kFailedPrecondition)) {
        identity_ = verdict;
        cv_.SignalAll();
      }
    });
    // Only a session that moved the durable position resets the backoff: one that fails
    // right after START_REPLICATION (having received a few bytes it cannot keep) backs
    // off like any other failure instead of reconnecting in a tight loop.
    if (dialect_->durable_position() > durable_before) backoff.Reset();
    if (absl::Status storage = dialect_->storage_failure(); !storage.ok()) {
      st = Terminal(v1::FAILURE_REASON_STORAGE,
                    absl::Status(storage.code(),
                                 absl::StrCat("WAL storage failed; restart the agent after "
                                              "fixing it: ", storage.message())));
    }
    if (FailureReasonOf(st) == v1::FAILURE_REASON_DIVERGED && settings_.rewind_on_divergence &&
        ctx_->engine_rewind && !stop_.load()) {
      log->warn("{}; rewinding (rewind_on_divergence)", st.message());
      status->SetError("rewinding after a divergence: ", st);
      absl::Status rewound = ctx_->engine_rewind(settings_.conninfo);
      if (rewound.ok()) {
        log->info("rewound from the new primary; streaming again");
        continue;
      }
      st = Terminal(v1::FAILURE_REASON_DIVERGED,
                    absl::Status(rewound.code(), absl::StrCat(st.message(), "; pg_rewind failed: ",
                                                              rewound.message())));
    }
    if (std::optional<v1::FailureReason> reason = FailureReasonOf(st)) {
      // Retrying cannot fix it: stop here, say why, and let the operator act.
      status->sessions_failed.fetch_add(1);
      status->SetFailed(*reason, std::string(st.message()), st.code());
      log->error("streaming stopped ({}): {}", FailureReasonName(*reason), st.message());
      absl::MutexLock lock(&mu_);
      failed_ = true;
      if (!identity_.has_value()) {
        identity_ = st;
        cv_.SignalAll();
      }
      return;
    }
    if (stop_.load() && st.ok()) break;
    if (!st.ok() && session->primary_shut_down()) {
      // Every planned restart of the primary does this: say so, but it is no failure.
      status->SetError("", st);
      log->info("replication session ended: {}", st.message());
    } else if (!st.ok()) {
      status->sessions_failed.fetch_add(1);
      status->SetError("", st);
      log->warn("replication session ended: {}", st.message());
    }
    if (stop_.load()) break;
    absl::Duration delay = backoff.Next();
    status->SetState(v1::STREAM_STATE_BACKOFF);
    log->info("reconnecting in {} ms", absl::ToInt64Milliseconds(delay));
    SleepInterruptibly(delay);
  }
  status->SetState(v1::STREAM_STATE_STOPPED);
}

}  // namespace walrep
