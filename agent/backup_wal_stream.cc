#include "agent/backup_wal_stream.h"

#include <unistd.h>

#include <algorithm>
#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/logging.h"
#include "replay/segment.h"
#include "wire/replication_commands.h"
#include "wire/replication_messages.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

// pg_basebackup -X stream reports every second too (its default status interval is 10 s;
// a backup is short and the primary's wal_sender_timeout may be small).
constexpr absl::Duration kStatusInterval = absl::Seconds(1);
// The loop wakes at least this often to notice Stop().
constexpr absl::Duration kPoll = absl::Milliseconds(100);
constexpr absl::Duration kDrain = absl::Seconds(2);

std::shared_ptr<spdlog::logger> Log() { return ModuleLogger("backup"); }

absl::Status Annotate(const absl::Status& st, absl::string_view what) {
  if (st.ok()) return st;
  return absl::Status(st.code(), absl::StrCat(what, ": ", st.message()));
}

}  // namespace

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

absl::StatusOr<std::unique_ptr<BackupWalStream>> BackupWalStream::Open(
    const ConnInfo& conninfo, const ConnectionOptions& options) {
  std::unique_ptr<BackupWalStream> s(new BackupWalStream());
  ASSIGN_OR_RETURN(s->conn_, PgConnection::Connect(conninfo, options));
  s->server_version_num_ = s->conn_->server_version_num();
  if (s->server_version_num_ < kMinServerVersionNum) {
    return absl::FailedPreconditionError(absl::StrCat(
        "server version ", s->conn_->parameter("server_version"), " is older than 12"));
  }
  ASSIGN_OR_RETURN(auto ident, s->conn_->Query(IdentifySystemCommand()));
  if (ident.size() != 1) return absl::DataLossError("IDENTIFY_SYSTEM returned no row");
  ASSIGN_OR_RETURN(s->identity_, ParseIdentifySystem(ident[0]));
  ASSIGN_OR_RETURN(auto show, s->conn_->Query("SHOW wal_segment_size"));
  if (show.size() != 1 || show[0].rows.size() != 1 || show[0].rows[0].values.size() != 1 ||
      !show[0].rows[0].values[0].has_value()) {
    return absl::DataLossError("SHOW wal_segment_size: unexpected result shape");
  }
  auto size = ParseWalSegmentSize(*show[0].rows[0].values[0]);
  if (!size.ok()) return absl::DataLossError(size.status().message());
  s->segment_size_ = *size;
  // Unique per primary session, as pg_basebackup's "pg_basebackup_<pid>".
  s->slot_ = absl::StrCat("walrep_backup_", s->conn_->backend_pid(), "_", getpid());
  CreatePhysicalSlotOptions slot_options;
  slot_options.temporary = true;
  slot_options.reserve_wal = true;
  ASSIGN_OR_RETURN(std::string create,
                   CreatePhysicalSlotCommand(s->slot_, slot_options, s->server_version_num_));
  auto created = s->conn_->Query(create);
  if (!created.ok()) return Annotate(created.status(), "creating the temporary slot");
  return s;
}

BackupWalStream::~BackupWalStream() { Stop(); }

absl::Status BackupWalStream::Start(const std::string& wal_dir, TimelineId tli, Lsn start) {
  WalWriter::Options wopts;
  wopts.dir = wal_dir;
  wopts.segment_size = segment_size_;
  wopts.layout = WalWriter::Layout::kInPlace;
  ASSIGN_OR_RETURN(writer_, WalWriter::Create(wopts));
  tli_ = tli;
  start_ = start.SegmentStart(segment_size_);
  if (tli > 1) {
    // A standby started from this backup needs the timeline's history to follow it.
    ASSIGN_OR_RETURN(std::string cmd, TimelineHistoryCommand(tli));
    ASSIGN_OR_RETURN(auto rs, conn_->Query(cmd));
    if (rs.size() != 1) return absl::DataLossError("TIMELINE_HISTORY returned no row");
    ASSIGN_OR_RETURN(auto history, ParseTimelineHistory(rs[0], tli));
    RETURN_IF_ERROR(writer_->WriteHistoryFile(tli, history.content));
  }
  RETURN_IF_ERROR(writer_->StartAtSegment(tli, start_));
  StartReplicationOptions ro{slot_, start_, tli};
  ASSIGN_OR_RETURN(std::string cmd, StartPhysicalReplicationCommand(ro));
  char kind = 0;
  ASSIGN_OR_RETURN(auto pre, conn_->StartCopy(cmd, &kind));
  if (kind != 'W') return absl::DataLossError("START_REPLICATION did not enter COPY BOTH mode");
  Log()->info("streaming backup WAL from {} on timeline {} via temporary slot {}",
              start_.ToString(), tli, slot_);
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void BackupWalStream::SetEndLsn(Lsn end) { end_lsn_.store(end.value()); }

bool BackupWalStream::WaitDone(absl::Duration timeout) {
  if (!thread_.joinable()) return true;
  return done_.WaitForNotificationWithTimeout(timeout);
}

absl::Status BackupWalStream::result() const {
  absl::MutexLock lock(&mu_);
  return result_;
}

Lsn BackupWalStream::flush_lsn() const { return writer_ ? writer_->flush_lsn() : Lsn(); }

void BackupWalStream::Stop() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  if (conn_ && conn_->is_open()) conn_->Close();
}

