// One streaming session with an aiondb primary: connect (PostgreSQL v3 startup and
// authentication through wire/connection, replication=true), IDENTIFY_SYSTEM (numeric
// systemid), the identity checks of aiondb's client against the expected values and the
// local replication/system_id and replication/timeline files (a later primary timeline
// is followed after TIMELINE_HISTORY shows it forked at or above what is stored),
// START_REPLICATION [SLOT s PHYSICAL] X/XXXXXXXX at the entry after the last one stored,
// then COPY BOTH with aiondb's envelope (envelope.h): each WalData checked whole
// (chain.h), appended, fsynced when nothing more is waiting, and only then acknowledged
// with a StandbyStatusUpdate; keepalives that ask for a reply answered the same way; a
// status update at the interval. Ends: our stop (flush, report, CopyDone, Terminate), the
// primary's CopyDone (OK, `primary_ended()`), or an error.
//
// Errors: DataLoss for malformed or discontinuous WAL (nothing of its message written),
// FailedPrecondition for identity trouble (`identity_failure()` says which), Unavailable
// for a dead link, the store's failure. Runs on one thread; not thread-safe.
#ifndef WALREP_AIONDB_SESSION_H_
#define WALREP_AIONDB_SESSION_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "aiondb/wal_store.h"
#include "wire/cancel_token.h"
#include "wire/connection.h"
#include "wire/conninfo.h"

namespace walrep::aiondb {

struct SessionOptions {
  ConnInfo conninfo;
  std::string slot_name;
  absl::Duration status_interval = absl::Seconds(10);
  absl::Duration receiver_timeout = absl::Seconds(60);  // zero disables
  std::optional<uint64_t> expected_system_id;
  std::optional<uint32_t> expected_timeline;
  std::string data_dir;  // holds replication/system_id and replication/timeline
  const std::atomic<bool>* stop = nullptr;
  // Fired to end a session that is still connecting (may be null).
  const CancelToken* connect_cancel = nullptr;
};

struct SessionHooks {
  std::function<void()> on_connected;
  std::function<void(uint64_t system_id, uint32_t timeline)> on_identity;
  std::function<void()> on_streaming;
  std::function<void(uint64_t wal_end, uint64_t wal_bytes)> on_primary_message;
  std::function<void(uint64_t flushed)> on_status_sent;
  std::function<void(uint64_t flushed)> on_flushed;
  std::function<uint64_t()> apply_lsn;  // nullptr: 0
};

enum class IdentityFailure { kNone, kSystemIdMismatch, kDiverged, kTimeline };

// The local identity aiondb keeps (either file may be missing).
struct LocalIdentity {
  std::optional<uint64_t> system_id;
  std::optional<uint32_t> timeline;
};
absl::StatusOr<LocalIdentity> ReadAiondbIdentity(const std::string& data_dir);

// The fork point of `child` in aiondb's TIMELINE_HISTORY content ("parent lsn reason"
// lines, whitespace-separated, LSN as X/X): the switch LSN of the line whose parent is
// `parent`. NotFound when no line names it; DataLoss for a malformed line.
absl::StatusOr<uint64_t> ForkPointIn(absl::string_view history, uint32_t parent);

// "X/XXXXXXXX" as aiondb prints LSNs (upper-case hex, low half 8 digits).
std::string FormatLsn(uint64_t lsn);

class Session {
 public:
  Session(const SessionOptions& options, WalStore* store, SessionHooks hooks)
      : options_(options), store_(store), hooks_(std::move(hooks)) {}

  absl::Status Run(const std::function<void(const absl::Status&)>& identity_result);

  bool streamed() const { return streamed_; }
  bool primary_ended() const { return primary_ended_; }
  IdentityFailure identity_failure() const { return identity_failure_; }

 private:
  absl::Status Identify(PgConnection& conn);
  absl::Status Stream(PgConnection& conn);
  absl::Status FlushAndReport(PgConnection& conn, bool force);
  absl::Status IdentityError(IdentityFailure kind, std::string message);

  const SessionOptions& options_;
  WalStore* store_;
  SessionHooks hooks_;
  bool streamed_ = false;
  bool primary_ended_ = false;
  IdentityFailure identity_failure_ = IdentityFailure::kNone;
  uint64_t reported_flush_ = 0;
  uint64_t unflushed_bytes_ = 0;
  absl::Time next_status_;
};

}  // namespace walrep::aiondb

#endif  // WALREP_AIONDB_SESSION_H_
