// The aiondb dialect inside the agent (engine none): the WAL store in <data_dir>/wal in
// aiondb's layout, its replay loop, the identity files aiondb reads, and the
// StreamDialect the replica stream runs (aiondb::Session per session, its errors marked
// Terminal where retrying cannot help). Bootstrap is aiondb-server's: BASE_BACKUP into
// <data_dir>/wal, system_id and timeline seeded from the Header, then streaming.
//
// Thread-safety: NewSession/Bootstrap on the stream thread; the position accessors from
// any thread (0 while Bootstrap has no store open). The store is replaced only by
// Bootstrap, while no session runs, with replay stopped around it.
#ifndef WALREP_AGENT_AIONDB_REPLICA_H_
#define WALREP_AGENT_AIONDB_REPLICA_H_

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "agent/dialect.h"
#include "agent/stream_status.h"
#include "aiondb/replay.h"
#include "aiondb/wal_store.h"
#include "replay/replay_handler.h"

namespace walrep {

// What `dialect` holds in <data_dir>/replication/dialect: the agent refuses to stream
// another dialect's WAL into a data directory.
absl::StatusOr<bool> IsAiondbDataDir(const std::string& data_dir);
absl::Status MarkAiondbDataDir(const std::string& data_dir);
// AUTO's rule: aiondb announces itself in server_version (case-insensitive "aiondb");
// anything else is PostgreSQL.
bool LooksLikeAiondb(absl::string_view server_version);

class AiondbReplica : public StreamDialect {
 public:
  struct Hooks {
    std::function<void(uint64_t system_id, uint32_t timeline)> on_identity;
    std::function<void()> notify;  // an observable position moved
  };
  static absl::StatusOr<std::unique_ptr<AiondbReplica>> Open(const std::string& data_dir,
                                                             StreamStatus* status, Hooks hooks);
  ~AiondbReplica() override;

  std::unique_ptr<DialectSession> NewSession(const StreamSettings& settings,
                                             const std::atomic<bool>* stop,
                                             const CancelToken* connect_cancel) override;
  uint64_t durable_position() const override;
  absl::Status storage_failure() const override;

  // True when StartReplica{bootstrap} must fetch first: no replication/system_id yet.
  absl::StatusOr<bool> NeedsBootstrap() const;
  absl::Status Bootstrap(const ConnInfo& conninfo, const std::function<bool()>& stopped);

  uint64_t written_lsn() const;
  uint64_t flushed_lsn() const;
  uint64_t apply_lsn() const;
  uint64_t replayed_records() const;
  uint64_t replayed_bytes() const;
  absl::Status replay_failure() const;
  const std::string& wal_dir() const { return wal_dir_; }
  struct KindCount {
    std::string name;  // aiondb's record kind ("InsertRow", ...)
    uint64_t records = 0;
    uint64_t bytes = 0;
  };
  // Replayed records by kind, kinds with none left out.
  std::vector<KindCount> replayed_by_kind() const;

 private:
  AiondbReplica(std::string data_dir, StreamStatus* status, Hooks hooks);
  absl::Status OpenStore();

  const std::string data_dir_;
  const std::string wal_dir_;
  StreamStatus* status_;
  Hooks hooks_;
  // Engine none's "apply" for aiondb: count the verified records by kind.
  class CountingHandler : public WalReplayHandler {
   public:
    absl::Status Apply(const WalRecord& r) override {
      records[r.info].fetch_add(1);
      bytes[r.info].fetch_add(r.tot_len);
      return absl::OkStatus();
    }
    std::array<std::atomic<uint64_t>, 256> records{};
    std::array<std::atomic<uint64_t>, 256> bytes{};
  } handler_;
  mutable absl::Mutex mu_;  // guards replacing store_/replayer_ against the accessors
  std::unique_ptr<aiondb::WalStore> store_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<aiondb::Replayer> replayer_ ABSL_GUARDED_BY(mu_);
};

}  // namespace walrep

#endif  // WALREP_AGENT_AIONDB_REPLICA_H_
