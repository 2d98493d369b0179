#include "agent/wal_stream_loop.h"

#include <algorithm>
#include <variant>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "agent/latency_histograms.h"
#include "agent/stream_failure.h"
#include "replay/segment.h"
#include "wire/replication_messages.h"
#include "wire/replication_results.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

// The loop wakes at least this often to notice a stop request.
constexpr absl::Duration kStopPoll = absl::Milliseconds(100);
// A flush batch never grows past this, so a primary that sends faster than we drain
// still gets regular acknowledgements.
constexpr uint64_t kMaxBatchBytes = 16ull << 20;
// Catching up (the primary's end of WAL more than a segment past what it sends), a
// drained socket does not end a batch: it ends at kMaxBatchBytes, or when its first byte
// has waited this long. Little waits on those acknowledgements — a walsender still in
// catch-up is not a synchronous standby yet, and a commit waiting on a streaming one that
// far behind waits for the whole backlog to arrive first — while each flush waits for
// the stage's queued direct writes and fdatasyncs (a journal commit for the blocks they
// allocated, ~8 ms here) with the walsender stalled on a full socket. Within a segment of
// the primary's end, every drained batch is flushed at once again.
constexpr absl::Duration kCatchUpFlushDelay = absl::Milliseconds(100);
// The wait slice while an apply report may be due (see WalStreamOptions::apply_pending).
constexpr absl::Duration kApplyPoll = absl::Milliseconds(1);
// How long our end of the COPY waits for the primary's ReadyForQuery.
constexpr absl::Duration kDrain = absl::Milliseconds(500);
// How long the primary has to send its end-of-timeline result after CopyDone.
constexpr absl::Duration kEndOfTimelineWait = absl::Seconds(30);

absl::Status TimedFlush(WalWriter& writer) {
  const absl::Time start = absl::Now();
  absl::Status st = writer.Flush();
  WalFsyncHistogram().Observe(absl::Now() - start);
  return st;
}

}  // namespace

WalStreamLoop::WalStreamLoop(PgConnection& conn, WalWriter& writer, WalStreamOptions options)
    : conn_(conn), writer_(writer), options_(std::move(options)),
      reported_flush_(writer.flush_lsn()) {}

