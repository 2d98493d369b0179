// Micro-benchmarks of the decoders every WAL and backup byte goes through, in MB/s, beside
// memcpy over the same sizes as the machine's memory-bandwidth yardstick:
//
//   bazel run //tools/bench/micro:decoders_bench            (or bazel-bin/... directly)
//
// CRC-32C (every WAL record, every backup file), the WAL record reader (the replay loop,
// recovery, walrep_waldump), the tar reader (plain-format backups), and the lz4/zstd
// decompressors (server-compressed backups). Inputs are built in memory once per
// benchmark; nothing touches the disk. Not part of tools/test (no timed tests).
#include <cstring>
#include <random>
#include <string>

#include "backup/compression.h"
#include "benchmark/benchmark.h"
#include "replay/wal_decoder.h"
#include "replay/wal_test_builder.h"
#include "wire/crc32c.h"
#include "wire/tar_reader.h"
#include "wire/testing/tar_builder.h"

namespace walrep {
namespace {

std::string RandomBytes(size_t n) {
  std::mt19937_64 rng(42);
  std::string s(n, '\0');
  for (size_t i = 0; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    std::memcpy(&s[i], &v, 8);
  }
  return s;
}

void BM_Memcpy(benchmark::State& state) {
  std::string src = RandomBytes(static_cast<size_t>(state.range(0)));
  std::string dst(src.size(), '\0');
  for (auto _ : state) {
    std::memcpy(dst.data(), src.data(), src.size());
    benchmark::DoNotOptimize(dst.data());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Memcpy)->Arg(8 << 10)->Arg(256 << 10)->Arg(16 << 20);

void BM_Crc32c(benchmark::State& state) {
  std::string data = RandomBytes(static_cast<size_t>(state.range(0)));
  for (auto _ : state) benchmark::DoNotOptimize(Crc32c(data));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Crc32c)->Arg(64)->Arg(200)->Arg(1000)->Arg(8 << 10)->Arg(256 << 10)->Arg(16 << 20);

// 16 MiB of WAL in records of `range(0)` bytes of main data: small records stress the
// per-record work (header, xl_prev, CRC set-up), large ones the page assembly.
void BM_WalDecoder(benchmark::State& state) {
  WalTestBuilder b({.segment_size = uint64_t{16} << 20});
  std::string payload = RandomBytes(static_cast<size_t>(state.range(0)));
  while (b.bytes().size() < (size_t{15} << 20)) b.Add(10, 0, 1, payload);
  const std::string wal = b.bytes();
  uint64_t records = 0;
  for (auto _ : state) {
    WalDecoder d({.segment_size = uint64_t{16} << 20});
    d.ResetAtPage(b.start());
    d.Feed(wal);
    WalRecord r;
    while (d.Next(&r) == WalDecoder::Result::kRecord) ++records;
    benchmark::DoNotOptimize(records);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * wal.size()));
  state.SetItemsProcessed(static_cast<int64_t>(records));  // records/s
}
BENCHMARK(BM_WalDecoder)->Arg(40)->Arg(400)->Arg(8000);

class NullSink : public TarSink {
 public:
  absl::Status OnMember(const TarMember&) override { return absl::OkStatus(); }
  absl::Status OnData(absl::string_view b) override {
    benchmark::DoNotOptimize(b.data());
    return absl::OkStatus();
  }
  absl::Status OnMemberEnd() override { return absl::OkStatus(); }
};

// A data directory's shape: many 8 KiB relation files and some 1 GiB-segment-like large
// ones, fed in 32 KiB CopyData-sized chunks as the primary sends them.
void BM_TarReader(benchmark::State& state) {
  walrep::testing::TarBuilder tb;
  std::string page = RandomBytes(8192);
  std::string big = RandomBytes(size_t{4} << 20);
  for (int i = 0; i < 400; ++i) tb.File("base/16384/" + std::to_string(16400 + i), page);
  for (int i = 0; i < 3; ++i) tb.File("base/16384/big" + std::to_string(i), big);
  const std::string tar = tb.out + std::string(1024, '\0');
  for (auto _ : state) {
    TarReader reader;
    NullSink sink;
    for (size_t off = 0; off < tar.size(); off += 32768) {
      benchmark::DoNotOptimize(reader.Feed(absl::string_view(tar).substr(off, 32768), &sink));
    }
    benchmark::DoNotOptimize(reader.Finish());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * tar.size()));
}
BENCHMARK(BM_TarReader);

// Decompression of a tar-like stream (half compressible text, half random pages), in
// 32 KiB pieces; MB/s of output.
void BM_Decompress(benchmark::State& state) {
  Compression c = static_cast<Compression>(state.range(0));
  std::string plain;
  while (plain.size() < (size_t{8} << 20)) {
    plain += std::string(8192, 'a' + static_cast<char>(plain.size() % 26));
    plain += RandomBytes(8192);
  }
  std::string z;
  auto comp = NewCompressor(c, std::nullopt);
  auto out = [&](absl::string_view b) {
    z.append(b.data(), b.size());
    return absl::OkStatus();
  };
  (void)(*comp)->Feed(plain, out);
  (void)(*comp)->Finish(out);
  for (auto _ : state) {
    auto d = NewDecompressor(c);
    uint64_t n = 0;
    for (size_t off = 0; off < z.size(); off += 32768) {
      (void)(*d)->Feed(absl::string_view(z).substr(off, 32768), [&](absl::string_view b) {
        n += b.size();
        return absl::OkStatus();
      });
    }
    benchmark::DoNotOptimize((*d)->Finish());
    benchmark::DoNotOptimize(n);
  }
  state.SetLabel(std::string(CompressionName(c)));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * plain.size()));
}
BENCHMARK(BM_Decompress)
    ->Arg(static_cast<int>(Compression::kGzip))
    ->Arg(static_cast<int>(Compression::kLz4))
    ->Arg(static_cast<int>(Compression::kZstd));

}  // namespace
}  // namespace walrep

BENCHMARK_MAIN();
