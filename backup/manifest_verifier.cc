#include "backup/manifest_verifier.h"

#include <openssl/evp.h>

#include <algorithm>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

// Enough to act on without flooding a status message.
constexpr size_t kMaxReportedProblems = 10;

const EVP_MD* ShaFor(ChecksumAlgorithm algorithm) {
  switch (algorithm) {
    case ChecksumAlgorithm::kSha224:
      return EVP_sha224();
    case ChecksumAlgorithm::kSha256:
      return EVP_sha256();
    case ChecksumAlgorithm::kSha384:
      return EVP_sha384();
    case ChecksumAlgorithm::kSha512:
      return EVP_sha512();
    default:
      return nullptr;
  }
}

std::string Quoted(absl::string_view path) {
  return absl::StrCat("\"", absl::CHexEscape(path), "\"");
}

}  // namespace

// One EVP context, reused for every file.
class ManifestVerifier::Digest {
 public:
  explicit Digest(const EVP_MD* md) : md_(md), ctx_(EVP_MD_CTX_new()) {}
  ~Digest() { EVP_MD_CTX_free(ctx_); }
  bool Init() { return ctx_ != nullptr && EVP_DigestInit_ex(ctx_, md_, nullptr) == 1; }
  bool Update(absl::string_view b) { return EVP_DigestUpdate(ctx_, b.data(), b.size()) == 1; }
  bool Final(std::string* out) {
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx_, d, &len) != 1) return false;
    out->assign(reinterpret_cast<const char*>(d), len);
    return true;
  }

 private:
  const EVP_MD* md_;
  EVP_MD_CTX* ctx_;
};

bool IgnoredByManifestCheck(absl::string_view path) {
  for (absl::string_view ignored :
       {"backup_manifest", "pg_wal", "postgresql.auto.conf", "recovery.signal", "standby.signal"}) {
    if (path == ignored ||
        (path.size() > ignored.size() && path.substr(0, ignored.size()) == ignored &&
         path[ignored.size()] == '/')) {
      return true;
    }
  }
  return false;
}

ManifestVerifier::ManifestVerifier(ChecksumAlgorithm algorithm) : algorithm_(algorithm) {
  if (const EVP_MD* md = ShaFor(algorithm)) sha_ = std::make_unique<Digest>(md);
}

ManifestVerifier::~ManifestVerifier() = default;

absl::Status ManifestVerifier::OnFileBegin(absl::string_view manifest_path) {
  if (in_file_) return absl::InternalError("manifest verifier: file begun inside a file");
  current_path_ = std::string(manifest_path);
  if (seen_.contains(current_path_)) {
    return absl::DataLossError(absl::StrCat(Quoted(current_path_), " appears twice in the backup"));
  }
  in_file_ = true;
  current_size_ = 0;
  crc_ = Crc32cAccumulator();
  if (sha_ && !sha_->Init()) return absl::InternalError("manifest verifier: digest init failed");
  return absl::OkStatus();
}

absl::Status ManifestVerifier::OnFileData(absl::string_view bytes) {
  if (!in_file_) return absl::InternalError("manifest verifier: data outside a file");
  current_size_ += bytes.size();
  if (algorithm_ == ChecksumAlgorithm::kCrc32c) crc_.Update(bytes);
  if (sha_ && !sha_->Update(bytes)) return absl::InternalError("manifest verifier: digest failed");
  return absl::OkStatus();
}

absl::Status ManifestVerifier::OnFileEnd() {
  if (!in_file_) return absl::InternalError("manifest verifier: end outside a file");
  in_file_ = false;
  Seen seen;
  seen.size = current_size_;
  if (algorithm_ == ChecksumAlgorithm::kCrc32c) {
    // PostgreSQL stores the uint32 with memcpy: the primary's byte order. Recorded
    // little-endian here; Verify also accepts the big-endian form (see there).
    uint32_t v = crc_.Value();
    for (int i = 0; i < 4; ++i) seen.checksum.push_back(static_cast<char>(v >> (8 * i)));
  } else if (sha_ && !sha_->Final(&seen.checksum)) {
    return absl::InternalError("manifest verifier: digest failed");
  }
  seen_.emplace(std::move(current_path_), std::move(seen));
  return absl::OkStatus();
}

absl::Status ManifestVerifier::Verify(const BackupManifest& manifest) const {
  if (in_file_) return absl::FailedPreconditionError("manifest verifier: a file is still open");
  std::vector<std::string> problems;
  size_t count = 0;
  auto report = [&](std::string problem) {
    if (++count <= kMaxReportedProblems) problems.push_back(std::move(problem));
  };
  for (const ManifestFile& f : manifest.files) {
    if (IgnoredByManifestCheck(f.path)) continue;
    auto it = seen_.find(f.path);
    if (it == seen_.end()) {
      report(absl::StrCat(Quoted(f.path), " is in the manifest but not in the backup"));
      continue;
    }
    const Seen& seen = it->second;
    if (seen.size != f.size) {
      report(absl::StrCat(Quoted(f.path), ": size ", f.size, " in the manifest, ", seen.size,
                          " in the backup"));
      continue;
    }
    if (f.algorithm == ChecksumAlgorithm::kNone || algorithm_ == ChecksumAlgorithm::kNone) {
      continue;
    }
    if (f.algorithm != algorithm_) {
      report(absl::StrCat(Quoted(f.path), ": manifest checksum is ",
                          ChecksumAlgorithmName(f.algorithm), ", expected ",
                          ChecksumAlgorithmName(algorithm_)));
      continue;
    }
    bool equal = seen.checksum == f.checksum;
    if (!equal && f.algorithm == ChecksumAlgorithm::kCrc32c) {
      // A big-endian primary writes the same CRC byte-reversed.
      std::string reversed(seen.checksum.rbegin(), seen.checksum.rend());
      equal = reversed == f.checksum;
    }
    if (!equal) {
      report(absl::StrCat(Quoted(f.path), ": checksum mismatch (manifest ",
                          absl::BytesToHexString(f.checksum), ", backup ",
                          absl::BytesToHexString(seen.checksum), ")"));
    }
  }
  absl::flat_hash_set<absl::string_view> listed;
  listed.reserve(manifest.files.size());
  for (const ManifestFile& f : manifest.files) listed.insert(f.path);
  std::vector<absl::string_view> extra;
  for (const auto& [path, seen] : seen_) {
    if (!IgnoredByManifestCheck(path) && !listed.contains(path)) extra.push_back(path);
  }
  std::sort(extra.begin(), extra.end());  // deterministic messages
  for (absl::string_view path : extra) {
    report(absl::StrCat(Quoted(path), " is in the backup but not in the manifest"));
  }
  if (count == 0) return absl::OkStatus();
  return absl::DataLossError(
      absl::StrCat("backup does not match its manifest (", count,
                   count == 1 ? " problem): " : " problems): ", absl::StrJoin(problems, "; ")));
}

}  // namespace walrep
