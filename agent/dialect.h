// The seam between the stream driver (ReplicaStream: backoff, retries, terminal
// failures) and the primary's dialect: what one session with the primary is, where the
// durable position lives, and whether storage failed for good. PostgreSQL's dialect
// (PgStreamDialect, below) runs ReplicaSession over the WalWriter of engine none or
// postgres; aiondb's (aiondb_dialect.h) runs aiondb::Session over its own WAL store. The
// driver knows nothing of either. Called on the stream thread only.
#ifndef WALREP_AGENT_DIALECT_H_
#define WALREP_AGENT_DIALECT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>

#include "absl/status/status.h"
#include "agent/replica_session.h"
#include "wire/cancel_token.h"

namespace walrep {

class DialectSession {
 public:
  virtual ~DialectSession() = default;
  // As ReplicaSession::Run: OK after a requested stop (or a clean end the primary chose),
  // the error otherwise, Terminal() when retrying cannot help.
  virtual absl::Status Run(const std::function<void(const absl::Status&)>& identity_result) = 0;
  // The primary shut down or ended the stream cleanly: not a failure.
  virtual bool primary_shut_down() const = 0;
};

class StreamDialect {
 public:
  virtual ~StreamDialect() = default;
  // `connect_cancel` (may be null) fires when a stop must end a session still connecting.
  virtual std::unique_ptr<DialectSession> NewSession(const StreamSettings& settings,
                                                     const std::atomic<bool>* stop,
                                                     const CancelToken* connect_cancel) = 0;
  // The durable position, in the dialect's own LSN space; a session that moved it resets
  // the backoff.
  virtual uint64_t durable_position() const = 0;
  // Not OK once the dialect's WAL storage failed for good.
  virtual absl::Status storage_failure() const = 0;
};

// PostgreSQL: ReplicaSession over the context's WalWriter (unchanged behaviour).
class PgStreamDialect : public StreamDialect {
 public:
  explicit PgStreamDialect(StreamContext* ctx) : ctx_(ctx) {}
  std::unique_ptr<DialectSession> NewSession(const StreamSettings& settings,
                                             const std::atomic<bool>* stop,
                                             const CancelToken* connect_cancel) override;
  uint64_t durable_position() const override;
  absl::Status storage_failure() const override;

 private:
  StreamContext* ctx_;
};

}  // namespace walrep

#endif  // WALREP_AGENT_DIALECT_H_
