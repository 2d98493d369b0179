#include "tests/e2e_util.h"

#include <dirent.h>

#include <algorithm>

#include <fstream>
#include <iterator>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace walrep::testing {
namespace {

std::string ReadPrefix(const std::string& path, size_t n) {
  std::ifstream in(path, std::ios::binary);
  std::string data(n, '\0');
  in.read(data.data(), static_cast<std::streamsize>(n));
  data.resize(static_cast<size_t>(in.gcount()));
  return data;
}

bool ParseSegmentName(const std::string& name, uint64_t segment_size, uint64_t* segno) {
  if (name.size() < 24) return false;
  uint64_t log = 0, seg = 0;
  if (!absl::SimpleHexAtoi(name.substr(8, 8), &log) || !absl::SimpleHexAtoi(name.substr(16, 8), &seg)) {
    return false;
  }
  *segno = log * (0x100000000ull / segment_size) + seg;
  return true;
}

}  // namespace

bool WaitFor(const std::function<bool()>& cond, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  while (absl::Now() < deadline) {
    if (cond()) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return cond();
}

absl::StatusOr<walrep::v1::Progress> GetProgress(AgentProcess& agent) {
  auto ctx = agent.Context();
  walrep::v1::GetProgressResponse resp;
  grpc::Status st = agent.stub()->GetProgress(ctx.get(), walrep::v1::GetProgressRequest(), &resp);
  if (!st.ok()) return absl::UnavailableError(st.error_message());
  return resp.progress();
}

absl::StatusOr<Lsn> ServerFlushLsn(const PgPrimary& pg) {
  auto text = pg.CurrentFlushLsn();
  if (!text.ok()) return text.status();
  return Lsn::Parse(*text);
}

WalComparison CompareWithServerWal(const std::string& archive_dir, const std::string& pg_wal_dir,
                                   Lsn flush_lsn, uint64_t segment_size) {
  WalComparison result;
  DIR* dir = opendir(archive_dir.c_str());
  if (dir == nullptr) {
    result.mismatch = "cannot open " + archive_dir;
    return result;
  }
  while (dirent* e = readdir(dir)) {
    std::string name = e->d_name;
    uint64_t segno;
    if (!ParseSegmentName(name, segment_size, &segno)) continue;
    bool partial = absl::EndsWith(name, ".partial");
    if (!partial && name.size() != 24) continue;
    std::string base = name.substr(0, 24);
    std::string server_path = pg_wal_dir + "/" + base;
    std::ifstream probe(server_path);
    if (!probe.good()) continue;  // recycled or never there
    size_t n = segment_size;
    if (partial) {
      uint64_t seg_start = segno * segment_size;
      if (flush_lsn.value() <= seg_start) continue;
      n = std::min<uint64_t>(segment_size, flush_lsn.value() - seg_start);
    }
    std::string ours = ReadPrefix(archive_dir + "/" + name, n);
    std::string theirs = ReadPrefix(server_path, n);
    if (ours.size() != n || ours != theirs) {
      size_t at = 0;
      while (at < ours.size() && at < theirs.size() && ours[at] == theirs[at]) ++at;
      if (result.mismatch.empty()) {
        result.mismatch = absl::StrCat(name, " differs from the server's at offset ", at,
                                       " (compared ", n, " bytes)");
      }
      continue;
    }
    if (partial) ++result.partial_checked;
    else ++result.complete_identical;
  }
  closedir(dir);
  return result;
}

std::string FreshTestDir(const std::string& name) {
  std::string dir = absl::StrCat(::testing::TempDir(), "/", name);
  (void)RunShell("rm -rf " + ShellQuote(dir));
  return dir;
}

grpc::Status StartReplica(AgentProcess& agent, const std::string& conninfo,
                          const std::string& slot, walrep::v1::Progress* out,
                          std::function<void(walrep::v1::StartReplicaRequest*)> edit) {
  walrep::v1::StartReplicaRequest req;
  req.set_conninfo(conninfo);
  req.set_slot_name(slot);
  req.set_create_slot(!slot.empty());
  req.mutable_status_interval()->set_seconds(1);
  if (edit) edit(&req);
  walrep::v1::StartReplicaResponse resp;
  auto ctx = agent.Context(absl::Seconds(20));
  grpc::Status st = agent.stub()->StartReplica(ctx.get(), req, &resp);
  if (out) *out = resp.progress();
  return st;
}

std::string Pgbench(const PgPrimary& pg, const std::string& args) {
  auto out = pg.RunTool("pgbench", absl::StrCat("-h ", ShellQuote(pg.socket_dir()), " -p ",
                                                pg.port(), " ", args, " postgres 2>&1"));
  return out.ok() ? *out : std::string(out.status().message());
}

bool CaughtUp(AgentProcess& agent, const PgPrimary& pg, absl::Duration timeout, Lsn* at) {
  auto target = ServerFlushLsn(pg);
  if (!target.ok()) return false;
  bool ok = WaitFor([&] {
    auto p = GetProgress(agent);
    return p.ok() && p->flush_lsn() >= target->value();
  }, timeout);
  if (at) *at = *target;
  return ok;
}

Lsn AgentFlush(AgentProcess& agent) {
  auto p = GetProgress(agent);
  return p.ok() ? Lsn(p->flush_lsn()) : Lsn();
}

grpc::Status CallPromote(AgentProcess& agent, absl::Duration apply_timeout, bool force,
                         walrep::v1::PromoteResponse* resp) {
  walrep::v1::PromoteRequest req;
  const int64_t ms = absl::ToInt64Milliseconds(apply_timeout);
  req.mutable_apply_timeout()->set_seconds(ms / 1000);
  req.mutable_apply_timeout()->set_nanos(static_cast<int32_t>((ms % 1000) * 1000000));
  req.set_force(force);
  auto ctx = agent.Context(std::max(apply_timeout, absl::ZeroDuration()) + absl::Seconds(20));
  return agent.stub()->Promote(ctx.get(), req, resp);
}

}  // namespace walrep::testing
