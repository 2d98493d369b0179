// What a FetchBaseBackupRequest asks for, checked and turned into the BASE_BACKUP options
// and the output the job writes: plain or tar, compressed by the primary or here, the
// receiver timeout. Choices that contradict each other are InvalidArgument naming the
// fields, before anything connects or is written. Pure functions.
#ifndef WALREP_BACKUP_BACKUP_REQUEST_H_
#define WALREP_BACKUP_BACKUP_REQUEST_H_

#include <optional>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "backup/compression.h"
#include "walrep/v1/agent.pb.h"
#include "wire/replication_commands.h"

namespace walrep {

// receiver_timeout: 60 s when unset, none (InfiniteDuration) when zero; InvalidArgument
// when negative.
absl::StatusOr<absl::Duration> ReceiverTimeout(const v1::FetchBaseBackupRequest& req);

// The request's archives: their format, who compresses them, with what level.
struct OutputChoice {
  bool tar = false;
  Compression server = Compression::kNone;  // BASE_BACKUP COMPRESSION (15+)
  Compression client = Compression::kNone;  // tar files compressed here
  std::optional<int> level;
};
absl::StatusOr<OutputChoice> ChooseOutput(const v1::FetchBaseBackupRequest& req);

// The BASE_BACKUP options for `req` and `out` (PostgreSQL dialect only).
absl::StatusOr<BaseBackupOptions> CommandOptions(const v1::FetchBaseBackupRequest& req,
                                                 const OutputChoice& out);

}  // namespace walrep

#endif  // WALREP_BACKUP_BACKUP_REQUEST_H_
