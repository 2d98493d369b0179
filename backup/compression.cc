#include "backup/compression.h"

#include <lz4frame.h>
#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace walrep {
namespace {

absl::Status Corrupt(absl::string_view method, absl::string_view what) {
  return absl::DataLossError(absl::StrCat(method, " stream: ", what));
}

class Identity final : public StreamDecompressor {
 public:
  absl::Status Feed(absl::string_view in, const ChunkFn& out) override {
    bytes_out_ += in.size();
    return in.empty() ? absl::OkStatus() : out(in);
  }
  absl::Status Finish() override { return absl::OkStatus(); }
  uint64_t bytes_out() const override { return bytes_out_; }

 private:
  uint64_t bytes_out_ = 0;
};

// Shared by the decompressors: the output buffer, sticky errors, the byte count.
class DecompressorBase : public StreamDecompressor {
 public:
  uint64_t bytes_out() const override { return bytes_out_; }

 protected:
  DecompressorBase() : buf_(kCompressionChunk) {}
  absl::Status Emit(size_t n, const ChunkFn& out) {
    if (n == 0) return absl::OkStatus();
    bytes_out_ += n;
    return out(absl::string_view(buf_.data(), n));
  }
  absl::Status Fail(absl::Status st) {
    error_ = st;
    return st;
  }
  std::vector<char> buf_;
  absl::Status error_;
  uint64_t bytes_out_ = 0;
  // At a frame boundary after at least one complete frame: where input may end.
  bool at_boundary_ = false;
};

class GzipDecompressor final : public DecompressorBase {
 public:
  GzipDecompressor() {
    // 15 + 16: the gzip wrapper only (a zlib or raw deflate stream is not a .gz file).
    ok_ = inflateInit2(&z_, 15 + 16) == Z_OK;
  }
  ~GzipDecompressor() override {
    if (ok_) inflateEnd(&z_);
  }
  absl::Status Feed(absl::string_view in, const ChunkFn& out) override {
    if (!error_.ok()) return error_;
    if (!ok_) return Fail(absl::ResourceExhaustedError("gzip: inflateInit failed"));
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    while (true) {
      if (member_done_) {
        if (z_.avail_in == 0) break;
        // Concatenated members, as gzip itself reads them.
        if (inflateReset(&z_) != Z_OK) return Fail(Corrupt("gzip", "reset failed"));
        member_done_ = false;
      }
      at_boundary_ = false;
      z_.next_out = reinterpret_cast<Bytef*>(buf_.data());
      z_.avail_out = static_cast<uInt>(buf_.size());
      int rc = inflate(&z_, Z_NO_FLUSH);
      size_t produced = buf_.size() - z_.avail_out;
      if (rc == Z_STREAM_END) {
        member_done_ = true;
        at_boundary_ = true;
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        return Fail(Corrupt("gzip", z_.msg != nullptr ? z_.msg : "inflate failed"));
      }
      absl::Status st = Emit(produced, out);
      if (!st.ok()) return Fail(st);
      // Needs more input: everything consumed and the output not full (zlib holds back
      // nothing then).
      if (!member_done_ && z_.avail_in == 0 && z_.avail_out > 0) break;
      if (rc == Z_BUF_ERROR && produced == 0) return Fail(Corrupt("gzip", "no progress"));
    }
    return absl::OkStatus();
  }
  absl::Status Finish() override {
    if (!error_.ok()) return error_;
    if (!at_boundary_) return Fail(Corrupt("gzip", "truncated (the input ended inside a member)"));
    return absl::OkStatus();
  }

