// WalDecoder over arbitrary bytes taken as WAL from a segment start: it must never crash,
// and the two modes (retain, and the constant-memory one of the receiver's flush path)
// must agree on every record and on where the WAL ends, whatever the feed split. The
// first input byte chooses the split so fuzzing explores the incremental paths. The
// records retain mode accepted, fed again as verified input with no bodies kept (replay
// reading the writer's memory), must come out the same, headers decoded alike.
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "replay/wal_decoder.h"

namespace {

struct Run {
  std::vector<walrep::WalRecord> records;
  std::vector<size_t> blocks;  // each record's block count
  walrep::WalStop stop = walrep::WalStop::kNone;
  uint64_t last_end = 0;
};

Run Decode(absl::string_view wal, uint64_t seg, bool retain, size_t chunk,
           bool verified_no_bodies = false) {
  walrep::WalDecoder::Options o;
  o.segment_size = seg;
  o.retain = retain;
  if (verified_no_bodies) o.keep_body.reset();
  walrep::WalDecoder d(o);
  d.ResetAtPage(walrep::Lsn(seg));
  Run run;
  size_t off = 0;
  for (;;) {
    walrep::WalRecord r;
    auto res = d.Next(&r);
    if (res == walrep::WalDecoder::Result::kRecord) {
      if (r.end <= r.lsn || r.end.value() > seg + off) std::abort();  // end only past fed bytes
      if (retain && r.bytes.size() != r.tot_len && !(verified_no_bodies && r.bytes.empty())) {
        std::abort();
      }
      run.blocks.push_back(r.blocks.size());
      r.bytes = {};
      r.main_data = {};
      r.blocks.clear();
      run.records.push_back(r);
      continue;
    }
    if (res == walrep::WalDecoder::Result::kNeedMore && off < wal.size()) {
      size_t n = std::min(chunk, wal.size() - off);
      d.Feed(wal.substr(off, n), verified_no_bodies);
      off += n;
      continue;
    }
    break;
  }
  run.stop = d.stop();
  run.last_end = d.last_end().value();
  return run;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const size_t chunk = 1 + data[0] * 37;
  absl::string_view wal(reinterpret_cast<const char*>(data) + 1, size - 1);
  // The segment size a long header at the start claims, when it is a valid one, so real
  // WAL in the corpus decodes; 1 MiB otherwise.
  uint64_t seg = uint64_t{1} << 20;
  if (wal.size() >= 36) {
    uint64_t claimed = 0;
    for (int i = 3; i >= 0; --i) claimed = (claimed << 8) | static_cast<uint8_t>(wal[32 + i]);
    if (claimed >= (uint64_t{1} << 20) && claimed <= (uint64_t{1} << 30) &&
        (claimed & (claimed - 1)) == 0) {
      seg = claimed;
    }
  }
  Run a = Decode(wal, seg, /*retain=*/true, wal.size() + 1);
  Run b = Decode(wal, seg, /*retain=*/false, chunk);
  // Retain mode may stop earlier, on block headers the other mode does not read.
  if (b.records.size() < a.records.size()) std::abort();
  for (size_t i = 0; i < a.records.size(); ++i) {
    if (a.records[i].lsn != b.records[i].lsn || a.records[i].end != b.records[i].end ||
        a.records[i].crc != b.records[i].crc) {
      std::abort();
    }
  }
  if (a.stop != walrep::WalStop::kBadBlockHeader &&
      (a.records.size() != b.records.size() || a.stop != b.stop || a.last_end != b.last_end)) {
    std::abort();
  }
  // Only what retain mode verified may be fed as verified input.
  const size_t checked = a.last_end > seg ? static_cast<size_t>(a.last_end - seg) : 0;
  Run c = Decode(wal.substr(0, std::min(checked, wal.size())), seg, /*retain=*/true, chunk,
                 /*verified_no_bodies=*/true);
  if (c.records.size() != a.records.size()) std::abort();
  for (size_t i = 0; i < a.records.size(); ++i) {
    const walrep::WalRecord& x = a.records[i];
    const walrep::WalRecord& y = c.records[i];
    if (x.lsn != y.lsn || x.end != y.end || x.main_data_len != y.main_data_len ||
        x.fpi_len != y.fpi_len || a.blocks[i] != c.blocks[i]) {
      std::abort();
    }
  }
  return 0;
}
