#include "replay/wal_recovery.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "replay/logger.h"
#include "replay/segment.h"
#include "replay/wal_files.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

// Whether segment `segno`'s first page continues a record over the whole segment, so
// that no record starts in it (a record larger than the segment).
absl::StatusOr<bool> ContinuedThroughout(const SegmentFile& file, uint64_t segment_size,
                                         FileOps* ops) {
  ASSIGN_OR_RETURN(std::unique_ptr<File> f, ops->Open(file.path, FileOps::OpenMode::kRead));
  char buf[kLongPageHeaderSize];
  ASSIGN_OR_RETURN(size_t got, f->ReadAt(0, sizeof(buf), buf));
  WalPageHeader h;
  if (got < sizeof(buf) || DecodePageHeader(absl::string_view(buf, got), &h) != WalStop::kNone) {
    return false;
  }
  if ((h.info & kXlpFirstIsContrecord) == 0) return false;
  const uint64_t pages = segment_size / kWalPageSize;
  const uint64_t room = segment_size - kLongPageHeaderSize - (pages - 1) * kShortPageHeaderSize;
  return h.rem_len >= room;
}

// Whether `file`'s first page is a page of segment `segno` (not a recycled file still
// holding an older segment's pages, or zeros).
absl::StatusOr<bool> HoldsItsOwnSegment(const SegmentFile& file, uint64_t segno,
                                        uint64_t segment_size, FileOps* ops) {
  ASSIGN_OR_RETURN(std::unique_ptr<File> f, ops->Open(file.path, FileOps::OpenMode::kRead));
  char buf[kLongPageHeaderSize];
  ASSIGN_OR_RETURN(size_t got, f->ReadAt(0, sizeof(buf), buf));
  WalPageHeader h;
  if (got < sizeof(buf) || DecodePageHeader(absl::string_view(buf, got), &h) != WalStop::kNone) {
    return false;
  }
  return h.pageaddr == SegmentStartLsn(segno, segment_size).value();
}

}  // namespace

