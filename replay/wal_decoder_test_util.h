// What the WalDecoder tests share (wal_decoder_test.cc, wal_decoder_corrupt_test.cc):
// decoder options for 1 MiB segments, a driver that feeds WAL in pieces and collects what
// the decoder returned and where it stopped, and a varied WAL to feed it.
#ifndef WALREP_REPLAY_WAL_DECODER_TEST_UTIL_H_
#define WALREP_REPLAY_WAL_DECODER_TEST_UTIL_H_

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "replay/wal_decoder.h"
#include "replay/wal_test_builder.h"

namespace walrep::wal_decoder_testing {

inline constexpr uint64_t kSeg = uint64_t{1} << 20;

inline WalDecoder::Options Opts(bool retain = true) {
  WalDecoder::Options o;
  o.segment_size = kSeg;
  o.retain = retain;
  return o;
}

struct Decoded {
  std::vector<WalRecord> records;
  WalDecoder::Result last = WalDecoder::Result::kNeedMore;
  WalStop stop = WalStop::kNone;
  Lsn stop_lsn;
  Lsn last_end;
  std::string message;
};

// Feeds `wal` (starting at `start`, a segment boundary) in pieces of `chunk` bytes; those
// starting before offset `verified_below` as verified input (WalDecoder::Feed).
inline Decoded Decode(const std::string& wal, Lsn start, size_t chunk, bool retain = true,
                      size_t verified_below = 0) {
  WalDecoder d(Opts(retain));
  d.ResetAtRecord(start, Lsn());
  Decoded out;
  size_t off = 0;
  for (;;) {
    WalRecord r;
    WalDecoder::Result res = d.Next(&r);
    if (res == WalDecoder::Result::kRecord) {
      r.bytes = {};
      r.main_data = {};
      out.records.push_back(r);
      continue;
    }
    if (res == WalDecoder::Result::kNeedMore && off < wal.size()) {
      size_t n = std::min(chunk, wal.size() - off);
      d.Feed(absl::string_view(wal).substr(off, n), off < verified_below);
      off += n;
      continue;
    }
    out.last = res;
    break;
  }
  out.stop = d.stop();
  out.stop_lsn = d.stop_lsn();
  out.last_end = d.last_end();
  out.message = d.stop_message();
  return out;
}

// A varied WAL: small records, records spanning pages and a segment, a header split
// across a page boundary.
inline WalTestBuilder Varied(std::vector<Lsn>* starts) {
  WalTestBuilder b({.segment_size = kSeg});
  for (int i = 0; i < 50; ++i) starts->push_back(b.Add(10, 0, 700 + i, std::string(40 + i, 'a' + i % 26)));
  starts->push_back(b.Add(10, 0, 800, std::string(20000, 'x')));     // spans 3 pages
  starts->push_back(b.Add(1, 0, 801, std::string(8, 't')));
  starts->push_back(b.Add(10, 0, 802, std::string(kSeg + 5000, 'y')));  // spans a segment
  // Fill a page until exactly 8 bytes remain, so the next header is split.
  for (;;) {
    uint64_t room = kWalPageSize - b.end().value() % kWalPageSize;
    if (room == 8) break;
    if (room < 8 + 32) {
      starts->push_back(b.Add(10, 0, 803, ""));
      continue;
    }
    // A record of 26 + n bytes (short main data), n chosen so it ends 8 bytes short.
    uint64_t want = std::min<uint64_t>(room - 8, 224);
    starts->push_back(b.Add(10, 0, 804, std::string(want - 26, 'z')));
  }
  starts->push_back(b.Add(2, 0x10, 805, std::string(100, 'h')));  // header split
  // Now a header that fills the rest of its page exactly, its data on the next page.
  for (;;) {
    uint64_t room = kWalPageSize - b.end().value() % kWalPageSize;
    if (room == 24) break;
    if (room < 24 + 32) {
      starts->push_back(b.Add(10, 0, 806, ""));
      continue;
    }
    uint64_t want = std::min<uint64_t>(room - 24, 224);
    starts->push_back(b.Add(10, 0, 807, std::string(want - 26, 'w')));
  }
  starts->push_back(b.Add(10, 0, 808, std::string(300, 'f')));
  starts->push_back(b.Add(10, 0, 809, "tail"));
  return b;
}

}  // namespace walrep::wal_decoder_testing

#endif  // WALREP_REPLAY_WAL_DECODER_TEST_UTIL_H_