 private:
  z_stream z_{};
  bool ok_ = false;
  bool member_done_ = false;
};

class Lz4Decompressor final : public DecompressorBase {
 public:
  Lz4Decompressor() { ok_ = !LZ4F_isError(LZ4F_createDecompressionContext(&ctx_, LZ4F_VERSION)); }
  ~Lz4Decompressor() override {
    if (ok_) LZ4F_freeDecompressionContext(ctx_);
  }
  absl::Status Feed(absl::string_view in, const ChunkFn& out) override {
    if (!error_.ok()) return error_;
    if (!ok_) return Fail(absl::ResourceExhaustedError("lz4: context creation failed"));
    const char* src = in.data();
    size_t left = in.size();
    // Also loops with no input left while the previous call filled the whole buffer:
    // LZ4F keeps decoded bytes it could not hand over.
    bool more = true;
    while (left > 0 || more) {
      size_t dst_size = buf_.size();
      size_t src_size = left;
      size_t hint = LZ4F_decompress(ctx_, buf_.data(), &dst_size, src, &src_size, nullptr);
      if (LZ4F_isError(hint)) return Fail(Corrupt("lz4", LZ4F_getErrorName(hint)));
      src += src_size;
      left -= src_size;
      if (src_size > 0 || dst_size > 0) at_boundary_ = hint == 0;
      absl::Status st = Emit(dst_size, out);
      if (!st.ok()) return Fail(st);
      more = dst_size == buf_.size();
      if (src_size == 0 && dst_size == 0) break;
    }
    return absl::OkStatus();
  }
  absl::Status Finish() override {
    if (!error_.ok()) return error_;
    if (!at_boundary_) return Fail(Corrupt("lz4", "truncated (the input ended inside a frame)"));
    return absl::OkStatus();
  }

 private:
  LZ4F_dctx* ctx_ = nullptr;
  bool ok_ = false;
};

class ZstdDecompressor final : public DecompressorBase {
 public:
  ZstdDecompressor() : ctx_(ZSTD_createDStream()) {}
  ~ZstdDecompressor() override { ZSTD_freeDStream(ctx_); }
  absl::Status Feed(absl::string_view in, const ChunkFn& out) override {
    if (!error_.ok()) return error_;
    if (ctx_ == nullptr) return Fail(absl::ResourceExhaustedError("zstd: context creation failed"));
    ZSTD_inBuffer src{in.data(), in.size(), 0};
    bool more = true;
    while (src.pos < src.size || more) {
      ZSTD_outBuffer dst{buf_.data(), buf_.size(), 0};
      size_t before = src.pos;
      size_t rc = ZSTD_decompressStream(ctx_, &dst, &src);
      if (ZSTD_isError(rc)) return Fail(Corrupt("zstd", ZSTD_getErrorName(rc)));
      if (src.pos > before || dst.pos > 0) at_boundary_ = rc == 0;
      absl::Status st = Emit(dst.pos, out);
      if (!st.ok()) return Fail(st);
      more = dst.pos == dst.size;
      if (src.pos == before && dst.pos == 0) break;
    }
    return absl::OkStatus();
  }
  absl::Status Finish() override {
    if (!error_.ok()) return error_;
    if (!at_boundary_) return Fail(Corrupt("zstd", "truncated (the input ended inside a frame)"));
    return absl::OkStatus();
  }

