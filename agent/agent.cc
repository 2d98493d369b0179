#include "agent/agent.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "agent/logging.h"
#include "agent/proto_time.h"
#include "agent/postgres_engine.h"
#include "agent/stream_failure.h"
#include "aiondb/session.h"
#include "replay/atomic_file.h"
#include "replay/timeline_history.h"
#include "replay/wal_recovery.h"
#include "wire/replication_commands.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

// How long StartReplica waits for the primary's identity verdict, at most.
constexpr absl::Duration kIdentityWait = absl::Seconds(5);
constexpr absl::Duration kIdentityWaitSlice = absl::Milliseconds(20);
constexpr size_t kMaxStreamConfigBytes = 64 * 1024;

std::shared_ptr<spdlog::logger> Log() { return ModuleLogger("agent"); }

}  // namespace

absl::StatusOr<StreamSettings> ValidateStartReplica(const v1::StartReplicaRequest& req) {
  StreamSettings s;
  if (req.conninfo().empty()) {
    return absl::InvalidArgumentError("conninfo is required (e.g. \"host=... user=...\")");
  }
  auto conninfo = ConnInfo::Parse(req.conninfo());
  if (!conninfo.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("conninfo: ", conninfo.status().message()));
  }
  // The value checks libpq makes when it connects (ports, sslmode, integers, ...) are
  // made now, before anything is stored: a request that can never connect is refused
  // instead of being retried for ever.
  if (absl::Status valid = conninfo->Validate(); !valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("conninfo: ", valid.message()));
  }
  s.conninfo = std::move(*conninfo);
  if (!req.slot_name().empty()) {
    absl::Status st = ValidateSlotName(req.slot_name());
    if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat("slot_name: ", st.message()));
  } else if (req.create_slot()) {
    return absl::InvalidArgumentError("create_slot needs a slot_name");
  }
  s.slot_name = req.slot_name();
  s.create_slot = req.create_slot();
  if (req.has_status_interval()) {
    absl::Duration d = FromProto(req.status_interval());
    if (d <= absl::ZeroDuration() || d > absl::Hours(1)) {
      return absl::InvalidArgumentError(
          "status_interval must be positive and at most 1h (the primary's wal_sender_timeout "
          "needs regular replies)");
    }
    s.status_interval = d;
  }
  if (req.has_receiver_timeout()) {
    absl::Duration d = FromProto(req.receiver_timeout());
    if (d < absl::ZeroDuration() || d > absl::Hours(24)) {
      return absl::InvalidArgumentError(
          "receiver_timeout must be between 0 (disabled) and 24h");
    }
    if (d > absl::ZeroDuration() && d < absl::Seconds(1)) {
      return absl::InvalidArgumentError("receiver_timeout must be 0 (disabled) or at least 1s");
    }
    s.receiver_timeout = d;
  }
  s.hot_standby_feedback = req.hot_standby_feedback();
  s.rewind_on_divergence = req.rewind_on_divergence();
  if (req.has_expected_system_identifier()) s.expected_system_id = req.expected_system_identifier();
  if (req.has_expected_timeline()) {
    if (req.expected_timeline() == 0) return absl::InvalidArgumentError("expected_timeline must be >= 1");
    s.expected_timeline = req.expected_timeline();
  }
  return s;
}

Agent::Agent(AgentConfig config) : config_(std::move(config)) {}

absl::StatusOr<std::unique_ptr<Agent>> Agent::Open(const AgentConfig& config) {
  AgentConfig checked = config;
  RETURN_IF_ERROR(ValidateEngineConfig(&checked));
  if (absl::Status made = CreateDirDurably(config.data_dir); !made.ok()) {
    return absl::Status(made.code(), absl::StrCat("data directory: ", made.message()));
  }
  std::unique_ptr<Agent> agent(new Agent(checked));
  RETURN_IF_ERROR(agent->Init());
  return agent;
}

