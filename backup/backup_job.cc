#include "backup/backup_job.h"


#include <algorithm>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "backup/backup_end_reader.h"
#include "backup/backup_request.h"
#include "backup/backup_stream_reader.h"
#include "backup/compression.h"
#include "backup/extracting_sink.h"
#include "backup/recovery_conf.h"
#include "backup/tar_file_sink.h"
#include "backup/backup_target.h"
#include "backup/backup_wal_stream.h"
#include "agent/logging.h"
#include "backup/extractor.h"
#include "backup/incomplete.h"
#include "backup/manifest.h"
#include "backup/manifest_verifier.h"
#include "wire/backend_query.h"
#include "wire/cancel_token.h"
#include "wire/replication_commands.h"
#include "wire/replication_results.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

constexpr absl::Duration kPoll = absl::Milliseconds(100);
constexpr absl::Duration kProgressInterval = absl::Seconds(1);
// PostgreSQL sends archive CopyData in pieces of at most a few hundred kB; anything far
// bigger is not a server we know and would only cost memory.
constexpr size_t kMaxBackupCopyData = size_t{4} << 20;
// Waiting for BASE_BACKUP's first answer includes the primary's checkpoint, which may be
// spread over minutes.
constexpr absl::Duration kStartTimeout = absl::Minutes(30);
// How often the cancellation watcher asks the caller whether to stop; with the token it
// fires, this is most of the time a cancel takes to reach every wait.
constexpr absl::Duration kCancelPoll = absl::Milliseconds(20);

std::shared_ptr<spdlog::logger> Log() { return ModuleLogger("backup"); }

absl::Status Annotate(const absl::Status& st, absl::string_view what) {
  if (st.ok()) return st;
  return absl::Status(st.code(), absl::StrCat(what, ": ", st.message()));
}

// The extractor reports file-system errors with the codes of replay/errno_status.h; two
// of them mean something else to this API: an existing path in the way is the caller's
// precondition, a missing one an internal inconsistency (we just created its parent). A
// full disk (ResourceExhausted) or a refused write (PermissionDenied) passes unchanged.
absl::Status MapError(const absl::Status& st) {
  switch (st.code()) {
    case absl::StatusCode::kAlreadyExists:
      return absl::FailedPreconditionError(st.message());
    case absl::StatusCode::kNotFound:
      return absl::InternalError(st.message());
    default:
      return st;
  }
}

class Job {
 public:
  Job(const v1::FetchBaseBackupRequest& req, std::string target, const BaseBackupContext& ctx)
      : req_(req), target_(std::move(target)), ctx_(ctx) {}

  absl::StatusOr<v1::BaseBackupResult> Run();

 private:
  // Also fires the token, so that every wait of the connections (and the fsync pass)
  // ends too.
  absl::Status CheckCancelled() {
    // The caller's cancellation is polled by the watcher in Run (asking gRPC costs a
    // futex each time: not once per CopyData message), which fires the token.
    if (aborted_) {
      cancel_.Cancel();
      return absl::CancelledError("the progress receiver went away");
    }
    return cancel_.cancelled() ? absl::CancelledError("backup cancelled") : absl::OkStatus();
  }
  // `refresh` reads the counters of the reader and extractor; not while a Blocking() helper
  // thread may be using them.
  void Report(v1::BackupPhase phase, bool force, bool refresh = true) {
    absl::Time now = absl::Now();
    if (!force && phase == progress_.phase() && now < next_report_) return;
    progress_.set_phase(phase);
    if (refresh && reader_) progress_.set_bytes_done(reader_->bytes_done());
    if (refresh) progress_.set_files_done(files_done());
    if (refresh && reader_) progress_.set_tablespaces_done(reader_->archives_done());
    next_report_ = now + kProgressInterval;
    if (ctx_.on_progress && !ctx_.on_progress(progress_)) aborted_ = true;
  }
  // Runs `fn` (which owns whatever it touches until it returns) on a helper thread, always
  // joined, while this thread keeps reporting `phase` every second: the primary's
  // checkpoint and the fsync pass can each take longer than a progress interval.
  template <typename Fn>
  auto Blocking(v1::BackupPhase phase, Fn fn) -> decltype(fn()) {
    std::optional<decltype(fn())> out;
    absl::Notification done;
    std::thread worker([&] {
      out.emplace(fn());
      done.Notify();
    });
    while (!done.WaitForNotificationWithTimeout(kPoll)) {
      Report(phase, false, /*refresh=*/false);
      if (aborted_) cancel_.Cancel();  // the worker's waits end; it returns Cancelled
    }
    worker.join();
    return std::move(*out);
  }
  uint64_t files_done() const {
    if (extractor_) return extractor_->files_written();
    return tar_sink_ != nullptr ? tar_sink_->files_seen() : 0;
  }
  absl::Status CreateSink();
  absl::Status FinishPlain(const BaseBackupOptions& options, const ConnInfo& conninfo);
  absl::Status FinishTar(const BaseBackupOptions& options);
  absl::Status Stream(PgConnection& conn);
  // After BASE_BACKUP: where the WAL stream must get to (wal_end_).
  absl::Status ReadWalEnd(PgConnection& conn);
  absl::Status WaitForWal();
  absl::Status Verify(const BackupPosition& start, const BackupPosition& end);

