// Tar format (pg_basebackup -Ft): each archive is kept as a file in the target —
// base.tar, <oid>.tar per tablespace, with the primary's compression suffix (server-side)
// or compressed here (client-side: .gz, .lz4, .zst) — written as it streams and fsynced
// when it ends. The manifest's checks run inline as in plain format: the archive is also
// decompressed (when the primary compressed it) and read as tar, every regular file's
// bytes going to the FileObserver under the path backup_manifest names it by.
//
// Archives from PostgreSQL 12-14 lack the end-of-archive blocks; they are added, so every
// file is a whole tar archive. With a standby configuration (-R) the main archive is
// rewritten by TarRecoveryInjector; that needs the bytes uncompressed, so it is refused
// with server-side compression (the caller checks before the backup starts).
//
// PackWalTar turns the directory the backup's WAL was streamed into into pg_wal.tar, as
// pg_basebackup -Ft -X stream writes it (the segment files at its top level; client-side
// compression applies to it too).
//
// Not thread-safe: driven by the backup job's thread.
#ifndef WALREP_BACKUP_TAR_FILE_SINK_H_
#define WALREP_BACKUP_TAR_FILE_SINK_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "backup/archive_sink.h"
#include "backup/compression.h"
#include "backup/extractor.h"
#include "backup/path_safety.h"
#include "backup/recovery_conf.h"
#include "wire/tar_reader.h"

namespace walrep {

// One output file: created O_EXCL|O_NOFOLLOW 0600 in a directory fd, written through a
// buffer and an optional compressor, fsynced by Close().
class ArchiveFile {
 public:
  static absl::StatusOr<std::unique_ptr<ArchiveFile>> Create(int dir_fd, const std::string& name,
                                                             const std::string& display,
                                                             Compression compression,
                                                             std::optional<int> level);
  absl::Status Write(absl::string_view bytes);
  // Ends the compressed stream, writes what is buffered, fsyncs and closes.
  absl::Status Close();
  uint64_t bytes_on_disk() const { return on_disk_; }

 private:
  ArchiveFile(UniqueFd fd, std::string display) : fd_(std::move(fd)), display_(std::move(display)) {}
  absl::Status WriteRaw(absl::string_view bytes);
  absl::Status Flush();

  UniqueFd fd_;
  std::string display_;
  std::unique_ptr<StreamCompressor> compressor_;
  std::string buffer_;
  uint64_t on_disk_ = 0;
};

struct TarFileSinkOptions {
  int target_fd = -1;      // borrowed; the target directory
  std::string target_dir;  // for messages
  Compression server_compression = Compression::kNone;
  Compression client_compression = Compression::kNone;
  std::optional<int> client_level;
  std::string recovery_lines;  // non-empty: injected into the main archive
  int64_t mtime = 0;           // of the injected members
  FileObserver* observer = nullptr;
};

class TarFileSink final : public ArchiveSink {
 public:
  explicit TarFileSink(TarFileSinkOptions options);
  ~TarFileSink() override;

  absl::Status BeginArchive(absl::string_view archive_name, absl::string_view tablespace_oid,
                            absl::string_view server_location) override;
  absl::Status ArchiveData(absl::string_view bytes) override;
  absl::Status EndArchive() override;

  // The files written, in order (NoteArchive adds those written beside, pg_wal.tar).
  const std::vector<std::string>& archives() const { return archives_; }
  void NoteArchive(std::string name) { archives_.push_back(std::move(name)); }
  uint64_t files_seen() const;
  uint64_t bytes_on_disk() const { return bytes_on_disk_; }

 private:
  class Checker;
  absl::Status Out(absl::string_view bytes);

  TarFileSinkOptions options_;
  std::unique_ptr<ArchiveFile> file_;
  std::string file_name_;
  std::unique_ptr<TarRecoveryInjector> injector_;
  std::unique_ptr<StreamDecompressor> decompressor_;
  std::unique_ptr<TarReader> tar_;
  std::unique_ptr<Checker> checker_;
  std::vector<std::string> archives_;
  uint64_t files_done_ = 0;
  uint64_t bytes_on_disk_ = 0;
};

// Packs the regular files directly inside `wal_dir` (sorted) into pg_wal.tar[suffix] in
// `target_fd`, fsyncs it, then removes `wal_dir` and fsyncs the target. Returns the name.
absl::StatusOr<std::string> PackWalTar(const std::string& wal_dir, int target_fd,
                                       const std::string& target_dir, Compression compression,
                                       std::optional<int> level);

}  // namespace walrep

#endif  // WALREP_BACKUP_TAR_FILE_SINK_H_
