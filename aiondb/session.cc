#include "aiondb/session.h"

#include <variant>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "aiondb/chain.h"
#include "aiondb/envelope.h"
#include "replay/atomic_file.h"
#include "wire/lsn.h"
#include "wire/status_macros.h"

namespace walrep::aiondb {
namespace {

// WAL appended but not yet fsynced, at most, before an acknowledgement is forced.
constexpr uint64_t kMaxUnflushedBytes = 16u << 20;

absl::StatusOr<std::optional<std::string>> ReadIdentityFile(const std::string& path) {
  // aiondb caps its identity files at 64 bytes.
  absl::StatusOr<std::string> raw = ReadSmallFile(path, 64);
  if (absl::IsNotFound(raw.status())) return std::optional<std::string>();
  if (!raw.ok()) return raw.status();
  return std::optional<std::string>(std::string(absl::StripAsciiWhitespace(*raw)));
}

}  // namespace

std::string FormatLsn(uint64_t lsn) {
  return absl::StrFormat("%X/%08X", static_cast<uint32_t>(lsn >> 32), static_cast<uint32_t>(lsn));
}

absl::StatusOr<LocalIdentity> ReadAiondbIdentity(const std::string& data_dir) {
  LocalIdentity id;
  const std::string dir = JoinPath(data_dir, "replication");
  ASSIGN_OR_RETURN(std::optional<std::string> sysid, ReadIdentityFile(JoinPath(dir, "system_id")));
  ASSIGN_OR_RETURN(std::optional<std::string> tli, ReadIdentityFile(JoinPath(dir, "timeline")));
  uint64_t v = 0;
  if (sysid && !sysid->empty()) {
    if (!absl::SimpleAtoi(*sysid, &v) || v == 0) {
      return absl::DataLossError(absl::StrCat(dir, "/system_id is not a system identifier"));
    }
    id.system_id = v;
  }
  uint32_t t = 0;
  if (tli && !tli->empty()) {
    if (!absl::SimpleAtoi(*tli, &t) || t == 0) {
      return absl::DataLossError(absl::StrCat(dir, "/timeline is not a timeline"));
    }
    id.timeline = t;
  }
  return id;
}

absl::StatusOr<uint64_t> ForkPointIn(absl::string_view history, uint32_t parent) {
  for (absl::string_view line : absl::StrSplit(history, '\n')) {
    std::vector<absl::string_view> f =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r"), absl::SkipEmpty());
    if (f.empty() || f[0].front() == '#') continue;
    uint32_t p = 0;
    if (f.size() < 2 || !absl::SimpleAtoi(f[0], &p)) {
      return absl::DataLossError(absl::StrCat("malformed timeline history line \"",
                                              absl::CHexEscape(line), "\""));
    }
    if (p != parent) continue;
    absl::StatusOr<Lsn> lsn = Lsn::Parse(f[1]);
    if (!lsn.ok()) return absl::DataLossError(absl::StrCat("timeline history: ", lsn.status().message()));
    return lsn->value();
  }
  return absl::NotFoundError(absl::StrCat("timeline ", parent, " is not in the history"));
}

absl::Status Session::IdentityError(IdentityFailure kind, std::string message) {
  identity_failure_ = kind;
  return absl::FailedPreconditionError(std::move(message));
}

absl::Status Session::Run(const std::function<void(const absl::Status&)>& identity_result) {
  auto report = [&](const absl::Status& st) {
    if (identity_result) identity_result(st);
  };
  ConnectionOptions copts;
  copts.default_application_name = "walrep";
  copts.cancel = options_.connect_cancel;
  auto conn = PgConnection::Connect(options_.conninfo, copts);
  if (!conn.ok()) {
    report(conn.status());
    return conn.status();
  }
  if (hooks_.on_connected) hooks_.on_connected();
  absl::Status st = Identify(**conn);
  report(st);
  if (st.ok()) st = Stream(**conn);
  // Entries accepted before a failure are kept: made durable now rather than left to the
  // next session's first flush.
  if (!st.ok() && !store_->failed() && store_->written_lsn() != store_->flushed_lsn()) {
    if (store_->Flush().ok() && hooks_.on_flushed) hooks_.on_flushed(store_->flushed_lsn());
  }
  if ((*conn)->is_open()) (*conn)->Close();
  return st;
}

absl::Status Session::Identify(PgConnection& conn) {
  ASSIGN_OR_RETURN(auto results, conn.Query("IDENTIFY_SYSTEM"));
  if (results.empty() || results.back().rows.empty()) {
    return absl::DataLossError("IDENTIFY_SYSTEM returned no row");
  }
  // With several rows aiondb's client takes the last.
  const DataRow& row = results.back().rows.back();
  if (row.values.size() < 2 || !row.values[0] || !row.values[1]) {
    return absl::DataLossError("IDENTIFY_SYSTEM row lacks systemid or timeline");
  }
  uint64_t sysid = 0;
  uint32_t tli = 0;
  if (!absl::SimpleAtoi(*row.values[0], &sysid)) {
    return absl::DataLossError(absl::StrCat("IDENTIFY_SYSTEM: non-numeric systemid \"",
                                            absl::CHexEscape(*row.values[0]), "\""));
  }
  if (!absl::SimpleAtoi(*row.values[1], &tli) || tli == 0) {
    return absl::DataLossError("IDENTIFY_SYSTEM: timeline is not a positive number");
  }
  if (options_.expected_system_id && *options_.expected_system_id != sysid) {
    return IdentityError(IdentityFailure::kSystemIdMismatch,
                         absl::StrCat("primary's system identifier ", sysid,
                                      " differs from the expected ", *options_.expected_system_id));
  }
  if (options_.expected_timeline && *options_.expected_timeline != tli) {
    return IdentityError(IdentityFailure::kTimeline,
                         absl::StrCat("primary is on timeline ", tli, ", expected ",
                                      *options_.expected_timeline));
  }
  ASSIGN_OR_RETURN(LocalIdentity local, ReadAiondbIdentity(options_.data_dir));
  if (local.system_id && *local.system_id != sysid) {
    return IdentityError(IdentityFailure::kSystemIdMismatch,
                         absl::StrCat("primary's system identifier ", sysid,
                                      " differs from this data directory's ", *local.system_id,
                                      ": it is a different cluster"));
  }
  if (local.timeline && *local.timeline > tli) {
    return IdentityError(IdentityFailure::kTimeline,
                         absl::StrCat("this replica is on timeline ", *local.timeline,
                                      ", ahead of the primary's ", tli));
  }
  if (local.timeline && *local.timeline < tli) {
    // As aiondb's client: the primary was promoted onto a later timeline; it may be
    // followed only if it forked at or above everything this replica holds.
    ASSIGN_OR_RETURN(auto hist, conn.Query(absl::StrCat("TIMELINE_HISTORY ", tli)));
    if (hist.empty() || hist.back().rows.empty() || hist.back().rows.back().values.size() < 2 ||
        !hist.back().rows.back().values[1]) {
      return absl::DataLossError("TIMELINE_HISTORY returned no content");
    }
    absl::StatusOr<uint64_t> fork = ForkPointIn(*hist.back().rows.back().values[1], *local.timeline);
    if (absl::IsNotFound(fork.status())) {
      return IdentityError(IdentityFailure::kDiverged,
                           absl::StrCat("timeline ", *local.timeline, " of this replica is not in "
                                        "the history of the primary's timeline ", tli));
    }
    if (!fork.ok()) return fork.status();
    if (store_->written_lsn() > *fork) {
      return IdentityError(
          IdentityFailure::kDiverged,
          absl::StrCat("diverged: the primary's timeline ", tli, " forked from timeline ",
                       *local.timeline, " at ", FormatLsn(*fork), ", but this replica holds WAL "
                       "up to ", FormatLsn(store_->written_lsn()), "; rebuild it"));
    }
    RETURN_IF_ERROR(WriteAiondbTimeline(options_.data_dir, tli));
  }
  if (!local.system_id) RETURN_IF_ERROR(WriteAiondbIdentity(options_.data_dir, sysid, tli));
  store_->SetIdentity(sysid, tli);
  if (hooks_.on_identity) hooks_.on_identity(sysid, tli);
  return absl::OkStatus();
}

absl::Status Session::FlushAndReport(PgConnection& conn, bool force) {
  if (store_->written_lsn() != store_->flushed_lsn()) {
    RETURN_IF_ERROR(store_->Flush());
    unflushed_bytes_ = 0;
    if (hooks_.on_flushed) hooks_.on_flushed(store_->flushed_lsn());
  }
  const uint64_t flushed = store_->flushed_lsn();
  if (!force && flushed == reported_flush_) return absl::OkStatus();
  uint64_t apply = hooks_.apply_lsn ? hooks_.apply_lsn() : 0;
  if (apply > flushed) apply = flushed;
  // Only fsynced entries are reported: write and flush are both the last durable entry.
  ASSIGN_OR_RETURN(std::string msg, EncodeStatusUpdate({flushed, flushed, apply}));
  RETURN_IF_ERROR(conn.SendCopyData(msg));
  reported_flush_ = flushed;
  next_status_ = absl::Now() + options_.status_interval;
  if (hooks_.on_status_sent) hooks_.on_status_sent(flushed);
  return absl::OkStatus();
}

absl::Status Session::Stream(PgConnection& conn) {
  const ChainState chain = store_->chain();
  std::string cmd = "START_REPLICATION ";
  if (!options_.slot_name.empty()) absl::StrAppend(&cmd, "SLOT ", options_.slot_name, " PHYSICAL ");
  absl::StrAppend(&cmd, FormatLsn(chain.resume_lsn()));
  char kind = 0;
  ASSIGN_OR_RETURN(auto pre, conn.StartCopy(cmd, &kind));
  (void)pre;
  if (kind != 'W') return absl::DataLossError("START_REPLICATION did not enter COPY BOTH mode");
  if (hooks_.on_streaming) hooks_.on_streaming();
  // aiondb's client reports once right after CopyBoth begins.
  RETURN_IF_ERROR(FlushAndReport(conn, /*force=*/true));
  absl::Time last_receive = absl::Now();
  for (;;) {
    if (options_.stop != nullptr && options_.stop->load()) {
      RETURN_IF_ERROR(FlushAndReport(conn, /*force=*/true));
      (void)conn.SendCopyDone();
      conn.Close();
      return absl::OkStatus();
    }
    absl::Time deadline = next_status_;
    if (options_.receiver_timeout > absl::ZeroDuration()) {
      deadline = std::min(deadline, last_receive + options_.receiver_timeout);
    }
    // Short slices so a stop request is seen promptly.
    deadline = std::min(deadline, absl::Now() + absl::Milliseconds(100));
    ASSIGN_OR_RETURN(std::optional<BackendMessage> msg, conn.ReadMessage(deadline));
    const absl::Time now = absl::Now();
    if (!msg) {
      if (now >= next_status_) RETURN_IF_ERROR(FlushAndReport(conn, /*force=*/true));
      if (options_.receiver_timeout > absl::ZeroDuration() &&
          now - last_receive >= options_.receiver_timeout) {
        return absl::UnavailableError(absl::StrCat(
            "nothing received from the aiondb primary for ",
            absl::FormatDuration(options_.receiver_timeout)));
      }
      continue;
    }
    last_receive = now;
    switch (msg->type) {
      case 'd': {
        ASSIGN_OR_RETURN(Message m, DecodeMessage(msg->body));
        if (const WalData* w = std::get_if<WalData>(&m)) {
          ASSIGN_OR_RETURN(CheckedBatch batch, CheckWalData(store_->chain(), *w));
          RETURN_IF_ERROR(store_->Append(w->entries, batch.after));
          streamed_ = true;
          unflushed_bytes_ += w->entries.size();
          if (hooks_.on_primary_message) hooks_.on_primary_message(w->end_lsn, msg->body.size());
          // One fsync per drained socket, not per message — but a primary that never
          // pauses is still acknowledged every kMaxUnflushedBytes.
          if (!conn.MoreDataReady() || unflushed_bytes_ >= kMaxUnflushedBytes) {
            RETURN_IF_ERROR(FlushAndReport(conn, /*force=*/false));
          }
        } else if (const Keepalive* k = std::get_if<Keepalive>(&m)) {
          if (hooks_.on_primary_message) hooks_.on_primary_message(k->wal_end, 0);
          if (k->reply_requested) RETURN_IF_ERROR(FlushAndReport(conn, /*force=*/true));
        } else {
          return absl::DataLossError(
              "the aiondb primary sent a standby status message, which only a replica sends");
        }
        if (now >= next_status_) RETURN_IF_ERROR(FlushAndReport(conn, /*force=*/true));
        break;
      }
      case 'c':
        // The primary ended the stream: keep what arrived, answer, and reconnect.
        RETURN_IF_ERROR(FlushAndReport(conn, /*force=*/true));
        (void)conn.SendCopyDone();
        conn.Close();
        primary_ended_ = true;
        return absl::OkStatus();
      case 'C':
      case 'Z':
        RETURN_IF_ERROR(FlushAndReport(conn, /*force=*/false));
        primary_ended_ = true;
        return absl::UnavailableError("the aiondb primary ended the stream without CopyDone");
      default:
        return absl::DataLossError(absl::StrCat("unexpected message '",
                                                absl::CHexEscape(std::string(1, msg->type)),
                                                "' from the aiondb primary during streaming"));
    }
  }
}

}  // namespace walrep::aiondb
