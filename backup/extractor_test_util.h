// What the BackupExtractor tests share (extractor_test.cc, extractor_tablespace_test.cc):
// lstat-based Exists (a symlink counts as there), a FileObserver that records what it saw, and a fixture with a resolved temp directory
// that makes an extractor and feeds it archives through a TarReader in small chunks.
#ifndef WALREP_BACKUP_EXTRACTOR_TEST_UTIL_H_
#define WALREP_BACKUP_EXTRACTOR_TEST_UTIL_H_

#include <stdlib.h>
#include <sys/stat.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "backup/extractor.h"
#include "gtest/gtest.h"
#include "replay/file_ops.h"
#include "wire/cancel_token.h"
#include "wire/tar_reader.h"

namespace walrep::extractor_testing {

inline bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

class RecordingObserver : public FileObserver {
 public:
  absl::Status OnFileBegin(absl::string_view path) override {
    paths.emplace_back(path);
    sizes.push_back(0);
    return absl::OkStatus();
  }
  absl::Status OnFileData(absl::string_view bytes) override {
    sizes.back() += bytes.size();
    return absl::OkStatus();
  }
  absl::Status OnFileEnd() override {
    ++ends;
    return absl::OkStatus();
  }
  std::vector<std::string> paths;
  std::vector<uint64_t> sizes;
  int ends = 0;
};

class ExtractorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = std::string(std::getenv("TEST_TMPDIR")) + "/ex.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    // Resolved: the in-place rules refuse any symlink on the way, the test's own too.
    char* real = realpath(tmpl.c_str(), nullptr);
    ASSERT_NE(real, nullptr);
    base_ = real;
    free(real);
    target_ = base_ + "/target/data";  // parents created on demand
  }

  absl::StatusOr<std::unique_ptr<BackupExtractor>> Make(
      std::map<std::string, std::string> mapping = {}, size_t buffer = 1000, bool in_place = false,
      const CancelToken* cancel = nullptr) {
    ExtractorOptions options;
    options.target_dir = target_;
    options.tablespace_mapping = std::move(mapping);
    options.tablespaces_in_place = in_place;
    options.cancel = cancel;
    options.write_buffer_size = buffer;
    options.file_ops = ops_;
    return BackupExtractor::Create(options, &observer_);
  }

  // Feeds one archive through a TarReader in small chunks.
  absl::Status Extract(BackupExtractor* x, absl::string_view tar, absl::string_view oid = "",
                       absl::string_view location = "") {
    absl::Status s = x->BeginArchive(oid, location);
    if (!s.ok()) return s;
    TarReader reader;
    for (size_t i = 0; i < tar.size(); i += 333) {
      s = reader.Feed(tar.substr(i, 333), x);
      if (!s.ok()) return s;
    }
    s = reader.Finish();
    if (!s.ok()) return s;
    return x->EndArchive();
  }

  std::string base_, target_;
  RecordingObserver observer_;
  FileOps* ops_ = DefaultFileOps();
};

}  // namespace walrep::extractor_testing

#endif  // WALREP_BACKUP_EXTRACTOR_TEST_UTIL_H_