  const v1::FetchBaseBackupRequest& req_;
  const std::string target_;
  const BaseBackupContext& ctx_;
  // Fired on cancellation (by the watcher in Run or by CheckCancelled); watched by both
  // connections and the extractor's fsync pass. Declared first: it outlives them all.
  CancelToken cancel_;
  v1::BackupProgress progress_;
  absl::Time next_report_;
  bool aborted_ = false;
  std::unique_ptr<BackupWalStream> wal_;
  ManifestVerifier verifier_;  // outlives the extractor that feeds it
  OutputChoice output_;
  std::unique_ptr<BackupExtractor> extractor_;  // plain format
  UniqueFd target_fd_;                          // tar format
  std::unique_ptr<ArchiveSink> sink_;
  TarFileSink* tar_sink_ = nullptr;  // sink_ in tar format
  std::unique_ptr<BackupStreamReader> reader_;
  std::optional<BackupPosition> end_;
  // Where the WAL stream stops: the primary's WAL position once the backup ended.
  Lsn wal_end_;
  bool manifest_verified_ = false;
  std::string recovery_lines_;  // write_recovery_conf: what goes into postgresql.auto.conf
};

absl::StatusOr<v1::BaseBackupResult> Job::Run() {
  auto conninfo = ConnInfo::Parse(req_.conninfo());
  if (req_.conninfo().empty() || !conninfo.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "conninfo: ", conninfo.ok() ? "required" : conninfo.status().message()));
  }
  ASSIGN_OR_RETURN(output_, ChooseOutput(req_));
  ASSIGN_OR_RETURN(BaseBackupOptions options, CommandOptions(req_, output_));
  // The caller's cancellation (gRPC, StopReplica, SIGTERM) is a polled predicate; this
  // thread turns it into the token while the job's own thread may be blocked anywhere —
  // in a host name lookup, a connect, the primary's checkpoint, an fsync.
  absl::Notification finished;
  std::thread watcher([&] {
    while (!finished.WaitForNotificationWithTimeout(kCancelPoll)) {
      if (ctx_.cancelled && ctx_.cancelled()) {
        cancel_.Cancel();
        return;
      }
    }
  });
  absl::Cleanup stop_watcher = [&] {
    finished.Notify();
    watcher.join();
  };
  ExtractorOptions xopts;
  xopts.target_dir = target_;
  xopts.tablespaces_in_place = req_.tablespaces_in_place();
  xopts.protected_dir = ctx_.data_dir;
  xopts.cancel = &cancel_;
  for (const auto& [from, to] : req_.tablespace_mapping()) {
    if (!absl::StartsWith(from, "/") || !absl::StartsWith(to, "/") ||
        !ValidateBackupTarget(to, "").ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tablespace_mapping \"", from, "\" -> \"", to, "\": both paths must be absolute"));
    }
    xopts.tablespace_mapping[from] = to;
  }
  RETURN_IF_ERROR(PrepareTarget(target_));
  Report(v1::BACKUP_PHASE_STARTING, true);

  ConnectionOptions copts = ctx_.connection_options;
  if (req_.write_recovery_conf()) {
    // What the standby will connect with: the caller's keywords and the environment's
    // defaults (PGHOST, PGUSER, ...), as libpq resolved them for this connection.
    ConnInfo effective = *conninfo;
    RETURN_IF_ERROR(effective.ApplyDefaults(copts.env));
    recovery_lines_ = RecoveryConfLines(effective, "");
  }
  copts.cancel = &cancel_;
  ASSIGN_OR_RETURN(wal_, BackupWalStream::Open(*conninfo, copts));
  const IdentifySystemResult& ident = wal_->identity();
  if (ctx_.state_store != nullptr) {
    ASSIGN_OR_RETURN(auto stored, ctx_.state_store->LoadSystemId());
    if (stored && *stored != ident.system_id) {
      return absl::FailedPreconditionError(absl::StrCat(
          "primary's system identifier ", ident.system_id, " differs from this data directory's ",
          *stored, ": it is a different cluster"));
    }
  }
  RETURN_IF_ERROR(CheckCancelled());

  copts.limits.max_copy_data = kMaxBackupCopyData;
  copts.io_timeout = std::max(copts.io_timeout, kStartTimeout);
  ASSIGN_OR_RETURN(auto conn, PgConnection::Connect(*conninfo, copts));
  // Leaving early with BASE_BACKUP running: the primary is told to stop it (a closed
  // socket alone goes unnoticed while it checkpoints). After success it is closed already.
  absl::Cleanup abort_command = [&] { conn->Abort(); };
  int version = conn->server_version_num();
  options.manifest = version >= 130000;
  ASSIGN_OR_RETURN(std::string command, BaseBackupCommand(options, version));

  // The marker exists from here on, before any byte of the backup is written.
  if (!output_.tar) {
    ASSIGN_OR_RETURN(extractor_, BackupExtractor::Create(xopts, &verifier_));
  }
  RETURN_IF_ERROR(CreateSink());
  Log()->info("base backup of {} (server {}) into {}", conn->endpoint(),
              conn->parameter("server_version"), target_);
  char kind = 0;
  ASSIGN_OR_RETURN(auto pre, Blocking(v1::BACKUP_PHASE_STARTING,
                                      [&] { return conn->StartCopy(command, &kind); }));
  if (kind != 'H' || pre.size() != 2) {
    return absl::DataLossError("BASE_BACKUP did not send its two result sets and a CopyOut");
  }
  ASSIGN_OR_RETURN(BackupPosition start, ParseBaseBackupStart(pre[0]));
  ASSIGN_OR_RETURN(auto tablespaces, ParseBaseBackupTablespaces(pre[1]));
  // Every tablespace has a place the caller chose before any of its bytes arrive.
  std::vector<std::string> locations;
  for (const auto& ts : tablespaces) {
    if (ts.oid.has_value()) locations.push_back(ts.location.value_or(""));
  }
  // (Tar format keeps each tablespace as <oid>.tar: nothing is placed anywhere.)
  if (extractor_) RETURN_IF_ERROR(extractor_->CheckTablespaces(locations));
  uint64_t total = 0;
  for (const auto& ts : tablespaces) total += std::max<int64_t>(ts.size_kb.value_or(0), 0) * 1024;
  progress_.set_bytes_total(total);
  progress_.set_tablespaces_total(static_cast<uint32_t>(tablespaces.size()));
  reader_ = std::make_unique<BackupStreamReader>(
      BackupStreamReader::Options{.server_version_num = version,
                                  .expect_manifest = options.manifest,
                                  .server_compression = output_.server},
      std::move(tablespaces), sink_.get());
  ASSIGN_OR_RETURN(const absl::Duration receiver_timeout, ReceiverTimeout(req_));
  wal_->set_receiver_timeout(receiver_timeout);
  RETURN_IF_ERROR(wal_->Start(target_ + "/pg_wal", start.timeline, start.lsn));
  Report(v1::BACKUP_PHASE_STREAMING, true);
  RETURN_IF_ERROR(Stream(*conn));
  if (ctx_.wal_to_primary_position) {
    RETURN_IF_ERROR(ReadWalEnd(*conn));
  } else {
    wal_end_ = end_->lsn;
  }
  conn->Close();
  Log()->info("archives received: {} bytes, {} files; backup ends at {}", reader_->bytes_done(),
              files_done(), end_->lsn.ToString());

  Report(v1::BACKUP_PHASE_WAITING_WAL, true);
  RETURN_IF_ERROR(WaitForWal());
  Report(v1::BACKUP_PHASE_VERIFYING, true);
  RETURN_IF_ERROR(Verify(start, *end_));
  RETURN_IF_ERROR(CheckCancelled());

  Report(v1::BACKUP_PHASE_SYNCING, true);
  absl::Time sync_start = absl::Now();
  RETURN_IF_ERROR(output_.tar ? FinishTar(options) : FinishPlain(options, *conninfo));
  if (ctx_.state_store != nullptr) {
    RETURN_IF_ERROR(ctx_.state_store->StoreSystemId(ident.system_id));
    RETURN_IF_ERROR(ctx_.state_store->StoreTimeline(end_->timeline));
  }
  if (output_.tar) {
    RETURN_IF_ERROR(RemoveIncompleteMarker(target_));
  } else {
    RETURN_IF_ERROR(extractor_->MarkComplete());
  }
  Log()->info("synced to disk in {}", absl::FormatDuration(absl::Now() - sync_start));
  // The size is known now; the estimate from the start may have been a little off either
  // way (files grow or go away while they are copied).
  progress_.set_bytes_total(reader_->bytes_done());
  Report(v1::BACKUP_PHASE_DONE, true);

  v1::BaseBackupResult r;
  r.set_system_identifier(ident.system_id);
  r.set_timeline(end_->timeline);
  r.set_start_lsn(start.lsn.value());
  r.set_end_lsn(end_->lsn.value());
  r.set_bytes(output_.tar ? tar_sink_->bytes_on_disk() : extractor_->bytes_written());
  r.set_files(files_done());
  r.set_target_dir(target_);
  if (output_.tar) {
    for (const std::string& a : tar_sink_->archives()) r.add_archives(a);
  }
  r.set_manifest_verified(manifest_verified_);
  Log()->info("base backup complete in {}: {} .. {} on timeline {}", r.target_dir(),
              start.lsn.ToString(), end_->lsn.ToString(), end_->timeline);
  return r;
}

