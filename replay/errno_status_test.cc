#include "replay/errno_status.h"

#include <cerrno>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace walrep {
namespace {

using ::testing::HasSubstr;

TEST(ErrnoStatusTest, Table) {
  struct Row {
    int err;
    absl::StatusCode code;
  };
  for (const Row& row : {
           Row{ENOENT, absl::StatusCode::kNotFound},
           Row{ENOSPC, absl::StatusCode::kResourceExhausted},
           Row{EDQUOT, absl::StatusCode::kResourceExhausted},
           Row{EACCES, absl::StatusCode::kPermissionDenied},
           Row{EPERM, absl::StatusCode::kPermissionDenied},
           Row{EROFS, absl::StatusCode::kPermissionDenied},
           Row{EEXIST, absl::StatusCode::kAlreadyExists},
           Row{ELOOP, absl::StatusCode::kInvalidArgument},
           Row{ENOTDIR, absl::StatusCode::kInvalidArgument},
           Row{EISDIR, absl::StatusCode::kInvalidArgument},
           Row{EIO, absl::StatusCode::kInternal},
           Row{EBADF, absl::StatusCode::kInternal},
           Row{EINVAL, absl::StatusCode::kInternal},
           Row{0, absl::StatusCode::kInternal},
       }) {
    EXPECT_EQ(ErrnoStatus("op", "p", row.err).code(), row.code) << "errno " << row.err;
  }
}

TEST(ErrnoStatusTest, MessageNamesOperationPathAndErrno) {
  absl::Status s = ErrnoStatus("fsync directory", "/data/wal", EIO);
  EXPECT_EQ(s.message(), "fsync directory /data/wal: input/output error (errno 5)");
  EXPECT_THAT(ErrnoStatus("write", "f", ENOSPC).message(),
              HasSubstr("no space left on device (errno 28)"));
}

}  // namespace
}  // namespace walrep
