// Writes the archives of a BASE_BACKUP into a target directory: the main archive into the
// target itself, each tablespace archive into its (mapped) tablespace directory. It is the
// TarSink behind TarReader, so content flows from the connection to disk through one
// fixed-size buffer whatever the file sizes.
//
// Safety: every member path is checked (path_safety.h) and created under a directory fd
// walked with O_NOFOLLOW; files are created with O_EXCL (0600), directories 0700; the only
// symlinks made are `pg_tblspc/<oid>` in the main archive, pointing at the mapped location.
// Tablespaces land only where the caller said: a location in tablespace_mapping (an
// operator's path, opened like the target), or with tablespaces_in_place the primary's
// own location, which is then untrusted: absolute, empty or absent, outside the target,
// and walked from "/" without following any symlink (OpenUntrustedAbsoluteDir).
// CheckTablespaces refuses a plan that breaks this before anything is written.
// Durability: fsyncs are deferred to SyncAll() (pg_basebackup's "syncing data to disk"
// phase) and the target carries the incomplete marker (incomplete.h) from Create() until
// MarkComplete().
//
// Request BASE_BACKUP without TABLESPACE_MAP: the pg_tblspc/<oid> links are then in the
// main archive and are rewritten here; a tablespace_map file next to a mapped tablespace is
// refused (PostgreSQL would recreate the links from it, pointing at the primary's paths).
//
// Typical use: Create; per archive BeginArchive + TarReader::Feed/Finish + EndArchive;
// verify the manifest; WriteFile("backup_manifest", ...); SyncAll; MarkComplete.
//
// Not thread-safe: one extractor per backup, driven from one thread.
#ifndef WALREP_BACKUP_EXTRACTOR_H_
#define WALREP_BACKUP_EXTRACTOR_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "backup/file_writer.h"
#include "backup/path_safety.h"
#include "replay/file_ops.h"
#include "wire/cancel_token.h"
#include "wire/tar_reader.h"

namespace walrep {

// Sees every regular file's content as it is extracted, named by its path relative to the
// data directory as backup_manifest names it ("pg_tblspc/<oid>/..." for tablespace files).
class FileObserver {
 public:
  virtual ~FileObserver() = default;
  virtual absl::Status OnFileBegin(absl::string_view manifest_path) = 0;
  virtual absl::Status OnFileData(absl::string_view bytes) = 0;
  virtual absl::Status OnFileEnd() = 0;
};

struct ExtractorOptions {
  // Created (with parents) if missing; must be empty otherwise.
  std::string target_dir;
  // Primary's tablespace path → local path, like pg_basebackup -T. Both absolute.
  std::map<std::string, std::string> tablespace_mapping;
  // A tablespace the mapping does not name goes to its location on the primary (see the
  // safety rules above); without this it is refused.
  bool tablespaces_in_place = false;
  // A directory no in-place tablespace may overlap besides the target (the agent's own
  // data directory); may be empty.
  std::string protected_dir;
  // When set (outliving the extractor), SyncAll stops between two fsyncs once it fires.
  const CancelToken* cancel = nullptr;
  // Bytes gathered per write(). With direct_io a multiple of kDirectIoAlignment.
  // 2 x 2 MiB rather than 4 x 1 MiB (the same memory): a direct write waits for the
  // device, and fewer, larger requests kept this VM's disk busier (basebackup.sh: wall
  // 1.06-1.08 of pg_basebackup with 4 x 1 MiB, 0.96-0.98 with 2 x 2 MiB, same run-to-run
  // machine).
  size_t write_buffer_size = 2 * 1024 * 1024;
  // Buffers queued to the writer thread (file_writer.h) at most; the memory is
  // write_buffers x write_buffer_size.
  int write_buffers = 2;
  // Full buffers of a file are written with O_DIRECT (the tail of each file, and files
  // smaller than one buffer, through the page cache). A copy is fsynced anyway before
  // backup_manifest, so staging it in the page cache only adds a copy into freshly
  // allocated pages and a writeback at SyncAll; O_DIRECT moves it from the aligned
  // buffer to the device. Falls back to buffered writes for good where the file system
  // refuses O_DIRECT (EINVAL).
  bool direct_io = true;
  // The incomplete markers' writes and the fsyncs of the roots' parents go through it
  // (tests inject faults); archive members are written by directory fd (see above).
  FileOps* file_ops = DefaultFileOps();
};

// "base.tar" → "" (the main archive), "<oid>.tar" → "<oid>"; anything else (compressed
// archives included) is InvalidArgument.
absl::StatusOr<std::string> TablespaceOidFromArchiveName(absl::string_view archive_name);

class BackupExtractor : public TarSink {
 public:
  // Opens or creates the target, checks it is empty, and creates the incomplete marker
  // before returning. `observer` (may be null) must outlive the extractor.
  static absl::StatusOr<std::unique_ptr<BackupExtractor>> Create(ExtractorOptions options,
                                                                 FileObserver* observer);
  ~BackupExtractor() override;

