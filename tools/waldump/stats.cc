#include "tools/waldump/stats.h"

#include <cinttypes>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "replay/rmgr_names.h"

namespace walrep::waldump {
namespace {

// pg_waldump formats with printf; so does this file, so that numbers and percentages
// (glibc's rounding of %6.02f included) come out byte for byte the same.
template <typename... Args>
std::string Printf(const char* format, Args... args) {
  const int n = std::snprintf(nullptr, 0, format, args...);
  std::string out(static_cast<size_t>(n), '\0');
  std::snprintf(out.data(), out.size() + 1, format, args...);
  return out;
}

double Percent(uint64_t part, uint64_t whole) {
  return whole == 0 ? 0 : 100 * static_cast<double>(part) / static_cast<double>(whole);
}

constexpr uint8_t kRmXactId = 1;
// Transaction records use the top bit of their four for XLOG_XACT_HAS_INFO.
constexpr uint8_t kXactOpcodeBits = 0x07;

}  // namespace

void WalStats::Add(const WalRecord& record) {
  if (count_ == 0) start_ = record.lsn;
  end_ = record.end;
  ++count_;
  const uint64_t rec_len = record.tot_len - record.fpi_len;
  StatsCounts& r = rmgr_[record.rmid];
  ++r.count;
  r.rec_len += rec_len;
  r.fpi_len += record.fpi_len;
  uint8_t recid = record.info >> 4;
  if (record.rmid == kRmXactId) recid &= kXactOpcodeBits;
  StatsCounts& t = record_[record.rmid][recid];
  ++t.count;
  t.rec_len += rec_len;
  t.fpi_len += record.fpi_len;
}

std::string FormatStatsRow(const std::string& name, const StatsCounts& row,
                           const StatsCounts& totals) {
  const uint64_t tot_len = row.rec_len + row.fpi_len;
  const uint64_t total_len = totals.rec_len + totals.fpi_len;
  return Printf("%-27s %20" PRIu64 " (%6.02f) %20" PRIu64 " (%6.02f) %20" PRIu64
                " (%6.02f) %20" PRIu64 " (%6.02f)\n",
                name.c_str(), row.count, Percent(row.count, totals.count), row.rec_len,
                Percent(row.rec_len, totals.rec_len), row.fpi_len,
                Percent(row.fpi_len, totals.fpi_len), tot_len, Percent(tot_len, total_len));
}

std::string WalStats::Format(bool per_record) const {
  if (count_ == 0) return "";
  StatsCounts totals;
  for (int ri = 0; ri < 256; ++ri) {
    if (!RmgrIdIsValid(static_cast<uint8_t>(ri))) continue;
    totals.count += rmgr_[ri].count;
    totals.rec_len += rmgr_[ri].rec_len;
    totals.fpi_len += rmgr_[ri].fpi_len;
  }
  const uint64_t total_len = totals.rec_len + totals.fpi_len;

  // PostgreSQL 15 prints these two unpadded (%X/%X), unlike the record lines.
  std::string out =
      absl::StrCat("WAL statistics between ", start_.ToString(), " and ", end_.ToString(), ":\n");
  // 27 is strlen("Transaction/COMMIT_PREPARED"), 20 the digits of 2^64, 8 of "(100.00%)".
  out += Printf("%-27s %20s %8s %20s %8s %20s %8s %20s %8s\n", "Type", "N", "(%)", "Record size",
                "(%)", "FPI size", "(%)", "Combined size", "(%)");
  out += Printf("%-27s %20s %8s %20s %8s %20s %8s %20s %8s\n", "----", "-", "---", "-----------",
                "---", "--------", "---", "-------------", "---");
  for (int ri = 0; ri < 256; ++ri) {
    const uint8_t rmid = static_cast<uint8_t>(ri);
    if (!RmgrIdIsValid(rmid)) continue;
    if (!per_record) {
      // Every built-in manager gets a row, even an empty one; custom ones only if seen.
      if (RmgrIdIsCustom(rmid) && rmgr_[ri].count == 0) continue;
      out += FormatStatsRow(RmgrName(rmid), rmgr_[ri], totals);
      continue;
    }
    for (int rj = 0; rj < 16; ++rj) {
      const StatsCounts& row = record_[ri][rj];
      if (row.count == 0) continue;
      const uint8_t info = static_cast<uint8_t>(rj << 4);
      out += FormatStatsRow(absl::StrCat(RmgrName(rmid), "/", RecordTypeName(rmid, info)), row,
                            totals);
    }
  }
  out += Printf("%-27s %20s %8s %20s %8s %20s %8s %20s\n", "", "--------", "", "--------", "",
                "--------", "", "--------");
  // These percentages are of the combined total, marked [..%] to tell them apart.
  const std::string rec_pct = Printf("[%.02f%%]", Percent(totals.rec_len, total_len));
  const std::string fpi_pct = Printf("[%.02f%%]", Percent(totals.fpi_len, total_len));
  out += Printf("%-27s %20" PRIu64 " %-9s%20" PRIu64 " %-9s%20" PRIu64 " %-9s%20" PRIu64 " %-6s\n",
                "Total", count_, "", totals.rec_len, rec_pct.c_str(), totals.fpi_len,
                fpi_pct.c_str(), total_len, "[100%]");
  return out;
}

}  // namespace walrep::waldump
