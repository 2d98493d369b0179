#include "backup/backup_request.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

constexpr absl::Duration kDefaultReceiverTimeout = absl::Seconds(60);

Compression CompressionOf(v1::CompressionMethod m) {
  switch (m) {
    case v1::COMPRESSION_METHOD_GZIP: return Compression::kGzip;
    case v1::COMPRESSION_METHOD_LZ4: return Compression::kLz4;
    case v1::COMPRESSION_METHOD_ZSTD: return Compression::kZstd;
    default: return Compression::kNone;
  }
}

}  // namespace

absl::StatusOr<absl::Duration> ReceiverTimeout(const v1::FetchBaseBackupRequest& req) {
  if (!req.has_receiver_timeout()) return kDefaultReceiverTimeout;
  const auto& d = req.receiver_timeout();
  if (d.seconds() < 0 || d.nanos() < 0 || d.nanos() > 999999999) {
    return absl::InvalidArgumentError("receiver_timeout must be a non-negative duration");
  }
  absl::Duration t = absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
  return t == absl::ZeroDuration() ? absl::InfiniteDuration() : t;
}

absl::StatusOr<OutputChoice> ChooseOutput(const v1::FetchBaseBackupRequest& req) {
  OutputChoice o;
  o.tar = req.format() == v1::BACKUP_FORMAT_TAR;
  const v1::BackupCompression& c = req.compression();
  Compression method = CompressionOf(c.method());
  if (c.has_level()) {
    if (method == Compression::kNone) {
      return absl::InvalidArgumentError("compression.level is set but compression.method is not");
    }
    RETURN_IF_ERROR(CheckCompressionLevel(method, c.level()));
    o.level = c.level();
  }
  if (method != Compression::kNone) {
    if (c.location() == v1::COMPRESSION_LOCATION_CLIENT) {
      if (!o.tar) {
        return absl::InvalidArgumentError(
            "client-side compression needs format TAR: a plain backup is a directory of files; "
            "use server-side compression to save bandwidth");
      }
      o.client = method;
    } else {
      o.server = method;
    }
  }
  if (o.tar && !req.tablespace_mapping().empty()) {
    return absl::InvalidArgumentError(
        "tablespace_mapping applies to format PLAIN only: format TAR keeps each tablespace as "
        "<oid>.tar, to be extracted wherever you choose");
  }
  if (o.tar && req.tablespaces_in_place()) {
    return absl::InvalidArgumentError(
        "tablespaces_in_place applies to format PLAIN only: format TAR writes no tablespace "
        "anywhere but <oid>.tar in the target");
  }
  if (o.tar && req.write_recovery_conf() && o.server != Compression::kNone) {
    return absl::InvalidArgumentError(
        "write_recovery_conf with format TAR needs the archive uncompressed on the wire: use "
        "client-side compression (or format PLAIN)");
  }
  return o;
}

absl::StatusOr<BaseBackupOptions> CommandOptions(const v1::FetchBaseBackupRequest& req,
                                                 const OutputChoice& out) {
  BaseBackupOptions o;
  if (req.dialect() != v1::DIALECT_UNSPECIFIED && req.dialect() != v1::DIALECT_POSTGRESQL) {
    return absl::UnimplementedError(
        absl::StrCat("dialect ", v1::Dialect_Name(req.dialect()), " is not supported"));
  }
  RETURN_IF_ERROR(ReceiverTimeout(req).status());
  if (!req.label().empty()) o.label = req.label();
  ASSIGN_OR_RETURN(std::string quoted, QuoteLiteral(o.label));
  if (o.label.size() > kMaxBackupLabel) return absl::InvalidArgumentError("label is too long");
  o.progress = true;
  o.fast_checkpoint = req.fast_checkpoint();
  o.wait_for_wal_archive = false;
  o.include_wal = false;     // streamed over the second connection
  o.manifest = true;         // dropped below for 12
  o.tablespace_map = false;  // the extractor rewrites the pg_tblspc links (extractor.h)
  o.verify_checksums = !req.has_verify_checksums() || req.verify_checksums();
  o.max_rate_bytes_per_sec = req.max_rate_bytes_per_second();
  if (out.server != Compression::kNone) {
    o.compression = std::string(CompressionName(out.server));
    o.compression_level = out.level;
  }
  auto kb = MaxRateKb(o.max_rate_bytes_per_sec);
  if (!kb.ok()) return absl::InvalidArgumentError(kb.status().message());
  return o;
}

}  // namespace walrep
