// walrepctl: a human CLI over walrep's gRPC API.
//
//   walrepctl [--addr=127.0.0.1:50051|unix:/path] [--token_file=F] status
//   walrepctl --tls_ca=ca.pem [--tls_cert=me.pem --tls_key=me.key] status   (TLS / mTLS)
//   walrepctl watch [--interval=1s]
//   walrepctl start --conninfo='host=... user=...' [--slot=s --create_slot] [--bootstrap]
//   walrepctl stop
//   walrepctl promote [--apply_timeout=30s] [--force]
//   walrepctl backup --conninfo=... --target=/abs/dir [--fast] [--max_rate=BYTES]
//             [--format=plain|tar] [--compress=server-lz4|client-zstd:3|gzip|...]
//             [-R|--write_recovery_conf] [--tablespace_mapping=OLD=NEW,...] (-Fp/-Ft too)
//             [--tablespaces_in_place]
//     prints pg_basebackup -P's progress line on a terminal (one line per update otherwise)
//
// LSNs print as X/X like PostgreSQL; exit status 0 on success, 1 on an RPC error (the gRPC
// code and message are printed).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "tools/walrepctl/backup_flags.h"
#include "walrep/v1/agent.grpc.pb.h"

ABSL_FLAG(std::string, addr, "127.0.0.1:50051", "Agent gRPC address.");
ABSL_FLAG(std::string, token_file, "", "File holding the agent's bearer token.");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA bundle to verify the agent's certificate; setting it (or --tls_cert) "
          "switches to TLS.");
