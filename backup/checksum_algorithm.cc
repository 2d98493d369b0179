#include "backup/checksum_algorithm.h"

#include <string>

#include "absl/strings/ascii.h"

namespace walrep {

std::optional<ChecksumAlgorithm> ParseChecksumAlgorithm(absl::string_view name) {
  std::string upper = absl::AsciiStrToUpper(name);
  if (upper == "NONE") return ChecksumAlgorithm::kNone;
  if (upper == "CRC32C") return ChecksumAlgorithm::kCrc32c;
  if (upper == "SHA224") return ChecksumAlgorithm::kSha224;
  if (upper == "SHA256") return ChecksumAlgorithm::kSha256;
  if (upper == "SHA384") return ChecksumAlgorithm::kSha384;
  if (upper == "SHA512") return ChecksumAlgorithm::kSha512;
  return std::nullopt;
}

absl::string_view ChecksumAlgorithmName(ChecksumAlgorithm algorithm) {
  switch (algorithm) {
    case ChecksumAlgorithm::kNone:
      return "NONE";
    case ChecksumAlgorithm::kCrc32c:
      return "CRC32C";
    case ChecksumAlgorithm::kSha224:
      return "SHA224";
    case ChecksumAlgorithm::kSha256:
      return "SHA256";
    case ChecksumAlgorithm::kSha384:
      return "SHA384";
    case ChecksumAlgorithm::kSha512:
      return "SHA512";
  }
  return "?";
}

size_t ChecksumLength(ChecksumAlgorithm algorithm) {
  switch (algorithm) {
    case ChecksumAlgorithm::kNone:
      return 0;
    case ChecksumAlgorithm::kCrc32c:
      return 4;
    case ChecksumAlgorithm::kSha224:
      return 28;
    case ChecksumAlgorithm::kSha256:
      return 32;
    case ChecksumAlgorithm::kSha384:
      return 48;
    case ChecksumAlgorithm::kSha512:
      return 64;
  }
  return 0;
}

}  // namespace walrep
