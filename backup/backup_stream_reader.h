// Turns the CopyData of one BASE_BACKUP into archives on disk and the manifest in memory.
// Two framings, chosen by server version (PROTOCOL.md §5):
//   15+    one CopyOut; sub-messages 'n' (new archive), 'd' (bytes), 'm' (manifest
//          follows), 'p' (progress), decoded by wire/base_backup_stream.h.
//   12-14  one CopyOut per tablespace, in the order of the tablespace result set (the main
//          data directory, the row with NULL oid, last), raw tar without the trailer; on
//          13-14 one more CopyOut holding the manifest.
// Archive bytes go to an ArchiveSink as they arrive (extracted, or kept as tar files), so
// memory is one write buffer whatever the file sizes; only the manifest is buffered, under
// a cap. With server-side compression (15+) every archive name must carry the suffix of
// the method asked for.
//
// Not thread-safe: driven by the backup job's thread.
#ifndef WALREP_BACKUP_BACKUP_STREAM_READER_H_
#define WALREP_BACKUP_BACKUP_STREAM_READER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "backup/archive_sink.h"
#include "backup/compression.h"
#include "wire/replication_results.h"

namespace walrep {

class BackupStreamReader {
 public:
  struct Options {
    int server_version_num = 0;
    bool expect_manifest = true;  // MANIFEST was requested (13+)
    size_t max_manifest_bytes = size_t{256} << 20;
    Compression server_compression = Compression::kNone;  // COMPRESSION asked for (15+)
  };

  // `sink` must outlive the reader.
  BackupStreamReader(Options options, std::vector<BackupTablespace> tablespaces,
                     ArchiveSink* sink);

  // A CopyOutResponse arrived (the first one too, entered by StartCopy).
  absl::Status OnCopyOut();
  // One CopyData payload.
  absl::Status OnCopyData(absl::string_view payload);
  // CopyDone for the current CopyOut.
  absl::Status OnCopyDone();
  // After the last CopyDone: every archive (and the manifest, if expected) arrived whole.
  absl::Status Finish() const;

  // 15+: the server's 'p' count; 12-14: archive bytes received.
  uint64_t bytes_done() const { return bytes_done_; }
  const std::string& manifest() const { return manifest_; }
  bool legacy() const { return legacy_; }
  size_t archives_done() const { return archives_done_; }

 private:
  absl::Status BeginArchive(absl::string_view name, absl::string_view oid,
                            absl::string_view location);
  absl::Status EndArchive();
  absl::Status ArchiveData(absl::string_view bytes);
  absl::Status ManifestData(absl::string_view bytes);

  Options options_;
  bool legacy_;
  std::vector<BackupTablespace> tablespaces_;
  ArchiveSink* sink_;

  size_t copy_outs_ = 0;   // CopyOutResponses seen
  bool in_copy_ = false;
  size_t archives_done_ = 0;
  bool base_done_ = false;
  bool in_archive_ = false;
  bool in_manifest_ = false;
  bool manifest_done_ = false;
  std::string manifest_;
  uint64_t bytes_done_ = 0;
};

}  // namespace walrep

#endif  // WALREP_BACKUP_BACKUP_STREAM_READER_H_
