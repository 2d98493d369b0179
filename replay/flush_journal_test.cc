#include "replay/flush_journal.h"

#include <fcntl.h>
#include <unistd.h>

#include "gtest/gtest.h"

namespace walrep {
namespace {

std::string TempPath(const std::string& name) {
  std::string p = ::testing::TempDir() + "/" + name;
  unlink(p.c_str());
  return p;
}

TEST(FlushJournalTest, RecordsAndReloadsNewest) {
  std::string path = TempPath("journal1");
  EXPECT_FALSE(FlushJournal::Load(path)->has_value());
  {
    auto j = FlushJournal::Open(path);
    ASSERT_TRUE(j.ok()) << j.status();
    ASSERT_TRUE((*j)->Record(Lsn(0x1000), 1).ok());
    ASSERT_TRUE((*j)->Record(Lsn(0x2000), 1).ok());
    ASSERT_TRUE((*j)->Record(Lsn(0x3000028), 2).ok());
  }
  auto rec = FlushJournal::Load(path);
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ((*rec)->flush_lsn, Lsn(0x3000028));
  EXPECT_EQ((*rec)->timeline, 2u);
  // Reopening continues the sequence, so a later record still wins.
  {
    auto j = FlushJournal::Open(path);
    ASSERT_TRUE(j.ok());
    ASSERT_TRUE((*j)->Record(Lsn(0x4000000), 2).ok());
  }
  EXPECT_EQ((*FlushJournal::Load(path))->flush_lsn, Lsn(0x4000000));
}

TEST(FlushJournalTest, TornSlotFallsBackToThePreviousRecord) {
  std::string path = TempPath("journal2");
  {
    auto j = FlushJournal::Open(path);
    ASSERT_TRUE(j.ok());
    ASSERT_TRUE((*j)->Record(Lsn(0x1000), 1).ok());  // seq 1 → slot 1
    ASSERT_TRUE((*j)->Record(Lsn(0x2000), 1).ok());  // seq 2 → slot 0
  }
  // Damage the newest slot (slot 0) as a torn write would.
  int fd = open(path.c_str(), O_WRONLY);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(pwrite(fd, "\xff\xff", 2, 20), 2);
  close(fd);
  auto rec = FlushJournal::Load(path);
  ASSERT_TRUE(rec.ok() && rec->has_value());
  EXPECT_EQ((*rec)->flush_lsn, Lsn(0x1000));
}

TEST(FlushJournalTest, SlotCodecRejectsCorruption) {
  FlushRecord r{Lsn(42), 3, 9};
  std::string slot = EncodeFlushSlot(r);
  ASSERT_EQ(slot.size(), 512u);
  auto back = DecodeFlushSlot(slot);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->flush_lsn, Lsn(42));
  EXPECT_EQ(back->seq, 9u);
  for (size_t i = 0; i < 32; ++i) {
    std::string bad = slot;
    bad[i] ^= 1;
    EXPECT_FALSE(DecodeFlushSlot(bad).has_value()) << i;
  }
  EXPECT_FALSE(DecodeFlushSlot("short").has_value());
}

}  // namespace
}  // namespace walrep
