// FlushJournal: the durable record of "WAL is flushed up to here", updated on every flush
// batch *before* that position is reported to the primary, so that after any restart the
// agent never reports less than it already told (ClusterLabs/PAF#225).
//
// Why not the `state` file: it is replaced by write-temp/fsync/rename/fsync(dir), three
// synchronous disk round-trips, and the flush batch is on the critical path of every
// synchronous commit on the primary. The journal is one preallocated file with two
// 512-byte slots written alternately with a single O_DSYNC (O_DIRECT where supported)
// write: a torn write can only damage the slot being written, and the other slot still
// holds the previous position, which is all that was ever reported. Each slot carries a
// sequence number and a CRC-32C; the valid slot with the highest sequence wins.
//
// Layout (replay/DATA_DIR.md): 4096 bytes; slot i at offset 512*i (i = 0, 1):
//   u32 magic 'WRFJ' | u32 version 1 | u64 seq | u64 flush_lsn | u32 timeline |
//   u32 crc32c(previous 28 bytes) | zeros to 512.
//
// Not thread-safe: one writer thread (the streaming session). Load is a free function.
#ifndef WALREP_REPLAY_FLUSH_JOURNAL_H_
#define WALREP_REPLAY_FLUSH_JOURNAL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "wire/lsn.h"

namespace walrep {

struct FlushRecord {
  Lsn flush_lsn;
  TimelineId timeline = 0;
  uint64_t seq = 0;
};

class FlushJournal {
 public:
  // Opens (creating and preallocating if needed) the journal at `path`; continues the
  // sequence of what is there.
  static absl::StatusOr<std::unique_ptr<FlushJournal>> Open(const std::string& path);
  ~FlushJournal();

  // Durably records `flush_lsn` on `timeline`. A failure is sticky for the caller's
  // purposes: the position must not be reported.
  absl::Status Record(Lsn flush_lsn, TimelineId timeline);

  // The newest valid record in the journal at `path`; nullopt if there is none (missing
  // file or both slots invalid). Internal on I/O errors.
  static absl::StatusOr<std::optional<FlushRecord>> Load(const std::string& path);

 private:
  FlushJournal(int fd, uint64_t next_seq, std::string path);
  int fd_;
  uint64_t next_seq_;
  std::string path_;
  char* buf_;  // 512-byte aligned scratch slot for O_DIRECT
};

// Encodes/decodes one 512-byte slot (pure; exposed for tests and fuzzing).
std::string EncodeFlushSlot(const FlushRecord& record);
std::optional<FlushRecord> DecodeFlushSlot(absl::string_view slot);

}  // namespace walrep

#endif  // WALREP_REPLAY_FLUSH_JOURNAL_H_
