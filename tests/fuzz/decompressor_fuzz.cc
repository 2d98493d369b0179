// The backup decompressors over arbitrary bytes: the first byte picks gzip, lz4 or zstd,
// the rest is the compressed stream. Never crashes, never hands out a piece larger than
// kCompressionChunk, and gives the same output and verdict whether the input arrives whole
// or in small pieces (the connection decides the boundaries).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "backup/compression.h"

namespace {

struct Outcome {
  std::string out;
  bool ok = false;
};

Outcome Run(walrep::Compression c, absl::string_view in, size_t piece) {
  Outcome o;
  auto d = walrep::NewDecompressor(c);
  if (!d.ok()) std::abort();
  auto sink = [&](absl::string_view b) {
    if (b.size() > walrep::kCompressionChunk) std::abort();
    // Bounded: a tiny input may legitimately expand a lot; stop before it costs memory.
    if (o.out.size() + b.size() > (size_t{8} << 20)) {
      return absl::ResourceExhaustedError("fuzz output cap");
    }
    o.out.append(b.data(), b.size());
    return absl::OkStatus();
  };
  while (!in.empty()) {
    size_t n = std::min(piece, in.size());
    if (!(*d)->Feed(in.substr(0, n), sink).ok()) return o;
    in.remove_prefix(n);
  }
  o.ok = (*d)->Finish().ok();
  return o;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static constexpr walrep::Compression kMethods[] = {
      walrep::Compression::kGzip, walrep::Compression::kLz4, walrep::Compression::kZstd};
  walrep::Compression c = kMethods[data[0] % 3];
  absl::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  Outcome whole = Run(c, in, in.size() + 1);
  Outcome pieces = Run(c, in, 7);
  // The output cap can cut the two runs at different points; compare only uncut runs.
  if (whole.out.size() < (size_t{8} << 20) - walrep::kCompressionChunk &&
      pieces.out.size() < (size_t{8} << 20) - walrep::kCompressionChunk) {
    if (whole.ok != pieces.ok) std::abort();
    if (whole.ok && whole.out != pieces.out) std::abort();
  }
  return 0;
}
