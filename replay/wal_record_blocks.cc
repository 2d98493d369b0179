// DecodeRecordBlocks (wal_decoder.h): the block references and main-data length of an
// assembled record, as xlogreader.c's DecodeXLogRecord lays them out (WAL_FORMAT.md).
#include <string>

#include "absl/strings/str_cat.h"
#include "replay/le_bytes.h"
#include "replay/wal_decoder.h"

namespace walrep {
namespace {

// Block ids with a special meaning (xlogrecord.h).
constexpr uint8_t kMaxBlockId = 32;
constexpr uint8_t kBlockIdDataShort = 255;
constexpr uint8_t kBlockIdDataLong = 254;
constexpr uint8_t kBlockIdOrigin = 253;
constexpr uint8_t kBlockIdToplevelXid = 252;

constexpr uint8_t kBkpBlockForkMask = 0x0F;
constexpr uint8_t kBkpBlockHasImage = 0x10;
constexpr uint8_t kBkpBlockHasData = 0x20;
constexpr uint8_t kBkpBlockWillInit = 0x40;
constexpr uint8_t kBkpBlockSameRel = 0x80;

constexpr uint8_t kBkpImageHasHole = 0x01;
// 12-14: one "compressed" bit and APPLY at 0x04; 15+: APPLY at 0x02 and one bit per method.
constexpr uint8_t kBkpImageIsCompressed14 = 0x02;
constexpr uint8_t kBkpImageApply14 = 0x04;
constexpr uint8_t kBkpImageApply15 = 0x02;
constexpr uint8_t kBkpImageCompressMask15 = 0x04 | 0x08 | 0x10;

}  // namespace

WalStop DecodeRecordBlocks(absl::string_view rec, int major, WalRecord* out, std::string* why,
                           uint32_t tot_len) {
  if (rec.size() < kRecordHeaderSize) {
    *why = "record shorter than its header";
    return WalStop::kBadBlockHeader;
  }
  // Only the first bytes of a longer record: its headers must end within them.
  const bool partial = tot_len > rec.size();
  return DecodeBlockHeaders(rec.substr(kRecordHeaderSize),
                            (partial ? tot_len : rec.size()) - kRecordHeaderSize, major, out,
                            why, nullptr);
}

WalStop DecodeBlockHeaders(absl::string_view rest, uint64_t size, int major, WalRecord* out,
                           std::string* why, size_t* headers_len) {
  auto bad = [why](std::string msg) {
    *why = std::move(msg);
    return WalStop::kBadBlockHeader;
  };
  const bool partial = size > rest.size();
  const uint64_t kept_end = rest.size();
  out->blocks.clear();
  out->main_data_len = 0;
  out->fpi_len = 0;
  out->origin = 0;
  out->toplevel_xid = 0;
  const char* p = rest.data();
  uint64_t remaining = size;
  uint64_t datatotal = 0;  // bytes of images, block data and main data after the headers
  int max_id = -1;
  bool have_rel = false;
  bool seen_origin = false, seen_toplevel = false;
  auto need = [&](uint64_t n) {
    return remaining >= n && static_cast<uint64_t>(p - rest.data()) + n <= kept_end;
  };
  auto take = [&](uint64_t n) {
    const char* q = p;
    p += n;
    remaining -= n;
    return q;
  };
  while (remaining > datatotal) {
    if (!need(1)) return bad("block headers longer than any valid record's");
    uint8_t id = static_cast<uint8_t>(*take(1));
    if (id == kBlockIdDataShort) {
      if (!need(1)) return bad("truncated main-data length");
      out->main_data_len = static_cast<uint8_t>(*take(1));
      datatotal += out->main_data_len;
      break;
    }
    if (id == kBlockIdDataLong) {
      if (!need(4)) return bad("truncated main-data length");
      out->main_data_len = Le32(take(4));
      datatotal += out->main_data_len;
      break;
    }
    if (id == kBlockIdOrigin) {
      // XLogRecordAssemble writes each of these two at most once; more would also let
      // the headers grow past kRecordHeadersMax.
      if (seen_origin) return bad("origin given twice");
      seen_origin = true;
      if (!need(2)) return bad("truncated origin");
      out->origin = Le16(take(2));
      continue;
    }
    if (id == kBlockIdToplevelXid) {
      if (seen_toplevel) return bad("top-level xid given twice");
      seen_toplevel = true;
      if (!need(4)) return bad("truncated top-level xid");
      out->toplevel_xid = Le32(take(4));
      continue;
    }
    if (id > kMaxBlockId) return bad(absl::StrCat("invalid block_id ", id));
    if (static_cast<int>(id) <= max_id) return bad(absl::StrCat("out-of-order block_id ", id));
    max_id = id;
    WalBlockRef b;
    b.id = id;
    if (!need(3)) return bad("truncated block header");
    uint8_t fork_flags = static_cast<uint8_t>(*take(1));
    b.data_len = Le16(take(2));
    b.fork = fork_flags & kBkpBlockForkMask;
    b.has_image = (fork_flags & kBkpBlockHasImage) != 0;
    b.has_data = (fork_flags & kBkpBlockHasData) != 0;
    b.will_init = (fork_flags & kBkpBlockWillInit) != 0;
    if (b.has_data && b.data_len == 0) return bad("BKPBLOCK_HAS_DATA set, but no data included");
    if (!b.has_data && b.data_len != 0) {
      return bad(absl::StrCat("BKPBLOCK_HAS_DATA not set, but data length is ", b.data_len));
    }
    datatotal += b.data_len;
    if (b.has_image) {
      if (!need(5)) return bad("truncated block image header");
      b.image_len = Le16(take(2));
      b.hole_offset = Le16(take(2));
      b.bimg_info = static_cast<uint8_t>(*take(1));
      if (major >= 15) {
        b.apply_image = (b.bimg_info & kBkpImageApply15) != 0;
        b.image_compressed = (b.bimg_info & kBkpImageCompressMask15) != 0;
      } else {
        b.apply_image = (b.bimg_info & kBkpImageApply14) != 0;
        b.image_compressed = (b.bimg_info & kBkpImageIsCompressed14) != 0;
      }
      const bool has_hole = (b.bimg_info & kBkpImageHasHole) != 0;
      if (has_hole && b.image_compressed) {
        if (!need(2)) return bad("truncated block compression header");
        b.hole_length = Le16(take(2));
      } else if (has_hole) {
        b.hole_length = static_cast<uint16_t>(kWalPageSize - b.image_len);
      }
      datatotal += b.image_len;
      out->fpi_len += b.image_len;
      // The consistency checks xlogreader.c applies to images.
      if (has_hole && (b.hole_offset == 0 || b.hole_length == 0 || b.image_len == kWalPageSize)) {
        return bad("BKPIMAGE_HAS_HOLE set, but hole offset/length or image length is invalid");
      }
      if (!has_hole && (b.hole_offset != 0 || b.hole_length != 0)) {
        return bad("BKPIMAGE_HAS_HOLE not set, but hole offset or length is set");
      }
      if (b.image_compressed && b.image_len == kWalPageSize) {
        return bad("compressed image has the length of an uncompressed page");
      }
      if (!has_hole && !b.image_compressed && b.image_len != kWalPageSize) {
        return bad(absl::StrCat("uncompressed image without a hole has length ", b.image_len));
      }
    }
    if ((fork_flags & kBkpBlockSameRel) == 0) {
      if (!need(12)) return bad("truncated relation");
      const char* r = take(12);
      b.spc = Le32(r);
      b.db = Le32(r + 4);
      b.rel = Le32(r + 8);
      have_rel = true;
    } else {
      if (!have_rel) return bad("BKPBLOCK_SAME_REL set but no previous relation");
      b.spc = out->blocks.back().spc;
      b.db = out->blocks.back().db;
      b.rel = out->blocks.back().rel;
    }
    if (!need(4)) return bad("truncated block number");
    b.block = Le32(take(4));
    out->blocks.push_back(b);
  }
  if (remaining != datatotal) {
    return bad(absl::StrCat("record length ", size + kRecordHeaderSize,
                            " disagrees with its headers (", remaining, " bytes left for ",
                            datatotal, ")"));
  }
  if (headers_len != nullptr) *headers_len = static_cast<size_t>(p - rest.data());
  out->main_data = partial ? absl::string_view()
                           : absl::string_view(p + (datatotal - out->main_data_len),
                                               out->main_data_len);
  return WalStop::kNone;
}

}  // namespace walrep