ABSL_FLAG(std::string, tls_cert, "", "PEM client certificate, for an agent with --grpc_client_ca.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, conninfo, "", "Primary conninfo (start, backup).");
ABSL_FLAG(std::string, slot, "", "Physical replication slot (start).");
ABSL_FLAG(bool, create_slot, false, "Create the slot if missing (start).");
ABSL_FLAG(bool, bootstrap, false, "Take a base backup first when no identity exists (start).");
ABSL_FLAG(absl::Duration, status_interval, absl::Seconds(10), "Status update interval (start).");
ABSL_FLAG(absl::Duration, interval, absl::Seconds(1), "Minimum interval between updates (watch).");
ABSL_FLAG(absl::Duration, apply_timeout, absl::Seconds(30), "Apply catch-up deadline (promote).");
ABSL_FLAG(bool, force, false, "Promote even if apply is behind (data loss).");
ABSL_FLAG(std::string, target, "", "Backup target directory (backup).");
ABSL_FLAG(bool, fast, true, "Fast checkpoint (backup).");
ABSL_FLAG(uint64_t, max_rate, 0, "Backup rate limit in bytes/s, 0 = unlimited (backup).");
ABSL_FLAG(std::string, label, "walrepctl", "Backup label (backup).");
ABSL_FLAG(std::string, format, "plain", "plain (p) or tar (t), as pg_basebackup -F (backup).");
ABSL_FLAG(std::string, compress, "",
          "[client-|server-]METHOD[:LEVEL], METHOD none|gzip|lz4|zstd, as pg_basebackup "
          "--compress; no prefix means client (backup).");
ABSL_FLAG(bool, write_recovery_conf, false,
          "Make the copy a standby of the primary, as pg_basebackup -R (-R works too) (backup).");
ABSL_FLAG(std::vector<std::string>, tablespace_mapping, {},
          "OLDDIR=NEWDIR[,...], as pg_basebackup -T; \\= for a literal = (backup).");
ABSL_FLAG(bool, tablespaces_in_place, false,
          "Unmapped tablespaces go to the primary's own paths, which must be empty (backup).");
ABSL_FLAG(absl::Duration, timeout, absl::Seconds(30), "Deadline of unary calls.");

namespace {

using namespace walrep::v1;  // NOLINT: a small CLI over one API package

std::string LsnText(uint64_t v) {
  return absl::StrFormat("%X/%X", static_cast<uint32_t>(v >> 32), static_cast<uint32_t>(v));
}

std::string Token() {
  std::string path = absl::GetFlag(FLAGS_token_file);
  if (path.empty()) return "";
  std::ifstream in(path);
  std::string t((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return std::string(absl::StripAsciiWhitespace(t));
}

std::string ReadPem(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::cerr << "walrepctl: cannot read " << path << "\n";
    std::exit(2);
  }
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Plaintext unless a TLS flag is given; with --tls_ca alone the system roots are not used,
// so an agent's private CA is all that is trusted.
std::shared_ptr<grpc::ChannelCredentials> Credentials() {
  const std::string ca = absl::GetFlag(FLAGS_tls_ca);
  const std::string cert = absl::GetFlag(FLAGS_tls_cert);
  const std::string key = absl::GetFlag(FLAGS_tls_key);
  if (ca.empty() && cert.empty() && key.empty()) return grpc::InsecureChannelCredentials();
  if (cert.empty() != key.empty()) {
    std::cerr << "walrepctl: --tls_cert and --tls_key go together\n";
    std::exit(2);
  }
  grpc::SslCredentialsOptions o;
  if (!ca.empty()) o.pem_root_certs = ReadPem(ca);
  if (!cert.empty()) {
    o.pem_cert_chain = ReadPem(cert);
    o.pem_private_key = ReadPem(key);
  }
  return grpc::SslCredentials(o);
}

void Prepare(grpc::ClientContext* ctx, bool deadline) {
  if (deadline) {
    ctx->set_deadline(std::chrono::system_clock::now() +
                      absl::ToChronoMilliseconds(absl::GetFlag(FLAGS_timeout)));
  }
  std::string token = Token();
  if (!token.empty()) ctx->AddMetadata("authorization", "Bearer " + token);
}

const char* CodeName(int code) {
  static const char* kNames[] = {"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT",
                                 "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
                                 "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
                                 "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
                                 "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  return code >= 0 && code <= 16 ? kNames[code] : "?";
}

int Fail(const grpc::Status& st) {
  std::cerr << "error: " << CodeName(st.error_code()) << ": " << st.error_message() << "\n";
  return 1;
}

// A flag the user got wrong: said by name, exit 2 as for other usage errors.
int Usage(const absl::Status& st) {
  std::cerr << "walrepctl: " << st.message() << "\n";
  return 2;
}

std::string Describe(const Progress& p) {
  std::string s = absl::StrCat(
      "role=", Role_Name(p.role()).substr(5), " state=", StreamState_Name(p.stream_state()).substr(13),
      " timeline=", p.timeline(), " receive=", LsnText(p.receive_lsn()),
      " flush=", LsnText(p.flush_lsn()), " apply=", LsnText(p.apply_lsn()),
      " primary_end=", LsnText(p.primary_wal_end_lsn()), " lag=", p.lag_bytes(), "B",
      " sessions=", p.metrics().sessions_started(), " reconnects=", p.metrics().reconnects(),
      " received=", p.metrics().wal_bytes_received(), "B");
  if (p.system_identifier() != 0) absl::StrAppend(&s, " sysid=", p.system_identifier());
  if (!p.primary_conninfo().empty()) absl::StrAppend(&s, "\n  primary: ", p.primary_conninfo());
  if (p.has_backup() && p.backup().phase() != BACKUP_PHASE_UNSPECIFIED) {
    absl::StrAppend(&s, "\n  backup: ", BackupPhase_Name(p.backup().phase()).substr(13), " ",
                    p.backup().bytes_done(), "/", p.backup().bytes_total(), " bytes");
  }
  if (p.has_engine() && p.engine().state() != ENGINE_STATE_UNSPECIFIED) {
    const EngineProgress& e = p.engine();
    absl::StrAppend(&s, "\n  engine: ", EngineState_Name(e.state()).substr(13), " pid=", e.pid(),
                    " ", e.listen(), ":", e.port(), e.read_only() ? " read-only" : " read-write",
                    " restarts=", e.restarts(), " replay=", LsnText(e.replay_lsn()),
                    " replay_advances log/query=", e.replay_advances_from_log(), "/",
                    e.replay_advances_from_query(), " position_queries=",
                    e.replay_position_queries());
  }
  if (!p.last_error().empty()) {
    absl::StrAppend(&s, "\n  last_error (", CodeName(p.last_error_code()), "): ", p.last_error());
  }
  return s;
}

void SetDuration(google::protobuf::Duration* d, absl::Duration v) {
  d->set_seconds(absl::ToInt64Seconds(v));
  d->set_nanos(static_cast<int32_t>(absl::ToInt64Nanoseconds(v % absl::Seconds(1))));
}

int Run(const std::string& cmd, ReplicationAgent::Stub* stub) {
  if (cmd == "status") {
    grpc::ClientContext ctx;
    Prepare(&ctx, true);
    GetProgressResponse resp;
    grpc::Status st = stub->GetProgress(&ctx, GetProgressRequest(), &resp);
    if (!st.ok()) return Fail(st);
    std::cout << Describe(resp.progress()) << "\n";
    return 0;
  }
  if (cmd == "watch") {
    grpc::ClientContext ctx;
    Prepare(&ctx, false);
    WatchProgressRequest req;
    SetDuration(req.mutable_min_interval(), absl::GetFlag(FLAGS_interval));
    auto reader = stub->WatchProgress(&ctx, req);
    WatchProgressResponse msg;
    while (reader->Read(&msg)) std::cout << Describe(msg.progress()) << std::endl;
    return Fail(reader->Finish());
  }
  if (cmd == "start") {
    grpc::ClientContext ctx;
    Prepare(&ctx, true);
    StartReplicaRequest req;
    req.set_conninfo(absl::GetFlag(FLAGS_conninfo));
    req.set_slot_name(absl::GetFlag(FLAGS_slot));
    req.set_create_slot(absl::GetFlag(FLAGS_create_slot));
    req.set_bootstrap(absl::GetFlag(FLAGS_bootstrap));
    SetDuration(req.mutable_status_interval(), absl::GetFlag(FLAGS_status_interval));
    StartReplicaResponse resp;
    grpc::Status st = stub->StartReplica(&ctx, req, &resp);
    if (!st.ok()) return Fail(st);
    std::cout << Describe(resp.progress()) << "\n";
    return 0;
  }
  if (cmd == "stop") {
    grpc::ClientContext ctx;
    Prepare(&ctx, true);
    StopReplicaResponse resp;
    grpc::Status st = stub->StopReplica(&ctx, StopReplicaRequest(), &resp);
    if (!st.ok()) return Fail(st);
    std::cout << Describe(resp.progress()) << "\n";
    return 0;
  }
  if (cmd == "promote") {
    grpc::ClientContext ctx;
    Prepare(&ctx, true);
    PromoteRequest req;
    SetDuration(req.mutable_apply_timeout(), absl::GetFlag(FLAGS_apply_timeout));
    req.set_force(absl::GetFlag(FLAGS_force));
    PromoteResponse resp;
    grpc::Status st = stub->Promote(&ctx, req, &resp);
    if (!st.ok()) return Fail(st);
    std::cout << "promoted: timeline " << resp.timeline() << ", switch at "
              << LsnText(resp.switch_lsn()) << "\n" << Describe(resp.progress()) << "\n";
    return 0;
  }
  if (cmd == "backup") {
    grpc::ClientContext ctx;
    Prepare(&ctx, false);
    FetchBaseBackupRequest req;
    req.set_conninfo(absl::GetFlag(FLAGS_conninfo));
    req.set_target_dir(absl::GetFlag(FLAGS_target));
    req.set_fast_checkpoint(absl::GetFlag(FLAGS_fast));
    req.set_max_rate_bytes_per_second(absl::GetFlag(FLAGS_max_rate));
    req.set_label(absl::GetFlag(FLAGS_label));
    req.set_write_recovery_conf(absl::GetFlag(FLAGS_write_recovery_conf));
    req.set_tablespaces_in_place(absl::GetFlag(FLAGS_tablespaces_in_place));
    auto format = walrep::ParseFormatFlag(absl::GetFlag(FLAGS_format));
    if (!format.ok()) return Usage(format.status());
    req.set_format(*format);
    if (!absl::GetFlag(FLAGS_compress).empty()) {
      auto c = walrep::ParseCompressFlag(absl::GetFlag(FLAGS_compress));
      if (!c.ok()) return Usage(c.status());
      *req.mutable_compression() = *c;
    }
    if (absl::Status st =
            walrep::ParseTablespaceMappings(absl::GetFlag(FLAGS_tablespace_mapping), &req);
        !st.ok()) {
      return Usage(st);
    }
    auto reader = stub->FetchBaseBackup(&ctx, req);
    FetchBaseBackupResponse msg;
    // pg_basebackup -P: one line rewritten in place on a terminal, a line per update
    // otherwise (a log file gets no carriage returns).
    const bool tty = isatty(STDERR_FILENO) == 1;
    std::string last_line;
    while (reader->Read(&msg)) {
      if (msg.has_progress()) {
        std::string line = walrep::ProgressLine(msg.progress());
        if (line == last_line) continue;  // the phase moved, the counts did not
        last_line = line;
        std::cerr << line << (tty ? "\r" : "\n") << std::flush;
      } else if (msg.has_result()) {
        const auto& r = msg.result();
        std::cerr << "\n";
        std::cout << "backup complete: " << r.target_dir() << " sysid=" << r.system_identifier()
                  << " timeline=" << r.timeline() << " start=" << LsnText(r.start_lsn())
                  << " end=" << LsnText(r.end_lsn()) << " bytes=" << r.bytes()
                  << " files=" << r.files()
                  << " manifest_verified=" << (r.manifest_verified() ? "yes" : "no") << "\n";
        for (const auto& a : r.archives()) std::cout << "  " << r.target_dir() << "/" << a << "\n";
      }
    }
    grpc::Status st = reader->Finish();
    if (!st.ok()) {
      std::cerr << "\n";
      return Fail(st);
    }
    return 0;
  }
  std::cerr << "unknown command \"" << cmd << "\"; see --help\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "walrepctl [flags] status|watch|start|stop|promote|backup  (see the source header)");
  std::vector<char*> argv_long(argv, argv + argc);
  // pg_basebackup's -R, -Fp and -Ft, which absl flags cannot spell.
  static char kRecoveryConf[] = "--write_recovery_conf";
  static char kPlain[] = "--format=plain";
  static char kTar[] = "--format=tar";
  for (char*& a : argv_long) {
    std::string arg(a);
    if (arg == "-R") a = kRecoveryConf;
    if (arg == "-Fp") a = kPlain;
    if (arg == "-Ft") a = kTar;
  }
  std::vector<char*> args = absl::ParseCommandLine(argc, argv_long.data());
  if (args.size() != 2) {
    std::cerr << "usage: walrepctl [flags] status|watch|start|stop|promote|backup\n";
    return 2;
  }
  auto channel = grpc::CreateChannel(absl::GetFlag(FLAGS_addr), Credentials());
  auto stub = walrep::v1::ReplicationAgent::NewStub(channel);
  return Run(args[1], stub.get());
}