absl::Status Job::CreateSink() {
  if (!output_.tar) {
    sink_ = std::make_unique<ExtractingSink>(extractor_.get(), output_.server);
    return absl::OkStatus();
  }
  bool created = false;
  ASSIGN_OR_RETURN(target_fd_, OpenOrCreateDir(target_, &created));
  RETURN_IF_ERROR(CreateIncompleteMarker(target_));
  TarFileSinkOptions t;
  t.target_fd = target_fd_.get();
  t.target_dir = target_;
  t.server_compression = output_.server;
  t.client_compression = output_.client;
  t.client_level = output_.level;
  t.observer = &verifier_;
  t.mtime = absl::ToUnixSeconds(absl::Now());
  if (req_.write_recovery_conf()) t.recovery_lines = recovery_lines_;
  auto sink = std::make_unique<TarFileSink>(std::move(t));
  tar_sink_ = sink.get();
  sink_ = std::move(sink);
  return absl::OkStatus();
}

absl::Status Job::FinishPlain(const BaseBackupOptions& options, const ConnInfo& conninfo) {
  RETURN_IF_ERROR(Blocking(v1::BACKUP_PHASE_SYNCING, [&] {
    StartWriteback(target_);
    for (const auto& [from, to] : req_.tablespace_mapping()) StartWriteback(to);
    return extractor_->SyncAll();
  }));
  if (req_.write_recovery_conf()) RETURN_IF_ERROR(WriteRecoveryConf(target_, recovery_lines_));
  // Last: a directory with backup_manifest must be whole and durable.
  if (options.manifest) {
    RETURN_IF_ERROR(extractor_->WriteFile("backup_manifest", reader_->manifest()));
    RETURN_IF_ERROR(Blocking(v1::BACKUP_PHASE_SYNCING, [&] { return extractor_->SyncAll(); }));
  }
  return absl::OkStatus();
}

