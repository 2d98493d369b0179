// A standby configuration for a base backup, as `pg_basebackup -R` writes it: the lines
// appended to postgresql.auto.conf (primary_conninfo, and primary_slot_name when a slot is
// named) and an empty standby.signal, so that PostgreSQL started on the copy streams from
// the primary it came from.
//
// primary_conninfo holds the keywords the caller gave (defaults are PostgreSQL's own), minus
// those that make no sense for a walreceiver (replication, dbname — the walreceiver sets
// both — and fallback_application_name), password included as pg_basebackup does: the
// standby needs it unless a passfile is named. The file is written 0600 and its content
// never logged.
//
// Plain format: WriteRecoveryConf() edits the extracted directory in place. Tar format:
// TarRecoveryInjector rewrites the main archive as it streams (PostgreSQL's own tar
// members — ustar names of at most 99 bytes — pass through byte for byte; the server's
// postgresql.auto.conf member is held back and written at the end with the lines added,
// followed by standby.signal and the end-of-archive blocks).
#ifndef WALREP_BACKUP_RECOVERY_CONF_H_
#define WALREP_BACKUP_RECOVERY_CONF_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "wire/conninfo.h"

namespace walrep {

// The lines to append, each ending in "\n". The values are quoted twice: the conninfo
// value in libpq's keyword='value' syntax, the whole in a configuration-file string.
std::string RecoveryConfLines(const ConnInfo& conninfo, absl::string_view slot_name);

// Appends `lines` to <data_dir>/postgresql.auto.conf (creating it if the archive had none;
// written to a temporary file, fsynced, renamed, directory fsynced) and creates an empty
// standby.signal, both 0600, never through a symlink.
absl::Status WriteRecoveryConf(const std::string& data_dir, absl::string_view lines);

class TarRecoveryInjector {
 public:
  using Out = std::function<absl::Status(absl::string_view)>;
  // `out` receives the rewritten archive; `mtime` stamps the members written here.
  TarRecoveryInjector(std::string lines, int64_t mtime, Out out);

  // Raw tar bytes of the main archive, in pieces of any size.
  absl::Status Feed(absl::string_view bytes);
  // End of the archive (whether or not the server sent the two zero blocks, which 12-14
  // do not): writes postgresql.auto.conf, standby.signal and the end-of-archive marker.
  // DataLoss if the input stopped inside a member.
  absl::Status Finish();

 private:
  absl::Status Header();
  absl::Status WriteMember(absl::string_view name, absl::string_view content);

  std::string lines_;
  int64_t mtime_;
  Out out_;
  std::string header_;        // the header block being collected
  uint64_t content_left_ = 0;  // content plus padding of the current member
  bool holding_ = false;       // the current member is postgresql.auto.conf
  bool hold_next_ = false;     // set by a GNU long-name header: the next one is not ours
  std::string held_;           // its content (padding dropped at the end)
  uint64_t held_size_ = 0;
  uint32_t uid_, gid_;  // the server's member's owner when there is one, else ours
  bool ended_ = false;  // two zero blocks seen: anything after is dropped (tar ignores it)
  int zero_blocks_ = 0;
  bool finished_ = false;
};

}  // namespace walrep

#endif  // WALREP_BACKUP_RECOVERY_CONF_H_
