#include "replay/wal_writer.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "replay/logger.h"
#include "replay/timeline_history.h"
#include "wire/status_macros.h"

namespace walrep {

absl::StatusOr<std::unique_ptr<WalWriter>> WalWriter::Create(Options options) {
  if (options.dir.empty()) return absl::InvalidArgumentError("WAL directory is empty");
  RETURN_IF_ERROR(ValidateSegmentSize(options.segment_size));
  if (options.stage_buffer == 0 || options.stage_buffer % kDirectIoAlignment != 0 ||
      kMinSegmentSize % options.stage_buffer != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stage buffer of ", options.stage_buffer,
        " bytes: must be a multiple of ", kDirectIoAlignment, " dividing ", kMinSegmentSize));
  }
  if (options.file_ops == nullptr) options.file_ops = DefaultFileOps();
  // Synced into its parent when made here: fsynced segments in a directory whose own
  // entry is not durable can vanish with it in a power loss.
  if (options.create_dir) RETURN_IF_ERROR(CreateDirDurably(options.dir, options.file_ops));
  return std::unique_ptr<WalWriter>(new WalWriter(std::move(options)));
}

namespace {
WalDecoder::Options DecoderOptions(uint64_t segment_size) {
  WalDecoder::Options o;
  o.segment_size = segment_size;
  o.retain = false;  // constant memory whatever the record size
  return o;
}
}  // namespace

WalWriter::WalWriter(Options options)
    : options_(std::move(options)),
      ops_(options_.file_ops),
      stage_(options_.stage_buffer),
      decoder_(std::make_unique<WalDecoder>(DecoderOptions(options_.segment_size))),
      segment_size_(options_.segment_size) {}

absl::Status WalWriter::SetSegmentSize(uint64_t segment_size) {
  if (segment_size == this->segment_size()) return absl::OkStatus();
  RETURN_IF_ERROR(ValidateSegmentSize(segment_size));
  if (positioned()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the WAL segment size cannot change to ", segment_size, " bytes: ", options_.dir,
        " holds segments of ", this->segment_size()));
  }
  decoder_ = std::make_unique<WalDecoder>(DecoderOptions(segment_size));
  segment_size_.store(segment_size, std::memory_order_release);
  return absl::OkStatus();
}

absl::Status WalWriter::CompareWritten(Lsn start, absl::string_view bytes) const {
  const Lsn end = start + bytes.size();
  if (end > write_lsn()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot compare WAL up to ", end.ToString(), ": written only up to ",
        write_lsn().ToString()));
  }
  const uint64_t seg = segment_size();
  if (file_ == nullptr || SegmentNumber(start, seg) != file_segno_ ||
      (bytes.size() > 0 && SegmentNumber(Lsn(end.value() - 1), seg) != file_segno_)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "WAL from ", start.ToString(), " to ", end.ToString(),
        " is not in the open segment"));
  }
  std::string stored(bytes.size(), '\0');
  // While staged the open descriptor may be in O_DIRECT mode (aligned reads only), and
  // the newest bytes may still be in the stage: read through a descriptor of its own,
  // then lay the stage over what it read.
  File* src = file_.get();
  std::unique_ptr<File> reader;
  if (stage_.active()) {
    // Full buffers still queued for the stage's thread are not in the file yet.
    RETURN_IF_ERROR(stage_.AwaitWrites());
    ASSIGN_OR_RETURN(reader, ops_->Open(file_->path(), FileOps::OpenMode::kRead));
    src = reader.get();
  }
  size_t done = 0;
  while (done < bytes.size()) {
    ASSIGN_OR_RETURN(size_t got, src->ReadAt(start.value() % seg + done,
                                             bytes.size() - done, stored.data() + done));
    if (got == 0) {
      return absl::DataLossError(absl::StrCat(file_->path(), " ends before ",
                                              (start + done).ToString()));
    }
    done += got;
  }
  stage_.Overlay(start.value() % seg, stored.data(), stored.size());
  if (stored == bytes) return absl::OkStatus();
  size_t at = 0;
  while (stored[at] == bytes[at]) ++at;
  return absl::DataLossError(absl::StrCat(
      "WAL diverged at ", (start + at).ToString(), " on timeline ", timeline(),
      ": the primary sent bytes that differ from those already stored in ", file_->path()));
}

