// Where to resume streaming into an archive-layout WAL directory after a restart,
// decided the way pg_receivewal does (PROTOCOL.md §4): the newest segment wins (highest
// segment number, then highest timeline, a complete segment over a .partial of the same
// name); after a complete segment streaming resumes at the start of the next one, a
// .partial is re-streamed from its own start. Files of the wrong size are skipped, as
// pg_receivewal does. For the in-place layout every segment is pre-sized under its final
// name, so the directory cannot tell how much is valid: there the persisted flush LSN
// (ReplicationStateStore) is authoritative. Free function; thread-safe.
#ifndef WALREP_REPLAY_WAL_RESTART_POINT_H_
#define WALREP_REPLAY_WAL_RESTART_POINT_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "replay/file_ops.h"
#include "wire/lsn.h"

namespace walrep {

struct RestartPoint {
  TimelineId tli = 0;
  Lsn lsn;  // always a segment boundary
  bool operator==(const RestartPoint&) const = default;
};

// nullopt when the directory holds no usable segment (or does not exist).
// InvalidArgument for an invalid segment size; Internal on I/O errors.
absl::StatusOr<std::optional<RestartPoint>> FindRestartPoint(
    const std::string& dir, uint64_t segment_size, FileOps* ops = DefaultFileOps());

}  // namespace walrep

#endif  // WALREP_REPLAY_WAL_RESTART_POINT_H_
