// apply_probe: the time from a commit on a primary to its row being visible on a replica.
//
//   apply_probe PRIMARY_CONNINFO REPLICA_CONNINFO COUNT
//
// Each round inserts one row into apply_probe (created on the primary if missing) and, the
// moment the commit returns, polls the replica for it; prints "p50_ms p99_ms max_ms" over
// COUNT rounds. Uses walrep's own client (ordinary sessions), so the numbers exclude no
// tool start-up.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "wire/connection.h"
#include "wire/conninfo.h"

namespace walrep {
namespace {

int Fail(const absl::Status& st) {
  std::fprintf(stderr, "apply_probe: %s\n", std::string(st.message()).c_str());
  return 1;
}

absl::StatusOr<std::unique_ptr<PgConnection>> Open(const char* conninfo) {
  auto info = ConnInfo::Parse(conninfo);
  if (!info.ok()) return info.status();
  ConnectionOptions o;
  o.replication = false;
  o.default_application_name = "apply_probe";
  return PgConnection::Connect(*info, o);
}

int Run(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: apply_probe PRIMARY_CONNINFO REPLICA_CONNINFO COUNT\n");
    return 2;
  }
  const int count = std::atoi(argv[3]);
  auto primary = Open(argv[1]);
  if (!primary.ok()) return Fail(primary.status());
  auto replica = Open(argv[2]);
  if (!replica.ok()) return Fail(replica.status());
  auto made = (*primary)->Query("CREATE TABLE IF NOT EXISTS apply_probe (i bigint PRIMARY KEY)");
  if (!made.ok()) return Fail(made.status());
  auto start = (*primary)->Query("SELECT coalesce(max(i), 0) FROM apply_probe");
  if (!start.ok()) return Fail(start.status());
  int64_t base = std::atoll((*start)[0].rows[0].values[0].value_or("0").c_str());
  // The table must be on the replica before the first measurement.
  for (;;) {
    auto seen = (*replica)->Query("SELECT to_regclass('apply_probe') IS NOT NULL");
    if (!seen.ok()) return Fail(seen.status());
    if ((*seen)[0].rows[0].values[0].value_or("f") == "t") break;
  }
  std::vector<double> ms;
  for (int n = 1; n <= count; ++n) {
    const int64_t id = base + n;
    auto ins = (*primary)->Query(absl::StrCat("INSERT INTO apply_probe VALUES (", id, ")"));
    if (!ins.ok()) return Fail(ins.status());
    const absl::Time committed = absl::Now();
    const std::string probe = absl::StrCat("SELECT count(*) FROM apply_probe WHERE i = ", id);
    for (;;) {
      auto r = (*replica)->Query(probe);
      if (!r.ok()) return Fail(r.status());
      if ((*r)[0].rows[0].values[0].value_or("0") == "1") break;
      if (absl::Now() - committed > absl::Seconds(60)) {
        return Fail(absl::DeadlineExceededError(absl::StrCat("row ", id, " never appeared")));
      }
    }
    ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - committed));
  }
  std::sort(ms.begin(), ms.end());
  auto at = [&](double q) { return ms[std::min(ms.size() - 1, static_cast<size_t>(q * ms.size()))]; };
  std::printf("%.2f %.2f %.2f\n", at(0.50), at(0.99), ms.back());
  return 0;
}

}  // namespace
}  // namespace walrep

int main(int argc, char** argv) { return walrep::Run(argc, argv); }
