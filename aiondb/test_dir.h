// A fresh temporary directory for the aiondb unit tests (under TEST_TMPDIR), removed
// with its contents when the test ends. Test-only; not thread-safe.
#ifndef WALREP_AIONDB_TEST_DIR_H_
#define WALREP_AIONDB_TEST_DIR_H_

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <string>

namespace walrep::aiondb {

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string tmpl = std::string(base ? base : "/tmp") + "/aiondb.XXXXXX";
    path_ = mkdtemp(tmpl.data()) ? tmpl : std::string();
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

inline int64_t SizeOf(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size : -1;
}

}  // namespace walrep::aiondb

#endif  // WALREP_AIONDB_TEST_DIR_H_
