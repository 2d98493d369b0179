#include "replay/wal_replayer.h"

#include "absl/strings/str_cat.h"
#include "replay/logger.h"
#include "replay/wal_decoder.h"
#include "replay/wal_files.h"
#include "replay/xact_record.h"

namespace walrep {

WalReplayer::WalReplayer(Options options)
    : options_(std::move(options)), segment_size_(options_.segment_size) {
  if (options_.file_ops == nullptr) options_.file_ops = DefaultFileOps();
  for (int rmid = 0; rmid < 256; ++rmid) {
    for (int type = 0; type < 16; ++type) {
      const uint8_t info = static_cast<uint8_t>(type << 4);
      // Commit records' bodies say whether a commit asks for apply feedback.
      keep_body_[BodyKind(static_cast<uint8_t>(rmid), info)] =
          rmid == kRmgrXact || options_.handler == nullptr ||
          options_.handler->NeedsBody(static_cast<uint8_t>(rmid), info);
    }
  }
}

void WalReplayer::Reset(Lsn from, Lsn prev, uint64_t segment_size) {
  absl::MutexLock replay(&replay_mu_);
  if (segment_size != 0) segment_size_ = segment_size;
  ResetLocked(from, prev, /*at_page=*/false);
}

void WalReplayer::ResetAtSegment(Lsn segment, uint64_t segment_size) {
  absl::MutexLock replay(&replay_mu_);
  if (segment_size != 0) segment_size_ = segment_size;
  ResetLocked(segment, Lsn(), /*at_page=*/true);
}

bool WalReplayer::ResetIfPast(Lsn from, Lsn prev) {
  absl::MutexLock replay(&replay_mu_);  // waits for a batch in progress
  if (apply_lsn() <= from) return false;
  ResetLocked(from, prev, /*at_page=*/false);
  return true;
}

void WalReplayer::ResetLocked(Lsn from, Lsn prev, bool at_page) {
  WalDecoder::Options dopts;
  dopts.segment_size = segment_size_;
  dopts.retain = true;
  dopts.keep_body = keep_body_;
  decoder_ = std::make_unique<WalDecoder>(dopts);
  if (at_page) {
    decoder_->ResetAtPage(from);
  } else {
    decoder_->ResetAtRecord(from, prev);
  }
  feeder_ = std::make_unique<WalFileFeeder>(options_.dir, segment_size_,
                                            options_.file_ops, options_.recent);
  chain_tli_ = 0;
  absl::MutexLock lock(&mu_);
  apply_lsn_.store(from.value(), std::memory_order_release);
  flushes_.Clear();
  cv_.SignalAll();
}

void WalReplayer::SetFailed(absl::Status status) { Fail(std::move(status)); }

void WalReplayer::Fail(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    if (!failure_.ok()) return;
    failure_ = std::move(status);
    cv_.SignalAll();
  }
  ReplayLogger().error("replay stopped at {}: {}", apply_lsn().ToString(),
                       std::string(failure().message()));
  if (options_.on_advance) options_.on_advance();
}

absl::Status WalReplayer::failure() const {
  absl::MutexLock lock(&mu_);
  return failure_;
}

void WalReplayer::Start() {
  if (thread_.joinable()) return;
  {
    absl::MutexLock lock(&mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] { Run(); });
}

void WalReplayer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    cv_.SignalAll();
    work_cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

void WalReplayer::Wake(Lsn lsn) {
  absl::MutexLock lock(&mu_);
  if (lsn.valid() && lsn.value() <= apply_lsn_.load(std::memory_order_acquire)) {
    // Already replayed (inline, by the receiver): no thread wake-up per commit, which on
    // a 2-core machine under synchronous commit costs the primary throughput.
    return;
  }
  if (lsn.valid()) flushes_.Flushed(lsn.value(), options_.now());
  work_ = true;
  work_cv_.Signal();
}

absl::Duration WalReplayer::lag() const {
  absl::MutexLock lock(&mu_);
  return flushes_.Lag(options_.durable().value(), apply_lsn_.load(std::memory_order_acquire),
                      options_.now());
}

bool WalReplayer::WaitForApply(Lsn lsn, absl::Duration timeout) const {
  absl::Time deadline = absl::Now() + timeout;
  absl::MutexLock lock(&mu_);
  while (apply_lsn_.load(std::memory_order_acquire) < lsn.value() && failure_.ok()) {
    if (cv_.WaitWithDeadline(&mu_, deadline)) break;
  }
  return apply_lsn_.load(std::memory_order_acquire) >= lsn.value();
}

