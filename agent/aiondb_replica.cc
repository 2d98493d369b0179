#include "agent/aiondb_replica.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/logging.h"
#include "agent/stream_failure.h"
#include "aiondb/base_backup.h"
#include "aiondb/record_tags.h"
#include "aiondb/session.h"
#include "backup/path_safety.h"
#include "replay/atomic_file.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

std::shared_ptr<spdlog::logger> Log() { return ModuleLogger("aiondb"); }

std::string MarkerPath(const std::string& data_dir) {
  return JoinPath(JoinPath(data_dir, "replication"), "dialect");
}

class AiondbSession : public DialectSession {
 public:
  AiondbSession(const StreamSettings& settings, aiondb::WalStore* store, aiondb::Replayer* replayer,
                StreamStatus* status, const std::string& data_dir, AiondbReplica::Hooks hooks,
                const std::atomic<bool>* stop, const CancelToken* connect_cancel) {
    options_.conninfo = settings.conninfo;
    options_.slot_name = settings.slot_name;
    options_.status_interval = settings.status_interval;
    options_.receiver_timeout = settings.receiver_timeout;
    options_.expected_system_id = settings.expected_system_id;
    if (settings.expected_timeline) options_.expected_timeline = *settings.expected_timeline;
    options_.data_dir = data_dir;
    options_.stop = stop;
    options_.connect_cancel = connect_cancel;
    aiondb::SessionHooks h;
    h.on_connected = [status] { status->SetState(v1::STREAM_STATE_CONNECTING); };
    h.on_identity = hooks.on_identity;
    h.on_streaming = [status] {
      status->SetState(v1::STREAM_STATE_STREAMING);
      status->SetError("");
    };
    h.on_primary_message = [status](uint64_t wal_end, uint64_t bytes) {
      status->OnPrimaryMessage(wal_end);
      if (bytes > 0) status->wal_bytes_received.fetch_add(bytes);
    };
    h.on_status_sent = [status](uint64_t) {
      status->status_updates_sent.fetch_add(1);
      status->Notify();
    };
    h.on_flushed = [replayer, notify = hooks.notify](uint64_t) {
      replayer->Wake();
      if (notify) notify();
    };
    h.apply_lsn = [replayer] { return replayer->apply_lsn(); };
    session_ = std::make_unique<aiondb::Session>(options_, store, std::move(h));
    status->SetState(v1::STREAM_STATE_CONNECTING);
  }

  absl::Status Run(const std::function<void(const absl::Status&)>& identity_result) override {
    absl::Status st = session_->Run([&](const absl::Status& verdict) {
      if (identity_result) identity_result(MarkTerminal(verdict));
    });
    if (st.ok()) return st;
    st = MarkTerminal(st);
    // Malformed or discontinuous WAL (DataLoss) is retried with backoff, as in the
    // PostgreSQL dialect: nothing of it was stored, and the next session asks again from
    // the last good entry.
    return st;
  }
  bool primary_shut_down() const override { return session_->primary_ended(); }

 private:
  // Identity failures retrying cannot fix: another cluster, or a fork below what is held.
  absl::Status MarkTerminal(const absl::Status& st) const {
    if (st.ok()) return st;
    switch (session_->identity_failure()) {
      case aiondb::IdentityFailure::kSystemIdMismatch:
        return Terminal(v1::FAILURE_REASON_SYSTEM_ID_MISMATCH, st);
      case aiondb::IdentityFailure::kDiverged:
        return Terminal(v1::FAILURE_REASON_DIVERGED, st);
      default:
        return st;
    }
  }

 public:

 private:
  aiondb::SessionOptions options_;
  std::unique_ptr<aiondb::Session> session_;
};

}  // namespace

absl::StatusOr<bool> IsAiondbDataDir(const std::string& data_dir) {
  absl::StatusOr<std::string> m = ReadSmallFile(MarkerPath(data_dir), 64);
  if (absl::IsNotFound(m.status())) return false;
  if (!m.ok()) return m.status();
  return absl::StripAsciiWhitespace(*m) == "aiondb";
}

absl::Status MarkAiondbDataDir(const std::string& data_dir) {
  RETURN_IF_ERROR(CreateDirDurably(JoinPath(data_dir, "replication")));
  return WriteFileAtomically(MarkerPath(data_dir), "aiondb\n");
}

bool LooksLikeAiondb(absl::string_view server_version) {
  return absl::StrContains(absl::AsciiStrToLower(server_version), "aiondb");
}

AiondbReplica::AiondbReplica(std::string data_dir, StreamStatus* status, Hooks hooks)
    : data_dir_(std::move(data_dir)),
      wal_dir_(JoinPath(data_dir_, "wal")),
      status_(status),
      hooks_(std::move(hooks)) {}

absl::StatusOr<std::unique_ptr<AiondbReplica>> AiondbReplica::Open(const std::string& data_dir,
                                                                   StreamStatus* status,
                                                                   Hooks hooks) {
  std::unique_ptr<AiondbReplica> r(new AiondbReplica(data_dir, status, std::move(hooks)));
  RETURN_IF_ERROR(r->OpenStore());
  return r;
}

