// aiondb's BASE_BACKUP, client side: `BASE_BACKUP` (bare: aiondb takes no options and no
// IDENTIFY_SYSTEM first), COPY OUT of frames (base_backup_frames.h) written into a target
// directory as they arrive. The writer follows aiondb's state machine (one Header first;
// FileStart only with no file open; FileData within the declared size; FileEnd exactly
// at it; nothing after BackupEnd) and does better where aiondb's does not: names are
// placed with backup/path_safety (no "..", no absolute path, no symlink followed, a
// directory fd walked component by component), a file is never written twice or over
// something already in the target (O_EXCL), and every file and directory is fsynced
// before the backup counts as complete. Memory stays bounded by one frame (8 MiB).
//
// Codes: DataLoss for malformed frames or a state-machine violation, InvalidArgument for
// a hostile path, Unavailable for connection trouble, Cancelled when stopped.
// Not thread-safe; one thread runs a fetch.
#ifndef WALREP_AIONDB_BASE_BACKUP_H_
#define WALREP_AIONDB_BASE_BACKUP_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "aiondb/base_backup_frames.h"
#include "backup/path_safety.h"
#include "wire/conninfo.h"

namespace walrep::aiondb {

class BackupWriter {
 public:
  // Opens (creating it and its parents) the target directory.
  static absl::StatusOr<std::unique_ptr<BackupWriter>> Open(const std::string& target);

  absl::Status Apply(const BackupFrame& frame);
  // After the stream ended: BackupEnd and a Header must have been seen; fsyncs the
  // directories written into.
  absl::Status Finish();

  const std::optional<BackupHeader>& header() const { return header_; }
  uint64_t files_done() const { return files_done_; }
  uint64_t bytes_written() const { return bytes_written_; }

 private:
  BackupWriter(std::string target, UniqueFd root) : target_(std::move(target)), root_(std::move(root)) {}

  std::string target_;
  UniqueFd root_;
  std::optional<BackupHeader> header_;
  bool ended_ = false;
  UniqueFd file_;  // the open file, if any
  std::string file_path_;
  uint64_t file_size_ = 0;
  uint64_t file_written_ = 0;
  std::set<std::string> seen_;
  std::set<std::vector<std::string>> dirs_;
  uint64_t files_done_ = 0;
  uint64_t bytes_written_ = 0;
};

struct FetchProgress {
  uint64_t files_done = 0;
  uint64_t bytes_written = 0;
  std::string current_file;
};

struct FetchResult {
  BackupHeader header;
  uint64_t files = 0;
  uint64_t bytes = 0;
};

// Connects, runs BASE_BACKUP and writes every file into `target`. `stopped` is polled
// between messages; `progress` (optional) is called after each file.
absl::StatusOr<FetchResult> FetchBaseBackup(const ConnInfo& conninfo, const std::string& target,
                                            const std::function<bool()>& stopped,
                                            const std::function<void(const FetchProgress&)>& progress);

}  // namespace walrep::aiondb

#endif  // WALREP_AIONDB_BASE_BACKUP_H_