void WalReplayer::Run() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      absl::Time deadline = absl::Now() + options_.tick;
      // Its own condition: apply moving (cv_, signalled per record, also by the
      // receiver's inline replay) must not wake this thread once per commit.
      while (!stop_ && !work_ && absl::Now() < deadline) {
        work_cv_.WaitWithDeadline(&mu_, deadline);
      }
      if (stop_) return;
      work_ = false;
      if (!failure_.ok()) continue;
    }
    absl::MutexLock replay(&replay_mu_);
    ReplayAvailable();
  }
}

bool WalReplayer::ReplayInline(uint64_t max_bytes) {
  if (!failure().ok()) return false;
  const Lsn durable = options_.durable();
  if (durable.value() > apply_lsn().value() + max_bytes) return false;
  if (!replay_mu_.TryLock()) return false;
  bool ok = ReplayAvailable();
  replay_mu_.Unlock();
  return ok && apply_lsn() >= durable;
}

bool WalReplayer::ReplayAvailable() {
  // Load the flush position before the timeline: the writer switches the timeline before
  // it flushes anything on it, so this never pairs new WAL with the old timeline's files.
  if (decoder_ == nullptr) return true;  // Reset() was never called: nothing to read from
  Lsn durable = options_.durable();
  if (durable <= apply_lsn()) return true;
  const TimelineId tli = options_.timeline();
  if (tli != chain_tli_) {
    absl::StatusOr<TimelineChain> chain = LoadTimelineChain(options_.dir, tli, options_.file_ops);
    if (!chain.ok()) {
      Fail(absl::Status(chain.status().code(),
                        absl::StrCat("replay cannot read the timeline history: ",
                                     chain.status().message())));
      return false;
    }
    feeder_->set_chain(*chain);
    chain_tli_ = tli;
  }
  WalDecoder& decoder = *decoder_;
  WalFileFeeder& feeder = *feeder_;
  uint64_t batch = 0;
  // apply_lsn is published every kPublishEvery records rather than after each (a lock and
  // a wake-up per 40-byte record would cost more than verifying it), at once after a
  // record a remote_apply commit waits for, and before anything that can block or stop.
  constexpr uint64_t kPublishEvery = 512;
  uint64_t unpublished = 0, feedback = 0;
  Lsn applied;
  auto publish = [&] {
    if (unpublished == 0) return;
    if (options_.handler) options_.handler->Publish();  // its accounting, then apply_lsn
    absl::MutexLock lock(&mu_);
    apply_lsn_.store(applied.value(), std::memory_order_release);
    if (feedback > 0) feedback_requests_.fetch_add(feedback, std::memory_order_acq_rel);
    flushes_.Applied(applied.value());
    cv_.SignalAll();
    unpublished = feedback = 0;
  };
  WalRecord rec;  // reused: its block list keeps its capacity
  for (;;) {
    WalDecoder::Result r = decoder.Next(&rec);
    if (r == WalDecoder::Result::kRecord) {
      absl::Status st = options_.handler ? options_.handler->Apply(rec) : absl::OkStatus();
      if (!st.ok()) {
        publish();
        Fail(absl::Status(st.code(), absl::StrCat("replay of the record at ", rec.lsn.ToString(),
                                                  " failed: ", st.message())));
        return false;
      }
      applied = rec.end;
      ++unpublished;
      const bool asks = rec.rmid == kRmgrXact && AsksForApplyFeedback(rec);
      if (asks) ++feedback;
      if (asks || unpublished >= kPublishEvery) publish();
      if (++batch % 256 == 0 && options_.on_advance) options_.on_advance();
      continue;
    }
    publish();
    if (r == WalDecoder::Result::kStop) {
      Fail(absl::DataLossError(absl::StrCat(
          "WAL at ", decoder.stop_lsn().ToString(), " failed verification after it was fsynced (",
          WalStopName(decoder.stop()), ": ", decoder.stop_message(), "); replay stopped at ",
          apply_lsn().ToString())));
      return false;
    }
    // kNeedMore: read on, up to what is durable now.
    absl::StatusOr<size_t> n = feeder.Pull(&decoder, durable);
    if (!n.ok()) {
      absl::StatusCode code = absl::IsNotFound(n.status()) ? absl::StatusCode::kDataLoss
                                                            : n.status().code();
      Fail(absl::Status(code, absl::StrCat("replay cannot read WAL at ",
                                           decoder.input_lsn().ToString(), ": ",
                                           n.status().message())));
      return false;
    }
    if (*n > 0) continue;
    // At the durable position. More may have been flushed meanwhile.
    Lsn now_durable = options_.durable();
    if (now_durable > durable && options_.timeline() == tli) {
      durable = now_durable;
      continue;
    }
    break;
  }
  if (options_.on_advance) options_.on_advance();
  return true;
}

}  // namespace walrep