WalWriter::~WalWriter() {
  // The stage's thread may still be writing into file_, which is destroyed before the
  // stage (member order): wait for it first.
  stage_.Drop();
  if (file_ != nullptr && write_lsn().value() > synced_) {
    ReplayLogger().warn("WAL writer destroyed with unsynced WAL from {} to {} in {}",
                        Lsn(synced_).ToString(), write_lsn().ToString(), file_->path());
  }
}

absl::Status WalWriter::failure() const {
  absl::MutexLock lock(&mu_);
  return failure_;
}

absl::Status WalWriter::Fail(absl::Status status) {
  stage_.Drop();
  file_.reset();  // no further I/O through a descriptor whose state is unknown
  absl::Status first;
  {
    absl::MutexLock lock(&mu_);
    if (failure_.ok()) {
      failure_ = std::move(status);
      ReplayLogger().error("WAL writer failed; flush position stays at {}: {}",
                           flush_lsn().ToString(), failure_.ToString());
    }
    first = failure_;
    failed_.store(true, std::memory_order_release);
  }
  return first;
}

void WalWriter::SetFlushed(Lsn lsn, Lsn record) {
  Lsn old;
  {
    absl::MutexLock lock(&mu_);
    last_record_.store(record.value(), std::memory_order_release);
    old = Lsn(flush_lsn_.exchange(lsn.value(), std::memory_order_acq_rel));
  }
  if (lsn > old && options_.on_flush) options_.on_flush(lsn);
}

bool WalWriter::WaitForFlushBeyond(Lsn lsn, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto done = [this, lsn]() {
    return flush_lsn_.load(std::memory_order_acquire) > lsn.value() ||
           failed_.load(std::memory_order_acquire);
  };
  mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  return flush_lsn_.load(std::memory_order_acquire) > lsn.value();
}

absl::Status WalWriter::Position(TimelineId tli, Lsn start) {
  if (failed()) return failure();
  if (tli == 0) return absl::InvalidArgumentError("timeline 0 is invalid");
  RETURN_IF_ERROR(CloseSegment(/*seal=*/false));
  started_ = false;
  if (options_.recent != nullptr) options_.recent->Reset();
  const uint64_t segno = SegmentNumber(start, segment_size());
  const uint64_t offset = start.value() % segment_size();
  RETURN_IF_ERROR(OpenSegment(tli, segno, offset));
  tli_.store(tli, std::memory_order_release);
  write_lsn_.store(start.value(), std::memory_order_release);
  synced_ = start.value();  // OpenSegment synced what an earlier process wrote before it
  started_ = true;
  positioned_.store(true, std::memory_order_release);
  ReplayLogger().debug("WAL writer positioned at {} on timeline {} in {}",
                       start.ToString(), tli, file_->path());
  return absl::OkStatus();
}

absl::Status WalWriter::StartAtSegment(TimelineId tli, Lsn start) {
  if (!IsSegmentBoundary(start, segment_size())) {
    return absl::InvalidArgumentError(
        absl::StrCat(start.ToString(), " is not the start of a WAL segment"));
  }
  RETURN_IF_ERROR(Position(tli, start));
  decoder_->ResetAtPage(start);
  decoded_end_ = start;
  decoded_start_ = Lsn();
  SetFlushed(start, Lsn());
  return absl::OkStatus();
}

absl::Status WalWriter::StartAtRecord(TimelineId tli, Lsn record, Lsn prev) {
  if (record.value() % 8 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(record.ToString(), " cannot be the end of a WAL record (not aligned)"));
  }
  RETURN_IF_ERROR(SealCompletedPartial(tli, record));
  RETURN_IF_ERROR(Position(tli, record));
  decoder_->ResetAtRecord(record, prev);
  decoded_end_ = record;
  decoded_start_ = prev;
  SetFlushed(record, prev);
  return absl::OkStatus();
}

