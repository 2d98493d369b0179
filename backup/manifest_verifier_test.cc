#include "backup/manifest_verifier.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "backup/extractor.h"
#include "backup/manifest.h"
#include "gtest/gtest.h"
#include "wire/tar_reader.h"

namespace walrep {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void Feed(ManifestVerifier* v, absl::string_view path, absl::string_view content) {
  ASSERT_TRUE(v->OnFileBegin(path).ok());
  for (size_t i = 0; i < content.size(); i += 3) {
    ASSERT_TRUE(v->OnFileData(content.substr(i, 3)).ok());
  }
  ASSERT_TRUE(v->OnFileEnd().ok());
}

ManifestFile Entry(std::string path, uint64_t size, ChecksumAlgorithm alg, std::string sum) {
  ManifestFile f;
  f.path = std::move(path);
  f.size = size;
  f.algorithm = alg;
  f.checksum = std::move(sum);
  return f;
}

std::string Le(uint32_t v) {
  std::string s;
  for (int i = 0; i < 4; ++i) s.push_back(static_cast<char>(v >> (8 * i)));
  return s;
}

// The real tablespace archive of a PostgreSQL 15 backup, extracted and checked against the
// real manifest's entries for it: sizes, CRC-32C byte order and tablespace path prefix.
TEST(ManifestVerifierTest, RealTablespaceArchiveMatchesRealManifest) {
  auto manifest = ParseBackupManifest(ReadFile("backup/testdata/pg15_backup_manifest"));
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  BackupManifest subset = *manifest;
  subset.files.clear();
  for (const auto& f : manifest->files) {
    if (absl::StartsWith(f.path, "pg_tblspc/16384/")) subset.files.push_back(f);
  }
  ASSERT_EQ(subset.files.size(), 1u);

  std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/verify";
  ManifestVerifier verifier;
  ExtractorOptions options;
  options.target_dir = dir + "/data";
  options.tablespace_mapping["/primary/ts"] = dir + "/ts";
  auto x = BackupExtractor::Create(options, &verifier);
  ASSERT_TRUE(x.ok()) << x.status();
  ASSERT_TRUE((*x)->BeginArchive("16384", "/primary/ts").ok());
  TarReader reader;
  ASSERT_TRUE(reader.Feed(ReadFile("backup/testdata/pg15_tablespace_16384.tar"), x->get()).ok());
  ASSERT_TRUE(reader.Finish().ok());
  ASSERT_TRUE((*x)->EndArchive().ok());
  EXPECT_TRUE(verifier.Verify(subset).ok()) << verifier.Verify(subset);

  // The whole manifest: everything from base.tar is missing.
  absl::Status all = verifier.Verify(*manifest);
  EXPECT_EQ(all.code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(all.message(), "(964 problems)")) << all.message();
}

TEST(ManifestVerifierTest, ReportsEachKindOfMismatch) {
  ManifestVerifier v(ChecksumAlgorithm::kCrc32c);
  Feed(&v, "ok", "123456789");
  Feed(&v, "short", "12");
  Feed(&v, "corrupt", "abc");
  Feed(&v, "extra", "x");
  Feed(&v, "pg_wal/000000010000000000000002", "wal");  // ignored
  Feed(&v, "postgresql.auto.conf", "changed");         // ignored
  BackupManifest m;
  m.files.push_back(Entry("ok", 9, ChecksumAlgorithm::kCrc32c, Le(0xE3069283)));
  m.files.push_back(Entry("short", 3, ChecksumAlgorithm::kCrc32c, Le(0)));
  m.files.push_back(Entry("corrupt", 3, ChecksumAlgorithm::kCrc32c, Le(0x12345678)));
  m.files.push_back(Entry("missing", 1, ChecksumAlgorithm::kNone, ""));
  m.files.push_back(Entry("postgresql.auto.conf", 1, ChecksumAlgorithm::kNone, ""));
  m.files.push_back(Entry("standby.signal", 0, ChecksumAlgorithm::kNone, ""));
  absl::Status s = v.Verify(m);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(absl::StrContains(s.message(), "(4 problems)")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "\"short\": size 3 in the manifest, 2 in the backup"))
      << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "\"corrupt\": checksum mismatch")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "\"missing\" is in the manifest but not")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "\"extra\" is in the backup but not")) << s;
  EXPECT_EQ(v.files_seen(), 6u);
}

