#include "aiondb/wal_entry.h"

#include <lz4.h>
#include <zstd.h>

#include "absl/strings/str_cat.h"
#include "aiondb/le.h"
#include "wire/crc32c.h"
#include "wire/status_macros.h"

namespace walrep::aiondb {
namespace {

constexpr uint8_t kFrameMarker = 0xFF;

struct Checked {
  uint64_t lsn = 0;
  absl::string_view body;
  ChecksumKind checksum = ChecksumKind::kCrc32c;
  size_t encoded_len = 0;
};

// Length and checksum: the part every entry shares.
absl::StatusOr<std::optional<Checked>> CheckFraming(absl::string_view data) {
  if (data.size() < 4) return std::optional<Checked>();
  const uint32_t payload_len = Le32(data.data());
  if (payload_len < 8 + 1 + 4) {
    return absl::DataLossError(
        absl::StrCat("aiondb WAL entry payload length ", payload_len, " is below the minimum"));
  }
  // A record may be up to 64 MiB decompressed; its stored form cannot be larger than
  // that plus its frame header.
  if (payload_len > kMaxRecordBytes + 64) {
    return absl::DataLossError(
        absl::StrCat("aiondb WAL entry payload length ", payload_len, " exceeds the cap"));
  }
  const size_t total = size_t{4} + payload_len;
  if (data.size() < total) return std::optional<Checked>();
  absl::string_view covered = data.substr(4, payload_len - 4);
  const uint32_t stored = Le32(data.data() + total - 4);
  Checked c;
  if (stored == Crc32c(covered)) {
    c.checksum = ChecksumKind::kCrc32c;
  } else if (stored == LegacyFnv1a(covered)) {
    c.checksum = ChecksumKind::kLegacyFnv1a;
  } else {
    return absl::DataLossError(absl::StrCat("aiondb WAL entry at LSN ", Le64(covered.data()),
                                            " fails its checksum"));
  }
  c.lsn = Le64(covered.data());
  c.body = covered.substr(8);
  c.encoded_len = total;
  return std::optional<Checked>(c);
}

struct FrameHeader {
  uint8_t version = 0;
  Compression compression = Compression::kNone;
  uint64_t prev_lsn = 0;
  uint32_t database_id = kLegacyDatabaseId;
  uint32_t original_len = 0;
  absl::string_view data;
};

absl::StatusOr<FrameHeader> ParseFrame(absl::string_view body) {
  FrameHeader f;
  if (body.size() < 7) return absl::DataLossError("aiondb framed entry header is truncated");
  f.version = static_cast<uint8_t>(body[1]);
  const uint8_t comp = static_cast<uint8_t>(body[2]);
  size_t at = 3;
  switch (f.version) {
    case 1:
      break;
    case 2:
      if (body.size() < 15) return absl::DataLossError("aiondb framed v2 header is truncated");
      f.prev_lsn = Le64(body.data() + 3);
      at = 11;
      break;
    case 3:
      if (body.size() < 19) return absl::DataLossError("aiondb framed v3 header is truncated");
      f.prev_lsn = Le64(body.data() + 3);
      f.database_id = Le32(body.data() + 11);
      at = 15;
      break;
    default:
      return absl::DataLossError(
          absl::StrCat("aiondb framed entry has unknown format version ", f.version));
  }
  if (comp > 2) {
    return absl::DataLossError(absl::StrCat("aiondb framed entry has unknown compression ", comp));
  }
  f.compression = static_cast<Compression>(comp);
  f.original_len = Le32(body.data() + at);
  f.data = body.substr(at + 4);
  if (f.original_len > kMaxRecordBytes) {
    return absl::DataLossError(absl::StrCat("aiondb entry claims a record of ", f.original_len,
                                            " bytes, over the 64 MiB cap"));
  }
  if (f.compression != Compression::kNone && !f.data.empty() && f.data.size() < 4096 &&
      f.original_len / f.data.size() > kMaxDecompressionRatio) {
    return absl::DataLossError(absl::StrCat("aiondb entry claims ", f.original_len,
                                            " bytes from ", f.data.size(),
                                            ": decompression ratio over 4096"));
  }
  return f;
}

absl::StatusOr<std::string> Decompress(const FrameHeader& f) {
  std::string out;
  switch (f.compression) {
    case Compression::kNone:
      if (f.data.size() != f.original_len) {
        return absl::DataLossError(absl::StrCat("aiondb uncompressed frame holds ", f.data.size(),
                                                " bytes but says ", f.original_len));
      }
      return std::string(f.data);
    case Compression::kLz4: {
      out.resize(f.original_len);
      if (f.data.size() > static_cast<size_t>(INT32_MAX)) {
        return absl::DataLossError("aiondb lz4 frame too large");
      }
      const int n = LZ4_decompress_safe(f.data.data(), out.data(), static_cast<int>(f.data.size()),
                                        static_cast<int>(f.original_len));
      if (n < 0 || static_cast<uint32_t>(n) != f.original_len) {
        return absl::DataLossError("aiondb lz4 body does not decompress to its stated length");
      }
      return out;
    }
    case Compression::kZstd: {
      out.resize(f.original_len);
      const size_t n = ZSTD_decompress(out.data(), out.size(), f.data.data(), f.data.size());
      if (ZSTD_isError(n) || n != f.original_len) {
        return absl::DataLossError("aiondb zstd body does not decompress to its stated length");
      }
      return out;
    }
  }
  return absl::DataLossError("aiondb entry compression unknown");
}

}  // namespace

uint32_t LegacyFnv1a(absl::string_view data) {
  uint32_t h = 0x811c9dc5u;
  for (char c : data) {
    h ^= static_cast<uint8_t>(c);
    h *= 0x01000193u;
  }
  return h;
}

absl::StatusOr<std::optional<EntryHeader>> DecodeEntryHeader(absl::string_view data) {
  ASSIGN_OR_RETURN(std::optional<Checked> c, CheckFraming(data));
  if (!c) return std::optional<EntryHeader>();
  EntryHeader h{c->lsn, 0, c->encoded_len};
  if (static_cast<uint8_t>(c->body[0]) == kFrameMarker) {
    ASSIGN_OR_RETURN(FrameHeader f, ParseFrame(c->body));
    h.prev_lsn = f.prev_lsn;
  }
  return std::optional<EntryHeader>(h);
}

absl::StatusOr<std::optional<Entry>> DecodeEntry(absl::string_view data) {
  ASSIGN_OR_RETURN(std::optional<Checked> c, CheckFraming(data));
  if (!c) return std::optional<Entry>();
  Entry e;
  e.lsn = c->lsn;
  e.checksum = c->checksum;
  e.encoded_len = c->encoded_len;
  if (static_cast<uint8_t>(c->body[0]) == kFrameMarker) {
    ASSIGN_OR_RETURN(FrameHeader f, ParseFrame(c->body));
    e.framed = true;
    e.frame_version = f.version;
    e.compression = f.compression;
    e.prev_lsn = f.prev_lsn;
    e.database_id = f.database_id;
    ASSIGN_OR_RETURN(e.record, Decompress(f));
  } else {
    e.record = std::string(c->body);
  }
  if (e.record.empty()) {
    return absl::DataLossError(absl::StrCat("aiondb WAL entry at LSN ", e.lsn, " has no record"));
  }
  return std::optional<Entry>(std::move(e));
}

absl::StatusOr<std::string> EncodeEntry(uint64_t lsn, absl::string_view record,
                                        const EncodeOptions& o) {
  if (record.empty() || record.size() > kMaxRecordBytes) {
    return absl::InvalidArgumentError("aiondb record must be 1 byte to 64 MiB");
  }
  std::string compressed;
  if (o.compression == Compression::kLz4) {
    compressed.resize(LZ4_compressBound(static_cast<int>(record.size())));
    const int n = LZ4_compress_default(record.data(), compressed.data(),
                                       static_cast<int>(record.size()),
                                       static_cast<int>(compressed.size()));
    compressed.resize(n > 0 ? n : 0);
  } else if (o.compression == Compression::kZstd) {
    compressed.resize(ZSTD_compressBound(record.size()));
    const size_t n = ZSTD_compress(compressed.data(), compressed.size(), record.data(),
                                   record.size(), 1);
    compressed.resize(ZSTD_isError(n) ? 0 : n);
  }
  // As aiondb: compression is kept only when it saves more than the frame costs.
  const bool use_compression = !compressed.empty() && compressed.size() + 7 < record.size();
  std::string body;
  if (o.prev_lsn == 0 && o.database_id == kLegacyDatabaseId && !use_compression) {
    body = std::string(record);
  } else {
    body.push_back(static_cast<char>(kFrameMarker));
    body.push_back(3);
    body.push_back(static_cast<char>(use_compression ? o.compression : Compression::kNone));
    PutLe64(&body, o.prev_lsn);
    PutLe32(&body, o.database_id);
    PutLe32(&body, static_cast<uint32_t>(record.size()));
    body += use_compression ? compressed : std::string(record);
  }
  std::string covered;
  PutLe64(&covered, lsn);
  covered += body;
  std::string out;
  PutLe32(&out, static_cast<uint32_t>(covered.size() + 4));
  out += covered;
  PutLe32(&out, o.checksum == ChecksumKind::kCrc32c ? Crc32c(covered) : LegacyFnv1a(covered));
  return out;
}

}  // namespace walrep::aiondb