absl::Status Agent::Init() {
  state_store_ = std::make_unique<ReplicationStateStore>(config_.data_dir);
  RETURN_IF_ERROR(state_store_->Init());
  WalWriter::Options wopts;
  if (postgres()) {
    // The standby's own pg_wal, written as its walreceiver would (final names); it exists
    // once the bootstrap's base backup made the data directory.
    wopts.dir = config_.data_dir + "/pgdata/pg_wal";
    wopts.layout = WalWriter::Layout::kInPlace;
    wopts.create_dir = false;
    wopts.on_file_created = GiveFilesToServer();
  } else {
    wopts.dir = config_.data_dir + "/wal";
    wopts.layout = WalWriter::Layout::kArchive;
    recent_wal_ = std::make_unique<RecentWal>();
    wopts.recent = recent_wal_.get();
  }
  wopts.on_flush = [this](Lsn) { changes_.Notify(); };
  // The archive's files say their segment size; an empty one learns it from the primary
  // (SHOW wal_segment_size) before its first segment is created.
  ASSIGN_OR_RETURN(std::optional<uint64_t> seg_size,
                   SegmentSizeOfFiles(wopts.dir, DefaultFileOps()));
  if (seg_size) wopts.segment_size = *seg_size;
  ASSIGN_OR_RETURN(writer_, WalWriter::Create(wopts));
  if (postgres()) {
    engine_ = std::make_unique<PostgresEngine>(
        EngineOptions(),
        [this] {
          changes_.Notify();
          engine_apply_waker_.Wake();
        },
        [this] { return LocalUser(); });
  }
  WalReplayer::Options ropts;
  ropts.dir = wopts.dir;
  ropts.segment_size = writer_->segment_size();
  ropts.durable = [this] { return writer_->flush_lsn(); };
  ropts.timeline = [this] { return writer_->timeline(); };
  ropts.handler = &replay_stats_;
  ropts.recent = recent_wal_.get();
  ropts.on_advance = [this] { changes_.Notify(); };
  // Engine none verifies every record itself; engine postgres's server replays.
  if (!postgres()) replayer_ = std::make_unique<WalReplayer>(std::move(ropts));

  // An aiondb data directory keeps its identity as aiondb writes it (no newline) and its
  // WAL in aiondb's files: neither is read as PostgreSQL's.
  ASSIGN_OR_RETURN(const bool aiondb_dir, IsAiondbDataDir(config_.data_dir));
  std::optional<uint64_t> sysid;
  std::optional<TimelineId> tli;
  if (aiondb_dir) {
    ASSIGN_OR_RETURN(aiondb::LocalIdentity id, aiondb::ReadAiondbIdentity(config_.data_dir));
    sysid = id.system_id;
    tli = id.timeline;
  } else {
    ASSIGN_OR_RETURN(sysid, state_store_->LoadSystemId());
    ASSIGN_OR_RETURN(tli, state_store_->LoadTimeline());
  }
  ASSIGN_OR_RETURN(auto state, state_store_->LoadState());
  if (!aiondb_dir) RETURN_IF_ERROR(RecoverWalStore());
  const Lsn durable = writer_->flush_lsn();
  {
    absl::MutexLock lock(&mu_);
    if (sysid) system_id_ = *sysid;
    if (tli) timeline_ = *tli;
    if (state) {
      role_ = state->role == ReplicationRole::kPrimary ? v1::ROLE_PRIMARY : v1::ROLE_REPLICA;
      if (state->timeline > timeline_) timeline_ = state->timeline;
    }
  }
  if (state && state->role == ReplicationRole::kReplica && writer_->positioned() &&
      state->flush_lsn > durable) {
    // The state file is written only at clean stops and timeline switches, always from
    // the store's position: WAL below it has gone missing from the directory.
    std::string msg = absl::StrCat(
        "the WAL directory ends at ", durable.ToString(), " but ", state_store_->dir(),
        "/state recorded ", state->flush_lsn.ToString(),
        " as durable: WAL was removed or lost; streaming resumes from the WAL present");
    Log()->error("{}", msg);
    status_.SetError(msg, absl::StatusCode::kDataLoss);
  }
  stream_ctx_.writer = writer_.get();
  stream_ctx_.state_store = state_store_.get();
  stream_ctx_.status = &status_;
  stream_ctx_.replayer = replayer_.get();
  if (engine_) ConnectEngineToStream();
  stream_ctx_.wal_dir = wopts.dir;
  stream_ctx_.on_identity = [this](uint64_t id, TimelineId t) { SetIdentity(id, t); };
  if (aiondb_dir) {
    absl::MutexLock lock(&op_mu_);
    RETURN_IF_ERROR(EnsureAiondb());
  }
  if (replayer_) replayer_->Start();
  if (engine_) RETURN_IF_ERROR(StartEngineIfReady(state ? state->role : ReplicationRole::kReplica));

  Log()->info("data directory {}: role {}, system identifier {}, timeline {}, durable flush {}",
              config_.data_dir,
              state ? ReplicationRoleName(state->role) : absl::string_view("unconfigured"),
              sysid ? absl::StrCat(*sysid) : "unknown", tli ? *tli : 0, durable.ToString());

  // A replica resumes streaming by itself, from the request it was last given.
  auto saved = ReadSmallFile(StreamConfigPath(), kMaxStreamConfigBytes);
  if (saved.ok() && state && state->role == ReplicationRole::kReplica) {
    v1::StartReplicaRequest req;
    if (!google::protobuf::util::JsonStringToMessage(*saved, &req).ok()) {
      return absl::DataLossError(absl::StrCat(StreamConfigPath(), ": not a StartReplica request"));
    }
    absl::MutexLock lock(&op_mu_);
    absl::Status st = StartStreamLocked(req, absl::Now());
    if (!st.ok() && st.code() != absl::StatusCode::kDeadlineExceeded) {
      Log()->error("cannot resume streaming: {}", st.message());
    }
  }
  return absl::OkStatus();
}