TEST(ManifestVerifierTest, BigEndianCrcAndOtherAlgorithms) {
  ManifestVerifier v;
  Feed(&v, "a", "123456789");
  BackupManifest m;
  std::string be = Le(0xE3069283);
  std::reverse(be.begin(), be.end());
  m.files.push_back(Entry("a", 9, ChecksumAlgorithm::kCrc32c, be));
  EXPECT_TRUE(v.Verify(m).ok());
  m.files[0] = Entry("a", 9, ChecksumAlgorithm::kSha256, std::string(32, 'x'));
  EXPECT_EQ(v.Verify(m).code(), absl::StatusCode::kDataLoss);  // not what was requested

  ManifestVerifier sha(ChecksumAlgorithm::kSha256);
  Feed(&sha, "abc", "abc");
  BackupManifest ms;
  ms.files.push_back(Entry(
      "abc", 3, ChecksumAlgorithm::kSha256,
      absl::HexStringToBytes("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")));
  EXPECT_TRUE(sha.Verify(ms).ok()) << sha.Verify(ms);
  ms.files[0].checksum[0] ^= 1;
  EXPECT_EQ(sha.Verify(ms).code(), absl::StatusCode::kDataLoss);

  ManifestVerifier sizes_only(ChecksumAlgorithm::kNone);
  Feed(&sizes_only, "abc", "abc");
  ms.files[0].checksum[0] ^= 1;
  EXPECT_TRUE(sizes_only.Verify(ms).ok());
}

TEST(ManifestVerifierTest, DuplicateFileIsDataLoss) {
  ManifestVerifier v;
  Feed(&v, "a", "1");
  EXPECT_EQ(v.OnFileBegin("a").code(), absl::StatusCode::kDataLoss);
}

TEST(ManifestVerifierTest, IgnoredPaths) {
  EXPECT_TRUE(IgnoredByManifestCheck("pg_wal"));
  EXPECT_TRUE(IgnoredByManifestCheck("pg_wal/archive_status/x.done"));
  EXPECT_TRUE(IgnoredByManifestCheck("backup_manifest"));
  EXPECT_TRUE(IgnoredByManifestCheck("recovery.signal"));
  EXPECT_FALSE(IgnoredByManifestCheck("pg_wal2"));
  EXPECT_FALSE(IgnoredByManifestCheck("base/pg_wal"));
  EXPECT_FALSE(IgnoredByManifestCheck("postgresql.conf"));
}

}  // namespace
}  // namespace walrep

namespace walrep {
namespace {

// Optional oracle over a whole real backup: set WALREP_TAR_BACKUP_DIR to a directory made
// by `pg_basebackup -Ft` (base.tar, <oid>.tar, backup_manifest) and WALREP_EXTRACT_DIR to
// an empty place to extract into; the tablespaces are mapped under it. Afterwards
// `pg_verifybackup -n <extract dir>/data` can check the result independently.
TEST(ManifestVerifierTest, WholeRealBackupFromEnvironment) {
  const char* src = std::getenv("WALREP_TAR_BACKUP_DIR");
  const char* dst = std::getenv("WALREP_EXTRACT_DIR");
  if (src == nullptr || dst == nullptr) GTEST_SKIP() << "no real backup given";
  std::string manifest_bytes = ReadFile(std::string(src) + "/backup_manifest");
  auto manifest = ParseBackupManifest(manifest_bytes);
  ASSERT_TRUE(manifest.ok()) << manifest.status();
  ManifestVerifier verifier;
  ExtractorOptions options;
  options.target_dir = std::string(dst) + "/data";
  auto x = BackupExtractor::Create(options, &verifier);
  ASSERT_TRUE(x.ok()) << x.status();
  std::vector<std::string> archives;
  for (const auto& f : manifest->files) {
    if (absl::StartsWith(f.path, "pg_tblspc/")) {
      std::string oid = f.path.substr(10, f.path.find('/', 10) - 10);
      if (std::find(archives.begin(), archives.end(), oid) == archives.end()) {
        archives.push_back(oid);
      }
    }
  }
  archives.push_back("");  // base.tar last, as the server sends it
  for (const std::string& oid : archives) {
    std::string location = oid.empty() ? "" : std::string(dst) + "/ts_" + oid;
    ASSERT_TRUE((*x)->BeginArchive(oid, location).ok());
    std::ifstream in(std::string(src) + "/" + (oid.empty() ? "base" : oid) + ".tar",
                     std::ios::binary);
    TarReader reader;
    char buf[65536];
    while (in) {
      in.read(buf, sizeof(buf));
      absl::Status s = reader.Feed(absl::string_view(buf, in.gcount()), x->get());
      ASSERT_TRUE(s.ok()) << s;
    }
    ASSERT_TRUE(reader.Finish().ok());
    ASSERT_TRUE((*x)->EndArchive().ok());
  }
  absl::Status verified = verifier.Verify(*manifest);
  ASSERT_TRUE(verified.ok()) << verified;
  ASSERT_TRUE((*x)->WriteFile("backup_manifest", manifest_bytes).ok());
  ASSERT_TRUE((*x)->SyncAll().ok());
  ASSERT_TRUE((*x)->MarkComplete().ok());
  EXPECT_GT((*x)->files_written(), 900u);
}

}  // namespace
}  // namespace walrep
