#include "wire/read_buffer.h"

#include <string>

#include "gtest/gtest.h"

namespace walrep {
namespace {

void Fill(ReadBuffer& b, const std::string& bytes) {
  absl::Span<uint8_t> room = b.Reserve(bytes.size());
  ASSERT_GE(room.size(), bytes.size());
  std::memcpy(room.data(), bytes.data(), bytes.size());
  b.Commit(bytes.size());
}

TEST(ReadBufferTest, BytesComeOutInOrderAcrossConsumesCompactionsAndGrowth) {
  ReadBuffer b;
  EXPECT_EQ(b.readable(), "");
  Fill(b, "hello ");
  Fill(b, "world");
  EXPECT_EQ(b.readable(), "hello world");
  b.Consume(6);
  EXPECT_EQ(b.readable(), "world");
  // A reservation larger than the free room moves the unread bytes and grows.
  const std::string big(1000, 'x');
  Fill(b, big);
  EXPECT_EQ(b.readable(), "world" + big);
  b.Consume(5 + 1000);
  EXPECT_EQ(b.readable(), "");
  b.Append("E");
  EXPECT_EQ(b.readable(), "E");
}

TEST(ReadBufferTest, ReserveNeverReturnsLessThanAsked) {
  ReadBuffer b;
  for (size_t n : {1u, 7u, 4096u, 262144u, 3u}) {
    EXPECT_GE(b.Reserve(n).size(), n);
    b.Commit(1);
    b.Consume(1);
  }
}

}  // namespace
}  // namespace walrep