absl::Status WalWriter::Resume() {
  if (failed()) return failure();
  if (!positioned()) return absl::FailedPreconditionError("WAL writer has no position yet");
  if (!at_record_end()) {
    return StartAtSegment(timeline(), flush_lsn());  // no record seen since a fresh start
  }
  return StartAtRecord(timeline(), flush_lsn(), last_record());
}

absl::Status WalWriter::Decode(absl::string_view bytes) {
  decoder_->Feed(bytes);
  WalRecord rec;
  for (;;) {
    WalDecoder::Result r = decoder_->Next(&rec);
    if (r == WalDecoder::Result::kRecord) continue;
    if (r == WalDecoder::Result::kNeedMore) break;
    // Nothing of this chunk is written, so the records it completed do not count; the
    // stream must restart from a record the writer holds (Resume).
    started_ = false;
    return absl::DataLossError(
        absl::StrCat("received WAL does not decode (", WalStopName(decoder_->stop()), "): ",
                     decoder_->stop_message()));
  }
  decoded_end_ = decoder_->last_end();
  decoded_start_ = decoder_->last_start();
  if (system_id_.load(std::memory_order_relaxed) == 0 && decoder_->system_id() != 0) {
    system_id_.store(decoder_->system_id(), std::memory_order_release);
  }
  return absl::OkStatus();
}

SegmentStage::Source WalWriter::StageSource(uint64_t segment_start) const {
  RecentWal* recent = options_.recent;
  // Each of the stage's buffers must lie in one chunk: chunks cover aligned LSN ranges a
  // multiple of the buffer's size, and a buffer ends on a multiple of its size (segments
  // start on multiples of it).
  if (recent == nullptr || recent->chunk_size() % options_.stage_buffer != 0) return nullptr;
  const TimelineId tli = timeline();
  return [recent, segment_start, tli](uint64_t offset, size_t n) {
    RecentWal::View v = recent->ReadView(Lsn(segment_start + offset), n, tli);
    return SegmentStage::Borrowed{v.bytes, std::move(v.hold)};
  };
}

absl::Span<char> WalWriter::ReceiveSpace(Lsn start, size_t n) {
  if (options_.recent == nullptr || failed() || !started_ || start != write_lsn()) return {};
  return options_.recent->Space(start, n, timeline());
}

absl::Status WalWriter::Append(Lsn start, absl::string_view bytes) {
  if (failed()) return failure();
  if (!started_) return absl::FailedPreconditionError("WAL writer is not started");
  if (start != write_lsn()) {
    return absl::DataLossError(absl::StrCat("WAL is not continuous: received bytes at ",
                                            start.ToString(), " but the next expected is ",
                                            write_lsn().ToString()));
  }
  if (bytes.size() > UINT64_MAX - start.value()) {
    return absl::InvalidArgumentError("WAL chunk runs past the end of the LSN space");
  }
  // After a timeline switch the bytes before the decoder's position are the parent's,
  // already verified; only what lies beyond is new to it.
  const uint64_t dec = decoder_->input_lsn().value();
  if (start.value() + bytes.size() > dec) {
    const uint64_t skip = dec > start.value() ? dec - start.value() : 0;
    RETURN_IF_ERROR(Decode(bytes.substr(static_cast<size_t>(skip))));
  }
  const uint64_t seg_size = segment_size();
  while (!bytes.empty()) {
    const Lsn pos = write_lsn();
    const uint64_t segno = SegmentNumber(pos, seg_size);
    const uint64_t offset = pos.value() % seg_size;
    // Segments are closed exactly at their end, so a missing file means offset 0.
    if (file_ == nullptr) RETURN_IF_ERROR(OpenSegment(timeline(), segno, offset));
    const size_t n = static_cast<size_t>(std::min<uint64_t>(bytes.size(), seg_size - offset));
    // First into the recent ring, whose memory the stage may write from (below).
    if (options_.recent != nullptr) options_.recent->Append(pos, bytes.substr(0, n), timeline());
    if (!stage_.active() && catching_up_ && options_.layout == Layout::kArchive) {
      absl::Status s = stage_.Begin(file_.get(), offset, seg_size, StageSource(pos.value() - offset));
      if (!s.ok()) return Fail(std::move(s));
      if (!stage_.direct() && !direct_refusal_logged_) {
        direct_refusal_logged_ = true;
        ReplayLogger().info("direct I/O is not available for {}; catching up through the "
                            "page cache", file_->path());
      }
    }
    absl::Status s = stage_.active() ? stage_.Append(bytes.substr(0, n))
                                     : file_->WriteAt(offset, bytes.substr(0, n));
    if (!s.ok()) return Fail(std::move(s));
    write_lsn_.store(pos.value() + n, std::memory_order_release);
    bytes.remove_prefix(n);
    if (offset + n == seg_size) RETURN_IF_ERROR(CloseSegment(/*seal=*/true));
  }
  return absl::OkStatus();
}

