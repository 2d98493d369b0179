// The aiondb dialect's WAL store: the entries received from an aiondb primary, kept in
// aiondb's own file layout (wal_file.h) in <data_dir>/wal so that an aiondb server can
// open the directory. Entries are stored exactly as the primary encoded them (its
// checksums, frames and compression), so ByteOffset LSNs stay the primary's and the files
// can be compared with what was sent. The one owner of the dialect's durable position:
// on Open it reads every file and ends the WAL at the first entry that is incomplete or
// fails its checksum in the last file (a torn tail, cut off before appending); damage in
// an earlier file is DataLoss.
//
// Positions: written = the last entry handed to Append, flushed = the last entry inside
// fsynced bytes; both are entry LSNs (aiondb reports the start of the last entry, not its
// end). A failed write or fsync makes the store fail for good (as the PostgreSQL WAL
// writer): the page cache may have dropped the bytes, so nothing after it is trusted.
//
// Thread-safety: Append/Flush/SetIdentity on one thread (the stream's); the position
// accessors and Segments() from any thread.
#ifndef WALREP_AIONDB_WAL_STORE_H_
#define WALREP_AIONDB_WAL_STORE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "aiondb/chain.h"
#include "aiondb/wal_file.h"
#include "replay/file_ops.h"

namespace walrep::aiondb {

struct SegmentInfo {
  uint64_t sequence = 0;
  std::string path;
  uint64_t first_lsn = 0;  // 0 while it holds no entry
  uint64_t last_lsn = 0;
  uint64_t end = 0;  // bytes of header and valid entries
  uint64_t durable_end = 0;  // of those, the bytes inside fsynced data (what replay reads)
  size_t entry_offset = kFileHeaderBytes;
};

class WalStore {
 public:
  struct Options {
    std::string dir;
    uint64_t file_bytes = kDefaultFileBytes;
    FileOps* ops = DefaultFileOps();
  };

  // Creates the directory if needed and recovers the position from the files in it.
  static absl::StatusOr<std::unique_ptr<WalStore>> Open(Options options);

  // Where the chain stands (for CheckWalData): the last entry written.
  ChainState chain() const;
  // Identity written into the header of each new file (the primary's, once known).
  void SetIdentity(uint64_t system_id, uint32_t timeline);
  // Appends entries already checked by CheckWalData (`raw` = their bytes back to back,
  // `after` = the chain after them). Not durable until Flush.
  absl::Status Append(absl::string_view raw, const ChainState& after);
  // fsyncs what Append wrote (and the directory after a new file); flushed = written.
  absl::Status Flush();

  uint64_t written_lsn() const { return written_.load(); }
  uint64_t flushed_lsn() const { return flushed_.load(); }
  bool failed() const;
  absl::Status failure() const;
  const std::string& dir() const { return options_.dir; }
  uint64_t entries_recovered() const { return entries_recovered_; }
  // The files and the entry range in each, in order (a copy).
  std::vector<SegmentInfo> Segments() const;
  // The LSN mode the files show (kUnknown with fewer than two entries).
  LsnMode mode() const;

 private:
  explicit WalStore(Options options) : options_(std::move(options)) {}
  absl::Status Recover();
  absl::Status Fail(absl::Status st);
  absl::Status OpenNewFile();

  const Options options_;
  mutable absl::Mutex mu_;
  std::vector<SegmentInfo> segments_ ABSL_GUARDED_BY(mu_);
  ChainState chain_ ABSL_GUARDED_BY(mu_);
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  uint64_t system_id_ = 0;
  uint32_t timeline_ = 0;
  std::unique_ptr<File> active_;  // the last segment, open for appending
  bool dir_dirty_ = false;        // a file was created since the last Flush
  bool rotate_ = false;           // the timeline changed: the next entries begin a file
  bool header_dirty_ = false;     // the first file's LSN mode byte must be rewritten
  std::atomic<uint64_t> written_{0};
  std::atomic<uint64_t> flushed_{0};
  uint64_t entries_recovered_ = 0;
};

// The identity files aiondb reads from <data_dir>/replication/: system_id and timeline,
// decimal without a newline (as aiondb-server writes them), each replaced atomically.
absl::Status WriteAiondbIdentity(const std::string& data_dir, uint64_t system_id,
                                 uint32_t timeline);
absl::Status WriteAiondbTimeline(const std::string& data_dir, uint32_t timeline);

}  // namespace walrep::aiondb

#endif  // WALREP_AIONDB_WAL_STORE_H_
