#include "wire/md5_auth.h"

#include <string>

#include "gtest/gtest.h"

namespace walrep {
namespace {

// Expected values computed independently with Python's hashlib:
//   i = md5((password + user).encode()).hexdigest()
//   "md5" + md5(i.encode() + salt).hexdigest()
TEST(Md5PasswordHashTest, KnownVectors) {
  EXPECT_EQ(*Md5PasswordHash("postgres", "secret",
                             std::string("\x01\x02\x03\x04", 4)),
            "md5bb41a296aab6baccb36ff243a562abff");
  EXPECT_EQ(*Md5PasswordHash("replicator", "", std::string(4, '\0')),
            "md5416688347ab5c7871e830b1124c434c6");
  // UTF-8 user and password, salt bytes with the high bit set.
  EXPECT_EQ(*Md5PasswordHash("u\xc3\xa9", "p\xc3\xa4ss",
                             std::string("\xff\xfe\x80\x7f", 4)),
            "md5d844a65d7783271eaadc183b7b8ddd78");
}

TEST(Md5PasswordHashTest, ResultShape) {
  auto r = Md5PasswordHash("a", "b", "salt");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->size(), 35u);
  EXPECT_EQ(r->substr(0, 3), "md5");
  for (char c : r->substr(3))
    EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
}

TEST(Md5PasswordHashTest, SaltMustBeFourBytes) {
  EXPECT_EQ(Md5PasswordHash("u", "p", "abc").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Md5PasswordHash("u", "p", "abcde").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(Md5PasswordHashTest, ErrorDoesNotMentionPassword) {
  auto r = Md5PasswordHash("u", "hunter2", "");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(std::string(r.status().message()).find("hunter2"),
            std::string::npos);
}

}  // namespace
}  // namespace walrep
