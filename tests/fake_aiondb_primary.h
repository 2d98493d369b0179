// A fake aiondb primary for tests, written from the byte layouts in
// aiondb/README.md (aiondb-pgwire's replication mode): PostgreSQL v3 startup with
// trust, cleartext, MD5 or SCRAM-SHA-256 authentication, server_version naming aiondb,
// IDENTIFY_SYSTEM with a numeric systemid, TIMELINE_HISTORY, START_REPLICATION
// [SLOT s PHYSICAL] X/X (entries with lsn >= start, as aiondb's WalSender), COPY BOTH
// with aiondb's envelope (WalData batches, Keepalives asking for a reply), and a bare
// BASE_BACKUP answered with Header/FileStart/FileData/FileEnd/BackupEnd frames, several
// frames per CopyData and frames split across CopyData. Its WAL is generated: entries in
// either LSN mode, framed v3 with a prev_lsn chain or unframed, optionally compressed.
// Hostile variants corrupt the stream at a chosen entry.
//
// It serves connections one after another on its own thread (a replica holds one at a
// time; a new connection ends the previous one's stream). It ends a stream only after the
// replica acknowledged everything sent: closing earlier would reset the connection and
// drop data the replica had not read. Thread-safe: the accessors may be called from the
// test thread while it serves.
#ifndef WALREP_TESTS_FAKE_AIONDB_PRIMARY_H_
#define WALREP_TESTS_FAKE_AIONDB_PRIMARY_H_

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "aiondb/envelope.h"
#include "aiondb/wal_entry.h"
#include "aiondb/wal_file.h"

namespace walrep::testing {

class FakeAiondbPrimary {
 public:
  enum class Auth { kTrust, kCleartext, kMd5, kScram };
  enum class Hostile {
    kNone,
    kBadCrc,          // the entry at hostile_at has a corrupt checksum
    kGap,             // the entry at hostile_at is skipped
    kTrailingBytes,   // the WalData holding hostile_at has bytes after its message
    kOversizedFrame,  // an envelope claiming a payload over 8 MiB instead of hostile_at
  };
  enum class HostileBackup {
    kNone,
    kPathEscape,      // a FileStart named "../escaped"
    kOversizedFrame,  // a FileData frame claiming 9 MiB
  };
  struct BackupFile {
    std::string path;
    std::string content;
  };
  struct Options {
    Auth auth = Auth::kTrust;
    std::string user = "rep";
    std::string password = "s3cret";
    uint64_t system_id = 7400000000000000001ull;
    uint32_t timeline = 1;
    std::string server_version = "16.0 (aiondb 0.9.0)";
    aiondb::LsnMode mode = aiondb::LsnMode::kLogical;
    bool framed = true;
    aiondb::Compression compression = aiondb::Compression::kNone;
    // Entries carry the legacy FNV-1a checksum instead of CRC-32C.
    bool legacy_checksum = false;
    size_t batch = 50;  // entries per WalData
    // A pause after each WalData, so a test can act while a stream is under way.
    absl::Duration pace = absl::ZeroDuration();
    // The TIMELINE_HISTORY content answered for the current timeline.
    std::string history;
    Hostile hostile = Hostile::kNone;
    size_t hostile_at = 0;  // index of the entry the hostile variant affects
    HostileBackup hostile_backup = HostileBackup::kNone;
    // Extra files in BASE_BACKUP besides the WAL files made from the entries
    // generated so far.
    std::vector<BackupFile> extra_backup_files;
    // Entries up to this index go into the backup's WAL files (0: all).
    size_t backup_entries = 0;
  };

  explicit FakeAiondbPrimary(Options options);
  ~FakeAiondbPrimary();

  int port() const { return port_; }
  std::string ConnInfo() const;

  // Generates `n` more entries (records of varied size, every fifth highly
  // compressible); streams pick them up.
  void AddEntries(size_t n);
  // The encoded entries and their LSNs, in order.
  std::vector<std::string> entries() const;
  std::vector<uint64_t> lsns() const;
  // The WAL files (aiondb layout) holding entries [0, n): what a primary's WAL directory
  // would contain; used as its BASE_BACKUP.
  std::vector<BackupFile> WalFiles(size_t n) const;

  // The current stream ends (CopyDone after the replica acknowledged what was sent).
  void EndStream();
  // Observations.
  std::vector<std::string> start_commands() const;
  std::vector<aiondb::StatusUpdate> status_updates() const;
  uint64_t max_flush_reported() const;
  // The last entry LSN sent on any stream.
  uint64_t last_sent() const { return last_sent_.load(); }
  int connections() const { return connections_.load(); }
  int authenticated() const { return authenticated_.load(); }
  int auth_failures() const { return auth_failures_.load(); }
  // Status updates that arrived while an idle keepalive's reply was awaited.
  int keepalive_replies() const { return keepalive_replies_.load(); }
  int backups_served() const { return backups_.load(); }

 private:
  void Serve();
  void Handle(int fd);
  bool Authenticate(int fd, const std::string& user);
  void Stream(int fd, uint64_t start);
  void BaseBackup(int fd);

  const Options options_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> end_stream_{false};
  std::atomic<int> connections_{0};
  std::atomic<int> authenticated_{0};
  std::atomic<int> auth_failures_{0};
  std::atomic<int> keepalive_replies_{0};
  std::atomic<int> backups_{0};
  std::atomic<uint64_t> last_sent_{0};
  mutable absl::Mutex mu_;
  std::vector<std::string> entries_ ABSL_GUARDED_BY(mu_);
  std::vector<uint64_t> lsns_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> start_commands_ ABSL_GUARDED_BY(mu_);
  std::vector<aiondb::StatusUpdate> updates_ ABSL_GUARDED_BY(mu_);
  bool reply_pending_ ABSL_GUARDED_BY(mu_) = false;  // a keepalive asked for a reply
  std::thread thread_;
};

}  // namespace walrep::testing

#endif  // WALREP_TESTS_FAKE_AIONDB_PRIMARY_H_
