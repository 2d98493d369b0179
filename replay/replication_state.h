// The agent's persistent replication identity under <data_dir>/replication/ (grammar in
// DATA_DIR.md): the primary's system identifier, the current timeline, and the role with
// the last durable flush LSN. Pure encoders/parsers for each file plus
// ReplicationStateStore, which loads them with validation and stores them atomically.
// The parsers are pure and thread-safe; a ReplicationStateStore is thread-compatible
// (one writer at a time; files are replaced atomically, so readers never see torn data).
#ifndef WALREP_REPLAY_REPLICATION_STATE_H_
#define WALREP_REPLAY_REPLICATION_STATE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "replay/file_ops.h"
#include "wire/lsn.h"

namespace walrep {

// Files here are a few dozen bytes; anything bigger is not ours.
inline constexpr size_t kMaxStateFileBytes = 4096;

enum class ReplicationRole { kReplica, kPrimary };

// "replica" / "primary".
absl::string_view ReplicationRoleName(ReplicationRole role);

struct ReplicationState {
  ReplicationRole role = ReplicationRole::kReplica;
  // Everything before this position is durable in the local WAL (never reported past it
  // after a restart; ClusterLabs/PAF#225).
  Lsn flush_lsn;
  TimelineId timeline = 1;
  bool operator==(const ReplicationState&) const = default;
};

// "version=1\nrole=replica\nflush_lsn=0/3000000\ntimeline=1\n".
std::string EncodeStateFile(const ReplicationState& state);
// DataLoss on any deviation from the grammar (unknown keys are ignored for forward
// compatibility; duplicates and missing keys are not).
absl::StatusOr<ReplicationState> ParseStateFile(absl::string_view content);

// "<decimal>\n". System identifiers are non-zero 64-bit numbers.
std::string EncodeSystemIdFile(uint64_t system_id);
absl::StatusOr<uint64_t> ParseSystemIdFile(absl::string_view content);

// "<decimal>\n". Timelines are >= 1.
std::string EncodeTimelineFile(TimelineId tli);
absl::StatusOr<TimelineId> ParseTimelineFile(absl::string_view content);

class ReplicationStateStore {
 public:
  explicit ReplicationStateStore(std::string data_dir, FileOps* ops = DefaultFileOps());

  // Creates <data_dir>/replication/ (data_dir itself must exist), durably: a new
  // directory is synced into data_dir.
  absl::Status Init();

  // Loaders return nullopt when the file does not exist, DataLoss (message starts with
  // the path) when it is corrupt, else the errno's code (errno_status.h).
  absl::StatusOr<std::optional<uint64_t>> LoadSystemId() const;
  absl::StatusOr<std::optional<TimelineId>> LoadTimeline() const;
  absl::StatusOr<std::optional<ReplicationState>> LoadState() const;

  // Stores write-temp, fsync, rename, fsync dir. A failed step is returned, never
  // ignored: before the rename the previous file stays; after it (the directory fsync)
  // the new file is in place but not known to be durable. InvalidArgument for values
  // the parser would reject (system id 0, timeline 0).
  absl::Status StoreSystemId(uint64_t system_id);
  absl::Status StoreTimeline(TimelineId tli);
  absl::Status StoreState(const ReplicationState& state);

  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;  // <data_dir>/replication
  FileOps* ops_;
};

}  // namespace walrep

#endif  // WALREP_REPLAY_REPLICATION_STATE_H_
