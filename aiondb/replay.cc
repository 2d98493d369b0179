#include "aiondb/replay.h"

#include "absl/strings/str_cat.h"
#include "aiondb/record_tags.h"
#include "aiondb/wal_entry.h"
#include "replay/file_ops.h"
#include "wire/status_macros.h"

namespace walrep::aiondb {

void Replayer::Start() {
  if (thread_.joinable()) return;
  {
    absl::MutexLock lock(&mu_);
    stop_ = false;
  }
  thread_ = std::thread([this] { Run(); });
}

void Replayer::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
    cv_.SignalAll();
  }
  if (thread_.joinable()) thread_.join();
}

void Replayer::Wake() {
  absl::MutexLock lock(&mu_);
  woken_ = true;
  cv_.SignalAll();
}

absl::Status Replayer::failure() const {
  absl::MutexLock lock(&mu_);
  return failure_;
}

void Replayer::Run() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      const absl::Time deadline = absl::Now() + tick_;
      while (!stop_ && !woken_) {
        if (cv_.WaitWithDeadline(&mu_, deadline)) break;
      }
      if (stop_) return;
      woken_ = false;
    }
    absl::Status st = ReplayOnce();
    absl::MutexLock lock(&mu_);
    failure_ = st;
  }
}

absl::Status Replayer::ReplayOnce() {
  const uint64_t flushed = store_->flushed_lsn();
  if (flushed <= apply_.load()) return absl::OkStatus();
  const std::vector<SegmentInfo> segs = store_->Segments();
  size_t i = 0;
  while (i < segs.size() && segs[i].sequence < seq_) ++i;
  bool advanced = false;
  for (; i < segs.size(); ++i) {
    const SegmentInfo& s = segs[i];
    if (s.sequence != seq_) {
      seq_ = s.sequence;
      offset_ = s.entry_offset;
    }
    // Only fsynced bytes: what is still being written may be half there. A file not yet
    // wholly durable is not left for the next one.
    if (offset_ >= s.durable_end) {
      if (s.durable_end < s.end) break;
      continue;
    }
    ASSIGN_OR_RETURN(std::unique_ptr<File> f, DefaultFileOps()->Open(s.path, FileOps::OpenMode::kRead));
    std::string data(s.durable_end - offset_, '\0');
    size_t got = 0;
    while (got < data.size()) {
      ASSIGN_OR_RETURN(size_t n, f->ReadAt(offset_ + got, data.size() - got, data.data() + got));
      if (n == 0) break;
      got += n;
    }
    data.resize(got);
    absl::string_view rest(data);
    while (!rest.empty()) {
      ASSIGN_OR_RETURN(std::optional<Entry> e, DecodeEntry(rest));
      if (!e || e->lsn > flushed) break;  // not durable yet
      if (e->lsn > apply_.load()) {
        const uint8_t tag = static_cast<uint8_t>(e->record[0]);
        if (RecordTagName(tag).empty()) {
          return absl::DataLossError(absl::StrCat("aiondb entry ", e->lsn,
                                                  " holds a record of unknown tag ", tag));
        }
        WalRecord r;
        r.lsn = Lsn(e->lsn);
        r.end = Lsn(e->lsn);
        r.prev = Lsn(e->prev_lsn);
        r.tot_len = static_cast<uint32_t>(e->record.size());
        r.info = tag;
        r.main_data_len = r.tot_len;
        r.main_data = e->record;
        r.bytes = e->record;
        RETURN_IF_ERROR(handler_->Apply(r));
        apply_.store(e->lsn);
        records_.fetch_add(1);
        bytes_.fetch_add(e->record.size());
        advanced = true;
      }
      offset_ += e->encoded_len;
      rest.remove_prefix(e->encoded_len);
    }
    if (offset_ < s.durable_end || s.durable_end < s.end) break;  // more to come here
  }
  if (advanced && on_advance_) on_advance_();
  return absl::OkStatus();
}

}  // namespace walrep::aiondb
