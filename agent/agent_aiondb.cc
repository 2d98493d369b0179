// The agent's side of the aiondb dialect: which dialect a StartReplica streams, the
// aiondb store's lifetime, and its positions in GetProgress.
#include "absl/strings/str_cat.h"
#include "agent/agent.h"
#include "agent/logging.h"
#include "wire/connection.h"
#include "wire/status_macros.h"

namespace walrep {

absl::StatusOr<bool> Agent::ResolveAiondb(const v1::StartReplicaRequest& request,
                                          const StreamSettings& settings) {
  ASSIGN_OR_RETURN(bool aiondb_dir, IsAiondbDataDir(config_.data_dir));
  bool pg_dir = false;
  if (!aiondb_dir) {
    ASSIGN_OR_RETURN(auto sysid, state_store_->LoadSystemId());
    pg_dir = sysid.has_value() || writer_->positioned();
  }
  switch (request.dialect()) {
    case v1::DIALECT_AIONDB:
      if (pg_dir) {
        return absl::FailedPreconditionError(
            "this data directory holds PostgreSQL WAL; it cannot follow an aiondb primary "
            "(use a fresh data directory)");
      }
      return true;
    case v1::DIALECT_AUTO: {
      if (aiondb_dir) return true;
      if (pg_dir) return false;
      // An empty data directory: ask the primary what it is. aiondb speaks PostgreSQL's
      // startup, and its ParameterStatus server_version names it.
      ConnectionOptions o;
      o.connect_timeout = absl::Seconds(5);
      o.io_timeout = absl::Seconds(5);
      auto conn = PgConnection::Connect(settings.conninfo, o);
      if (!conn.ok()) {
        return absl::Status(conn.status().code(),
                            absl::StrCat("dialect AUTO: cannot reach the primary to tell its "
                                         "dialect: ", conn.status().message()));
      }
      const std::string version = (*conn)->parameter("server_version");
      (*conn)->Close();
      const bool aiondb = LooksLikeAiondb(version);
      ModuleLogger("agent")->info("dialect AUTO: server_version \"{}\" is {}", version,
                                  aiondb ? "aiondb" : "PostgreSQL");
      return aiondb;
    }
    default:
      if (aiondb_dir) {
        return absl::FailedPreconditionError(
            "this data directory holds aiondb WAL; ask for dialect AIONDB (or AUTO)");
      }
      return false;
  }
}

absl::Status Agent::EnsureAiondb() {
  if (aiondb_) return absl::OkStatus();
  RETURN_IF_ERROR(MarkAiondbDataDir(config_.data_dir));
  AiondbReplica::Hooks hooks;
  hooks.on_identity = [this](uint64_t id, uint32_t t) { SetIdentity(id, t); };
  hooks.notify = [this] { changes_.Notify(); };
  ASSIGN_OR_RETURN(aiondb_, AiondbReplica::Open(config_.data_dir, &status_, std::move(hooks)));
  aiondb_ptr_.store(aiondb_.get());
  return absl::OkStatus();
}

void Agent::FillAiondbProgress(v1::Progress* p) const {
  const AiondbReplica* a = aiondb_ptr_.load();
  if (a == nullptr) return;
  const uint64_t flushed = a->flushed_lsn();
  p->set_receive_lsn(std::max(a->written_lsn(), flushed));
  p->set_flush_lsn(flushed);
  p->set_apply_lsn(std::min(a->apply_lsn(), flushed));
  const uint64_t end = p->primary_wal_end_lsn();
  p->set_lag_bytes(end > flushed ? end - flushed : 0);
  p->mutable_replay()->set_records(a->replayed_records());
  p->mutable_replay()->set_bytes(a->replayed_bytes());
  p->mutable_replay()->clear_resource_managers();
  for (const AiondbReplica::KindCount& k : a->replayed_by_kind()) {
    auto* r = p->mutable_replay()->add_resource_managers();
    r->set_name(k.name);
    r->set_records(k.records);
    r->set_bytes(k.bytes);
  }
  if (absl::Status r = a->replay_failure(); !r.ok()) p->set_last_error(std::string(r.message()));
  if (absl::Status f = a->storage_failure(); !f.ok()) {
    p->set_stream_state(v1::STREAM_STATE_FAILED);
    p->set_failure_reason(v1::FAILURE_REASON_STORAGE);
    p->set_last_error(std::string(f.message()));
  }
}

}  // namespace walrep