absl::Status Agent::RecoverWalStore() {
  // A journal of flush positions was kept beside the WAL by earlier versions; the WAL
  // itself is the record now, and a stale journal must not be mistaken for one.
  const std::string old_journal = state_store_->dir() + "/flush";
  if (DefaultFileOps()->FileSize(old_journal).ok()) {
    RETURN_IF_ERROR(DefaultFileOps()->Remove(old_journal));
    RETURN_IF_ERROR(DefaultFileOps()->SyncDir(state_store_->dir()));
    Log()->info("removed {}: the durable position is recovered from the WAL", old_journal);
  }
  ASSIGN_OR_RETURN(auto sysid, state_store_->LoadSystemId());
  const uint64_t seg = writer_->segment_size();
  ASSIGN_OR_RETURN(std::optional<RecoveredWal> wal,
                   RecoverWal(writer_->options().dir, seg, sysid ? *sysid : 0, DefaultFileOps(),
                              writer_->options().layout == WalWriter::Layout::kInPlace));
  if (!wal) {
    if (replayer_) replayer_->Reset(Lsn(), Lsn());
    return absl::OkStatus();
  }
  const bool at_record = wal->last_record.valid() || !IsSegmentBoundary(wal->end, seg);
  if (at_record) {
    RETURN_IF_ERROR(writer_->StartAtRecord(wal->tli, wal->end, wal->last_record));
  } else {
    // No record verified yet (a segment holding only the start of a long record, or
    // zeros): begin again at the segment, as for a fresh archive.
    RETURN_IF_ERROR(writer_->StartAtSegment(wal->tli, wal->end));
  }
  Log()->info("WAL recovered: {} records verified from {} on timeline {}; end of WAL {} ({})",
              wal->records, wal->scan_start.ToString(), wal->tli, wal->end.ToString(),
              wal->end_reason == WalStop::kNone ? std::string("no later segment")
                                                : wal->end_message);
  if (replayer_ == nullptr) return absl::OkStatus();  // the engine's server replays
  if (wal->corruption) {
    // Replay stops before the damage; Promote refuses to open a timeline past it.
    replayer_->Reset(wal->corruption->good_end, wal->corruption->good_record, seg);
    replayer_->SetFailed(absl::DataLossError(absl::StrCat(
        "WAL at ", wal->corruption->at.ToString(), " failed verification after it was fsynced (",
        wal->corruption->message, "); replay stopped at ", wal->corruption->good_end.ToString())));
    status_.SetError("", replayer_->failure());
  } else if (at_record) {
    replayer_->Reset(wal->end, wal->last_record, seg);
  } else {
    replayer_->ResetAtSegment(wal->end, seg);
  }
  return absl::OkStatus();
}

Agent::~Agent() { Shutdown(); }