absl::Status Job::FinishTar(const BaseBackupOptions& options) {
  // The archives were fsynced as each ended; the WAL streamed beside them becomes
  // pg_wal.tar, compressed like them when this side compresses (as pg_basebackup does).
  ASSIGN_OR_RETURN(std::string wal_tar,
                   Blocking(v1::BACKUP_PHASE_SYNCING, [&] {
                     return PackWalTar(target_ + "/pg_wal", target_fd_.get(), target_,
                                       output_.client, output_.level);
                   }));
  tar_sink_->NoteArchive(wal_tar);
  if (options.manifest) {
    ASSIGN_OR_RETURN(auto f, ArchiveFile::Create(target_fd_.get(), "backup_manifest",
                                                 target_ + "/backup_manifest", Compression::kNone,
                                                 std::nullopt));
    RETURN_IF_ERROR(f->Write(reader_->manifest()));
    RETURN_IF_ERROR(f->Close());
  }
  return FsyncFd(target_fd_.get(), target_);
}

absl::Status Job::Stream(PgConnection& conn) {
  RETURN_IF_ERROR(reader_->OnCopyOut());
  // From the CopyOutResponse on, the primary's checkpoint is behind us: silence now
  // means a dead link or a stuck primary.
  ASSIGN_OR_RETURN(const absl::Duration receiver_timeout, ReceiverTimeout(req_));
  absl::Time last_heard = absl::Now();
  BackupEndReader end;
  while (!end.ready()) {
    RETURN_IF_ERROR(CheckCancelled());
    if (wal_->done() && !wal_->result().ok()) return Annotate(wal_->result(), "WAL stream");
    Report(progress_.phase(), false);
    // In place: each CopyData body is consumed (unpacked, copied to its file's buffer)
    // before the next read.
    ASSIGN_OR_RETURN(auto msg, conn.ReadMessageView(absl::Now() + kPoll));
    if (!msg) {
      if (absl::Now() - last_heard >= receiver_timeout) {
        return absl::UnavailableError(absl::StrCat("nothing received from the primary for ",
                                                   absl::FormatDuration(receiver_timeout),
                                                   " (receiver_timeout)"));
      }
      continue;
    }
    last_heard = absl::Now();
    if (end.started() || msg->type == 'T' || msg->type == 'C' || msg->type == 'Z') {
      RETURN_IF_ERROR(end.OnMessage(msg->type, msg->body));
      continue;
    }
    switch (msg->type) {
      case 'd':
        RETURN_IF_ERROR(reader_->OnCopyData(msg->body));
        break;
      case 'c':
        RETURN_IF_ERROR(reader_->OnCopyDone());
        break;
      case 'H':
        RETURN_IF_ERROR(reader_->OnCopyOut());
        break;
      default:
        return absl::DataLossError(
            absl::StrCat("BASE_BACKUP: unexpected message '", std::string(1, msg->type), "'"));
    }
  }
  RETURN_IF_ERROR(reader_->Finish());
  if (!end.end()) return absl::DataLossError("BASE_BACKUP: no end position");
  end_ = end.end();
  return absl::OkStatus();
}

