// Streaming compression for base backups: gzip (zlib, the gzip wrapper), lz4 (the frame
// format, as PostgreSQL 15+ and the `lz4` tool write it) and zstd (frames, as `zstd`
// writes them). These are the three methods BASE_BACKUP's COMPRESSION option offers and
// pg_basebackup's file suffixes (.gz, .lz4, .zst) name.
//
// Push style, like the tar reader: bytes go in as the connection delivers them, output
// comes out through a callback in pieces of at most kCompressionChunk, so neither side
// ever holds a whole archive. The decompressors are pure (bytes in, bytes out) and have a
// fuzz target; the compressors are used for client-side compression of tar output.
//
// A decompressor accepts concatenated frames/members, as the command-line tools do, and
// Finish() fails unless the input ended at a frame boundary: a truncated archive is
// DataLoss, never a short file.
//
// Not thread-safe: one object per archive, driven from one thread.
#ifndef WALREP_BACKUP_COMPRESSION_H_
#define WALREP_BACKUP_COMPRESSION_H_

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace walrep {

enum class Compression { kNone, kGzip, kLz4, kZstd };

inline constexpr size_t kCompressionChunk = 256 * 1024;

// "gzip", "lz4", "zstd" ("none" for kNone): BASE_BACKUP's COMPRESSION value.
absl::string_view CompressionName(Compression c);
// ".gz", ".lz4", ".zst" ("" for kNone), as pg_basebackup names its files.
absl::string_view CompressionSuffix(Compression c);
// The level range each library accepts (gzip 1-9, lz4 1-12, zstd 1-22; kNone none):
// InvalidArgument naming the method and the range otherwise.
absl::Status CheckCompressionLevel(Compression c, int level);
// The archive name without a compression suffix, and the method the suffix names:
// "base.tar.lz4" → ("base.tar", kLz4); "base.tar" → ("base.tar", kNone).
std::pair<std::string, Compression> SplitCompressionSuffix(absl::string_view name);

using ChunkFn = std::function<absl::Status(absl::string_view)>;

class StreamDecompressor {
 public:
  virtual ~StreamDecompressor() = default;
  // Consumes `in`, calling `out` with every piece of output it completes. Corrupt input is
  // DataLoss; errors are sticky. An error from `out` is returned as is.
  virtual absl::Status Feed(absl::string_view in, const ChunkFn& out) = 0;
  // End of input: OK only at a frame boundary after at least one frame.
  virtual absl::Status Finish() = 0;
  virtual uint64_t bytes_out() const = 0;
};

class StreamCompressor {
 public:
  virtual ~StreamCompressor() = default;
  virtual absl::Status Feed(absl::string_view in, const ChunkFn& out) = 0;
  // Ends the frame/member and emits the rest. Feed after Finish is FailedPrecondition.
  virtual absl::Status Finish(const ChunkFn& out) = 0;
};

// kNone yields an identity transform (so callers need no special case).
absl::StatusOr<std::unique_ptr<StreamDecompressor>> NewDecompressor(Compression c);
// `level` unset: the library's default (gzip 6, lz4 1 i.e. fast, zstd 3).
absl::StatusOr<std::unique_ptr<StreamCompressor>> NewCompressor(Compression c,
                                                                std::optional<int> level);

}  // namespace walrep

#endif  // WALREP_BACKUP_COMPRESSION_H_
