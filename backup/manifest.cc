#include "backup/manifest.h"

#include <openssl/evp.h>

#include <algorithm>
#include <limits>
#include <optional>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "backup/json_reader.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

absl::Status Bad(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("backup manifest: ", what));
}

bool ParseUnsigned(absl::string_view text, uint64_t max, uint64_t* out) {
  if (text.empty() || text.size() > 20) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (max - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

bool HexDecode(absl::string_view hex, std::string* out) {
  if (hex.size() % 2 != 0) return false;
  for (char c : hex) {
    if (!absl::ascii_isxdigit(c)) return false;
  }
  *out = absl::HexStringToBytes(hex);
  return true;
}

// A file or WAL range entry as read, before its values are checked.
struct PendingFile {
  std::optional<std::string> path, encoded_path, size, last_modified, algorithm, checksum;
};
struct PendingWal {
  std::optional<std::string> timeline, start, end;
};

template <typename Pending>
struct Field {
  absl::string_view key;
  std::optional<std::string> Pending::*slot;
  JsonScalar type;
};

constexpr Field<PendingFile> kFileFields[] = {
    {"Path", &PendingFile::path, JsonScalar::kString},
    {"Encoded-Path", &PendingFile::encoded_path, JsonScalar::kString},
    {"Size", &PendingFile::size, JsonScalar::kNumber},
    {"Last-Modified", &PendingFile::last_modified, JsonScalar::kString},
    {"Checksum-Algorithm", &PendingFile::algorithm, JsonScalar::kString},
    {"Checksum", &PendingFile::checksum, JsonScalar::kString},
};

constexpr Field<PendingWal> kWalFields[] = {
    {"Timeline", &PendingWal::timeline, JsonScalar::kNumber},
    {"Start-LSN", &PendingWal::start, JsonScalar::kString},
    {"End-LSN", &PendingWal::end, JsonScalar::kString},
};

// Walks the JSON events through the manifest's fixed shape (the same state machine as
// PostgreSQL's parse_manifest.c), keeping only decoded entries.
class ManifestBuilder : public JsonHandler {
 public:
  explicit ManifestBuilder(const ManifestLimits& limits) : limits_(limits) {}

  absl::Status OnObjectStart() override {
    switch (state_) {
      case State::kStart:
        state_ = State::kTopKey;
        return absl::OkStatus();
      case State::kFileElem:
        file_ = {};
        state_ = State::kFileKey;
        return absl::OkStatus();
      case State::kWalElem:
        wal_ = {};
        state_ = State::kWalKey;
        return absl::OkStatus();
      default:
        return Unexpected("object");
    }
  }
  absl::Status OnObjectEnd() override {
    switch (state_) {
      case State::kTopKey:
        state_ = State::kDone;
        return absl::OkStatus();
      case State::kFileKey:
        state_ = State::kFileElem;
        return FinishFile();
      case State::kWalKey:
        state_ = State::kWalElem;
        return FinishWal();
      default:
        return Unexpected("end of object");
    }
  }
  absl::Status OnArrayStart() override {
    if (state_ == State::kFilesArray)
      state_ = State::kFileElem;
    else if (state_ == State::kWalArray)
      state_ = State::kWalElem;
    else
      return Unexpected("array");
    return absl::OkStatus();
  }
  absl::Status OnArrayEnd() override {
    if (state_ != State::kFileElem && state_ != State::kWalElem) return Unexpected("end of array");
    state_ = State::kTopKey;
    return absl::OkStatus();
  }

  absl::Status OnKey(std::string key) override {
    key_ = std::move(key);
    if (state_ == State::kTopKey) {
      if (!saw_version_ && key_ != "PostgreSQL-Backup-Manifest-Version") {
        return Bad("expected PostgreSQL-Backup-Manifest-Version first");
      }
      if (key_ == "Files") {
        state_ = State::kFilesArray;
        saw_files_ = true;
      } else if (key_ == "WAL-Ranges") {
        state_ = State::kWalArray;
        saw_wal_ = true;
      } else if (key_ == "PostgreSQL-Backup-Manifest-Version" || key_ == "System-Identifier" ||
                 key_ == "Manifest-Checksum") {
        state_ = State::kTopValue;
      } else {
        return Bad(absl::StrCat("unexpected top-level field \"", absl::CHexEscape(key_), "\""));
      }
      return absl::OkStatus();
    }
    if (state_ == State::kFileKey) {
      state_ = State::kFileValue;
      return absl::OkStatus();
    }
    if (state_ == State::kWalKey) {
      state_ = State::kWalValue;
      return absl::OkStatus();
    }
    return Unexpected("key");
  }

  absl::Status OnScalar(JsonScalar kind, std::string text) override {
    switch (state_) {
      case State::kTopValue:
        state_ = State::kTopKey;
        return TopValue(kind, std::move(text));
      case State::kFileValue:
        state_ = State::kFileKey;
        return FileValue(kind, std::move(text));
      case State::kWalValue:
        state_ = State::kWalKey;
        return WalValue(kind, std::move(text));
      default:
        return Unexpected("scalar");
    }
  }

  absl::StatusOr<BackupManifest> Finish() {
    if (state_ != State::kDone) return Bad("document ended early");
    if (!saw_files_) return Bad("missing Files");
    if (!saw_wal_) return Bad("missing WAL-Ranges");
    if (!saw_checksum_) return Bad("missing Manifest-Checksum");
    if (out_.version >= 2 && !out_.system_identifier) return Bad("missing System-Identifier");
    return std::move(out_);
  }

 private:
  enum class State {
    kStart,
    kTopKey,
    kTopValue,
    kFilesArray,
    kFileElem,
    kFileKey,
    kFileValue,
    kWalArray,
    kWalElem,
    kWalKey,
    kWalValue,
    kDone
  };

  absl::Status Unexpected(absl::string_view what) const {
    return Bad(absl::StrCat("unexpected ", what));
  }
  static absl::Status Want(JsonScalar got, JsonScalar want, absl::string_view field) {
    if (got == want) return absl::OkStatus();
    return Bad(
        absl::StrCat(field, " must be a ", want == JsonScalar::kString ? "string" : "number"));
  }

  absl::Status TopValue(JsonScalar kind, std::string text) {
    if (key_ == "PostgreSQL-Backup-Manifest-Version") {
      RETURN_IF_ERROR(Want(kind, JsonScalar::kNumber, key_));
      if (text != "1" && text != "2") return Bad(absl::StrCat("unsupported version ", text));
      out_.version = text[0] - '0';
      saw_version_ = true;
    } else if (key_ == "System-Identifier") {
      RETURN_IF_ERROR(Want(kind, JsonScalar::kNumber, key_));
      uint64_t id;
      if (out_.version < 2) return Bad("System-Identifier in a version 1 manifest");
      if (!ParseUnsigned(text, std::numeric_limits<uint64_t>::max(), &id)) {
        return Bad("bad System-Identifier");
      }
      out_.system_identifier = id;
    } else {  // Manifest-Checksum
      RETURN_IF_ERROR(Want(kind, JsonScalar::kString, key_));
      if (text.size() != 64 || !HexDecode(text, &out_.manifest_checksum)) {
        return Bad(absl::StrCat("invalid Manifest-Checksum \"", absl::CHexEscape(text), "\""));
      }
      saw_checksum_ = true;
    }
    return absl::OkStatus();
  }

  absl::Status FileValue(JsonScalar kind, std::string text) {
    return Store(kFileFields, &file_, "file", kind, std::move(text));
  }

  absl::Status FinishFile() {
    ManifestFile f;
    if (file_.path.has_value() == file_.encoded_path.has_value()) {
      return Bad("a file needs exactly one of Path and Encoded-Path");
    }
    if (file_.path) {
      f.path = std::move(*file_.path);
    } else if (!HexDecode(*file_.encoded_path, &f.path)) {
      return Bad(
          absl::StrCat("invalid Encoded-Path \"", absl::CHexEscape(*file_.encoded_path), "\""));
    }
    std::string shown = absl::CHexEscape(f.path);
    if (f.path.empty() || f.path.size() > 4096) return Bad("file path empty or too long");
    if (!file_.size) return Bad(absl::StrCat("missing Size for \"", shown, "\""));
    if (!ParseUnsigned(*file_.size, std::numeric_limits<int64_t>::max(), &f.size)) {
      return Bad(absl::StrCat("bad Size for \"", shown, "\""));
    }
    if (file_.last_modified) f.last_modified = std::move(*file_.last_modified);
    if (file_.checksum && !file_.algorithm) {
      return Bad(absl::StrCat("checksum without algorithm for \"", shown, "\""));
    }
    if (file_.algorithm) {
      auto alg = ParseChecksumAlgorithm(*file_.algorithm);
      if (!alg) {
        return Bad(absl::StrCat("unknown checksum algorithm \"", absl::CHexEscape(*file_.algorithm),
                                "\" for \"", shown, "\""));
      }
      f.algorithm = *alg;
    }
    std::string hex = file_.checksum.value_or("");
    if (!HexDecode(hex, &f.checksum) || f.checksum.size() != ChecksumLength(f.algorithm)) {
      return Bad(absl::StrCat("invalid checksum for \"", shown, "\""));
    }
    if (out_.files.size() >= limits_.max_files) {
      return absl::ResourceExhaustedError("backup manifest: too many files");
    }
    if (!paths_.insert(f.path).second) {
      return Bad(absl::StrCat("duplicate path \"", shown, "\""));
    }
    out_.files.push_back(std::move(f));
    return absl::OkStatus();
  }

  absl::Status WalValue(JsonScalar kind, std::string text) {
    return Store(kWalFields, &wal_, "WAL range", kind, std::move(text));
  }

  // Files and WAL ranges are flat objects of known keys, each with one JSON type.
  template <typename Pending, size_t N>
  absl::Status Store(const Field<Pending> (&fields)[N], Pending* pending, absl::string_view what,
                     JsonScalar kind, std::string text) {
    for (const Field<Pending>& f : fields) {
      if (f.key != key_) continue;
      RETURN_IF_ERROR(Want(kind, f.type, key_));
      pending->*f.slot = std::move(text);
      return absl::OkStatus();
    }
    return Bad(absl::StrCat("unexpected ", what, " field \"", absl::CHexEscape(key_), "\""));
  }

  absl::Status FinishWal() {
    if (!wal_.timeline || !wal_.start || !wal_.end) return Bad("incomplete WAL range");
    WalRange r;
    uint64_t tli;
    if (!ParseUnsigned(*wal_.timeline, std::numeric_limits<uint32_t>::max(), &tli) || tli == 0) {
      return Bad("bad WAL range Timeline");
    }
    r.timeline = static_cast<TimelineId>(tli);
    auto start = Lsn::Parse(*wal_.start);
    auto end = Lsn::Parse(*wal_.end);
    if (!start.ok() || !end.ok() || *end < *start) return Bad("bad WAL range LSN");
    r.start_lsn = *start;
    r.end_lsn = *end;
    if (out_.wal_ranges.size() >= 4096) {
      return absl::ResourceExhaustedError("backup manifest: too many WAL ranges");
    }
    out_.wal_ranges.push_back(r);
    return absl::OkStatus();
  }

  const ManifestLimits& limits_;
  State state_ = State::kStart;
  std::string key_;
  bool saw_version_ = false, saw_files_ = false, saw_wal_ = false, saw_checksum_ = false;
  PendingFile file_;
  PendingWal wal_;
  absl::flat_hash_set<std::string> paths_;
  BackupManifest out_;
};

absl::Status VerifyManifestChecksum(absl::string_view bytes, const std::string& expected) {
  size_t newlines = 0, last = 0, penultimate = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    if (bytes[i] == '\n') {
      ++newlines;
      penultimate = last;
      last = i;
    }
  }
  if (newlines < 2) return Bad("expected at least 2 lines");
  if (last != bytes.size() - 1) return Bad("last line not newline-terminated");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), penultimate + 1, digest, &len, EVP_sha256(), nullptr) != 1 ||
      len != 32) {
    return absl::InternalError("backup manifest: SHA-256 failed");
  }
  if (expected != absl::string_view(reinterpret_cast<const char*>(digest), len)) {
    return Bad("manifest checksum mismatch");
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<BackupManifest> ParseBackupManifest(absl::string_view bytes, ManifestLimits limits) {
  if (bytes.size() > limits.max_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("backup manifest: ", bytes.size(), " bytes exceeds the cap"));
  }
  ManifestBuilder builder(limits);
  absl::Status s = ParseJson(bytes, &builder);
  if (!s.ok()) {
    if (s.code() == absl::StatusCode::kInvalidArgument) return Bad(s.message());
    return s;
  }
  ASSIGN_OR_RETURN(BackupManifest manifest, builder.Finish());
  RETURN_IF_ERROR(VerifyManifestChecksum(bytes, manifest.manifest_checksum));
  return manifest;
}

}  // namespace walrep
