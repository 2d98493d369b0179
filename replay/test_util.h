// Helpers for replay/ tests: a fresh temporary directory per test (under TEST_TMPDIR,
// removed on destruction) and raw file access that bypasses the code under test.
// Thread-compatible.
#ifndef WALREP_REPLAY_TEST_UTIL_H_
#define WALREP_REPLAY_TEST_UTIL_H_

#include <cstdint>
#include <string>
#include <vector>

namespace walrep::testing {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Join(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

bool Exists(const std::string& path);
// -1 when absent.
int64_t SizeOf(const std::string& path);
std::string ReadAll(const std::string& path);
void WriteAll(const std::string& path, const std::string& contents);
// Sorted directory entries.
std::vector<std::string> List(const std::string& dir);

}  // namespace walrep::testing

#endif  // WALREP_REPLAY_TEST_UTIL_H_