 private:
  ZSTD_DStream* ctx_;
};

// Compressors: input is fed in pieces small enough that one piece's worst-case output
// fits the buffer, so each library call can always make progress.
constexpr size_t kCompressorPiece = 64 * 1024;

class GzipCompressor final : public StreamCompressor {
 public:
  explicit GzipCompressor(int level) : buf_(kCompressionChunk) {
    ok_ = deflateInit2(&z_, level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  }
  ~GzipCompressor() override {
    if (ok_) deflateEnd(&z_);
  }
  absl::Status Feed(absl::string_view in, const ChunkFn& out) override {
    return Run(in, Z_NO_FLUSH, out);
  }
  absl::Status Finish(const ChunkFn& out) override {
    absl::Status st = Run("", Z_FINISH, out);
    finished_ = true;
    return st;
  }

 private:
  absl::Status Run(absl::string_view in, int flush, const ChunkFn& out) {
    if (!ok_) return absl::ResourceExhaustedError("gzip: deflateInit failed");
    if (finished_) return absl::FailedPreconditionError("gzip: feed after finish");
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z_.avail_in = static_cast<uInt>(in.size());
    while (true) {
      z_.next_out = reinterpret_cast<Bytef*>(buf_.data());
      z_.avail_out = static_cast<uInt>(buf_.size());
      int rc = deflate(&z_, flush);
      if (rc == Z_STREAM_ERROR) return absl::InternalError("gzip: deflate failed");
      size_t produced = buf_.size() - z_.avail_out;
      if (produced > 0) {
        absl::Status st = out(absl::string_view(buf_.data(), produced));
        if (!st.ok()) return st;
      }
      if (flush == Z_FINISH ? rc == Z_STREAM_END : (z_.avail_in == 0 && z_.avail_out > 0)) break;
    }
    return absl::OkStatus();
  }
  z_stream z_{};
  std::vector<char> buf_;
  bool ok_ = false;
  bool finished_ = false;
};

class Lz4Compressor final : public StreamCompressor {
 public:
  explicit Lz4Compressor(int level) : level_(level) {
    ok_ = !LZ4F_isError(LZ4F_createCompressionContext(&ctx_, LZ4F_VERSION));
    LZ4F_preferences_t prefs{};
    prefs.compressionLevel = level_;
    prefs_ = prefs;
    buf_.resize(std::max<size_t>(LZ4F_compressBound(kCompressorPiece, &prefs_),
                                 LZ4F_HEADER_SIZE_MAX));
  }
  ~Lz4Compressor() override {
    if (ok_) LZ4F_freeCompressionContext(ctx_);
  }
  absl::Status Feed(absl::string_view in, const ChunkFn& out) override {
    if (absl::Status st = Begin(out); !st.ok()) return st;
    while (!in.empty()) {
      absl::string_view piece = in.substr(0, kCompressorPiece);
      in.remove_prefix(piece.size());
      size_t n = LZ4F_compressUpdate(ctx_, buf_.data(), buf_.size(), piece.data(), piece.size(),
                                     nullptr);
      if (LZ4F_isError(n)) return absl::InternalError(LZ4F_getErrorName(n));
      if (n > 0) {
        absl::Status st = out(absl::string_view(buf_.data(), n));
        if (!st.ok()) return st;
      }
    }
    return absl::OkStatus();
  }
  absl::Status Finish(const ChunkFn& out) override {
    if (absl::Status st = Begin(out); !st.ok()) return st;
    size_t n = LZ4F_compressEnd(ctx_, buf_.data(), buf_.size(), nullptr);
    finished_ = true;
    if (LZ4F_isError(n)) return absl::InternalError(LZ4F_getErrorName(n));
    return out(absl::string_view(buf_.data(), n));
  }

 private:
  absl::Status Begin(const ChunkFn& out) {
    if (!ok_) return absl::ResourceExhaustedError("lz4: context creation failed");
    if (finished_) return absl::FailedPreconditionError("lz4: feed after finish");
    if (begun_) return absl::OkStatus();
    begun_ = true;
    size_t n = LZ4F_compressBegin(ctx_, buf_.data(), buf_.size(), &prefs_);
    if (LZ4F_isError(n)) return absl::InternalError(LZ4F_getErrorName(n));
    return out(absl::string_view(buf_.data(), n));
  }
  int level_;
  LZ4F_cctx* ctx_ = nullptr;
  LZ4F_preferences_t prefs_{};
  std::vector<char> buf_;
  bool ok_ = false;
  bool begun_ = false;
  bool finished_ = false;
};

class ZstdCompressor final : public StreamCompressor {
 public:
  explicit ZstdCompressor(int level) : ctx_(ZSTD_createCCtx()), buf_(ZSTD_CStreamOutSize()) {
    if (ctx_ != nullptr) ZSTD_CCtx_setParameter(ctx_, ZSTD_c_compressionLevel, level);
  }
  ~ZstdCompressor() override { ZSTD_freeCCtx(ctx_); }
  absl::Status Feed(absl::string_view in, const ChunkFn& out) override {
    return Run(in, ZSTD_e_continue, out);
  }
  absl::Status Finish(const ChunkFn& out) override {
    absl::Status st = Run("", ZSTD_e_end, out);
    finished_ = true;
    return st;
  }

