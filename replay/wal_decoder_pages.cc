// WalDecoder's page headers: the 24/40-byte header decoded (DecodePageHeader) and checked
// where the decoder meets a page boundary — magic, page address, timeline, the long
// header's identity, and the continuation rules. The decoder's class; split from
// wal_decoder.cc (records) to keep each file to one concern.
#include "replay/wal_decoder.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "replay/le_bytes.h"
#include "replay/wal_decoder_internal.h"

namespace walrep {

using wal_decoder_internal::LsnText;
using wal_decoder_internal::MaxAlign;

WalStop DecodePageHeader(absl::string_view b, WalPageHeader* out) {
  if (b.size() < kShortPageHeaderSize) return WalStop::kBadPageHeader;
  if (std::all_of(b.begin(), b.begin() + kShortPageHeaderSize,
                  [](char c) { return c == 0; })) {
    return WalStop::kEndOfWal;
  }
  WalPageHeader h;
  h.magic = Le16(b.data());
  h.info = Le16(b.data() + 2);
  h.tli = Le32(b.data() + 4);
  h.pageaddr = Le64(b.data() + 8);
  h.rem_len = Le32(b.data() + 16);
  if (PostgresMajorForMagic(h.magic) == 0) return WalStop::kBadMagic;
  if ((h.info & ~kXlpAllFlags) != 0) return WalStop::kBadPageHeader;
  if (h.is_long()) {
    if (b.size() < kLongPageHeaderSize) return WalStop::kBadPageHeader;
    h.system_id = Le64(b.data() + 24);
    h.segment_size = Le32(b.data() + 32);
    h.block_size = Le32(b.data() + 36);
    if (h.block_size != kWalPageSize) return WalStop::kBadPageHeader;
  }
  *out = h;
  return WalStop::kNone;
}

bool WalDecoder::ConsumePageHeader(Result* result) {
  const uint64_t page = pos_ - pos_ % kWalPageSize;
  // Gather the short header, then the long part if the info bits ask for it.
  while (page_buf_.size() < kShortPageHeaderSize) {
    absl::string_view got = Take(kShortPageHeaderSize - page_buf_.size());
    if (got.empty()) {
      *result = Result::kNeedMore;
      return false;
    }
    page_buf_.append(got.data(), got.size());
  }
  uint16_t info = Le16(page_buf_.data() + 2);
  const bool zero = std::all_of(page_buf_.begin(), page_buf_.end(), [](char c) { return c == 0; });
  if (!zero && (info & kXlpLongHeader) != 0) {
    while (page_buf_.size() < kLongPageHeaderSize) {
      absl::string_view got = Take(kLongPageHeaderSize - page_buf_.size());
      if (got.empty()) {
        *result = Result::kNeedMore;
        return false;
      }
      page_buf_.append(got.data(), got.size());
    }
  }
  WalPageHeader h;
  WalStop st = DecodePageHeader(page_buf_, &h);
  const Lsn at(page);
  // A record cut off by zeros ends the WAL before that record.
  const Lsn where = state_ == State::kRecordBody ? Lsn(rec_start_) : at;
  switch (st) {
    case WalStop::kNone:
      break;
    case WalStop::kEndOfWal:
      *result = Fail(st, where, absl::StrCat("zero page header at ", at.ToString()));
      return false;
    case WalStop::kBadMagic:
      *result = Fail(st, at, absl::StrCat("invalid magic number ",
                                          absl::Hex(Le16(page_buf_.data()), absl::kZeroPad4),
                                          " in WAL page at ", at.ToString()));
      return false;
    default:
      *result = Fail(st, at, absl::StrCat("invalid page header at ", at.ToString()));
      return false;
  }
  if (magic_ == 0) {
    magic_ = h.magic;
    major_ = PostgresMajorForMagic(h.magic);
  } else if (h.magic != magic_) {
    *result = Fail(WalStop::kBadMagic, at,
                   absl::StrCat("page magic changed from ", absl::Hex(magic_), " to ",
                                absl::Hex(h.magic), " at ", at.ToString()));
    return false;
  }
  const bool seg_start = page % options_.segment_size == 0;
  if (seg_start && !h.is_long()) {
    *result = Fail(WalStop::kBadPageHeader, at,
                   absl::StrCat("first page of the segment at ", at.ToString(),
                                " has no long header"));
    return false;
  }
  if (h.is_long()) {
    if (h.segment_size != options_.segment_size) {
      *result = Fail(WalStop::kBadPageHeader, at,
                     absl::StrCat("WAL segment size ", h.segment_size, " at ", at.ToString(),
                                  " differs from the expected ", options_.segment_size));
      return false;
    }
    if (system_id_ == 0) {
      system_id_ = h.system_id;
    } else if (h.system_id != system_id_) {
      *result = Fail(WalStop::kBadPageHeader, at,
                     absl::StrCat("WAL at ", at.ToString(), " is from system ", h.system_id,
                                  ", expected ", system_id_));
      return false;
    }
  }
  if (h.pageaddr != page) {
    *result = Fail(WalStop::kBadPageAddress, at,
                   absl::StrCat("unexpected pageaddr ", LsnText(h.pageaddr), " in WAL page at ",
                                at.ToString()));
    return false;
  }
  if (h.tli < last_page_tli_ ||
      (options_.max_timeline != 0 && h.tli > options_.max_timeline)) {
    *result = Fail(WalStop::kBadTimeline, at,
                   absl::StrCat("out-of-sequence timeline ID ", h.tli, " (after ", last_page_tli_,
                                ") in WAL page at ", at.ToString()));
    return false;
  }
  last_page_tli_ = h.tli;
  cur_page_tli_ = h.tli;
  page_buf_.clear();
  const uint64_t body_room = kWalPageSize - h.size();

  if (skip_contrecord_) {
    skip_contrecord_ = false;
    if ((h.info & kXlpFirstIsContrecord) != 0) {
      // The continuation of a record we have not seen: skip it, and what follows on the
      // next pages if it is longer than this page.
      uint64_t skip = MaxAlign(h.rem_len);
      state_ = State::kSkip;
      skip_until_ = pos_ + skip;
      // Continuation longer than the page: the next page's header repeats the remainder
      // and is handled as another contrecord skip.
      if (skip > body_room) {
        skip_until_ = page + kWalPageSize;
        skip_contrecord_ = true;
      }
    }
    return true;
  }

  if (state_ == State::kRecordBody) {
    const uint32_t left = rec_len_ - rec_got_;
    if ((h.info & kXlpFirstIsContrecord) == 0) {
      if ((h.info & kXlpFirstIsOverwriteContrecord) != 0) {
        // The primary crashed while writing the record we were assembling and later
        // wrote other WAL over its tail: PostgreSQL abandons it (XLOG_OVERWRITE_CONTRECORD
        // follows), and so do we. The record after it is not chained to it.
        ++aborted_records_;
        state_ = State::kRecordStart;
        rec_len_ = rec_got_ = 0;
        header_checked_ = false;
        body_.clear();
        prev_known_ = false;
        return true;
      }
      *result = Fail(WalStop::kMissingContrecord, Lsn(rec_start_),
                     absl::StrCat("there is no contrecord flag at ", at.ToString(),
                                  " for the record at ", LsnText(rec_start_)));
      return false;
    }
    if (h.rem_len != left) {
      *result = Fail(WalStop::kMissingContrecord, Lsn(rec_start_),
                     absl::StrCat("invalid contrecord length ", h.rem_len, " (expected ", left,
                                  ") at ", at.ToString(), " for the record at ",
                                  LsnText(rec_start_)));
      return false;
    }
  } else if (state_ == State::kRecordStart && (h.info & kXlpFirstIsContrecord) != 0 &&
             h.rem_len != 0) {
    *result = Fail(WalStop::kMissingContrecord, at,
                   absl::StrCat("WAL page at ", at.ToString(), " continues a record (",
                                h.rem_len, " bytes) where a new record should begin"));
    return false;
  }
  return true;
}

}  // namespace walrep