absl::Status Job::ReadWalEnd(PgConnection& conn) {
  // A primary ends a backup with the backup-end record and then an XLOG_SWITCH
  // (do_pg_backup_stop), so its next WAL is in the following segment already, and
  // without a slot any checkpoint from now on may remove the segment holding the
  // backup's end. Streaming on to the primary's flush position as it is now — the switch
  // and the padding that completes its segment included — gives the copy WAL that ends
  // in a segment the primary still has: a replica continuing from it (StartReplica's
  // bootstrap) needs nothing older. On a standby the position is what it has flushed.
  ASSIGN_OR_RETURN(auto results, conn.Query(IdentifySystemCommand()));
  if (results.size() != 1) return absl::DataLossError("IDENTIFY_SYSTEM returned no row");
  ASSIGN_OR_RETURN(IdentifySystemResult ident, ParseIdentifySystem(results[0]));
  if (ident.xlogpos < end_->lsn) {
    return absl::DataLossError(absl::StrCat("the primary's WAL ends at ", ident.xlogpos.ToString(),
                                            ", before the end of its backup ",
                                            end_->lsn.ToString()));
  }
  wal_end_ = ident.xlogpos;
  return absl::OkStatus();
}

absl::Status Job::WaitForWal() {
  wal_->SetEndLsn(wal_end_);
  while (!wal_->WaitDone(kPoll)) {
    RETURN_IF_ERROR(CheckCancelled());
    Report(v1::BACKUP_PHASE_WAITING_WAL, false);
  }
  RETURN_IF_ERROR(Annotate(wal_->result(), "WAL stream"));
  if (wal_->flush_lsn() < end_->lsn) {
    return absl::InternalError("the WAL stream stopped before the backup's end");
  }
  return absl::OkStatus();
}

absl::Status Job::Verify(const BackupPosition& start, const BackupPosition& end) {
  if (reader_->manifest().empty()) return absl::OkStatus();  // PostgreSQL 12 has none
  ASSIGN_OR_RETURN(BackupManifest manifest, ParseBackupManifest(reader_->manifest()));
  if (manifest.system_identifier && *manifest.system_identifier != wal_->identity().system_id) {
    return absl::DataLossError("backup manifest: system identifier differs from the primary's");
  }
  RETURN_IF_ERROR(verifier_.Verify(manifest));
  if (manifest.wal_ranges.empty() || manifest.wal_ranges.front().start_lsn != start.lsn ||
      manifest.wal_ranges.back().end_lsn != end.lsn ||
      manifest.wal_ranges.back().timeline != end.timeline) {
    return absl::DataLossError(absl::StrCat("backup manifest: WAL-Ranges do not span ",
                                            start.lsn.ToString(), " .. ", end.lsn.ToString()));
  }
  manifest_verified_ = true;
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<v1::BaseBackupResult> RunBaseBackup(const v1::FetchBaseBackupRequest& request,
                                                   const std::string& target_dir,
                                                   const BaseBackupContext& ctx) {
  RETURN_IF_ERROR(ValidateBackupTarget(target_dir, ctx.data_dir));
  Job job(request, StripTrailingSlashes(target_dir), ctx);
  auto result = job.Run();
  if (!result.ok()) {
    Log()->error("base backup into {} failed: {}", target_dir, result.status().message());
    return MapError(result.status());
  }
  return result;
}

}  // namespace walrep
