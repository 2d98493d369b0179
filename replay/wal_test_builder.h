// WalTestBuilder: writes WAL the way PostgreSQL lays it out (page headers, long headers at
// segment starts, records MAXALIGNed and continued across pages with
// XLP_FIRST_IS_CONTRECORD / xlp_rem_len, CRC-32C, XLOG_SWITCH padding), so tests can
// produce valid WAL of any shape and then damage it on purpose. Test-only.
#ifndef WALREP_REPLAY_WAL_TEST_BUILDER_H_
#define WALREP_REPLAY_WAL_TEST_BUILDER_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "wire/lsn.h"

namespace walrep {

class WalTestBuilder {
 public:
  struct Options {
    uint64_t segment_size = uint64_t{1} << 20;
    uint64_t system_id = 7000000000000000001ull;
    uint32_t tli = 1;
    uint16_t magic = 0xD110;  // PostgreSQL 15
    uint64_t start = 0;       // a segment boundary; 0 means one segment in
  };
  explicit WalTestBuilder(Options options);

  // Appends a record with `main_data` (and no block references) and returns its start.
  Lsn Add(uint8_t rmid, uint8_t info, uint32_t xid, absl::string_view main_data);
  // Appends a record whose body after the 24-byte header is `body` verbatim.
  Lsn AddRaw(uint8_t rmid, uint8_t info, uint32_t xid, absl::string_view body);
  // An XLOG_SWITCH record; the rest of its segment becomes empty pages.
  Lsn AddSwitch();
  // Later pages carry this timeline in xlp_tli.
  void set_tli(uint32_t tli) { opts_.tli = tli; }

  // Everything written so far, from start() (a segment boundary).
  const std::string& bytes() const { return wal_; }
  Lsn start() const { return Lsn(opts_.start); }
  // End of the last record (MAXALIGNed; a segment boundary after a switch).
  Lsn end() const { return Lsn(opts_.start + end_); }
  Lsn last_record() const { return last_; }
  // The bytes padded with zeros to the end of the current segment.
  std::string PaddedToSegment() const;

 private:
  void StartPage(uint32_t rem_len);

  Options opts_;
  std::string wal_;   // wal_[i] is the byte at opts_.start + i
  uint64_t end_ = 0;  // offset of the next record
  Lsn last_;
};

}  // namespace walrep

#endif  // WALREP_REPLAY_WAL_TEST_BUILDER_H_
