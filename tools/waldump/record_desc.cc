#include "tools/waldump/record_desc.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "replay/rmgr_names.h"

namespace walrep::waldump {
namespace {

// PostgreSQL's forkNames[]; a fork number outside it cannot pass the decoder's block
// header checks, but is printed by number rather than trusted as an index.
const char* const kForkNames[] = {"main", "fsm", "vm", "init"};

}  // namespace

std::string LsnText(Lsn lsn) {
  return absl::StrFormat("%X/%08X", static_cast<uint32_t>(lsn.value() >> 32),
                         static_cast<uint32_t>(lsn.value()));
}

std::string FormatBlockRefs(const WalRecord& record) {
  std::string out;
  for (const WalBlockRef& b : record.blocks) {
    absl::StrAppendFormat(&out, ", blkref #%u: rel %u/%u/%u", b.id, b.spc, b.db, b.rel);
    if (b.fork != 0) {
      if (b.fork < 4) {
        absl::StrAppend(&out, " fork ", kForkNames[b.fork]);
      } else {
        absl::StrAppend(&out, " fork ", b.fork);
      }
    }
    absl::StrAppendFormat(&out, " blk %u", b.block);
    if (b.has_image) absl::StrAppend(&out, b.apply_image ? " FPW" : " FPW for WAL verification");
  }
  return out;
}

std::string FormatRecordLine(const WalRecord& record) {
  return absl::StrCat(
      absl::StrFormat("rmgr: %-11s len (rec/tot): %6u/%6u, tx: %10u, lsn: %s, prev %s, ",
                      RmgrName(record.rmid), record.tot_len - record.fpi_len, record.tot_len,
                      record.xid, LsnText(record.lsn), LsnText(record.prev)),
      "desc: ", RecordTypeName(record.rmid, record.info), " ", FormatBlockRefs(record));
}

}  // namespace walrep::waldump