void BackupWalStream::Run() {
  absl::Status st = Stream();
  if (st.ok()) st = writer_->Close();  // fsyncs the last segment
  if (!st.ok() && !stop_.load()) Log()->error("backup WAL stream: {}", st.message());
  if (conn_->is_open()) conn_->Close();  // ends the session: the temporary slot goes too
  {
    absl::MutexLock lock(&mu_);
    result_ = st;
  }
  done_.Notify();
}

absl::Status BackupWalStream::Stream() {
  next_status_ = absl::Now();
  for (;;) {
    if (stop_.load()) return absl::CancelledError("backup WAL stream stopped");
    Lsn end(end_lsn_.load());
    if (end.valid() && writer_->write_lsn() >= end) {
      RETURN_IF_ERROR(writer_->Flush());
      RETURN_IF_ERROR(SendStatus(false));
      Log()->info("backup WAL complete up to {}", writer_->flush_lsn().ToString());
      return FinishCopy();
    }
    if (absl::Now() >= next_status_) RETURN_IF_ERROR(SendStatus(false));
    ASSIGN_OR_RETURN(auto msg, conn_->ReadMessage(std::min(next_status_, absl::Now() + kPoll)));
    if (!msg) continue;
    if (msg->type == 'c') {
      return absl::UnavailableError(absl::StrCat(
          "the primary ended WAL streaming at ", writer_->write_lsn().ToString(),
          " before the backup's end"));
    }
    if (msg->type != 'd') {
      return absl::DataLossError(absl::StrCat("unexpected message '", std::string(1, msg->type),
                                              "' while streaming backup WAL"));
    }
    ASSIGN_OR_RETURN(PrimaryMessage pm, DecodePrimaryMessage(msg->body));
    if (auto* x = std::get_if<XLogData>(&pm)) {
      Lsn expected = writer_->write_lsn();
      Lsn start = x->start;
      absl::string_view data = x->data;
      if (start + data.size() <= expected) continue;
      if (start < expected) {
        data.remove_prefix(expected - start);
        start = expected;
      }
      RETURN_IF_ERROR(writer_->Append(start, data));
      // One fsync per batch of buffered messages, not per message.
      if (!conn_->HasBufferedMessage()) RETURN_IF_ERROR(writer_->Flush());
    } else if (std::get<PrimaryKeepalive>(pm).reply_requested) {
      RETURN_IF_ERROR(writer_->Flush());
      RETURN_IF_ERROR(SendStatus(false));
    }
  }
}

absl::Status BackupWalStream::SendStatus(bool reply_requested) {
  StandbyStatusUpdate u;
  u.write = writer_->write_lsn();
  u.flush = writer_->flush_lsn();
  u.apply = Lsn();  // nothing is replayed here, as with pg_receivewal
  u.client_time = ToPostgresMicros(absl::Now());
  u.reply_requested = reply_requested;
  RETURN_IF_ERROR(conn_->SendCopyData(EncodeStandbyStatusUpdate(u)));
  next_status_ = absl::Now() + kStatusInterval;
  return absl::OkStatus();
}

absl::Status BackupWalStream::FinishCopy() {
  RETURN_IF_ERROR(conn_->SendCopyDone());
  // The primary answers with CopyDone and ReadyForQuery; late WAL in between is dropped.
  absl::Time deadline = absl::Now() + kDrain;
  for (;;) {
    auto msg = conn_->ReadMessage(deadline);
    if (!msg.ok() || !msg->has_value() || (*msg)->type == 'Z') break;
  }
  conn_->Close();
  return absl::OkStatus();
}

}  // namespace walrep