absl::Status AiondbReplica::OpenStore() {
  aiondb::WalStore::Options o;
  o.dir = wal_dir_;
  ASSIGN_OR_RETURN(std::unique_ptr<aiondb::WalStore> store, aiondb::WalStore::Open(o));
  Log()->info("aiondb WAL in {}: {} entries, last LSN {}", wal_dir_, store->entries_recovered(),
              store->flushed_lsn());
  auto replayer = std::make_unique<aiondb::Replayer>(store.get(), &handler_, hooks_.notify);
  replayer->Start();
  absl::MutexLock lock(&mu_);
  store_ = std::move(store);
  replayer_ = std::move(replayer);
  return absl::OkStatus();
}

AiondbReplica::~AiondbReplica() {
  absl::MutexLock lock(&mu_);
  if (replayer_) replayer_->Stop();
}

std::unique_ptr<DialectSession> AiondbReplica::NewSession(const StreamSettings& settings,
                                                          const std::atomic<bool>* stop,
                                                          const CancelToken* connect_cancel) {
  absl::MutexLock lock(&mu_);
  return std::make_unique<AiondbSession>(settings, store_.get(), replayer_.get(), status_,
                                         data_dir_, hooks_, stop, connect_cancel);
}

uint64_t AiondbReplica::durable_position() const { return flushed_lsn(); }

absl::Status AiondbReplica::storage_failure() const {
  absl::MutexLock lock(&mu_);
  return store_ ? store_->failure() : absl::OkStatus();
}

uint64_t AiondbReplica::written_lsn() const {
  absl::MutexLock lock(&mu_);
  return store_ ? store_->written_lsn() : 0;
}
uint64_t AiondbReplica::flushed_lsn() const {
  absl::MutexLock lock(&mu_);
  return store_ ? store_->flushed_lsn() : 0;
}
uint64_t AiondbReplica::apply_lsn() const {
  absl::MutexLock lock(&mu_);
  return replayer_ ? replayer_->apply_lsn() : 0;
}
uint64_t AiondbReplica::replayed_records() const {
  absl::MutexLock lock(&mu_);
  return replayer_ ? replayer_->records() : 0;
}
uint64_t AiondbReplica::replayed_bytes() const {
  absl::MutexLock lock(&mu_);
  return replayer_ ? replayer_->bytes() : 0;
}
absl::Status AiondbReplica::replay_failure() const {
  absl::MutexLock lock(&mu_);
  return replayer_ ? replayer_->failure() : absl::OkStatus();
}

std::vector<AiondbReplica::KindCount> AiondbReplica::replayed_by_kind() const {
  std::vector<KindCount> out;
  for (int tag = 0; tag <= aiondb::kMaxRecordTag; ++tag) {
    const uint64_t n = handler_.records[tag].load();
    if (n == 0) continue;
    out.push_back({std::string(aiondb::RecordTagName(static_cast<uint8_t>(tag))), n,
                   handler_.bytes[tag].load()});
  }
  return out;
}

absl::StatusOr<bool> AiondbReplica::NeedsBootstrap() const {
  // aiondb-server bootstraps when system_id is missing or empty.
  absl::StatusOr<std::string> id =
      ReadSmallFile(JoinPath(JoinPath(data_dir_, "replication"), "system_id"), 64);
  if (absl::IsNotFound(id.status())) return true;
  if (!id.ok()) return id.status();
  return absl::StripAsciiWhitespace(*id).empty();
}

absl::Status AiondbReplica::Bootstrap(const ConnInfo& conninfo,
                                      const std::function<bool()>& stopped) {
  {
    absl::MutexLock lock(&mu_);
    replayer_->Stop();
    store_.reset();
    replayer_.reset();
  }
  // No identity yet means nothing was ever streamed here: what the directory holds is a
  // failed earlier attempt, removed so the copy starts clean.
  bool created = false;
  {
    ASSIGN_OR_RETURN(UniqueFd wal, OpenOrCreateDir(wal_dir_, &created));
    RETURN_IF_ERROR(RemoveDirContents(wal.get(), "", wal_dir_));
    RETURN_IF_ERROR(FsyncFd(wal.get(), wal_dir_));
  }
  Log()->info("bootstrap: BASE_BACKUP from {} into {}", conninfo.Redacted(), wal_dir_);
  absl::StatusOr<aiondb::FetchResult> got =
      aiondb::FetchBaseBackup(conninfo, wal_dir_, stopped, nullptr);
  absl::Status st = got.status();
  uint64_t sysid = 0;
  if (st.ok() && !absl::SimpleAtoi(got->header.system_identifier, &sysid)) {
    // aiondb would write it and then fail every session ("non-numeric systemid").
    st = absl::DataLossError(absl::StrCat("the backup's system identifier \"",
                                          got->header.system_identifier, "\" is not numeric"));
  }
  if (st.ok()) st = aiondb::WriteAiondbIdentity(data_dir_, sysid, got->header.timeline);
  if (st.ok()) {
    Log()->info("bootstrap: {} files, {} bytes; system identifier {}, timeline {}, WAL start {}",
                got->files, got->bytes, sysid, got->header.timeline, got->header.wal_start_lsn);
    if (hooks_.on_identity) hooks_.on_identity(sysid, got->header.timeline);
  }
  if (!st.ok()) {
    // A partial copy is not WAL this replica may stream after: the next attempt starts
    // from an empty directory again.
    absl::StatusOr<UniqueFd> wal = OpenOrCreateDir(wal_dir_, &created);
    if (wal.ok()) (void)RemoveDirContents(wal->get(), "", wal_dir_);
  }
  absl::Status reopened = OpenStore();
  if (!st.ok()) return st;
  return reopened;
}

}  // namespace walrep