void Agent::Shutdown() {
  if (shutting_down_.exchange(true)) return;
  changes_.Notify();
  {
    absl::MutexLock lock(&op_mu_);
    if (stream_) stream_->Stop();
    stream_.reset();
  }
  if (replayer_) replayer_->Stop();
  if (writer_ && !writer_->failed() && writer_->positioned()) (void)writer_->Close();
  // The supervised server stops with the agent (fast, then immediate), as a service
  // manager stops PostgreSQL.
  if (engine_) {
    absl::Status st = engine_->Stop(absl::Seconds(60));
    if (!st.ok()) Log()->error("stopping PostgreSQL: {}", st.message());
  }
}

bool Agent::healthy() const {
  const AiondbReplica* aiondb = aiondb_ptr_.load();
  if (aiondb != nullptr && !aiondb->storage_failure().ok()) return false;
  return writer_ == nullptr || !writer_->failed();
}

std::string Agent::StreamConfigPath() const { return state_store_->dir() + "/stream.json"; }

void Agent::SetIdentity(uint64_t system_id, TimelineId timeline) {
  {
    absl::MutexLock lock(&mu_);
    system_id_ = system_id;
    timeline_ = timeline;
  }
  changes_.Notify();
}

absl::Status Agent::PersistRole(ReplicationRole role) {
  ReplicationState state{role, writer_->flush_lsn(), writer_->timeline()};
  ASSIGN_OR_RETURN(auto existing, state_store_->LoadState());
  if (state.timeline == 0) state.timeline = existing ? existing->timeline : 1;
  if (!state.flush_lsn.valid() && existing) state.flush_lsn = existing->flush_lsn;
  return state_store_->StoreState(state);
}

absl::Status Agent::StartStreamLocked(const v1::StartReplicaRequest& request, absl::Time deadline) {
  ASSIGN_OR_RETURN(StreamSettings settings, ValidateStartReplica(request));
  {
    absl::MutexLock lock(&mu_);
    primary_conninfo_ = settings.conninfo.Redacted();
    slot_name_ = settings.slot_name;
    role_ = v1::ROLE_REPLICA;
  }
  stream_request_ = request;
  ReplicaStream::Bootstrap bootstrap;
  ASSIGN_OR_RETURN(const bool aiondb, ResolveAiondb(request, settings));
  StreamDialect* dialect = nullptr;
  if (aiondb) {
    RETURN_IF_ERROR(EnsureAiondb());
    dialect = aiondb_.get();
    ASSIGN_OR_RETURN(bool needs, aiondb_->NeedsBootstrap());
    if (needs && request.bootstrap()) {
      AiondbReplica* replica = aiondb_.get();
      ConnInfo conninfo = settings.conninfo;
      bootstrap = [replica, conninfo](const std::function<bool()>& stopped) {
        return replica->Bootstrap(conninfo, stopped);
      };
    }
  } else {
    ASSIGN_OR_RETURN(BootstrapStep step, NextBootstrapStep(request));
    if (step != BootstrapStep::kNone) {
      bootstrap = [this, request](const std::function<bool()>& stopped) {
        return Bootstrap(request, stopped);
      };
    }
  }
  stream_ = std::make_unique<ReplicaStream>(std::move(settings), &stream_ctx_,
                                            std::move(bootstrap), dialect);
  stream_->Start();
  changes_.Notify();
  absl::Duration wait = std::min(kIdentityWait, std::max(deadline - absl::Now(), absl::ZeroDuration()));
  // In slices, so that a StopReplica (or the shutdown) waiting for op_mu_ does not wait
  // for the identity too: during a bootstrap it only comes after the base backup.
  const absl::Time until = absl::Now() + wait;
  absl::Status verdict;
  do {
    verdict = stream_->WaitForIdentity(
        std::min(kIdentityWaitSlice, std::max(until - absl::Now(), absl::ZeroDuration())));
  } while (verdict.code() == absl::StatusCode::kDeadlineExceeded && absl::Now() < until &&
           stops_waiting_.load() == 0 && !shutting_down_.load());
  if (verdict.code() == absl::StatusCode::kFailedPrecondition) {
    StopStreamLocked();
    if (std::optional<v1::FailureReason> reason = FailureReasonOf(verdict)) {
      status_.SetFailed(*reason, std::string(verdict.message()), verdict.code());
    } else {
      status_.SetError("", verdict);
    }
    return verdict;
  }
  return verdict;
}

