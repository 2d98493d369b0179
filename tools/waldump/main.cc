// walrep_waldump: prints the records of PostgreSQL WAL segment files in PostgreSQL 15's
// pg_waldump format (or its --stats table), decoded by walrep's own WAL decoder, so the
// decoder can be checked against pg_waldump record by record. See command_line.h for the
// options and dump.h for where it starts and stops.
//
// Exit status: 0 when it stopped at --end (by default, with segment files named on the
// command line, the end of the last one), 1 on bad arguments or when the WAL ended or
// broke first (said on stderr, like pg_waldump's "error in WAL record at ...").
#include <cstdio>
#include <string>
#include <vector>

#include "tools/waldump/command_line.h"
#include "tools/waldump/dump.h"
#include "tools/waldump/segment_files.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "walrep_waldump: error: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace walrep::waldump;  // NOLINT: one small binary over its own package
  auto cl = ParseCommandLine(std::vector<std::string>(argv + 1, argv + argc));
  if (!cl.ok()) {
    std::fputs(kUsage, stderr);
    return Fail(std::string(cl.status().message()));
  }
  if (cl->help) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  auto listed = ListSegmentFiles(cl->paths);
  if (!listed.ok()) return Fail(std::string(listed.status().message()));
  auto segment_size = ReadSegmentSize(listed->files.front().path);
  if (!segment_size.ok()) return Fail(std::string(segment_size.status().message()));
  auto segments = SelectSegments(listed->files, *segment_size, cl->timeline);
  if (!segments.ok()) return Fail(std::string(segments.status().message()));

  DumpOptions options = cl->dump;
  // Like pg_waldump given STARTSEG [ENDSEG]: named files end where the last one ends.
  // A directory has no such end; decoding runs until the WAL does.
  if (!options.end.has_value() && !listed->from_directory) {
    options.end = walrep::Lsn((segments->back().segno + 1) * *segment_size);
  }
  absl::Status st = RunDump(options, *segments, *segment_size, stdout, stderr);
  if (!st.ok()) return Fail(std::string(st.message()));
  return 0;
}
