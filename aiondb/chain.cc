#include "aiondb/chain.h"

#include "absl/strings/str_cat.h"
#include "wire/status_macros.h"

namespace walrep::aiondb {

absl::Status CheckNext(ChainState* s, const EntryHeader& e) {
  if (e.prev_lsn != 0 && e.prev_lsn != s->last_lsn) {
    return absl::DataLossError(absl::StrCat("aiondb entry ", e.lsn, " names ", e.prev_lsn,
                                            " as its predecessor, but the last entry is ",
                                            s->last_lsn));
  }
  if (s->last_lsn == 0) {
    // A fresh store: aiondb's writer starts at LSN 1.
    if (e.lsn != 1) {
      return absl::DataLossError(
          absl::StrCat("gap: an empty WAL store expects LSN 1, received ", e.lsn));
    }
  } else {
    const uint64_t logical = s->last_lsn + 1;
    const uint64_t byte_offset = s->last_lsn + s->last_len;
    LsnMode seen = LsnMode::kUnknown;
    if (e.lsn == logical) seen = LsnMode::kLogical;
    if (e.lsn == byte_offset) seen = LsnMode::kByteOffset;
    const bool ok = seen != LsnMode::kUnknown && (s->mode == LsnMode::kUnknown || s->mode == seen);
    if (!ok) {
      const uint64_t want = s->mode == LsnMode::kLogical      ? logical
                            : s->mode == LsnMode::kByteOffset ? byte_offset
                                                              : logical;
      return absl::DataLossError(absl::StrCat("gap: expected the entry after ", s->last_lsn,
                                              " at LSN ", want, ", received ", e.lsn));
    }
    s->mode = seen;
  }
  s->last_lsn = e.lsn;
  s->last_len = e.encoded_len;
  return absl::OkStatus();
}

absl::StatusOr<CheckedBatch> CheckWalData(const ChainState& before, const WalData& w) {
  CheckedBatch b;
  b.after = before;
  absl::string_view rest = w.entries;
  while (!rest.empty()) {
    ASSIGN_OR_RETURN(std::optional<EntryHeader> e, DecodeEntryHeader(rest));
    if (!e) return absl::DataLossError("aiondb WalData ends inside an entry");
    // Decompression is checked too: a frame that does not inflate to its length is
    // corrupt even when its checksum matches.
    ASSIGN_OR_RETURN(std::optional<Entry> full, DecodeEntry(rest.substr(0, e->encoded_len)));
    (void)full;
    RETURN_IF_ERROR(CheckNext(&b.after, *e));
    b.entries.push_back(*e);
    rest.remove_prefix(e->encoded_len);
  }
  if (b.entries.front().lsn != w.start_lsn || b.entries.back().lsn != w.end_lsn) {
    return absl::DataLossError(absl::StrCat(
        "aiondb WalData says ", w.start_lsn, "..", w.end_lsn, " but carries entries ",
        b.entries.front().lsn, "..", b.entries.back().lsn));
  }
  return b;
}

}  // namespace walrep::aiondb
