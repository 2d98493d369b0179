#include "backup/extractor.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "backup/incomplete.h"
#include "replay/fault_file_ops.h"
#include "wire/testing/tar_builder.h"
#include "gtest/gtest.h"
#include "wire/tar_reader.h"

namespace walrep {
namespace {

using ::walrep::testing::TarBuilder;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

bool Exists(const std::string& path) {
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

TEST_F(ExtractorTest, ExtractsSyncsAndCompletes) {
  auto x = Make();
  ASSERT_TRUE(x.ok()) << x.status();
  EXPECT_TRUE(*IsIncompleteWalrepBackup(target_));
  std::string big(100000, 'b');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7);
  TarBuilder tar;
  tar.Dir("./")
      .File("PG_VERSION", "15\n")
      .Dir("global/")
      .File("global/pg_control", big)
      .Dir("./pg_wal/")
      .Dir("./pg_wal/archive_status/")
      .File("base/1/1259", "")  // parents created on the fly
      .Trailer();
  ASSERT_TRUE(Extract(x->get(), tar.out).ok());
  EXPECT_EQ(ReadFile(target_ + "/PG_VERSION"), "15\n");
  EXPECT_EQ(ReadFile(target_ + "/global/pg_control"), big);
  EXPECT_TRUE(Exists(target_ + "/pg_wal/archive_status"));
  struct stat st;
  ASSERT_EQ(stat((target_ + "/global/pg_control").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(stat((target_ + "/global").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ((*x)->files_written(), 3u);
  EXPECT_EQ((*x)->bytes_written(), 3u + big.size());
  EXPECT_EQ(observer_.paths,
            (std::vector<std::string>{"PG_VERSION", "global/pg_control", "base/1/1259"}));
  EXPECT_EQ(observer_.sizes[1], big.size());
  EXPECT_EQ(observer_.ends, 3);

  ASSERT_TRUE((*x)->WriteFile("backup_manifest", "{}\n").ok());
  EXPECT_EQ(observer_.paths.size(), 3u);  // not observed
  EXPECT_EQ((*x)->MarkComplete().code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE((*x)->SyncAll().ok());
  EXPECT_TRUE(*IsIncompleteWalrepBackup(target_));
  ASSERT_TRUE((*x)->MarkComplete().ok());
  EXPECT_FALSE(*IsIncompleteWalrepBackup(target_));
  EXPECT_EQ(ReadFile(target_ + "/backup_manifest"), "{}\n");
}

// Full aligned buffers go to the device with O_DIRECT, tails and small files through the
// page cache; either way every byte lands where it belongs.
TEST_F(ExtractorTest, FullBuffersAreWrittenDirectAndTailsBuffered) {
  ExtractorOptions options;
  options.target_dir = target_;
  options.write_buffer_size = 8192;
  options.file_ops = ops_;
  ASSERT_TRUE(options.direct_io);  // the default
  auto x = BackupExtractor::Create(options, &observer_);
  ASSERT_TRUE(x.ok()) << x.status();
  auto pattern = [](size_t n, int seed) {
    std::string s(n, '\0');
    for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 31 + seed);
    return s;
  };
  const std::vector<std::pair<std::string, std::string>> files = {
      {"empty", ""}, {"small", pattern(100, 1)}, {"one", pattern(8192, 2)},
      {"three_and_a_bit", pattern(3 * 8192 + 5, 3)}, {"rel", pattern(40000, 4)}};
  TarBuilder tar;
  for (const auto& [name, data] : files) tar.File(name, data);
  tar.Trailer();
  ASSERT_TRUE(Extract(x->get(), tar.out).ok());
  for (const auto& [name, data] : files) EXPECT_EQ(ReadFile(target_ + "/" + name), data) << name;
  ASSERT_TRUE((*x)->SyncAll().ok());
  // Does this file system take O_DIRECT at all? If it does, the extractor must have used it.
  int probe = open((base_ + "/probe").c_str(), O_WRONLY | O_CREAT | O_DIRECT, 0600);
  if (probe >= 0) {
    close(probe);
    EXPECT_EQ((*x)->direct_bytes(), (1 + 3 + 4) * 8192u);
  } else {
    EXPECT_EQ((*x)->direct_bytes(), 0u);
  }
  // Off, nothing is written direct.
  target_ = base_ + "/buffered";
  options.target_dir = target_;
  options.direct_io = false;
  auto y = BackupExtractor::Create(options, &observer_);
  ASSERT_TRUE(y.ok()) << y.status();
  ASSERT_TRUE(Extract(y->get(), tar.out).ok());
  for (const auto& [name, data] : files) EXPECT_EQ(ReadFile(target_ + "/" + name), data) << name;
  EXPECT_EQ((*y)->direct_bytes(), 0u);
}

TEST_F(ExtractorTest, RefusesNonEmptyTarget) {
  ASSERT_EQ(mkdir((base_ + "/target").c_str(), 0700), 0);
  ASSERT_EQ(mkdir(target_.c_str(), 0700), 0);
  ASSERT_EQ(close(open((target_ + "/x").c_str(), O_CREAT | O_WRONLY, 0600)), 0);
  auto x = Make();
  EXPECT_EQ(x.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(absl::StrContains(x.status().message(), "exists but is not empty"));
  EXPECT_FALSE(*IsIncompleteWalrepBackup(target_));
}

TEST_F(ExtractorTest, RejectsUnsafeMembers) {
  struct Case {
    TarBuilder tar;
    absl::StatusCode code;
  };
  std::vector<Case> cases;
  cases.push_back({TarBuilder().File("../escape", "x"), absl::StatusCode::kInvalidArgument});
  cases.push_back({TarBuilder().File("/abs", "x"), absl::StatusCode::kInvalidArgument});
  cases.push_back({TarBuilder().File("a/../../b", "x"), absl::StatusCode::kInvalidArgument});
  cases.push_back({TarBuilder().File("./", "x"), absl::StatusCode::kInvalidArgument});
  cases.push_back({TarBuilder().Symlink("evil", "/"), absl::StatusCode::kInvalidArgument});
  cases.push_back(
      {TarBuilder().Symlink("pg_tblspc/1/x", "/t"), absl::StatusCode::kInvalidArgument});
  cases.push_back({TarBuilder().Symlink("pg_tblspc/16384", "/nowhere"),
                   absl::StatusCode::kDataLoss});  // no tablespace archive came first
  cases.push_back({TarBuilder().File("a", "1").File("a", "2"), absl::StatusCode::kAlreadyExists});
  cases.push_back(
      {TarBuilder().File("f", "1").File("f/g", "2"), absl::StatusCode::kInvalidArgument});
  cases.push_back(
      {TarBuilder().File(kIncompleteMarkerName, ""), absl::StatusCode::kInvalidArgument});
  for (size_t i = 0; i < cases.size(); ++i) {
    ASSERT_EQ(ClearIncomplete(target_).code(),
              i == 0 ? absl::StatusCode::kNotFound : absl::StatusCode::kOk);
    auto x = Make();
    ASSERT_TRUE(x.ok()) << x.status();
    absl::Status s = Extract(x->get(), cases[i].tar.out);
    EXPECT_EQ(s.code(), cases[i].code) << i << " " << s;
  }
  EXPECT_FALSE(Exists(base_ + "/target/escape"));
  EXPECT_FALSE(Exists(base_ + "/b"));
}

TEST_F(ExtractorTest, TablespaceMappedAndLinked) {
  std::string ts_new = base_ + "/ts_new";
  auto x = Make({{"/srv/pg/ts1/", ts_new}});
  ASSERT_TRUE(x.ok()) << x.status();
  TarBuilder ts;
  ts.Dir("PG_15_202209061/")
      .Dir("PG_15_202209061/5/")
      .File("PG_15_202209061/5/16385", std::string(8192, 'r'));
  ASSERT_TRUE(Extract(x->get(), ts.out, "16384", "/srv/pg/ts1").ok());
  TarBuilder main;
  main.Dir("pg_tblspc/").Symlink("pg_tblspc/16384", "/srv/pg/ts1").File("PG_VERSION", "15\n");
  ASSERT_TRUE(Extract(x->get(), main.out).ok());  // no trailer: PostgreSQL 12-14 style
  EXPECT_EQ(ReadFile(ts_new + "/PG_15_202209061/5/16385"), std::string(8192, 'r'));
  char link[4096];
  ssize_t n = readlink((target_ + "/pg_tblspc/16384").c_str(), link, sizeof(link));
  ASSERT_GT(n, 0);
  EXPECT_EQ(std::string(link, n), ts_new);
  EXPECT_EQ(observer_.paths[0], "pg_tblspc/16384/PG_15_202209061/5/16385");
  ASSERT_TRUE((*x)->SyncAll().ok());
  ASSERT_TRUE((*x)->MarkComplete().ok());
  EXPECT_FALSE(Exists(ts_new + "/" + kIncompleteMarkerName));
}

TEST_F(ExtractorTest, MainArchiveCannotWriteThroughTablespaceLink) {
  std::string ts = base_ + "/ts";
  auto x = Make({}, 1000, /*in_place=*/true);
  ASSERT_TRUE(x.ok());
  ASSERT_TRUE(Extract(x->get(), TarBuilder().out, "16384", ts).ok());
  TarBuilder main;
  main.Symlink("pg_tblspc/16384", ts).File("pg_tblspc/16384/evil", "x");
  absl::Status s = Extract(x->get(), main.out);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "pg_tblspc/16384/evil")) << s;
  EXPECT_FALSE(Exists(ts + "/evil"));
}

TEST_F(ExtractorTest, TablespaceChecks) {
  // Unmapped and pointing at a populated directory: refused like pg_basebackup does.
  std::string busy = base_ + "/busy";
  ASSERT_EQ(mkdir(busy.c_str(), 0700), 0);
  ASSERT_EQ(close(open((busy + "/PG_15").c_str(), O_CREAT | O_WRONLY, 0600)), 0);
  auto x = Make({}, 1000, /*in_place=*/true);
  ASSERT_TRUE(x.ok());
  absl::Status s = (*x)->BeginArchive("16384", busy);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), absl::StrCat("directory \"", busy, "\" exists but is not empty"));
  // The refused directory is listed in the marker but carries no marker of its own, so
  // clearing the aborted backup must leave it alone.
  ASSERT_TRUE(ClearIncomplete(target_).ok());
  EXPECT_TRUE(Exists(busy + "/PG_15"));
  x = Make({}, 1000, /*in_place=*/true);
  ASSERT_TRUE(x.ok());
  EXPECT_EQ((*x)->BeginArchive("12ab", "/x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ((*x)->BeginArchive("1", "relative").code(), absl::StatusCode::kInvalidArgument);

  // Link target disagreeing with where the archive went.
  ASSERT_TRUE(Extract(x->get(), "", "7", base_ + "/t7").ok());
  EXPECT_EQ(Extract(x->get(), TarBuilder().Symlink("pg_tblspc/7", "/other").out).code(),
            absl::StatusCode::kDataLoss);
  // Symlinks inside a tablespace archive are never created.
  ASSERT_TRUE((*x)->EndArchive().ok());
  EXPECT_EQ(
      Extract(x->get(), TarBuilder().Symlink("pg_tblspc/8", "/t").out, "8", base_ + "/t8").code(),
      absl::StatusCode::kInvalidArgument);

  ExtractorOptions bad;
  bad.target_dir = base_ + "/t";
  bad.tablespace_mapping["relative"] = "/x";
  EXPECT_EQ(BackupExtractor::Create(bad, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(ExtractorTest, ClearIncompleteRemovesBackupAndItsTablespaces) {
  std::string ts = base_ + "/ts";
  std::string outside = base_ + "/outside";
  ASSERT_EQ(mkdir(outside.c_str(), 0700), 0);
  ASSERT_EQ(close(open((outside + "/precious").c_str(), O_CREAT | O_WRONLY, 0600)), 0);
  {
    auto x = Make({}, 1000, /*in_place=*/true);
    ASSERT_TRUE(x.ok());
    ASSERT_TRUE(Extract(x->get(), TarBuilder().File("PG_15/f", "x").out, "16384", ts).ok());
    ASSERT_TRUE(
        Extract(x->get(), TarBuilder().Symlink("pg_tblspc/16384", ts).File("base/1/2", "y").out)
            .ok());
    ASSERT_EQ(symlink(outside.c_str(), (target_ + "/base/out").c_str()), 0);
    // Abandoned here: no SyncAll, no MarkComplete.
  }
  EXPECT_TRUE(*IsIncompleteWalrepBackup(target_));
  ASSERT_TRUE(ClearIncomplete(target_).ok());
  EXPECT_FALSE(*IsIncompleteWalrepBackup(target_));
  EXPECT_FALSE(Exists(target_ + "/base"));
  EXPECT_FALSE(Exists(ts + "/PG_15"));
  EXPECT_TRUE(Exists(outside + "/precious"));
  // A fresh backup can now go into the same places.
  auto again = Make({}, 1000, /*in_place=*/true);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(Extract(again->get(), "", "16384", ts).ok());

  // A directory without the marker is never wiped.
  EXPECT_EQ(ClearIncomplete(outside).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Exists(outside + "/precious"));
  EXPECT_FALSE(*IsIncompleteWalrepBackup(base_ + "/missing"));
}

// The marker is what keeps a half-done backup from passing for a data directory, so a
// failure to make it (or its removal) durable is an error of the backup, never ignored.
TEST_F(ExtractorTest, MarkerWritesAndTheirFsyncsAreChecked) {
  using Op = FaultInjectingFileOps::Op;
  FaultInjectingFileOps ops;
  ops_ = &ops;
  ops.FailAfter(Op::kSync, 0, EIO);
  auto x = Make();
  EXPECT_EQ(x.status().code(), absl::StatusCode::kInternal) << x.status();
  EXPECT_TRUE(absl::StrContains(x.status().message(),
                                absl::StrCat("fsync ", target_, "/", kIncompleteMarkerName)))
      << x.status();
  ASSERT_TRUE(ClearIncomplete(target_).ok());

  ops.Clear();
  ops.FailAfter(Op::kWrite, 0, ENOSPC);
  EXPECT_EQ(Make().status().code(), absl::StatusCode::kResourceExhausted);
  ASSERT_TRUE(ClearIncomplete(target_).ok());

  // Created target: the marker's directory, then the target's parent.
  ops.Clear();
  ASSERT_EQ(rmdir(target_.c_str()), 0);
  const int before = ops.calls(Op::kSyncDir);
  x = Make();
  ASSERT_TRUE(x.ok()) << x.status();
  EXPECT_EQ(ops.calls(Op::kSyncDir), before + 2);
  ASSERT_TRUE((*x)->SyncAll().ok());
  ops.FailAfter(Op::kSyncDir, 0, EIO);
  absl::Status done = (*x)->MarkComplete();
  EXPECT_EQ(done.code(), absl::StatusCode::kInternal) << done;
  EXPECT_TRUE(absl::StrContains(done.message(), "fsync directory " + target_)) << done;
}

TEST(TablespaceOidFromArchiveNameTest, Names) {
  EXPECT_EQ(*TablespaceOidFromArchiveName("base.tar"), "");
  EXPECT_EQ(*TablespaceOidFromArchiveName("16384.tar"), "16384");
  EXPECT_FALSE(TablespaceOidFromArchiveName("base.tar.gz").ok());
  EXPECT_FALSE(TablespaceOidFromArchiveName("../1.tar").ok());
  EXPECT_FALSE(TablespaceOidFromArchiveName(".tar").ok());
}

}  // namespace
}  // namespace walrep

namespace walrep {
namespace {

TEST_F(ExtractorTest, TablespaceMapRefusedWhenTablespacesAreRelocated) {
  auto x = Make({{"/srv/ts", base_ + "/moved"}});
  ASSERT_TRUE(x.ok());
  ASSERT_TRUE(Extract(x->get(), "", "16384", "/srv/ts").ok());
  absl::Status s = Extract(x->get(), TarBuilder().File("tablespace_map", "16384 /srv/ts\n").out);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;

  // Unmapped, the file is harmless: the links it describes point where the data went.
  ASSERT_TRUE(ClearIncomplete(target_).ok());
  auto y = Make({}, 1000, /*in_place=*/true);
  ASSERT_TRUE(y.ok());
  std::string ts = base_ + "/ts";
  ASSERT_TRUE(Extract(y->get(), "", "16384", ts).ok());
  EXPECT_TRUE(
      Extract(y->get(), TarBuilder().File("tablespace_map", "16384 " + ts + "\n").out).ok());
}

TEST_F(ExtractorTest, UnmappedTablespacesRefusedTogetherUnlessInPlace) {
  std::string mapped = base_ + "/mapped";
  auto x = Make({{"/srv/a", mapped}});
  ASSERT_TRUE(x.ok()) << x.status();
  std::vector<std::string> announced = {"/srv/a", "/srv/b", "/srv/c/"};
  absl::Status s = (*x)->CheckTablespaces(announced);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "\"/srv/b\", \"/srv/c/\"")) << s;
  EXPECT_FALSE(absl::StrContains(s.message(), "\"/srv/a\"")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "tablespaces_in_place")) << s;
  EXPECT_TRUE((*x)->CheckTablespaces({"/srv/a/"}).ok());
  // An archive for a location nobody announced is refused the same way, untouched.
  std::string stray = base_ + "/stray";
  s = (*x)->BeginArchive("16390", stray);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_FALSE(Exists(stray));
  // Mapped: the archive goes to the mapped directory.
  ASSERT_TRUE(
      Extract(x->get(), TarBuilder().File("PG_15_x/f", "data").out, "16384", "/srv/a").ok());
  EXPECT_EQ(ReadFile(mapped + "/PG_15_x/f"), "data");
}

TEST_F(ExtractorTest, InPlaceRefusesASymlinkedParentOrLocation) {
  std::string real = base_ + "/real";
  ASSERT_EQ(mkdir(real.c_str(), 0700), 0);
  ASSERT_EQ(symlink(real.c_str(), (base_ + "/link").c_str()), 0);
  auto x = Make({}, 1000, /*in_place=*/true);
  ASSERT_TRUE(x.ok()) << x.status();
  for (const std::string& location :
       {base_ + "/link/ts", base_ + "/link/deeper/ts", base_ + "/link"}) {
    absl::Status s = (*x)->CheckTablespaces({location});
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << location << ": " << s;
    s = (*x)->BeginArchive("16384", location);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << location << ": " << s;
  }
  // Nothing was created through the link.
  EXPECT_FALSE(Exists(real + "/ts"));
  EXPECT_FALSE(Exists(real + "/deeper"));
  EXPECT_FALSE(Exists(real + "/" + kIncompleteMarkerName));
}

TEST_F(ExtractorTest, InPlaceRefusesNonEmptyRelativeAndOverlappingLocations) {
  std::string busy = base_ + "/busy";
  ASSERT_EQ(mkdir(busy.c_str(), 0700), 0);
  ASSERT_EQ(close(open((busy + "/PG_15").c_str(), O_CREAT | O_WRONLY, 0600)), 0);
  auto x = Make({}, 1000, /*in_place=*/true);
  ASSERT_TRUE(x.ok()) << x.status();
  absl::Status s = (*x)->CheckTablespaces({busy});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "not empty")) << s;
  for (const std::string& location : {std::string("relative/ts"), std::string(""), target_ + "/ts",
                                      base_ + "/target", base_ + "/x/../busy", std::string("/")}) {
    s = (*x)->CheckTablespaces({location});
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << "\"" << location << "\": " << s;
  }
  EXPECT_FALSE(Exists(target_ + "/ts"));
  EXPECT_FALSE(Exists(base_ + "/x"));

  // Nor inside (or around) the agent's own data directory.
  ExtractorOptions options;
  options.target_dir = base_ + "/other_target";
  options.tablespaces_in_place = true;
  options.protected_dir = base_ + "/agent/";
  auto y = BackupExtractor::Create(options, nullptr);
  ASSERT_TRUE(y.ok()) << y.status();
  for (const std::string& location : {base_ + "/agent", base_ + "/agent/wal/x", base_}) {
    s = (*y)->CheckTablespaces({location});
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << location << ": " << s;
  }
  EXPECT_TRUE((*y)->CheckTablespaces({base_ + "/agent2"}).ok());
}

TEST_F(ExtractorTest, InPlaceIntoAbsentOrEmptyLocations) {
  std::string empty = base_ + "/empty";
  ASSERT_EQ(mkdir(empty.c_str(), 0700), 0);
  std::string absent = base_ + "/new/deep/ts";
  auto x = Make({}, 1000, /*in_place=*/true);
  ASSERT_TRUE(x.ok()) << x.status();
  ASSERT_TRUE((*x)->CheckTablespaces({empty, absent}).ok());
  ASSERT_TRUE(Extract(x->get(), TarBuilder().File("PG_15_x/a", "A").out, "16384", empty).ok());
  ASSERT_TRUE(Extract(x->get(), TarBuilder().File("PG_15_x/b", "B").out, "16385", absent).ok());
  TarBuilder main;
  main.Dir("pg_tblspc/").Symlink("pg_tblspc/16384", empty).Symlink("pg_tblspc/16385", absent);
  ASSERT_TRUE(Extract(x->get(), main.out).ok());
  EXPECT_EQ(ReadFile(target_ + "/pg_tblspc/16384/PG_15_x/a"), "A");
  EXPECT_EQ(ReadFile(target_ + "/pg_tblspc/16385/PG_15_x/b"), "B");
  ASSERT_TRUE((*x)->SyncAll().ok());
  ASSERT_TRUE((*x)->MarkComplete().ok());
  EXPECT_FALSE(Exists(absent + "/" + kIncompleteMarkerName));
}

TEST_F(ExtractorTest, SyncAllStopsOnceCancelled) {
  CancelToken cancel;
  auto x = Make({}, 1000, false, &cancel);
  ASSERT_TRUE(x.ok()) << x.status();
  ASSERT_TRUE(Extract(x->get(), TarBuilder().File("PG_VERSION", "15\n").out).ok());
  cancel.Cancel();
  EXPECT_EQ((*x)->SyncAll().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ((*x)->MarkComplete().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(Exists(target_ + "/" + kIncompleteMarkerName));
}

}  // namespace
}  // namespace walrep
