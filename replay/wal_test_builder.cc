#include "replay/wal_test_builder.h"

#include <cstring>

#include "replay/wal_decoder.h"
#include "wire/crc32c.h"

namespace walrep {
namespace {

void PutLe(std::string* s, size_t off, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) (*s)[off + i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

}  // namespace

WalTestBuilder::WalTestBuilder(Options options) : opts_(options) {
  if (opts_.start == 0) opts_.start = opts_.segment_size;
}

void WalTestBuilder::StartPage(uint32_t rem_len) {
  const uint64_t lsn = opts_.start + wal_.size();
  const bool is_long = lsn % opts_.segment_size == 0;
  std::string h(is_long ? kLongPageHeaderSize : kShortPageHeaderSize, '\0');
  uint16_t info = is_long ? kXlpLongHeader : 0;
  if (rem_len > 0) info |= kXlpFirstIsContrecord;
  PutLe(&h, 0, opts_.magic, 2);
  PutLe(&h, 2, info, 2);
  PutLe(&h, 4, opts_.tli, 4);
  PutLe(&h, 8, lsn, 8);
  PutLe(&h, 16, rem_len, 4);
  if (is_long) {
    PutLe(&h, 24, opts_.system_id, 8);
    PutLe(&h, 32, opts_.segment_size, 4);
    PutLe(&h, 36, kWalPageSize, 4);
  }
  wal_ += h;
}

Lsn WalTestBuilder::AddRaw(uint8_t rmid, uint8_t info, uint32_t xid, absl::string_view body) {
  std::string rec(kRecordHeaderSize, '\0');
  const uint32_t tot = static_cast<uint32_t>(kRecordHeaderSize + body.size());
  PutLe(&rec, 0, tot, 4);
  PutLe(&rec, 4, xid, 4);
  PutLe(&rec, 8, last_.value(), 8);
  rec[16] = static_cast<char>(info);
  rec[17] = static_cast<char>(rmid);
  uint32_t crc = Crc32cExtend(kCrc32cInit, body.data(), body.size());
  crc = Crc32cFinish(Crc32cExtend(crc, rec.data(), 20));
  PutLe(&rec, 20, crc, 4);
  rec.append(body.data(), body.size());

  // Position at the record start (end_), writing a page header if it is a page start.
  wal_.resize(end_, '\0');
  if (wal_.size() % kWalPageSize == 0) StartPage(0);
  const Lsn start(opts_.start + wal_.size());
  absl::string_view left = rec;
  while (!left.empty()) {
    size_t room = kWalPageSize - wal_.size() % kWalPageSize;
    size_t n = std::min(room, left.size());
    wal_.append(left.data(), n);
    left.remove_prefix(n);
    if (!left.empty()) StartPage(static_cast<uint32_t>(left.size()));
  }
  end_ = (wal_.size() + 7) & ~size_t{7};
  last_ = start;
  return start;
}

Lsn WalTestBuilder::Add(uint8_t rmid, uint8_t info, uint32_t xid, absl::string_view main_data) {
  std::string body;
  if (main_data.size() < 256) {
    body.push_back(static_cast<char>(0xFF));  // XLR_BLOCK_ID_DATA_SHORT
    body.push_back(static_cast<char>(main_data.size()));
  } else {
    body.push_back(static_cast<char>(0xFE));  // XLR_BLOCK_ID_DATA_LONG
    std::string len(4, '\0');
    PutLe(&len, 0, main_data.size(), 4);
    body += len;
  }
  body.append(main_data.data(), main_data.size());
  if (main_data.empty()) body.clear();
  return AddRaw(rmid, info, xid, body);
}

Lsn WalTestBuilder::AddSwitch() {
  Lsn at = AddRaw(kRmgrXlog, kXlogSwitch, 0, "");
  const uint64_t seg = opts_.segment_size;
  const uint64_t seg_end = ((opts_.start + wal_.size() + seg - 1) / seg) * seg;
  // The rest of the segment: empty pages with headers, as PostgreSQL pads it.
  wal_.resize((wal_.size() + kWalPageSize - 1) / kWalPageSize * kWalPageSize, '\0');
  while (opts_.start + wal_.size() < seg_end) {
    StartPage(0);
    wal_.resize(wal_.size() + kWalPageSize - kShortPageHeaderSize, '\0');
  }
  end_ = wal_.size();
  return at;
}

std::string WalTestBuilder::PaddedToSegment() const {
  std::string out = wal_;
  const uint64_t seg = opts_.segment_size;
  uint64_t total = ((opts_.start + out.size() + seg - 1) / seg) * seg - opts_.start;
  if (total == 0) total = seg;
  out.resize(total, '\0');
  return out;
}

}  // namespace walrep