void Agent::StopStreamLocked() {
  if (stream_) stream_->Stop();
  stream_.reset();
  // A stream that had failed for good is now simply stopped.
  status_.ClearFailure();
  status_.SetState(v1::STREAM_STATE_STOPPED);
}

absl::StatusOr<v1::Progress> Agent::StartReplica(const v1::StartReplicaRequest& request,
                                                 absl::Time deadline) {
  ASSIGN_OR_RETURN(StreamSettings settings, ValidateStartReplica(request));
  absl::MutexLock lock(&op_mu_);
  if (shutting_down_.load()) return absl::UnavailableError("the agent is shutting down");
  {
    absl::MutexLock l(&mu_);
    if (role_ == v1::ROLE_PRIMARY) {
      return absl::FailedPreconditionError(
          "this node was promoted and is a primary; it cannot follow another primary "
          "(rebuild it from a base backup into a fresh data directory)");
    }
  }
  if (writer_->failed()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "WAL storage failed earlier; restart the agent: ", writer_->failure().message()));
  }
  if (request.rewind_on_divergence() && !engine_) {
    return absl::InvalidArgumentError(
        "rewind_on_divergence needs --engine=postgres: an archive keeps every timeline instead");
  }
  ASSIGN_OR_RETURN(const bool aiondb, ResolveAiondb(request, settings));
  if (aiondb && (engine_ || request.hot_standby_feedback())) {
    return absl::InvalidArgumentError(
        "the aiondb dialect runs with engine none only: walrep keeps aiondb's WAL files, and "
        "no local server replays them");
  }
  if (aiondb && (request.create_slot() || request.rewind_on_divergence())) {
    return absl::InvalidArgumentError(
        "create_slot and rewind_on_divergence are PostgreSQL's: an aiondb slot is created on "
        "the primary, and a diverged aiondb replica is rebuilt");
  }
  if (request.hot_standby_feedback() && !engine_) {
    return absl::InvalidArgumentError(
        "hot_standby_feedback needs --engine=postgres: engine none runs no queries to protect");
  }
  if (engine_ && !engine_->HasDataDirectory() && !request.bootstrap()) {
    return absl::FailedPreconditionError(
        "--engine=postgres has no standby data directory yet: call StartReplica with "
        "bootstrap to take a base backup of the primary into " + config_.data_dir + "/pgdata");
  }
  if (stream_ && !stream_->failed() &&
      google::protobuf::util::MessageDifferencer::Equals(stream_request_, request)) {
    return GetProgress();  // the same request again: a no-op, as reconcile loops expect
  }
  // Asked again after a terminal failure (STREAM_STATE_FAILED): the caller fixed the
  // cause (created the slot, restored WAL), so the stream starts over.
  if (stream_) {
    Log()->info("re-pointing the stream to {}", settings.conninfo.Redacted());
    StopStreamLocked();
  }
  std::string json;
  google::protobuf::util::JsonPrintOptions opts;
  if (!google::protobuf::util::MessageToJsonString(request, &json, opts).ok()) {
    return absl::InternalError("cannot encode the stream configuration");
  }
  // Kept so a restarted agent resumes by itself; it holds the conninfo (and so possibly a
  // password), hence 0600 like postgresql.auto.conf's primary_conninfo.
  RETURN_IF_ERROR(WriteFileAtomically(StreamConfigPath(), json));
  RETURN_IF_ERROR(PersistRole(ReplicationRole::kReplica));
  absl::Status st = StartStreamLocked(request, deadline);
  if (!st.ok() && st.code() != absl::StatusCode::kDeadlineExceeded) {
    (void)RemoveFileDurably(StreamConfigPath());
    return st;
  }
  return GetProgress();
}

absl::StatusOr<v1::Progress> Agent::StopReplica() {
  stops_waiting_.fetch_add(1);
  absl::MutexLock lock(&op_mu_);
  stops_waiting_.fetch_sub(1);
  StopStreamLocked();
  RETURN_IF_ERROR(RemoveFileDurably(StreamConfigPath()));
  return GetProgress();
}

}  // namespace walrep
