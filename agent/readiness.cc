#include "agent/readiness.h"

#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace walrep {
namespace {

HttpResponse NotReady(std::string reason) {
  return HttpResponse{503, "text/plain", absl::StrCat("not ready: ", reason, "\n")};
}

}  // namespace

HttpResponse Readiness(const v1::Progress& p, bool healthy, absl::string_view query) {
  uint64_t max_lag = kDefaultMaxReadyLagBytes;
  for (absl::string_view param : absl::StrSplit(query, '&', absl::SkipEmpty())) {
    std::vector<absl::string_view> kv = absl::StrSplit(param, absl::MaxSplits('=', 1));
    if (kv[0] != "max_lag_bytes") {
      return HttpResponse{400, "text/plain",
                          "unknown parameter; /readyz takes only max_lag_bytes=N\n"};
    }
    if (kv.size() != 2 || !absl::SimpleAtoi(kv[1], &max_lag)) {
      return HttpResponse{400, "text/plain", "max_lag_bytes must be a number of bytes\n"};
    }
  }
  if (!healthy) return NotReady("WAL storage failed (see last_error)");
  const bool engine = p.has_engine() && p.engine().state() != v1::ENGINE_STATE_UNSPECIFIED;
  if (engine && p.engine().state() != v1::ENGINE_STATE_RECOVERING &&
      p.engine().state() != v1::ENGINE_STATE_PRIMARY) {
    return NotReady(absl::StrCat("PostgreSQL is ",
                                 v1::EngineState_Name(p.engine().state()).substr(13)));
  }
  if (p.role() == v1::ROLE_PRIMARY) return HttpResponse{200, "text/plain", "ready: primary\n"};
  if (p.stream_state() != v1::STREAM_STATE_STREAMING) {
    return NotReady(absl::StrCat("stream is ", v1::StreamState_Name(p.stream_state()).substr(13)));
  }
  const uint64_t end = p.primary_wal_end_lsn();
  const uint64_t lag = end > p.apply_lsn() ? end - p.apply_lsn() : 0;
  if (lag > max_lag) {
    return NotReady(absl::StrCat("apply lag ", lag, " bytes > max_lag_bytes ", max_lag));
  }
  return HttpResponse{200, "text/plain", absl::StrCat("ready: streaming, apply lag ", lag, " bytes\n")};
}

}  // namespace walrep
