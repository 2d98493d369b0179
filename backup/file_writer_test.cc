#include "backup/file_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "replay/test_util.h"

namespace walrep {
namespace {

using ::walrep::testing::ReadAll;
using ::walrep::testing::TempDir;

// Appends `data` to fd through the writer in buffer-sized pieces.
void Append(FileWriter& w, int fd, const std::string& data, const std::string& name) {
  for (size_t off = 0; off < data.size(); off += w.buffer_size()) {
    char* b = w.Buffer();
    ASSERT_NE(b, nullptr);
    size_t n = std::min(w.buffer_size(), data.size() - off);
    std::memcpy(b, data.data() + off, n);
    w.Write(fd, b, n, name);
  }
}

TEST(FileWriterTest, WritesFilesInOrderWithMoreFilesThanBuffers) {
  TempDir tmp;
  const std::string& dir = tmp.path();
  FileWriter w(8192, 2, /*direct_io=*/true);
  std::vector<std::string> contents;
  for (int f = 0; f < 6; ++f) {
    std::string data(f * 8192 + f * 100, '\0');
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 13 + f);
    contents.push_back(data);
    const std::string path = dir + "/f" + std::to_string(f);
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    Append(w, fd, data, path);
    w.Close(fd, path);
  }
  ASSERT_TRUE(w.Drain().ok());
  for (int f = 0; f < 6; ++f) {
    EXPECT_EQ(ReadAll(dir + "/f" + std::to_string(f)), contents[f]) << f;
  }
  // Full buffers went direct where the file system takes O_DIRECT: 0+1+2+3+4+5 of them.
  int probe = open((dir + "/probe").c_str(), O_WRONLY | O_CREAT | O_DIRECT, 0600);
  if (probe >= 0) {
    close(probe);
    EXPECT_EQ(w.direct_bytes(), 15u * 8192);
  }
}

TEST(FileWriterTest, FirstFailureIsStickyNamesTheFileAndFilesAreStillClosed) {
  TempDir tmp;
  const std::string& dir = tmp.path();
  FileWriter w(4096, 2, /*direct_io=*/false);
  const std::string path = dir + "/readonly";
  int fd = open(path.c_str(), O_RDONLY | O_CREAT, 0600);  // write() fails with EBADF
  ASSERT_GE(fd, 0);
  char* b = w.Buffer();
  ASSERT_NE(b, nullptr);
  std::memset(b, 'x', 4096);
  w.Write(fd, b, 4096, path);
  w.Close(fd, path);
  absl::Status st = w.Drain();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("readonly"), std::string::npos) << st;
  EXPECT_EQ(w.status(), st);
  EXPECT_EQ(w.Buffer(), nullptr);  // nothing more is accepted
  EXPECT_EQ(fcntl(fd, F_GETFD), -1);  // closed anyway
  EXPECT_EQ(errno, EBADF);
}

}  // namespace
}  // namespace walrep
