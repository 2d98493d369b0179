#include "wire/base_backup_stream.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "wire/bytes.h"

namespace walrep {
namespace {

absl::Status Corrupt(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("BASE_BACKUP stream: ", what));
}

// A NUL-terminated field of at most kMaxBackupArchiveField bytes.
absl::StatusOr<std::string> Field(ByteReader& r, absl::string_view name) {
  absl::string_view value;
  if (!r.ReadCString(&value)) return Corrupt(absl::StrCat(name, " is not NUL-terminated"));
  if (value.size() > kMaxBackupArchiveField) {
    return Corrupt(absl::StrCat(name, " is ", value.size(), " bytes long"));
  }
  return std::string(value);
}

}  // namespace

absl::StatusOr<BaseBackupMessage> DecodeBaseBackupMessage(absl::string_view payload) {
  if (payload.empty()) return Corrupt("empty CopyData message");
  BaseBackupMessage m;
  ByteReader r(payload.substr(1));
  switch (payload[0]) {
    case 'n': {
      m.kind = BaseBackupMessage::Kind::kNewArchive;
      auto name = Field(r, "archive name");
      if (!name.ok()) return name.status();
      auto path = Field(r, "tablespace path");
      if (!path.ok()) return path.status();
      if (name->empty()) return Corrupt("empty archive name");
      if (!r.empty()) return Corrupt("trailing bytes after a new-archive message");
      m.archive_name = std::move(*name);
      m.tablespace_path = std::move(*path);
      return m;
    }
    case 'd':
      m.kind = BaseBackupMessage::Kind::kData;
      m.data = payload.substr(1);
      return m;
    case 'm':
      m.kind = BaseBackupMessage::Kind::kManifest;
      if (payload.size() != 1) return Corrupt("trailing bytes after a manifest message");
      return m;
    case 'p': {
      m.kind = BaseBackupMessage::Kind::kProgress;
      if (payload.size() != 9) {
        return Corrupt(absl::StrCat("progress message of ", payload.size(), " bytes"));
      }
      int64_t v = 0;
      r.ReadI64(&v);
      if (v < 0) return Corrupt(absl::StrCat("negative progress ", v));
      m.progress = v;
      return m;
    }
    default:
      return Corrupt(absl::StrCat("unknown message type '",
                                  absl::CHexEscape(payload.substr(0, 1)), "'"));
  }
}

std::string EncodeBaseBackupNewArchive(absl::string_view archive_name,
                                       absl::string_view tablespace_path) {
  std::string out = "n";
  ByteWriter w(&out);
  w.PutCString(archive_name);
  w.PutCString(tablespace_path);
  return out;
}

std::string EncodeBaseBackupData(absl::string_view bytes) {
  return absl::StrCat("d", bytes);
}

std::string EncodeBaseBackupManifestFollows() { return "m"; }

std::string EncodeBaseBackupProgress(int64_t bytes) {
  std::string out = "p";
  ByteWriter(&out).PutI64(bytes);
  return out;
}

}  // namespace walrep
