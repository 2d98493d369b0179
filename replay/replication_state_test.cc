#include "replay/replication_state.h"

#include <cerrno>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "replay/fault_file_ops.h"
#include "replay/test_util.h"

namespace walrep {
namespace {

using ::testing::HasSubstr;
using walrep::testing::TempDir;

TEST(StateFileTest, EncodeParseRoundTrip) {
  ReplicationState s{ReplicationRole::kReplica, Lsn(0x3000000), 1};
  EXPECT_EQ(EncodeStateFile(s), "version=1\nrole=replica\nflush_lsn=0/3000000\ntimeline=1\n");
  EXPECT_EQ(*ParseStateFile(EncodeStateFile(s)), s);
  ReplicationState p{ReplicationRole::kPrimary, Lsn(0x1A2B3C4D5E), 0xFFFFFFFF};
  EXPECT_EQ(*ParseStateFile(EncodeStateFile(p)), p);
}

TEST(StateFileTest, KeyOrderFreeAndUnknownKeysIgnored) {
  auto s = ParseStateFile("timeline=3\nfuture=x\nflush_lsn=1/0\nrole=primary\nversion=1\n");
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, (ReplicationState{ReplicationRole::kPrimary, Lsn(uint64_t{1} << 32), 3}));
}

TEST(StateFileTest, RejectsCorruptContent) {
  for (const char* bad : {
           "",
           "\n",
           "version=1\nrole=replica\nflush_lsn=0/3000000\ntimeline=1",  // truncated
           "version=2\nrole=replica\nflush_lsn=0/3000000\ntimeline=1\n",
           "version=1\nrole=leader\nflush_lsn=0/3000000\ntimeline=1\n",
           "version=1\nrole=replica\nflush_lsn=3000000\ntimeline=1\n",
           "version=1\nrole=replica\nflush_lsn=0/3000000\ntimeline=0\n",
           "version=1\nrole=replica\nflush_lsn=0/3000000\ntimeline=4294967296\n",
           "version=1\nrole=replica\nflush_lsn=0/3000000\ntimeline=-1\n",
           "version=1\nrole=replica\nflush_lsn=0/3000000\n",
           "version=1\nrole=replica\nrole=replica\nflush_lsn=0/3000000\ntimeline=1\n",
           "version=1\nrole=replica\n\nflush_lsn=0/3000000\ntimeline=1\n",
           "version=1\nrole=replica\nflush_lsn=0/3000000\ntimeline=1\n\n",
           "=1\n",
       }) {
    EXPECT_EQ(ParseStateFile(bad).status().code(), absl::StatusCode::kDataLoss) << bad;
  }
}

TEST(SmallFilesTest, SystemIdAndTimeline) {
  EXPECT_EQ(EncodeSystemIdFile(7301823463021563442u), "7301823463021563442\n");
  EXPECT_EQ(*ParseSystemIdFile("7301823463021563442\n"), 7301823463021563442u);
  EXPECT_EQ(*ParseSystemIdFile("18446744073709551615\n"), UINT64_MAX);
  for (const char* bad : {"", "0\n", "12", "12 \n", "+12\n", "18446744073709551616\n",
                          "x\n", "12\n\n"}) {
    EXPECT_EQ(ParseSystemIdFile(bad).status().code(), absl::StatusCode::kDataLoss) << bad;
  }
  EXPECT_EQ(*ParseTimelineFile(EncodeTimelineFile(12)), 12u);
  EXPECT_FALSE(ParseTimelineFile("0\n").ok());
  EXPECT_FALSE(ParseTimelineFile("4294967296\n").ok());
}

TEST(ReplicationStateStoreTest, StoreAndLoad) {
  TempDir dir;
  ReplicationStateStore store(dir.path());
  ASSERT_TRUE(store.Init().ok());
  EXPECT_FALSE(store.LoadSystemId()->has_value());
  EXPECT_FALSE(store.LoadTimeline()->has_value());
  EXPECT_FALSE(store.LoadState()->has_value());
  ASSERT_TRUE(store.StoreSystemId(42).ok());
  ASSERT_TRUE(store.StoreTimeline(2).ok());
  ReplicationState s{ReplicationRole::kReplica, Lsn(0x5000028), 2};
  ASSERT_TRUE(store.StoreState(s).ok());
  EXPECT_EQ(**store.LoadSystemId(), 42u);
  EXPECT_EQ(**store.LoadTimeline(), 2u);
  EXPECT_EQ(**store.LoadState(), s);
  EXPECT_EQ(testing::ReadAll(dir.Join("replication/system_id")), "42\n");
  EXPECT_EQ(testing::List(dir.Join("replication")),
            (std::vector<std::string>{"state", "system_id", "timeline"}));
  EXPECT_EQ(store.StoreSystemId(0).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(store.StoreTimeline(0).code(), absl::StatusCode::kInvalidArgument);
}

TEST(ReplicationStateStoreTest, CorruptFileIsDataLossWithPath) {
  TempDir dir;
  ReplicationStateStore store(dir.path());
  ASSERT_TRUE(store.Init().ok());
  testing::WriteAll(dir.Join("replication/state"), "role=replica\n");
  auto s = store.LoadState();
  EXPECT_EQ(s.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(s.status().message(), HasSubstr(dir.Join("replication/state")));
  testing::WriteAll(dir.Join("replication/timeline"), std::string(5000, '1'));
  EXPECT_EQ(store.LoadTimeline().status().code(), absl::StatusCode::kDataLoss);
}

TEST(ReplicationStateStoreTest, FailedStoreKeepsPreviousState) {
  TempDir dir;
  FaultInjectingFileOps ops;
  ReplicationStateStore store(dir.path(), &ops);
  ASSERT_TRUE(store.Init().ok());
  ReplicationState s{ReplicationRole::kReplica, Lsn(0x100), 1};
  ASSERT_TRUE(store.StoreState(s).ok());
  ops.FailAfter(FaultInjectingFileOps::Op::kSync, 0, ENOSPC);
  absl::Status failed =
      store.StoreState(ReplicationState{ReplicationRole::kPrimary, Lsn(0x200), 2});
  EXPECT_EQ(failed.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(failed.message(), HasSubstr("no space left on device"));
  EXPECT_EQ(**store.LoadState(), s);
}

// Every step of the state file's write-temp, fsync, rename, fsync-dir is checked: an
// fsync or rename that fails is reported to the caller, the old state stays readable and
// no temporary is left behind.
TEST(ReplicationStateStoreTest, FailedFsyncOrRenameOfTheStateFileIsReported) {
  using Op = FaultInjectingFileOps::Op;
  for (Op op : {Op::kSync, Op::kRename}) {
    TempDir dir;
    FaultInjectingFileOps ops;
    ReplicationStateStore store(dir.path(), &ops);
    ASSERT_TRUE(store.Init().ok());
    const ReplicationState old_state{ReplicationRole::kReplica, Lsn(0x100), 1};
    ASSERT_TRUE(store.StoreState(old_state).ok());
    ops.FailAfter(op, 0, EIO);
    absl::Status s =
        store.StoreState(ReplicationState{ReplicationRole::kPrimary, Lsn(0x200), 2});
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
    EXPECT_THAT(s.message(), HasSubstr(dir.Join("replication/state.tmp")));
    EXPECT_THAT(s.message(), HasSubstr("input/output error (errno 5)"));
    ops.Clear();
    EXPECT_EQ(**store.LoadState(), old_state);
    EXPECT_EQ(testing::List(dir.Join("replication")), std::vector<std::string>{"state"});
  }
}

TEST(ReplicationStateStoreTest, FailedDirectoryFsyncAfterTheRenameIsReported) {
  TempDir dir;
  FaultInjectingFileOps ops;
  ReplicationStateStore store(dir.path(), &ops);
  ASSERT_TRUE(store.Init().ok());
  ops.FailAfter(FaultInjectingFileOps::Op::kSyncDir, 0, EIO);
  absl::Status s = store.StoreTimeline(3);
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal) << s;
  EXPECT_THAT(s.message(), HasSubstr("fsync directory " + dir.Join("replication")));
  // The rename happened; what is unknown is only whether it survives a crash.
  ops.Clear();
  EXPECT_EQ(**store.LoadTimeline(), 3u);
}

TEST(ReplicationStateStoreTest, InitSyncsTheNewDirectoryIntoTheDataDirectory) {
  TempDir dir;
  FaultInjectingFileOps ops;
  ops.FailAfter(FaultInjectingFileOps::Op::kSyncDir, 0, EIO);
  ReplicationStateStore store(dir.path(), &ops);
  absl::Status s = store.Init();
  EXPECT_THAT(s.message(), HasSubstr("fsync directory " + dir.path() + ":"));
  EXPECT_EQ(ops.calls(FaultInjectingFileOps::Op::kSyncDir), 1);
  // Once it exists, a restart does not sync the data directory again.
  ops.Clear();
  ASSERT_TRUE(store.Init().ok());
  EXPECT_EQ(ops.calls(FaultInjectingFileOps::Op::kSyncDir), 1);
}

}  // namespace
}  // namespace walrep
