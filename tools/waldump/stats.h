// pg_waldump --stats (PostgreSQL 15): record counts and sizes per resource manager, or
// with --stats=record per record type, printed as pg_waldump prints them so the two
// tables can be compared row by row.
//
// Thread-compatible (one owner).
#ifndef WALREP_TOOLS_WALDUMP_STATS_H_
#define WALREP_TOOLS_WALDUMP_STATS_H_

#include <array>
#include <cstdint>
#include <string>

#include "replay/wal_decoder.h"

namespace walrep::waldump {

struct StatsCounts {
  uint64_t count = 0;
  uint64_t rec_len = 0;  // xl_tot_len less full-page images
  uint64_t fpi_len = 0;
};

class WalStats {
 public:
  // Counts `record` (decoded in retain mode). The first record's start and the last
  // record's end bound the range the table reports.
  void Add(const WalRecord& record);

  uint64_t count() const { return count_; }
  Lsn start() const { return start_; }
  Lsn end() const { return end_; }
  const StatsCounts& rmgr(uint8_t rmid) const { return rmgr_[rmid]; }
  // `recid` is xl_info >> 4 (for Transaction records without the XLOG_XACT_HAS_INFO bit).
  const StatsCounts& record_type(uint8_t rmid, uint8_t recid) const { return record_[rmid][recid]; }

  // The table; empty when no record was counted (pg_waldump prints nothing then).
  std::string Format(bool per_record) const;

 private:
  uint64_t count_ = 0;
  Lsn start_;
  Lsn end_;
  std::array<StatsCounts, 256> rmgr_{};
  std::array<std::array<StatsCounts, 16>, 256> record_{};
};

// One table row: name, then each total with its share of `totals` in percent.
std::string FormatStatsRow(const std::string& name, const StatsCounts& row,
                           const StatsCounts& totals);

}  // namespace walrep::waldump

#endif  // WALREP_TOOLS_WALDUMP_STATS_H_