  // Checks, before any tablespace archive arrives, that every location the primary
  // announced (BASE_BACKUP's tablespace result set) has a place: InvalidArgument naming
  // every location neither mapped nor allowed in place (all of them in one message, so
  // the caller can map them at once), and for in-place ones a location that is relative,
  // overlaps the target or reaches through a symlink; FailedPrecondition for an in-place
  // location that exists and is not empty. Only reads the file system.
  absl::Status CheckTablespaces(absl::Span<const std::string> server_locations) const;

  // Starts the next archive: `tablespace_oid` empty for the main data directory, else the
  // tablespace's OID and `server_location`, its path on the primary. A tablespace's
  // directory (after mapping) is created if missing and must be empty, as pg_basebackup
  // requires ("directory exists but is not empty").
  absl::Status BeginArchive(absl::string_view tablespace_oid, absl::string_view server_location);
  // Ends the current archive; FailedPrecondition if a member is still open.
  absl::Status EndArchive();

  absl::Status OnMember(const TarMember& member) override;
  absl::Status OnData(absl::string_view bytes) override;
  absl::Status OnMemberEnd() override;

  // Writes a whole file into the target (backup_manifest), same rules as an archive member.
  absl::Status WriteFile(absl::string_view relative_path, absl::string_view contents);

  // fsyncs every file written since the last call, then every directory touched, then the
  // roots. Cancelled when options.cancel fires (checked before each fsync; one in progress
  // finishes).
  absl::Status SyncAll();
  // After SyncAll: removes the incomplete markers. The backup is now a data directory.
  absl::Status MarkComplete();

  uint64_t bytes_written() const { return bytes_written_; }
  uint64_t files_written() const { return files_written_; }
  // Of bytes_written(), those written with O_DIRECT (ExtractorOptions::direct_io).
  uint64_t direct_bytes() const { return writer_->direct_bytes(); }
  const std::string& target_dir() const { return options_.target_dir; }

 private:
  struct Root {
    std::string path;             // for messages
    std::string manifest_prefix;  // "" or "pg_tblspc/<oid>/"
    UniqueFd fd;
  };
  // A file or directory to fsync: root index and components.
  struct Entry {
    size_t root;
    std::vector<std::string> components;
  };

  BackupExtractor(ExtractorOptions options, FileObserver* observer);
  std::string MappedLocation(absl::string_view server_location) const;
  bool IsMapped(absl::string_view server_location) const;
  // The in-place rules for an unmapped location (see CheckTablespaces).
  absl::Status CheckInPlace(const std::string& location) const;
  absl::Status CreateSymlink(const std::vector<std::string>& parts, const TarMember& member,
                             const std::string& display);
  absl::Status StartFile(const std::vector<std::string>& parts, const std::string& display,
                         bool observe);
  absl::Status FlushBuffer();
  void NoteDir(size_t root, absl::Span<const std::string> components);

  ExtractorOptions options_;
  FileObserver* observer_;
  std::vector<Root> roots_;                             // [0] is the target
  std::map<std::string, std::string> tablespace_dirs_;  // oid → local directory
  bool relocated_ = false;  // some tablespace went somewhere other than its server path
  bool in_archive_ = false;
  size_t current_root_ = 0;

  UniqueFd file_;  // the regular member being written
  std::string file_display_;
  bool observing_ = false;
  std::unique_ptr<FileWriter> writer_;
  char* buffer_ = nullptr;  // from writer_, being filled
  size_t buffer_fill_ = 0;

  std::vector<Entry> files_;
  size_t synced_files_ = 0;  // files_[0, synced_files_) are fsynced
  absl::flat_hash_set<std::string> dir_keys_;
  std::vector<Entry> dirs_;
  bool synced_ = false;
  uint64_t bytes_written_ = 0;
  uint64_t files_written_ = 0;
};

}  // namespace walrep

#endif  // WALREP_BACKUP_EXTRACTOR_H_
