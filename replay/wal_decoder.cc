#include "replay/wal_decoder.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "replay/le_bytes.h"
#include "replay/wal_decoder_internal.h"
#include "wire/crc32c.h"

namespace walrep {

using wal_decoder_internal::LsnText;
using wal_decoder_internal::MaxAlign;

int PostgresMajorForMagic(uint16_t magic) {
  switch (magic) {
    case 0xD101: return 12;
    case 0xD106: return 13;
    case 0xD10D: return 14;
    case 0xD110: return 15;
    case 0xD113: return 16;
    case 0xD116: return 17;
    default: return 0;
  }
}

const char* WalStopName(WalStop stop) {
  switch (stop) {
    case WalStop::kNone: return "none";
    case WalStop::kEndOfWal: return "end of WAL";
    case WalStop::kBadMagic: return "bad page magic";
    case WalStop::kBadPageHeader: return "bad page header";
    case WalStop::kBadPageAddress: return "bad page address";
    case WalStop::kBadTimeline: return "bad page timeline";
    case WalStop::kBadRecordLength: return "bad record length";
    case WalStop::kBadRmgr: return "bad resource manager";
    case WalStop::kBadPrevLink: return "bad prev link";
    case WalStop::kBadCrc: return "bad record CRC";
    case WalStop::kMissingContrecord: return "missing continuation record";
    case WalStop::kBadBlockHeader: return "bad block header";
  }
  return "unknown";
}

WalDecoder::WalDecoder(Options options) : options_(options) {
  system_id_ = options_.system_id;
  ResetAtRecord(Lsn(), Lsn());
}

void WalDecoder::ResetAtRecord(Lsn lsn, Lsn prev) {
  pending_.clear();
  pos_ = input_end_ = lsn.value();
  verified_begin_ = verified_end_ = 0;
  state_ = State::kRecordStart;
  page_buf_.clear();
  last_page_tli_ = 0;
  skip_contrecord_ = false;
  rec_len_ = rec_got_ = 0;
  header_checked_ = false;
  body_.clear();
  pending_switch_ = false;
  prev_ = prev;
  prev_known_ = prev.valid();
  last_end_ = lsn;
  stop_ = WalStop::kNone;
  stop_lsn_ = Lsn();
  stop_message_.clear();
}

void WalDecoder::ResetAtPage(Lsn page) {
  ResetAtRecord(Lsn(page.value() - page.value() % kWalPageSize), Lsn());
  skip_contrecord_ = true;
}

void WalDecoder::Feed(absl::string_view bytes, bool verified) {
  if (bytes.empty()) return;
  if (verified) {
    if (verified_end_ != input_end_ || verified_end_ == verified_begin_) {
      verified_begin_ = input_end_;  // a new run
    }
    verified_end_ = input_end_ + bytes.size();
  }
  pending_.push_back(bytes);
  input_end_ += bytes.size();
}

WalDecoder::Result WalDecoder::Fail(WalStop stop, Lsn at, std::string message) {
  stop_ = stop;
  stop_lsn_ = at;
  stop_message_ = std::move(message);
  pending_.clear();
  return Result::kStop;
}

absl::string_view WalDecoder::Take(uint64_t want) {
  while (!pending_.empty() && pending_.front().empty()) pending_.erase(pending_.begin());
  if (pending_.empty() || want == 0) return {};
  absl::string_view& front = pending_.front();
  size_t n = static_cast<size_t>(std::min<uint64_t>(want, front.size()));
  absl::string_view out = front.substr(0, n);
  front.remove_prefix(n);
  pos_ += n;
  if (front.empty()) pending_.erase(pending_.begin());
  return out;
}

bool WalDecoder::ValidateHeader(Result* result) {
  const Lsn at(rec_start_);
  uint8_t rmid = static_cast<uint8_t>(header_[17]);
  bool rmid_ok = rmid <= kMaxBuiltinRmgr || (major_ >= 15 && rmid >= kMinCustomRmgr);
  if (!rmid_ok) {
    *result = Fail(WalStop::kBadRmgr, at,
                   absl::StrCat("invalid resource manager ID ", rmid, " at ", at.ToString()));
    return false;
  }
  Lsn prev(Le64(header_ + 8));
  if (prev_known_ && prev != prev_) {
    *result = Fail(WalStop::kBadPrevLink, at,
                   absl::StrCat("record with incorrect prev-link ", prev.ToString(), " at ",
                                at.ToString(), " (expected ", prev_.ToString(), ")"));
    return false;
  }
  header_checked_ = true;
  return true;
}

WalDecoder::Result WalDecoder::FinishRecord(WalRecord* record) {
  const Lsn at(rec_start_);
  uint32_t want = Le32(header_ + 20);
  uint32_t crc = want;
  if (!trim_ && !Verified(rec_start_, pos_)) {
    uint32_t payload = crc_;
    if (crc_skipped_) {
      // Begun in verified input, ended outside it: the retained bytes are all there.
      payload = Crc32cExtend(kCrc32cInit, absl::string_view(body_).substr(kRecordHeaderSize));
    }
    crc = Crc32cFinish(Crc32cExtend(payload, header_, 20));
  }
  if (crc != want) {
    return Fail(WalStop::kBadCrc, at,
                absl::StrCat("incorrect resource manager data checksum in record at ",
                             at.ToString()));
  }
  WalRecord r;
  r.lsn = at;
  r.tot_len = rec_len_;
  r.xid = Le32(header_ + 4);
  r.prev = Lsn(Le64(header_ + 8));
  r.info = static_cast<uint8_t>(header_[16]);
  r.rmid = static_cast<uint8_t>(header_[17]);
  r.crc = want;
  r.page_tli = cur_page_tli_;
  if (options_.retain) {
    std::string why;
    if (DecodeRecordBlocks(body_, major_, &r, &why, rec_len_) != WalStop::kNone) {
      return Fail(WalStop::kBadBlockHeader, at,
                  absl::StrCat("record at ", at.ToString(), ": ", why));
    }
    r.bytes = trim_ ? absl::string_view() : absl::string_view(body_);
  }
  uint64_t end = MaxAlign(pos_);
  if (r.is_switch()) {
    const uint64_t seg = options_.segment_size;
    end = (pos_ + seg - 1) / seg * seg;
  }
  r.end = Lsn(end);
  state_ = State::kRecordStart;
  rec_len_ = rec_got_ = 0;
  header_checked_ = false;
  if (end > pos_) {
    // Padding to the alignment (or, after XLOG_SWITCH, the rest of the segment) must
    // arrive before the record counts as complete: its end is where the next begins.
    done_ = std::move(r);
    pending_switch_ = true;
    state_ = State::kSkip;
    skip_until_ = end;
    return Result::kNeedMore;  // the caller loops; Next() resumes the skip
  }
  prev_ = r.lsn;
  prev_known_ = true;
  last_end_ = r.end;
  *record = std::move(r);
  return Result::kRecord;
}

bool WalDecoder::TryWholeRecord(WalRecord* record) {
  // A record that lies, with its alignment padding, in the first pending chunk and on the
  // current page — most records — is checked and returned in place: no copy of its
  // header or body, no padding state. Anything else (a record crossing a page or a chunk,
  // XLOG_SWITCH, a record that fails a check) takes the general path, which reports
  // every failure with its reason.
  while (!pending_.empty() && pending_.front().empty()) pending_.erase(pending_.begin());
  if (pending_.empty()) return false;
  absl::string_view& front = pending_.front();
  if (front.size() < kRecordHeaderSize) return false;
  const char* h = front.data();
  const uint32_t len = Le32(h);
  const uint64_t aligned = MaxAlign(len);
  const uint64_t page_end = pos_ - pos_ % kWalPageSize + kWalPageSize;
  if (len < kRecordHeaderSize || len > kMaxRecordSize || pos_ + aligned > page_end ||
      aligned > front.size()) {
    return false;
  }
  const uint8_t info = static_cast<uint8_t>(h[16]);
  const uint8_t rmid = static_cast<uint8_t>(h[17]);
  if (!(rmid <= kMaxBuiltinRmgr || (major_ >= 15 && rmid >= kMinCustomRmgr))) return false;
  if (rmid == kRmgrXlog && (info & ~kXlrInfoMask) == kXlogSwitch) return false;
  const Lsn prev(Le64(h + 8));
  if (prev_known_ && prev != prev_) return false;
  const uint32_t want = Le32(h + 20);
  if (!Verified(pos_, pos_ + len)) {
    uint32_t crc = Crc32cExtend(kCrc32cInit, absl::string_view(h + kRecordHeaderSize,
                                                               len - kRecordHeaderSize));
    if (Crc32cFinish(Crc32cExtend(crc, h, 20)) != want) return false;
  }
  WalRecord& r = *record;
  if (options_.retain) {
    std::string why;
    if (DecodeRecordBlocks(absl::string_view(h, len), major_, &r, &why) != WalStop::kNone) {
      return false;
    }
    r.bytes = absl::string_view(h, len);
  } else {
    r.blocks.clear();
    r.main_data_len = r.fpi_len = 0;
    r.origin = 0;
    r.toplevel_xid = 0;
    r.main_data = r.bytes = absl::string_view();
  }
  r.lsn = Lsn(pos_);
  r.end = Lsn(pos_ + aligned);
  r.tot_len = len;
  r.xid = Le32(h + 4);
  r.prev = prev;
  r.info = info;
  r.rmid = rmid;
  r.crc = want;
  r.page_tli = cur_page_tli_;
  front.remove_prefix(static_cast<size_t>(aligned));
  pos_ += aligned;
  prev_ = r.lsn;
  prev_known_ = true;
  last_end_ = r.end;
  return true;
}

WalDecoder::Result WalDecoder::Next(WalRecord* record) {
  if (stop_ != WalStop::kNone) return Result::kStop;
  for (;;) {
    if (state_ == State::kSkip) {
      // Skipped bytes cross page headers unparsed: after XLOG_SWITCH the rest of the
      // segment is padding, and a skipped continuation is not ours to check.
      while (pos_ < skip_until_) {
        if (Take(skip_until_ - pos_).empty()) return Result::kNeedMore;
      }
      state_ = State::kRecordStart;
      if (pending_switch_) {
        pending_switch_ = false;
        prev_ = done_.lsn;
        prev_known_ = true;
        last_end_ = done_.end;
        *record = std::move(done_);  // main_data still points into body_
        done_ = WalRecord();
        return Result::kRecord;
      }
      // A skipped continuation ends where the first record we can read begins.
      if (!skip_contrecord_) last_end_ = Lsn(pos_);
      continue;
    }
    if (pos_ % kWalPageSize == 0 || !page_buf_.empty()) {
      Result r;
      if (!ConsumePageHeader(&r)) return r;
      continue;
    }
    if (state_ == State::kRecordStart) {
      if (TryWholeRecord(record)) return Result::kRecord;
      rec_start_ = pos_;
      rec_got_ = 0;
      rec_len_ = 0;
      header_checked_ = false;
      crc_ = kCrc32cInit;
      crc_skipped_ = false;
      trim_ = false;
      body_.clear();
      state_ = State::kRecordBody;
    }
    // kRecordBody: consume up to the page end or the record end.
    const uint64_t page_end = pos_ - pos_ % kWalPageSize + kWalPageSize;
    if (rec_got_ < kRecordHeaderSize) {
      // The header may be split across pages, but its first 4 bytes (xl_tot_len) are
      // always on the first: records are MAXALIGNed and page headers are 24 or 40 bytes.
      uint64_t want = std::min<uint64_t>(kRecordHeaderSize - rec_got_, page_end - pos_);
      absl::string_view got = Take(want);
      if (got.empty()) return Result::kNeedMore;
      std::memcpy(header_ + rec_got_, got.data(), got.size());
      rec_got_ += static_cast<uint32_t>(got.size());
      if (options_.retain) body_.append(got.data(), got.size());  // header: never trimmed
      if (rec_len_ == 0 && rec_got_ >= 4) {
        uint32_t len = Le32(header_);
        if (len == 0) {
          return Fail(WalStop::kEndOfWal, Lsn(rec_start_),
                      absl::StrCat("invalid record length at ", LsnText(rec_start_),
                                   ": expected at least 24, got 0"));
        }
        if (len < kRecordHeaderSize || len > kMaxRecordSize) {
          return Fail(WalStop::kBadRecordLength, Lsn(rec_start_),
                      absl::StrCat("invalid record length at ", LsnText(rec_start_),
                                   ": expected at least 24, got ", len));
        }
        rec_len_ = len;
      }
      if (rec_got_ < kRecordHeaderSize) continue;
      Result r;
      if (!ValidateHeader(&r)) return r;
      if (options_.retain) {
        // Trimmed only when every byte up to the record's end (with the page headers it
        // can cross and its alignment padding) is verified input already fed: no CRC
        // will need the bytes left out, and no Feed() can come before the record ends.
        const uint64_t bound = rec_start_ + rec_len_ + 8 +
                               (rec_len_ / (kWalPageSize - kLongPageHeaderSize) + 1) *
                                   kLongPageHeaderSize;
        trim_ = !options_.keep_body.test(BodyKind(static_cast<uint8_t>(header_[17]),
                                                  static_cast<uint8_t>(header_[16]))) &&
                Verified(rec_start_, bound);
        kept_ = kRecordHeadersMax;
        body_.reserve(trim_ ? std::min<uint32_t>(rec_len_, kRecordHeadersMax) : rec_len_);
      }
      // A header that filled its page exactly: the next page's header comes first.
      if (rec_got_ < rec_len_ && pos_ % kWalPageSize == 0) continue;
    }
    if (rec_got_ < rec_len_) {
      const uint64_t room = kWalPageSize - pos_ % kWalPageSize;
      uint64_t want = std::min<uint64_t>(rec_len_ - rec_got_, room);
      const uint64_t got_at = pos_;
      absl::string_view got = Take(want);
      if (got.empty()) return Result::kNeedMore;
      // Verified input needs no CRC, unless the record goes on into unverified input;
      // then FinishRecord computes it from the retained bytes.
      if (trim_ || Verified(got_at, got_at + got.size())) {
        crc_skipped_ = true;
      } else {
        crc_ = Crc32cExtend(crc_, got);
      }
      if (options_.retain && !trim_) {
        body_.append(got.data(), got.size());
      } else if (options_.retain) {
        if (body_.size() == kRecordHeaderSize && kept_ == kRecordHeadersMax) {
          // Kept: only the headers, when this first piece holds them all (most records
          // that cross a page carry a full-page image: 8 KiB, of which ~60 bytes of
          // headers). Copying kRecordHeadersMax of each was 3% of a catch-up's CPU.
          size_t headers = 0;
          std::string why;
          if (DecodeBlockHeaders(got, rec_len_ - kRecordHeaderSize, major_, &scratch_, &why,
                                 &headers) == WalStop::kNone) {
            kept_ = static_cast<uint32_t>(kRecordHeaderSize + headers);
          }
        }
        const size_t room = body_.size() < kept_ ? kept_ - body_.size() : 0;
        body_.append(got.data(), std::min(got.size(), room));
      }
      rec_got_ += static_cast<uint32_t>(got.size());
      if (rec_got_ < rec_len_) continue;
    }
    Result r = FinishRecord(record);
    if (r == Result::kNeedMore && state_ == State::kSkip) continue;
    return r;
  }
}

}  // namespace walrep
