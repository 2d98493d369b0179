#include "agent/process_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

#ifndef WALREP_REVISION
#define WALREP_REVISION "unknown"
#endif

namespace walrep {
namespace {

std::string ReadFile(const char* path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void Gauge(std::string* out, absl::string_view name, absl::string_view type,
           absl::string_view help, const std::string& value) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", name, " ",
                  value, "\n");
}

// Seconds since the epoch at which the system booted (btime in /proc/stat), or -1.
double BootTime() {
  std::istringstream in(ReadFile("/proc/stat"));
  std::string line;
  while (std::getline(in, line)) {
    double v;
    if (line.rfind("btime ", 0) == 0 && absl::SimpleAtod(line.substr(6), &v)) return v;
  }
  return -1;
}

}  // namespace

const char* WalrepRevision() { return WALREP_REVISION; }

void RenderProcessMetrics(std::string* out) {
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  std::string stat = ReadFile("/proc/self/stat");
  // The command name (field 2) may hold spaces and parentheses: fields are counted from
  // the last ')'.
  size_t paren = stat.rfind(')');
  if (paren != std::string::npos && ticks > 0) {
    std::vector<std::string> f = absl::StrSplit(stat.substr(paren + 2), ' ');
    // After ")": f[0] is field 3 (state); utime = field 14, stime = 15, starttime = 22.
    double utime, stime, start;
    if (f.size() > 19 && absl::SimpleAtod(f[11], &utime) && absl::SimpleAtod(f[12], &stime) &&
        absl::SimpleAtod(f[19], &start)) {
      Gauge(out, "process_cpu_seconds_total", "counter",
            "Total user and system CPU time spent in seconds.",
            absl::StrFormat("%.2f", (utime + stime) / ticks));
      double boot = BootTime();
      if (boot >= 0) {
        Gauge(out, "process_start_time_seconds", "gauge",
              "Start time of the process since unix epoch in seconds.",
              absl::StrFormat("%.2f", boot + start / ticks));
      }
    }
  }
  std::vector<std::string> statm = absl::StrSplit(ReadFile("/proc/self/statm"), ' ');
  uint64_t rss_pages;
  if (statm.size() > 1 && absl::SimpleAtoi(statm[1], &rss_pages)) {
    Gauge(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
          absl::StrCat(rss_pages * static_cast<uint64_t>(sysconf(_SC_PAGESIZE))));
  }
  if (DIR* d = opendir("/proc/self/fd")) {
    int n = 0;
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++n;
    }
    closedir(d);
    Gauge(out, "process_open_fds", "gauge", "Number of open file descriptors.",
          absl::StrCat(n - 1));  // minus the one opendir holds
  }
  rlimit lim;
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur != RLIM_INFINITY) {
    Gauge(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
          absl::StrCat(lim.rlim_cur));
  }
  absl::StrAppend(out,
                  "# HELP walrep_build_info The agent's version and source revision (always 1).\n"
                  "# TYPE walrep_build_info gauge\nwalrep_build_info{version=\"",
                  kWalrepVersion, "\",revision=\"", WalrepRevision(), "\"} 1\n");
}

}  // namespace walrep