absl::StatusOr<WalStreamEnd> WalStreamLoop::Run() {
  next_status_ = absl::Now();  // report our position right away
  last_receive_ = absl::Now();
  ping_sent_ = false;
  uint64_t batch = 0;
  absl::Time batch_since = absl::InfiniteFuture();  // when its first message came
  // Only this loop's reads watch the waker: what it watches (the server log's inotify
  // descriptor, besides its own eventfd) stays readable until this loop consumes it, so
  // any other read on the connection — the end of the COPY, the next timeline's
  // START_REPLICATION — would return at once, again and again.
  conn_.set_waker(options_.apply_waker);
  absl::Cleanup no_waker = [this] { conn_.set_waker(nullptr); };
  for (;;) {
    if (options_.stop->load()) return EndCopy(WalStreamEnd::Kind::kStopRequested);
    if (options_.end_lsn) {
      const Lsn end = options_.end_lsn();
      if (end.valid() && writer_.write_lsn() >= end) {
        return EndCopy(WalStreamEnd::Kind::kReachedEnd);
      }
    }
    const absl::Time now = absl::Now();
    if (now >= next_status_) {
      RETURN_IF_ERROR(FlushAndReport(true));
      batch = 0;
      RETURN_IF_ERROR(SendHotStandbyFeedback());
    }
    // Only after a wait saw the waker fired: what woke the loop is read first (its
    // advances wake the waker too: drained here, they cost no extra turn), then the
    // waker is drained, before the apply check, so that a wake after it ends the read
    // below at once. Otherwise both stay as they are (a read each, on every message).
    if (options_.apply_waker != nullptr && conn_.TakeWoken()) {
      if (options_.on_wake) options_.on_wake();
      options_.apply_waker->Drain();
    }
    RETURN_IF_ERROR(ReportApplyIfDue());
    RETURN_IF_ERROR(CheckReceiverTimeout(now));
    const absl::Duration slice = options_.apply_waker == nullptr && options_.apply_pending &&
                                         options_.apply_pending(reported_flush_)
                                     ? kApplyPoll
                                     : kStopPoll;
    // In place: the body (and the WAL in it) is used up before the next read.
    // A catch-up batch waits no longer than kCatchUpFlushDelay for more (a walsender
    // that stalled leaves it to be flushed then).
    const absl::Time batch_due =
        batch > 0 ? batch_since + kCatchUpFlushDelay : absl::InfiniteFuture();
    ASSIGN_OR_RETURN(auto msg, conn_.ReadMessageView(
                                   std::min({next_status_, absl::Now() + slice, batch_due}),
                                   &placer_));
    if (!msg) {
      if (batch > 0 && absl::Now() >= batch_due) {
        RETURN_IF_ERROR(FlushAndReport(false));
        batch = 0;
      }
      continue;
    }
    last_receive_ = absl::Now();
    ping_sent_ = false;
    if (msg->type == 'c') {
      RETURN_IF_ERROR(FlushAndReport(false));
      return FinishPrimaryCopy();
    }
    if (msg->type == 'C') {
      // A walsender that shuts down (fast or smart shutdown, switchover) ends COPY with
      // CommandComplete and exits, without CopyDone: a planned end, not an error.
      // Its socket is closing: keep what arrived (fsync), report nothing.
      RETURN_IF_ERROR(writer_.Flush());
      conn_.Close();
      return WalStreamEnd{WalStreamEnd::Kind::kPrimaryShutDown};
    }
    if (msg->type != 'd') {
      return absl::DataLossError(
          absl::StrCat("unexpected message '", std::string(1, msg->type), "' while streaming"));
    }
    ASSIGN_OR_RETURN(PrimaryMessage pm,
                     msg->placed.empty()
                         ? DecodePrimaryMessage(msg->body)
                         : absl::StatusOr<PrimaryMessage>(DecodeXLogData(msg->body, msg->placed)));
    bool reply = false;
    if (auto* x = std::get_if<XLogData>(&pm)) {
      RETURN_IF_ERROR(HandleXLogData(x->start, x->wal_end, x->data));
      if (batch == 0) batch_since = absl::Now();
      batch += x->data.size();
    } else {
      const auto& k = std::get<PrimaryKeepalive>(pm);
      if (options_.on_primary_message) options_.on_primary_message(k.wal_end, 0);
      reply = k.reply_requested;
    }
    // A batch ends when nothing more is waiting (buffered or on the socket): fsync once
    // for all of it and acknowledge right away, so a synchronous commit waits for one
    // fsync. Catching up, it ends by size or age instead (kCatchUpFlushDelay).
    const bool batch_done =
        writer_.catching_up()
            ? batch >= kMaxBatchBytes ||
                  (batch > 0 && absl::Now() - batch_since >= kCatchUpFlushDelay)
            : batch >= kMaxBatchBytes || !conn_.MoreDataReady();
    if (reply || batch_done) {
      RETURN_IF_ERROR(FlushAndReport(reply));
      batch = 0;
    }
  }
}

absl::Span<char> WalStreamLoop::RingPlacer::Place(absl::string_view head, size_t rest) {
  absl::StatusOr<XLogData> x = DecodeXLogData(head, absl::string_view());
  if (!x.ok() || x->start != writer_.write_lsn()) return {};
  return writer_.ReceiveSpace(x->start, rest);
}

absl::Status WalStreamLoop::HandleXLogData(Lsn start, Lsn wal_end, absl::string_view data) {
  if (options_.on_primary_message) {
    options_.on_primary_message(std::max(wal_end, start + data.size()), data.size());
  }
  received_wal_ = true;
  if (unacked_since_ == absl::InfiniteFuture()) unacked_since_ = absl::Now();
  // wal_end is the primary's own end of WAL: more than a segment past this message, the
  // stream is catching up (see WalWriter::set_catching_up).
  writer_.set_catching_up(wal_end.value() > start.value() + data.size() + writer_.segment_size());
  const Lsn expected = writer_.write_lsn();
  if (start < expected) {
    // Re-sent WAL (a session starts at the segment start): it must be what is stored.
    // A primary whose WAL differs below our position (restored from an older backup,
    // or a fork that reused this timeline) is refused; an archive is never rewritten.
    const uint64_t overlap = std::min<uint64_t>(expected - start, data.size());
    absl::Status same = writer_.CompareWritten(start, data.substr(0, overlap));
    if (absl::IsDataLoss(same)) return Terminal(v1::FAILURE_REASON_DIVERGED, same);
    RETURN_IF_ERROR(same);
    data.remove_prefix(overlap);
    start = start + overlap;
    if (data.empty()) return absl::OkStatus();
  }
  return writer_.Append(start, data);
}