absl::Status WalWriter::Flush() {
  if (failed()) return failure();
  if (stage_.active()) {
    // Caught up: the stage ends, so that commits are written by one buffered pwrite each
    // and the zero-fill below can run.
    absl::Status s = catching_up_ ? stage_.WriteOut() : stage_.End();
    if (!s.ok()) return Fail(std::move(s));
  }
  // Nothing written since the last sync (the stream paused mid-record, which is the
  // normal state: flush_lsn only moves to record ends): no fdatasync needed.
  if (file_ != nullptr && file_sparse_ && !catching_up_) {
    // Caught up in a segment created sparse: its holes are filled now, once, so that the
    // commits to come overwrite allocated blocks (see set_catching_up).
    absl::Status s = ZeroFill(*file_, write_lsn().value() % segment_size());
    if (!s.ok()) return Fail(std::move(s));
    file_sparse_ = false;
    synced_ = 0;  // the zeros must reach the disk with this Flush's fdatasync
  }
  if (file_ != nullptr && write_lsn().value() > synced_) {
    absl::Status s = file_->Sync();
    if (!s.ok()) return Fail(std::move(s));
    synced_ = write_lsn().value();
  }
  if (dir_sync_pending_) {
    absl::Status s = ops_->SyncDir(options_.dir);
    if (!s.ok()) return Fail(std::move(s));
    dir_sync_pending_ = false;
  }
  // Completed segments were fsynced when sealed, so everything below write_lsn is
  // durable; the decoder has seen exactly those bytes.
  if (decoded_end_ > flush_lsn()) SetFlushed(decoded_end_, decoded_start_);
  return absl::OkStatus();
}

absl::Status WalWriter::SwitchTimeline(TimelineId new_tli, Lsn switch_lsn) {
  if (failed()) return failure();
  if (!started_) return absl::FailedPreconditionError("WAL writer is not started");
  if (new_tli <= timeline()) {
    return absl::InvalidArgumentError(absl::StrCat("new timeline ", new_tli,
                                                   " does not follow timeline ", timeline()));
  }
  RETURN_IF_ERROR(Flush());
  const Lsn restart = switch_lsn.SegmentStart(segment_size());
  if (write_lsn() < restart) {
    return absl::FailedPreconditionError(absl::StrCat(
        "WAL written only up to ", write_lsn().ToString(), " on timeline ", timeline(),
        "; stream it to the switch point ", switch_lsn.ToString(), " first"));
  }
  Lsn at = write_lsn();
  if (at > switch_lsn) {
    // This timeline's WAL goes on past the point where the new one forked from it: the
    // new primary was promoted from behind us (an asynchronous receiver is normally ahead
    // of the standby an HA manager promotes). As pg_receivewal does, the old timeline's
    // files are left exactly as they are — its WAL past the fork stays there, restorable
    // on that timeline — and the new timeline starts at the fork in files of its own
    // name. From here on the durable position is the new timeline's, so the new primary
    // is never told of WAL it does not have.
    if (flush_lsn() > switch_lsn) {
      ReplayLogger().warn(
          "timeline {} forked from timeline {} at {}, below the WAL held on timeline {} "
          "(durable up to {}): following timeline {} from the fork; timeline {}'s WAL past "
          "it is kept in its files",
          new_tli, timeline(), switch_lsn.ToString(), timeline(), flush_lsn().ToString(),
          new_tli, timeline());
    }
    at = switch_lsn;
    const Lsn prev = flush_lsn() == switch_lsn ? last_record() : Lsn();
    decoder_->ResetAtRecord(switch_lsn, prev);
    decoded_end_ = switch_lsn;
    decoded_start_ = prev;
    SetFlushed(switch_lsn, prev);
  }
  ReplayLogger().info("timeline switch {} -> {} at {}", timeline(), new_tli,
                      switch_lsn.ToString());
  return BeginTimeline(new_tli, at);
}

