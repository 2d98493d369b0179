#include "backup/backup_stream_reader.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "backup/extractor.h"  // TablespaceOidFromArchiveName
#include "wire/base_backup_stream.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

absl::Status Corrupt(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("BASE_BACKUP stream: ", what));
}

}  // namespace

BackupStreamReader::BackupStreamReader(Options options, std::vector<BackupTablespace> tablespaces,
                                       ArchiveSink* sink)
    : options_(options),
      legacy_(options.server_version_num < 150000),
      tablespaces_(std::move(tablespaces)),
      sink_(sink) {}

absl::Status BackupStreamReader::OnCopyOut() {
  if (in_copy_) return Corrupt("CopyOutResponse inside a COPY");
  size_t index = copy_outs_++;
  in_copy_ = true;
  if (!legacy_) {
    if (index > 0) return Corrupt("a second CopyOutResponse from a 15+ server");
    return absl::OkStatus();
  }
  // 12-14: one COPY per tablespace row, in the row order, then maybe the manifest.
  if (index < tablespaces_.size()) {
    const BackupTablespace& ts = tablespaces_[index];
    if (!ts.oid.has_value()) return BeginArchive("base.tar", "", "");
    std::string oid = absl::StrCat(*ts.oid);
    return BeginArchive(absl::StrCat(oid, ".tar"), oid, ts.location.value_or(""));
  }
  if (index == tablespaces_.size() && options_.expect_manifest) {
    in_manifest_ = true;
    return absl::OkStatus();
  }
  return Corrupt(absl::StrCat("unexpected COPY number ", index + 1, " for ", tablespaces_.size(),
                              " tablespaces"));
}

absl::Status BackupStreamReader::OnCopyData(absl::string_view payload) {
  if (!in_copy_) return Corrupt("CopyData outside a COPY");
  if (legacy_) {
    if (in_archive_) {
      bytes_done_ += payload.size();
      return ArchiveData(payload);
    }
    if (in_manifest_) return ManifestData(payload);
    return Corrupt("CopyData outside an archive");
  }
  ASSIGN_OR_RETURN(BaseBackupMessage m, DecodeBaseBackupMessage(payload));
  switch (m.kind) {
    case BaseBackupMessage::Kind::kNewArchive: {
      if (in_manifest_ || manifest_done_) return Corrupt("an archive after the manifest");
      if (in_archive_) RETURN_IF_ERROR(EndArchive());
      auto [bare, compression] = SplitCompressionSuffix(m.archive_name);
      if (compression != options_.server_compression) {
        return Corrupt(absl::StrCat("archive \"", m.archive_name, "\" is not compressed with ",
                                    CompressionName(options_.server_compression),
                                    " as BASE_BACKUP asked"));
      }
      ASSIGN_OR_RETURN(std::string oid, TablespaceOidFromArchiveName(bare));
      return BeginArchive(m.archive_name, oid, m.tablespace_path);
    }
    case BaseBackupMessage::Kind::kData:
      if (in_archive_) return ArchiveData(m.data);
      if (in_manifest_) return ManifestData(m.data);
      return Corrupt("data before any archive");
    case BaseBackupMessage::Kind::kManifest:
      if (in_manifest_ || manifest_done_) return Corrupt("a second manifest");
      if (in_archive_) RETURN_IF_ERROR(EndArchive());
      in_manifest_ = true;
      return absl::OkStatus();
    case BaseBackupMessage::Kind::kProgress:
      bytes_done_ = std::max(bytes_done_, static_cast<uint64_t>(m.progress));
      return absl::OkStatus();
  }
  return Corrupt("unknown message");
}

absl::Status BackupStreamReader::OnCopyDone() {
  if (!in_copy_) return Corrupt("CopyDone outside a COPY");
  in_copy_ = false;
  if (in_archive_) RETURN_IF_ERROR(EndArchive());
  if (in_manifest_) {
    in_manifest_ = false;
    manifest_done_ = true;
  }
  return absl::OkStatus();
}

absl::Status BackupStreamReader::Finish() const {
  if (in_copy_) return Corrupt("the stream ended inside a COPY");
  if (archives_done_ != tablespaces_.size() || !base_done_) {
    return Corrupt(absl::StrCat("received ", archives_done_, " of ", tablespaces_.size(),
                                " archives", base_done_ ? "" : " (no main archive)"));
  }
  if (options_.expect_manifest && !manifest_done_) return Corrupt("no backup manifest");
  return absl::OkStatus();
}

absl::Status BackupStreamReader::BeginArchive(absl::string_view name, absl::string_view oid,
                                              absl::string_view location) {
  if (oid.empty()) {
    if (base_done_) return Corrupt("the main archive sent twice");
  } else {
    // Only tablespaces announced up front: their sizes made bytes_total, and an archive
    // for an unknown OID would be written to a directory nobody mapped.
    bool known = std::any_of(tablespaces_.begin(), tablespaces_.end(), [&](const auto& ts) {
      return ts.oid.has_value() && absl::StrCat(*ts.oid) == oid && ts.location == location;
    });
    if (!known) {
      return Corrupt(absl::StrCat("archive for tablespace ", oid, " at \"", location,
                                  "\" that the tablespace list did not announce"));
    }
  }
  RETURN_IF_ERROR(sink_->BeginArchive(name, oid, location));
  in_archive_ = true;
  if (oid.empty()) base_done_ = true;  // counted once it ends (see EndArchive)
  return absl::OkStatus();
}

absl::Status BackupStreamReader::EndArchive() {
  in_archive_ = false;
  RETURN_IF_ERROR(sink_->EndArchive());
  ++archives_done_;
  return absl::OkStatus();
}

absl::Status BackupStreamReader::ArchiveData(absl::string_view bytes) {
  return sink_->ArchiveData(bytes);
}

absl::Status BackupStreamReader::ManifestData(absl::string_view bytes) {
  if (manifest_.size() + bytes.size() > options_.max_manifest_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "backup manifest larger than ", options_.max_manifest_bytes, " bytes"));
  }
  manifest_.append(bytes.data(), bytes.size());
  return absl::OkStatus();
}

}  // namespace walrep