absl::Status WalStreamLoop::FlushAndReport(bool force_report) {
  if (writer_.write_lsn() > writer_.flush_lsn()) {
    // An apply advance that came in while this batch was read goes out before its
    // fdatasync, not after it: a remote_apply commit waits on it, and under a steady
    // write load the next batch is often arriving when replay reports the last one.
    if (options_.on_wake) options_.on_wake();
    RETURN_IF_ERROR(ReportApplyIfDue());
    RETURN_IF_ERROR(TimedFlush(writer_));
  }
  // The writer's flush position is the end of a complete record inside fsynced bytes:
  // after a crash, recovery finds at least this much again, so it may be reported.
  const Lsn flushed = writer_.flush_lsn();
  const bool advanced = flushed != reported_flush_;
  // Before the status update: the engine's server starts on what is now durable while the
  // update goes out (a remote_apply commit waits on that replay, not on the update).
  if (advanced && options_.on_flushed) options_.on_flushed(flushed);
  reported_flush_ = flushed;
  if (advanced || force_report) RETURN_IF_ERROR(SendStatus(false));
  if (advanced && flushed == writer_.write_lsn() && unacked_since_ != absl::InfiniteFuture()) {
    AckLatencyHistogram().Observe(absl::Now() - unacked_since_);
    unacked_since_ = absl::InfiniteFuture();
  }
  // After the acknowledgement, not before: a synchronous commit waits on the flush.
  if (advanced && options_.on_acknowledged) options_.on_acknowledged(flushed);
  return ReportApplyIfDue();
}

absl::Status WalStreamLoop::ReportApplyIfDue() {
  if (!options_.apply_report_due || !options_.apply_report_due()) return absl::OkStatus();
  return SendStatus(false);
}

absl::Status WalStreamLoop::SendStatus(bool reply_requested) {
  StandbyStatusUpdate u;
  u.write = writer_.write_lsn();
  u.flush = reported_flush_;
  // Never past the flush position reported with it (the primary treats apply as <= flush).
  u.apply = options_.apply_lsn ? std::min(options_.apply_lsn(), reported_flush_) : Lsn();
  u.client_time = ToPostgresMicros(absl::Now());
  u.reply_requested = reply_requested;
  RETURN_IF_ERROR(conn_.SendCopyData(EncodeStandbyStatusUpdate(u)));
  if (options_.on_status_sent) options_.on_status_sent();
  next_status_ = absl::Now() + options_.status_interval;
  return absl::OkStatus();
}

absl::Status WalStreamLoop::SendHotStandbyFeedback() {
  if (!options_.hot_standby_feedback) return absl::OkStatus();
  std::optional<HotStandbyFeedback> h = options_.hot_standby_feedback();
  if (!h) return absl::OkStatus();
  h->client_time = ToPostgresMicros(absl::Now());
  return conn_.SendCopyData(EncodeHotStandbyFeedback(*h));
}

absl::Status WalStreamLoop::CheckReceiverTimeout(absl::Time now) {
  const absl::Duration timeout = options_.receiver_timeout;
  if (timeout <= absl::ZeroDuration()) return absl::OkStatus();
  const absl::Duration silent = now - last_receive_;
  if (silent >= timeout) {
    // A partition: the socket stays open while nothing passes, and a synchronous commit
    // on the primary would wait until the kernel gives up (many minutes).
    return absl::UnavailableError(absl::StrCat(
        "nothing received from the primary for ", absl::FormatDuration(silent),
        " (receiver_timeout ", absl::FormatDuration(timeout), "); reconnecting"));
  }
  if (silent >= timeout / 2 && !ping_sent_) {
    ping_sent_ = true;
    // Flush first, so the request carries the current durable position.
    if (writer_.write_lsn() > writer_.flush_lsn()) RETURN_IF_ERROR(writer_.Flush());
    reported_flush_ = writer_.flush_lsn();
    return SendStatus(/*reply_requested=*/true);
  }
  return absl::OkStatus();
}

