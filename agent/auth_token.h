// The bearer token, read from --auth_token_file and re-read when the file changes (its
// inode, size or mtime), so a rotated token takes effect without a restart. A rewrite
// caught half-way (empty, unreadable, or opened up to group/others) keeps the last good
// token, with a warning, rather than locking every caller out or letting anyone in.
// Thread-safe.
#ifndef WALREP_AGENT_AUTH_TOKEN_H_
#define WALREP_AGENT_AUTH_TOKEN_H_

#include <sys/types.h>

#include <ctime>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace walrep {

class AuthTokenFile {
 public:
  // Reads the file once; its errors are the start-up errors of ReadAuthToken.
  static absl::StatusOr<std::unique_ptr<AuthTokenFile>> Open(const std::string& path);

  // The current token (re-read first if the file changed).
  std::string Current();

 private:
  explicit AuthTokenFile(std::string path) : path_(std::move(path)) {}
  struct FileId {
    ino_t ino = 0;
    off_t size = -1;
    timespec mtime{};
    bool operator==(const FileId& o) const {
      return ino == o.ino && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
             mtime.tv_nsec == o.mtime.tv_nsec;
    }
  };
  static bool Identify(const std::string& path, FileId* id);

  const std::string path_;
  absl::Mutex mu_;
  FileId id_ ABSL_GUARDED_BY(mu_);
  std::string token_ ABSL_GUARDED_BY(mu_);
};

}  // namespace walrep

#endif  // WALREP_AGENT_AUTH_TOKEN_H_