absl::Status WalWriter::BeginTimeline(TimelineId new_tli, Lsn at) {
  if (failed()) return failure();
  if (!positioned()) return absl::FailedPreconditionError("WAL writer has no position yet");
  if (new_tli <= timeline()) {
    return absl::InvalidArgumentError(absl::StrCat("new timeline ", new_tli,
                                                   " does not follow timeline ", timeline()));
  }
  if (at > write_lsn()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot begin timeline ", new_tli, " at ", at.ToString(), " past the written WAL ",
        write_lsn().ToString()));
  }
  RETURN_IF_ERROR(Flush());
  RETURN_IF_ERROR(CloseSegment(/*seal=*/false));
  started_ = false;
  // What follows `at` is the new timeline's; the ring held this one's.
  if (options_.recent != nullptr) options_.recent->Reset();
  const uint64_t seg = segment_size();
  const uint64_t segno = SegmentNumber(at, seg);
  const uint64_t offset = at.value() % seg;
  std::string prefix;
  if (offset > 0) {
    // The parent's bytes before `at`, from its file of this segment.
    std::string src = SegmentPath(timeline(), segno);
    if (!ops_->FileSize(src).ok()) src = FinalPath(timeline(), segno);
    absl::StatusOr<std::unique_ptr<File>> f = ops_->Open(src, FileOps::OpenMode::kRead);
    if (!f.ok()) return Fail(f.status());
    prefix.resize(offset);
    absl::StatusOr<size_t> got = (*f)->ReadAt(0, offset, prefix.data());
    if (!got.ok()) return Fail(got.status());
    if (*got != offset) return Fail(absl::DataLossError(absl::StrCat(src, " is short")));
  }
  const std::string path = SegmentPath(new_tli, segno);
  absl::StatusOr<uint64_t> existing = ops_->FileSize(path);
  if (existing.ok()) {
    // Left by an earlier attempt at this switch, possibly without its prefix: replace it.
    absl::Status rm = ops_->Remove(path);
    if (!rm.ok()) return Fail(std::move(rm));
  }
  RETURN_IF_ERROR(CreatePaddedFile(path, prefix, /*sync=*/true));
  absl::StatusOr<std::unique_ptr<File>> f = ops_->Open(path, FileOps::OpenMode::kReadWrite);
  if (!f.ok()) return Fail(f.status());
  file_ = std::move(*f);
  file_segno_ = segno;
  file_final_ = options_.layout == Layout::kInPlace;
  tli_.store(new_tli, std::memory_order_release);
  write_lsn_.store(at.value(), std::memory_order_release);
  synced_ = at.value();  // the prefix was fsynced before its rename
  started_ = true;
  ReplayLogger().info("timeline {} begins at {} in {}", new_tli, at.ToString(), path);
  return absl::OkStatus();
}

absl::Status WalWriter::Close() {
  if (failed()) {
    file_.reset();
    return failure();
  }
  if (started_) RETURN_IF_ERROR(Flush());
  RETURN_IF_ERROR(CloseSegment(/*seal=*/false));
  started_ = false;
  return absl::OkStatus();
}

absl::Status WalWriter::WriteHistoryFile(TimelineId tli, absl::string_view content) {
  RETURN_IF_ERROR(walrep::WriteHistoryFile(options_.dir, tli, content, ops_));
  if (!options_.on_file_created) return absl::OkStatus();
  return options_.on_file_created(JoinPath(options_.dir, HistoryFileName(tli)));
}

}  // namespace walrep
