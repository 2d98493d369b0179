// Checks a base backup against its backup_manifest while the archives stream. The manifest
// arrives last (after every archive), so the verifier cannot compare as it goes: it
// records each file's size and checksum as the extractor writes it (FileObserver), then
// Verify() compares that record with the manifest: every listed file present, nothing
// unlisted, sizes and checksums equal. Memory: one small record per file, no content.
//
// Paths that pg_verifybackup skips are skipped here too, in both directions:
// backup_manifest, pg_wal (and below), postgresql.auto.conf, standby.signal,
// recovery.signal (pg_basebackup -R rewrites some of them, and WAL is checked separately).
//
// Not thread-safe: fed by one extractor on one thread.
#ifndef WALREP_BACKUP_MANIFEST_VERIFIER_H_
#define WALREP_BACKUP_MANIFEST_VERIFIER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "backup/extractor.h"
#include "backup/manifest.h"
#include "wire/crc32c.h"

namespace walrep {

// True for the paths pg_verifybackup ignores (see above).
bool IgnoredByManifestCheck(absl::string_view path);

class ManifestVerifier : public FileObserver {
 public:
  // `algorithm`: the checksum the manifest is expected to carry, i.e. what BASE_BACKUP was
  // asked for with MANIFEST_CHECKSUMS. kNone checks sizes only.
  explicit ManifestVerifier(ChecksumAlgorithm algorithm = ChecksumAlgorithm::kCrc32c);
  ~ManifestVerifier() override;

  absl::Status OnFileBegin(absl::string_view manifest_path) override;
  absl::Status OnFileData(absl::string_view bytes) override;
  absl::Status OnFileEnd() override;

  // OK when the files seen match `manifest`; otherwise DataLoss naming the first problems
  // ("\"base/1/1259\": size 8192 in the manifest, 4096 in the backup", missing and extra
  // files, checksum mismatches) and how many there were in all.
  absl::Status Verify(const BackupManifest& manifest) const;

  size_t files_seen() const { return seen_.size(); }

 private:
  struct Seen {
    uint64_t size = 0;
    std::string checksum;  // raw bytes, as the manifest stores them
  };
  class Digest;

  ChecksumAlgorithm algorithm_;
  absl::flat_hash_map<std::string, Seen> seen_;
  std::string current_path_;
  bool in_file_ = false;
  uint64_t current_size_ = 0;
  Crc32cAccumulator crc_;
  std::unique_ptr<Digest> sha_;  // the SHA-2 algorithms, through OpenSSL
};

}  // namespace walrep

#endif  // WALREP_BACKUP_MANIFEST_VERIFIER_H_
