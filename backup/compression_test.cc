#include "backup/compression.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace walrep {
namespace {

constexpr Compression kMethods[] = {Compression::kGzip, Compression::kLz4, Compression::kZstd};

// Compressible but not trivial: text-like runs mixed with random bytes, several chunks long.
std::string Payload(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::string s;
  s.reserve(n);
  while (s.size() < n) {
    if (rng() % 3 == 0) {
      for (int i = 0; i < 200 && s.size() < n; ++i) s.push_back(static_cast<char>(rng()));
    } else {
      s.append("relation 16384 block 42 tuple ");
      s.append(std::to_string(rng() % 1000));
    }
  }
  s.resize(n);
  return s;
}

std::string Compress(Compression c, absl::string_view in, std::optional<int> level = {}) {
  auto comp = NewCompressor(c, level);
  EXPECT_TRUE(comp.ok()) << comp.status();
  std::string out;
  auto sink = [&](absl::string_view b) {
    out.append(b.data(), b.size());
    return absl::OkStatus();
  };
  std::mt19937 rng(7);
  while (!in.empty()) {
    size_t n = std::min<size_t>(in.size(), 1 + rng() % 100000);
    EXPECT_TRUE((*comp)->Feed(in.substr(0, n), sink).ok());
    in.remove_prefix(n);
  }
  EXPECT_TRUE((*comp)->Finish(sink).ok());
  return out;
}

// Feeds `in` in pieces of random size (down to one byte) and returns the output, or the
// first error (Feed's or Finish's).
absl::StatusOr<std::string> Decompress(Compression c, absl::string_view in, uint32_t seed) {
  auto d = NewDecompressor(c);
  if (!d.ok()) return d.status();
  std::string out;
  auto sink = [&](absl::string_view b) {
    EXPECT_LE(b.size(), kCompressionChunk);
    out.append(b.data(), b.size());
    return absl::OkStatus();
  };
  std::mt19937 rng(seed);
  while (!in.empty()) {
    size_t n = std::min<size_t>(in.size(), rng() % 4 == 0 ? 1 : 1 + rng() % 70000);
    absl::Status st = (*d)->Feed(in.substr(0, n), sink);
    if (!st.ok()) return st;
    in.remove_prefix(n);
  }
  absl::Status st = (*d)->Finish();
  if (!st.ok()) return st;
  EXPECT_EQ((*d)->bytes_out(), out.size());
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteFile(const std::string& path, absl::string_view data) {
  std::ofstream f(path, std::ios::binary);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}

// The command-line tool for each method, as a user restoring a backup would run it.
std::string Tool(Compression c) {
  switch (c) {
    case Compression::kGzip: return "gzip";
    case Compression::kLz4: return "lz4";
    case Compression::kZstd: return "zstd";
    default: return "";
  }
}

TEST(CompressionTest, RoundTripsInPiecesOfAnySize) {
  std::string data = Payload(3 * kCompressionChunk + 12345, 1);
  for (Compression c : kMethods) {
    std::string z = Compress(c, data);
    EXPECT_LT(z.size(), data.size()) << CompressionName(c);
    for (uint32_t seed : {1u, 2u, 3u}) {
      auto back = Decompress(c, z, seed);
      ASSERT_TRUE(back.ok()) << CompressionName(c) << ": " << back.status();
      EXPECT_TRUE(*back == data) << CompressionName(c);
    }
  }
}

TEST(CompressionTest, ConcatenatedFramesDecodeAsOneStream) {
  std::string a = Payload(100000, 2), b = Payload(50000, 3);
  for (Compression c : kMethods) {
    auto back = Decompress(c, Compress(c, a) + Compress(c, b), 9);
    ASSERT_TRUE(back.ok()) << CompressionName(c) << ": " << back.status();
    EXPECT_TRUE(*back == a + b) << CompressionName(c);
  }
}

TEST(CompressionTest, TruncatedInputIsDataLossAtFinish) {
  std::string data = Payload(300000, 4);
  for (Compression c : kMethods) {
    std::string z = Compress(c, data);
    for (size_t cut : {size_t{1}, z.size() / 2, z.size() - 1}) {
      auto back = Decompress(c, z.substr(0, cut), 5);
      ASSERT_FALSE(back.ok()) << CompressionName(c) << " cut at " << cut;
      EXPECT_EQ(back.status().code(), absl::StatusCode::kDataLoss) << back.status();
    }
    auto empty = Decompress(c, "", 5);
    EXPECT_EQ(empty.status().code(), absl::StatusCode::kDataLoss) << CompressionName(c);
  }
}

TEST(CompressionTest, CorruptInputIsDataLoss) {
  std::string data = Payload(300000, 6);
  for (Compression c : kMethods) {
    std::string z = Compress(c, data);
    z[0] = static_cast<char>(z[0] ^ 0x5a);  // the magic number
    auto back = Decompress(c, z, 7);
    ASSERT_FALSE(back.ok()) << CompressionName(c);
    EXPECT_EQ(back.status().code(), absl::StatusCode::kDataLoss) << back.status();
  }
}

TEST(CompressionTest, InteroperatesWithTheCommandLineTools) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  ASSERT_NE(tmp, nullptr);
  std::string data = Payload(2 * kCompressionChunk + 77, 8);
  for (Compression c : kMethods) {
    std::string base = std::string(tmp) + "/x" + std::string(CompressionSuffix(c));
    // Ours → the tool.
    WriteFile(base, Compress(c, data, c == Compression::kZstd ? std::optional<int>(19)
                                                               : std::nullopt));
    std::string cmd = Tool(c) + " -d -c " + base + " > " + base + ".out";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    EXPECT_TRUE(ReadFile(base + ".out") == data) << CompressionName(c);
    // The tool → ours.
    WriteFile(base + ".in", data);
    cmd = Tool(c) + " -c " + base + ".in > " + base + ".tool";
    ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
    auto back = Decompress(c, ReadFile(base + ".tool"), 11);
    ASSERT_TRUE(back.ok()) << CompressionName(c) << ": " << back.status();
    EXPECT_TRUE(*back == data) << CompressionName(c);
  }
}

TEST(CompressionTest, LevelsAreCheckedByName) {
  EXPECT_TRUE(CheckCompressionLevel(Compression::kGzip, 9).ok());
  EXPECT_EQ(CheckCompressionLevel(Compression::kGzip, 10).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckCompressionLevel(Compression::kLz4, 13).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(CheckCompressionLevel(Compression::kZstd, 22).ok());
  EXPECT_EQ(CheckCompressionLevel(Compression::kNone, 1).code(),
            absl::StatusCode::kInvalidArgument);
  auto bad = NewCompressor(Compression::kZstd, 99);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("zstd"), std::string::npos) << bad.status();
}

TEST(CompressionTest, SuffixesAsPgBasebackupNamesThem) {
  EXPECT_EQ(SplitCompressionSuffix("base.tar.lz4"),
            std::make_pair(std::string("base.tar"), Compression::kLz4));
  EXPECT_EQ(SplitCompressionSuffix("16385.tar.gz"),
            std::make_pair(std::string("16385.tar"), Compression::kGzip));
  EXPECT_EQ(SplitCompressionSuffix("base.tar.zst"),
            std::make_pair(std::string("base.tar"), Compression::kZstd));
  EXPECT_EQ(SplitCompressionSuffix("base.tar"),
            std::make_pair(std::string("base.tar"), Compression::kNone));
}

}  // namespace
}  // namespace walrep
