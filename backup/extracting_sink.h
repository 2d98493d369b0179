// Plain format: each archive, decompressed if the primary compressed it, read as tar and
// extracted by the BackupExtractor into the data directory (and its tablespaces).
//
// Not thread-safe: driven by the backup job's thread.
#ifndef WALREP_BACKUP_EXTRACTING_SINK_H_
#define WALREP_BACKUP_EXTRACTING_SINK_H_

#include <memory>

#include "backup/archive_sink.h"
#include "backup/compression.h"
#include "backup/extractor.h"
#include "wire/tar_reader.h"

namespace walrep {

class ExtractingSink final : public ArchiveSink {
 public:
  // `extractor` must outlive the sink.
  ExtractingSink(BackupExtractor* extractor, Compression server_compression)
      : extractor_(extractor), compression_(server_compression) {}

  absl::Status BeginArchive(absl::string_view archive_name, absl::string_view tablespace_oid,
                            absl::string_view server_location) override;
  absl::Status ArchiveData(absl::string_view bytes) override;
  absl::Status EndArchive() override;

 private:
  BackupExtractor* extractor_;
  Compression compression_;
  std::unique_ptr<StreamDecompressor> decompressor_;
  std::unique_ptr<TarReader> tar_;
};

}  // namespace walrep

#endif  // WALREP_BACKUP_EXTRACTING_SINK_H_
