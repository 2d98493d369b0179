#include "backup/backup_wal_stream.h"

#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/logging.h"
#include "agent/wal_stream_loop.h"
#include "replay/segment.h"
#include "wire/replication_commands.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

// pg_basebackup -X stream reports every second too (its default status interval is 10 s;
// a backup is short and the primary's wal_sender_timeout may be small).
constexpr absl::Duration kStatusInterval = absl::Seconds(1);

std::shared_ptr<spdlog::logger> Log() { return ModuleLogger("backup"); }

absl::Status Annotate(const absl::Status& st, absl::string_view what) {
  if (st.ok()) return st;
  return absl::Status(st.code(), absl::StrCat(what, ": ", st.message()));
}

}  // namespace

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
  ASSIGN_OR_RETURN(s->segment_size_, ReadWalSegmentSize(*s->conn_));
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
  WalStreamOptions o;
  o.status_interval = kStatusInterval;
  o.receiver_timeout =
      receiver_timeout_ == absl::InfiniteDuration() ? absl::ZeroDuration() : receiver_timeout_;
  o.stop = &stop_;
  o.end_lsn = [this] { return Lsn(end_lsn_.load()); };
  WalStreamLoop loop(*conn_, *writer_, std::move(o));
  ASSIGN_OR_RETURN(WalStreamEnd end, loop.Run());
  switch (end.kind) {
    case WalStreamEnd::Kind::kReachedEnd:
      Log()->info("backup WAL complete up to {}", writer_->flush_lsn().ToString());
      return absl::OkStatus();
    case WalStreamEnd::Kind::kStopRequested:
      return absl::CancelledError("backup WAL stream stopped");
    case WalStreamEnd::Kind::kEndOfTimeline:
    case WalStreamEnd::Kind::kPrimaryShutDown:
      break;
  }
  return absl::UnavailableError(absl::StrCat("the primary ended WAL streaming at ",
                                             writer_->write_lsn().ToString(),
                                             " before the backup's end"));
}

}  // namespace walrep
