// Test helpers for this package: a temporary directory under TEST_TMPDIR (removed on
// destruction) and whole-file writes. Test-only; thread-compatible.
#ifndef WALREP_TOOLS_WALDUMP_TEST_FILES_H_
#define WALREP_TOOLS_WALDUMP_TEST_FILES_H_

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace walrep::waldump::testing {

class TempDir {
 public:
  TempDir() {
    const char* root = std::getenv("TEST_TMPDIR");
    std::string templ = std::string(root ? root : "/tmp") + "/waldump.XXXXXX";
    path_ = mkdtemp(templ.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Join(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(contents.data(), static_cast<std::streamsize>(contents.size()));
}

}  // namespace walrep::waldump::testing

#endif  // WALREP_TOOLS_WALDUMP_TEST_FILES_H_