absl::StatusOr<WalStreamEnd> WalStreamLoop::FinishPrimaryCopy() {
  conn_.set_waker(nullptr);  // see Run()
  RETURN_IF_ERROR(conn_.SendCopyDone());
  std::optional<WalStreamEnd> next;
  ResultSet rs;
  bool have_description = false;
  uint64_t consumed = 0;
  const absl::Time deadline = absl::Now() + kEndOfTimelineWait;
  for (;;) {
    if (options_.stop->load()) return absl::CancelledError("stopped at the end of a timeline");
    ASSIGN_OR_RETURN(auto msg, conn_.ReadMessage(std::min(deadline, absl::Now() + kStopPoll)));
    if (!msg) {
      if (absl::Now() >= deadline) {
        return absl::UnavailableError("timeout waiting for the end-of-timeline result");
      }
      continue;
    }
    // Late WAL ('d') after our CopyDone is discarded (the next START_REPLICATION resends
    // it) but counts, like the result, against the cap: a primary cannot keep us here.
    consumed += msg->body.size() + 5;
    if (consumed > kMaxEndOfCopyBytes) {
      return absl::DataLossError(absl::StrCat(
          "the primary sent more than ", kMaxEndOfCopyBytes,
          " bytes after the end of the COPY without finishing it"));
    }
    if (msg->type == 'T') {
      ASSIGN_OR_RETURN(rs.description, DecodeRowDescription(msg->body));
      rs.rows.clear();
      have_description = true;
    } else if (msg->type == 'D' && have_description) {
      if (rs.rows.size() >= 1) {
        return absl::DataLossError("the end-of-timeline result has more than one row");
      }
      ASSIGN_OR_RETURN(auto row, DecodeDataRow(msg->body));
      rs.rows.push_back(std::move(row));
    } else if (msg->type == 'C' && have_description && !rs.rows.empty() && !next) {
      ASSIGN_OR_RETURN(auto end, ParseEndOfTimeline(rs));
      next = WalStreamEnd{WalStreamEnd::Kind::kEndOfTimeline, end.next_timeline, end.switchpoint};
    } else if (msg->type == 'Z') {
      break;
    }
  }
  if (!next) {
    // CopyDone with no result: the walsender is shutting down (smart shutdown).
    conn_.Close();
    return WalStreamEnd{WalStreamEnd::Kind::kPrimaryShutDown};
  }
  return *next;
}

absl::StatusOr<WalStreamEnd> WalStreamLoop::EndCopy(WalStreamEnd::Kind kind) {
  absl::Status st = FlushAndReport(true);
  conn_.set_waker(nullptr);  // see Run()
  if (st.ok()) st = conn_.SendCopyDone();
  const absl::Time deadline = absl::Now() + kDrain;
  while (st.ok()) {
    auto msg = conn_.ReadMessage(deadline);
    if (!msg.ok() || !msg->has_value() || (*msg)->type == 'Z') break;
  }
  conn_.Close();
  RETURN_IF_ERROR(st);
  return WalStreamEnd{kind};
}

absl::StatusOr<uint64_t> ParseWalSegmentSize(absl::string_view text) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  uint64_t unit = 1;
  for (auto [suffix, mult] : {std::pair<absl::string_view, uint64_t>{"GB", 1ull << 30},
                              {"MB", 1ull << 20}, {"kB", 1ull << 10}, {"B", 1}}) {
    if (absl::ConsumeSuffix(&t, suffix)) {
      unit = mult;
      break;
    }
  }
  uint64_t n = 0;
  if (!absl::SimpleAtoi(t, &n) || n == 0 || n > (uint64_t{1} << 40) / unit) {
    return absl::InvalidArgumentError(absl::StrCat("wal_segment_size \"", text, "\""));
  }
  uint64_t size = n * unit;
  absl::Status st = ValidateSegmentSize(size);
  if (!st.ok()) return absl::InvalidArgumentError(st.message());
  return size;
}

absl::StatusOr<uint64_t> ReadWalSegmentSize(PgConnection& conn) {
  ASSIGN_OR_RETURN(auto show, conn.Query("SHOW wal_segment_size"));
  if (show.size() != 1 || show[0].rows.size() != 1 || show[0].rows[0].values.size() != 1 ||
      !show[0].rows[0].values[0].has_value()) {
    return absl::DataLossError("SHOW wal_segment_size: unexpected result shape");
  }
  auto size = ParseWalSegmentSize(*show[0].rows[0].values[0]);
  if (!size.ok()) return absl::DataLossError(size.status().message());
  return *size;
}

}  // namespace walrep