 private:
  absl::Status Run(absl::string_view in, ZSTD_EndDirective mode, const ChunkFn& out) {
    if (ctx_ == nullptr) return absl::ResourceExhaustedError("zstd: context creation failed");
    if (finished_) return absl::FailedPreconditionError("zstd: feed after finish");
    ZSTD_inBuffer src{in.data(), in.size(), 0};
    while (true) {
      ZSTD_outBuffer dst{buf_.data(), buf_.size(), 0};
      size_t rc = ZSTD_compressStream2(ctx_, &dst, &src, mode);
      if (ZSTD_isError(rc)) return absl::InternalError(ZSTD_getErrorName(rc));
      if (dst.pos > 0) {
        absl::Status st = out(absl::string_view(buf_.data(), dst.pos));
        if (!st.ok()) return st;
      }
      // continue: done once the input is consumed; end: once nothing is left to flush.
      if (mode == ZSTD_e_end ? rc == 0 : src.pos == src.size) break;
    }
    return absl::OkStatus();
  }
  ZSTD_CCtx* ctx_;
  std::vector<char> buf_;
  bool finished_ = false;
};

}  // namespace

absl::string_view CompressionName(Compression c) {
  switch (c) {
    case Compression::kNone: return "none";
    case Compression::kGzip: return "gzip";
    case Compression::kLz4: return "lz4";
    case Compression::kZstd: return "zstd";
  }
  return "none";
}

absl::string_view CompressionSuffix(Compression c) {
  switch (c) {
    case Compression::kNone: return "";
    case Compression::kGzip: return ".gz";
    case Compression::kLz4: return ".lz4";
    case Compression::kZstd: return ".zst";
  }
  return "";
}

absl::Status CheckCompressionLevel(Compression c, int level) {
  int lo = 0, hi = 0;
  switch (c) {
    case Compression::kNone:
      return absl::InvalidArgumentError("a compression level needs a compression method");
    case Compression::kGzip: lo = 1; hi = 9; break;
    case Compression::kLz4: lo = 1; hi = 12; break;
    case Compression::kZstd: {
      ZSTD_bounds b = ZSTD_cParam_getBounds(ZSTD_c_compressionLevel);
      lo = b.lowerBound;
      hi = b.upperBound;
      break;
    }
  }
  if (level < lo || level > hi) {
    return absl::InvalidArgumentError(absl::StrCat("compression level ", level, " for ",
                                                   CompressionName(c), " is outside ", lo, "..",
                                                   hi));
  }
  return absl::OkStatus();
}

std::pair<std::string, Compression> SplitCompressionSuffix(absl::string_view name) {
  for (Compression c : {Compression::kGzip, Compression::kLz4, Compression::kZstd}) {
    absl::string_view suffix = CompressionSuffix(c);
    if (name.size() > suffix.size() && absl::EndsWith(name, suffix)) {
      return {std::string(name.substr(0, name.size() - suffix.size())), c};
    }
  }
  return {std::string(name), Compression::kNone};
}

absl::StatusOr<std::unique_ptr<StreamDecompressor>> NewDecompressor(Compression c) {
  switch (c) {
    case Compression::kNone: return std::make_unique<Identity>();
    case Compression::kGzip: return std::make_unique<GzipDecompressor>();
    case Compression::kLz4: return std::make_unique<Lz4Decompressor>();
    case Compression::kZstd: return std::make_unique<ZstdDecompressor>();
  }
  return absl::InvalidArgumentError("unknown compression");
}

absl::StatusOr<std::unique_ptr<StreamCompressor>> NewCompressor(Compression c,
                                                                std::optional<int> level) {
  if (level) {
    absl::Status st = CheckCompressionLevel(c, *level);
    if (!st.ok()) return st;
  }
  switch (c) {
    case Compression::kNone:
      return absl::InvalidArgumentError("no compressor for method none");
    case Compression::kGzip: return std::make_unique<GzipCompressor>(level.value_or(6));
    case Compression::kLz4: return std::make_unique<Lz4Compressor>(level.value_or(1));
    case Compression::kZstd: return std::make_unique<ZstdCompressor>(level.value_or(3));
  }
  return absl::InvalidArgumentError("unknown compression");
}

}  // namespace walrep
