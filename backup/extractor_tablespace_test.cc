// BackupExtractor and tablespaces: each archive extracted into its mapped location and
// linked from pg_tblspc, the main archive unable to write through such a link, the
// checks on mappings, tablespace_map refused when tablespaces are relocated, unmapped
// tablespaces refused together unless in place, and the in-place rules (no symlinked
// parent or location, no non-empty, relative or overlapping location).
#include "backup/extractor.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "backup/extractor_test_util.h"
#include "backup/incomplete.h"
#include "gtest/gtest.h"
#include "replay/test_util.h"
#include "wire/testing/tar_builder.h"

namespace walrep::extractor_testing {
namespace {

using ::walrep::testing::ReadAll;
using ::walrep::testing::TarBuilder;

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
  EXPECT_EQ(ReadAll(ts_new + "/PG_15_202209061/5/16385"), std::string(8192, 'r'));
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
  EXPECT_EQ(ReadAll(mapped + "/PG_15_x/f"), "data");
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
  EXPECT_EQ(ReadAll(target_ + "/pg_tblspc/16384/PG_15_x/a"), "A");
  EXPECT_EQ(ReadAll(target_ + "/pg_tblspc/16385/PG_15_x/b"), "B");
  ASSERT_TRUE((*x)->SyncAll().ok());
  ASSERT_TRUE((*x)->MarkComplete().ok());
  EXPECT_FALSE(Exists(absent + "/" + kIncompleteMarkerName));
}

}  // namespace
}  // namespace walrep::extractor_testing
