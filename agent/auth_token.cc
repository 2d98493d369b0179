#include "agent/auth_token.h"

#include <sys/stat.h>

#include "agent/config.h"
#include "agent/logging.h"

namespace walrep {

bool AuthTokenFile::Identify(const std::string& path, FileId* id) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return false;
  id->ino = st.st_ino;
  id->size = st.st_size;
  id->mtime = st.st_mtim;
  return true;
}

absl::StatusOr<std::unique_ptr<AuthTokenFile>> AuthTokenFile::Open(const std::string& path) {
  std::unique_ptr<AuthTokenFile> f(new AuthTokenFile(path));
  FileId id;
  Identify(path, &id);
  auto token = ReadAuthToken(path);
  if (!token.ok()) return token.status();
  absl::MutexLock lock(&f->mu_);
  f->id_ = id;
  f->token_ = *std::move(token);
  return f;
}

std::string AuthTokenFile::Current() {
  FileId now;
  const bool present = Identify(path_, &now);
  absl::MutexLock lock(&mu_);
  if (present && now == id_) return token_;
  // Changed (or gone): remember the new identity either way, so a bad file is reported
  // once per change rather than on every call.
  id_ = now;
  auto token = ReadAuthToken(path_);
  if (!token.ok()) {
    ModuleLogger("agent")->warn("auth token file changed but cannot be used ({}); keeping the "
                                "previous token",
                                token.status().message());
    return token_;
  }
  if (*token != token_) ModuleLogger("agent")->info("auth token reloaded from {}", path_);
  token_ = *std::move(token);
  return token_;
}

}  // namespace walrep