absl::StatusOr<std::optional<RecoveredWal>> RecoverWal(const std::string& dir,
                                                       uint64_t segment_size,
                                                       uint64_t system_id, FileOps* ops,
                                                       bool in_place) {
  RETURN_IF_ERROR(ValidateSegmentSize(segment_size));
  absl::StatusOr<std::vector<std::string>> names = ops->ListDir(dir);
  if (absl::IsNotFound(names.status())) return std::optional<RecoveredWal>();
  if (!names.ok()) return names.status();
  TimelineId newest_tli = 0;
  for (const std::string& name : *names) {
    absl::StatusOr<WalFileName> parsed = ParseWalFileName(name, segment_size);
    if (!parsed.ok() || parsed->kind == WalFileName::Kind::kHistory) continue;
    newest_tli = std::max(newest_tli, parsed->tli);
  }
  if (newest_tli == 0) return std::optional<RecoveredWal>();
  ASSIGN_OR_RETURN(TimelineChain chain, LoadTimelineChain(dir, newest_tli, ops));
  bool found = false;
  uint64_t newest_seg = 0;
  for (const std::string& name : *names) {
    absl::StatusOr<WalFileName> parsed = ParseWalFileName(name, segment_size);
    if (!parsed.ok() || parsed->kind == WalFileName::Kind::kHistory) continue;
    bool in_chain = false;
    for (const auto& link : chain.links) in_chain |= link.tli == parsed->tli;
    if (!in_chain) continue;
    absl::StatusOr<SegmentFile> file = FindSegmentFile(dir, chain, parsed->segno, segment_size, ops);
    if (!file.ok()) continue;
    if (in_place && (!found || parsed->segno > newest_seg)) {
      ASSIGN_OR_RETURN(bool own, HoldsItsOwnSegment(*file, parsed->segno, segment_size, ops));
      if (!own) continue;  // recycled for later use, or never written
    }
    if (!found || parsed->segno > newest_seg) newest_seg = parsed->segno;
    found = true;
  }
  if (!found) return std::optional<RecoveredWal>();

  // What an earlier process wrote may still be only in the page cache: make it durable
  // before it is counted as such.
  ASSIGN_OR_RETURN(SegmentFile newest, FindSegmentFile(dir, chain, newest_seg, segment_size, ops));
  {
    ASSIGN_OR_RETURN(std::unique_ptr<File> f, ops->Open(newest.path, FileOps::OpenMode::kReadWrite));
    RETURN_IF_ERROR(f->Sync());
    RETURN_IF_ERROR(f->Close());
    RETURN_IF_ERROR(ops->SyncDir(dir));
  }

  // Start at a segment in which a record begins, one before the newest when there is
  // one: the record that crosses into the newest segment is then verified from its start.
  uint64_t first = newest_seg;
  while (first > 0) {
    absl::StatusOr<SegmentFile> prev = FindSegmentFile(dir, chain, first - 1, segment_size, ops);
    if (!prev.ok()) break;
    first -= 1;
    ASSIGN_OR_RETURN(bool throughout, ContinuedThroughout(*prev, segment_size, ops));
    if (!throughout && first < newest_seg) break;
  }

  RecoveredWal out;
  out.scan_start = SegmentStartLsn(first, segment_size);
  WalDecoder::Options opts;
  opts.segment_size = segment_size;
  opts.system_id = system_id;
  opts.retain = false;
  WalDecoder decoder(opts);
  decoder.ResetAtPage(out.scan_start);
  WalFileFeeder feeder(dir, segment_size, ops);
  feeder.set_chain(chain);
  const Lsn limit = SegmentStartLsn(newest_seg + 1, segment_size);
  out.tli = newest.tli;
  // An XLOG_SWITCH counts only once the rest of its segment is in (wal_decoder.h), yet
  // the decoder skips that padding unread. In a ".partial" it may still be the zeros the
  // file was created with rather than the primary's page headers, never fsynced, and the
  // writer then reported only the end before the switch record. Ending there makes a
  // restarted writer stream the padding again and seal the segment; ending past it
  // would leave the segment ".partial" for good, with bytes the primary never sent.
  bool unsealed_switch = false;
  Lsn switch_end, end_before_switch, record_before_switch;
  TimelineId tli_before_switch = 0;
  for (;;) {
    WalRecord rec;
    const Lsn end_before = decoder.last_end();
    const Lsn record_before = decoder.last_start();
    const TimelineId tli_before = out.tli;
    WalDecoder::Result r = decoder.Next(&rec);
    if (r == WalDecoder::Result::kRecord) {
      ++out.records;
      unsealed_switch = rec.is_switch() && feeder.current().partial;
      if (unsealed_switch) {
        switch_end = rec.end;
        end_before_switch = end_before;
        record_before_switch = record_before;
        tli_before_switch = tli_before;
      }
      out.tli = feeder.current().tli;
      continue;
    }
    if (r == WalDecoder::Result::kNeedMore) {
      absl::StatusOr<size_t> n = feeder.Pull(&decoder, limit);
      if (absl::IsNotFound(n.status())) break;  // no later segment: the end
      if (!n.ok()) return n.status();
      if (*n == 0) break;
      continue;
    }
    // kStop. Which file holds the evidence? A record crossing from a sealed segment
    // into the newest .partial, cut off there, is the torn tail, not damage.
    const uint64_t detected = decoder.consumed_lsn().value();
    const uint64_t stop_seg =
        SegmentNumber(Lsn(detected > 0 && detected % kWalPageSize == 0 ? detected - 1 : detected),
                      segment_size);
    absl::StatusOr<SegmentFile> at = FindSegmentFile(dir, chain, stop_seg, segment_size, ops);
    const bool sealed = !in_place && at.ok() && !at->partial;
    if (!sealed) {
      out.end_reason = decoder.stop();
      out.end_message = decoder.stop_message();
      break;
    }
    if (!out.corruption) {
      out.corruption = RecoveredWal::Corruption{decoder.stop_lsn(), decoder.last_end(),
                                                decoder.last_start(),
                                                absl::StrCat(WalStopName(decoder.stop()), ": ",
                                                             decoder.stop_message(), " in ",
                                                             at->path)};
      ReplayLogger().error("WAL in the complete segment {} failed verification: {}", at->path,
                           decoder.stop_message());
    }
    // Resynchronise at the next page: what follows the damage is still WAL we hold.
    const uint64_t next_page =
        decoder.stop_lsn().value() - decoder.stop_lsn().value() % kWalPageSize + kWalPageSize;
    decoder.ResetAtPage(Lsn(next_page));
  }
  out.end = decoder.last_end();
  out.last_record = decoder.last_start();
  if (unsealed_switch && out.end == switch_end) {
    out.end = end_before_switch;
    out.last_record = record_before_switch;
    out.tli = tli_before_switch;
  }
  out.system_id = decoder.system_id();
  return std::optional<RecoveredWal>(std::move(out));
}

}  // namespace walrep
