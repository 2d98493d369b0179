#include "backup/manifest.h"

#include <openssl/sha.h>

#include <fstream>
#include <iterator>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gtest/gtest.h"
#include "wire/crc32c.h"

namespace walrep {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Appends a correct checksum line, the way PostgreSQL's manifest writer does.
std::string Seal(absl::string_view body) {
  unsigned char d[32];
  SHA256(reinterpret_cast<const unsigned char*>(body.data()), body.size(), d);
  return absl::StrCat(body, "\"Manifest-Checksum\": \"",
                      absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(d), 32)),
                      "\"}\n");
}

std::string Doc(absl::string_view version_and_id, absl::string_view files,
                absl::string_view wal =
                    "{ \"Timeline\": 1, \"Start-LSN\": \"0/2000028\", "
                    "\"End-LSN\": \"0/2000100\" }") {
  return Seal(absl::StrCat("{ ", version_and_id, ",\n\"Files\": [\n", files, "\n],\n",
                           "\"WAL-Ranges\": [\n", wal, "\n],\n"));
}

constexpr absl::string_view kV1 = "\"PostgreSQL-Backup-Manifest-Version\": 1";
constexpr absl::string_view kFile =
    "{ \"Path\": \"PG_VERSION\", \"Size\": 3, \"Last-Modified\": \"2026-11-27 23:21:01 GMT\", "
    "\"Checksum-Algorithm\": \"CRC32C\", \"Checksum\": \"8a744722\" }";

TEST(ManifestTest, RealPostgres15Manifest) {
  std::string bytes = ReadFile("backup/testdata/pg15_backup_manifest");
  auto m = ParseBackupManifest(bytes);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->version, 1);
  EXPECT_FALSE(m->system_identifier.has_value());
  EXPECT_EQ(m->files.size(), 966u);
  ASSERT_EQ(m->wal_ranges.size(), 1u);
  EXPECT_EQ(m->wal_ranges[0].timeline, 1u);
  EXPECT_EQ(m->wal_ranges[0].start_lsn.ToString(), "0/2000028");
  EXPECT_EQ(m->wal_ranges[0].end_lsn.ToString(), "0/2000100");
  bool found = false;
  for (const auto& f : m->files) {
    if (f.path != "PG_VERSION") continue;
    found = true;
    EXPECT_EQ(f.size, 3u);
    EXPECT_EQ(f.algorithm, ChecksumAlgorithm::kCrc32c);
    // The manifest holds the CRC's bytes in the primary's (little-endian) order.
    uint32_t crc = Crc32c("15\n");
    std::string le;
    for (int i = 0; i < 4; ++i) le.push_back(static_cast<char>(crc >> (8 * i)));
    EXPECT_EQ(f.checksum, le);
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(m->files[0].path, "pg_tblspc/16384/PG_15_202209061/5/16385");
}

TEST(ManifestTest, RealManifestTamperedAnywhereFails) {
  const std::string bytes = ReadFile("backup/testdata/pg15_backup_manifest");
  for (size_t pos : {size_t{10}, bytes.size() / 2, bytes.size() - 20}) {
    std::string t = bytes;
    // Keep it valid JSON: change one hex digit of a checksum-ish character or a digit.
    size_t p = t.find_first_of("0123456789abcdef", pos);
    t[p] = t[p] == '0' ? '1' : '0';
    auto m = ParseBackupManifest(t);
    EXPECT_EQ(m.status().code(), absl::StatusCode::kDataLoss) << pos;
  }
  // The checksummed part ends at the newline before the Manifest-Checksum line.
  std::string no_newline = bytes.substr(0, bytes.size() - 1);
  EXPECT_TRUE(
      absl::StrContains(ParseBackupManifest(no_newline).status().message(), "newline-terminated"));
}

TEST(ManifestTest, SyntheticForms) {
  auto m = ParseBackupManifest(Doc(kV1, kFile));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->files[0].checksum, std::string("\x8a\x74\x47\x22"));

  // Encoded-Path (hex), NONE without a checksum, lower-case algorithm, SHA256.
  std::string files = absl::StrCat(
      "{ \"Encoded-Path\": \"", absl::BytesToHexString("base/\xff"), "\", \"Size\": 0 },\n",
      "{ \"Path\": \"a\", \"Size\": 1, \"Checksum-Algorithm\": \"NONE\" },\n",
      "{ \"Path\": \"b\", \"Size\": 1, \"Checksum-Algorithm\": \"crc32c\", \"Checksum\": "
      "\"00000000\" },\n",
      "{ \"Path\": \"c\", \"Size\": 1, \"Checksum-Algorithm\": \"SHA256\", \"Checksum\": \"",
      std::string(64, 'a'), "\" }");
  m = ParseBackupManifest(Doc(kV1, files));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->files[0].path, "base/\xff");
  EXPECT_EQ(m->files[1].algorithm, ChecksumAlgorithm::kNone);
  EXPECT_EQ(m->files[2].algorithm, ChecksumAlgorithm::kCrc32c);
  EXPECT_EQ(m->files[3].checksum.size(), 32u);

  // Version 2 (PostgreSQL 17) with the system identifier.
  m = ParseBackupManifest(
      Doc("\"PostgreSQL-Backup-Manifest-Version\": 2, \"System-Identifier\": 7310000000000000001",
          kFile));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(*m->system_identifier, 7310000000000000001u);

  m = ParseBackupManifest(Doc(kV1, "", ""));  // empty lists are legal JSON and legal here
  EXPECT_TRUE(m.ok()) << m.status();
}

TEST(ManifestTest, RejectsBadManifests) {
  const std::string v2 = "\"PostgreSQL-Backup-Manifest-Version\": 2";
  std::vector<std::string> bad = {
      Doc("\"PostgreSQL-Backup-Manifest-Version\": 3", kFile),
      Doc("\"PostgreSQL-Backup-Manifest-Version\": \"1\"", kFile),
      Doc(v2, kFile),  // v2 needs System-Identifier
      Doc(absl::StrCat(kV1, ", \"System-Identifier\": 1"), kFile),
      Doc(absl::StrCat(kV1, ", \"Extra\": 1"), kFile),
      Doc(kV1, absl::StrCat(kFile, ",\n", kFile)),  // duplicate path
      Doc(kV1, absl::StrReplaceAll(kFile, {{"\"Size\": 3", "\"Size\": \"3\""}})),
      Doc(kV1, absl::StrReplaceAll(kFile, {{"\"Size\": 3", "\"Size\": -3"}})),
      Doc(kV1, absl::StrReplaceAll(kFile, {{"\"Size\": 3", "\"Size\": 3.0"}})),
      Doc(kV1, absl::StrReplaceAll(kFile, {{"\"Size\": 3,", ""}})),
      Doc(kV1, absl::StrReplaceAll(kFile, {{"8a744722", "8a7447"}})),
      Doc(kV1, absl::StrReplaceAll(kFile, {{"8a744722", "8a74472g"}})),
      Doc(kV1, absl::StrReplaceAll(kFile, {{"CRC32C", "MD5"}})),
      Doc(kV1, absl::StrReplaceAll(kFile, {{"\"Checksum-Algorithm\": \"CRC32C\", ", ""}})),
      Doc(kV1, absl::StrReplaceAll(kFile, {{"\"Path\"", "\"Pathx\""}})),
      Doc(kV1, absl::StrReplaceAll(kFile, {{"\"Path\": \"PG_VERSION\", ", ""}})),
      Doc(kV1,
          absl::StrReplaceAll(kFile, {{"{ \"Path\"", "{ \"Encoded-Path\": \"41\", \"Path\""}})),
      Doc(kV1, "{ \"Encoded-Path\": \"4\", \"Size\": 0 }"),
      Doc(kV1, "{ \"Path\": \"\", \"Size\": 0 }"),
      Doc(kV1, kFile, "{ \"Timeline\": 0, \"Start-LSN\": \"0/1\", \"End-LSN\": \"0/2\" }"),
      Doc(kV1, kFile, "{ \"Timeline\": 1, \"Start-LSN\": \"0/3\", \"End-LSN\": \"0/2\" }"),
      Doc(kV1, kFile, "{ \"Timeline\": 1, \"Start-LSN\": \"zz\", \"End-LSN\": \"0/2\" }"),
      Doc(kV1, kFile, "{ \"Timeline\": 1, \"Start-LSN\": \"0/1\" }"),
      Doc(kV1, kFile, "[]"),
      Seal(absl::StrCat("{ \"Files\": [], ", kV1, ",\n\"WAL-Ranges\": [],\n")),
      Seal(absl::StrCat("{ ", kV1, ",\n\"WAL-Ranges\": [],\n")),              // no Files
      absl::StrCat("{ ", kV1, ",\n\"Files\": [],\n\"WAL-Ranges\": []\n}\n"),  // no checksum
      "[]\n\n",
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    auto m = ParseBackupManifest(bad[i]);
    EXPECT_EQ(m.status().code(), absl::StatusCode::kDataLoss) << i << ": " << bad[i];
  }
  ManifestLimits small;
  small.max_bytes = 10;
  EXPECT_EQ(ParseBackupManifest(Doc(kV1, kFile), small).status().code(),
            absl::StatusCode::kResourceExhausted);
  ManifestLimits one_file;
  one_file.max_files = 1;
  EXPECT_EQ(ParseBackupManifest(
                Doc(kV1, absl::StrCat(kFile, ",\n{ \"Path\": \"x\", \"Size\": 0 }")), one_file)
                .status()
                .code(),
            absl::StatusCode::kResourceExhausted);
}

TEST(ManifestTest, ChecksumAlgorithmNames) {
  EXPECT_EQ(*ParseChecksumAlgorithm("sha512"), ChecksumAlgorithm::kSha512);
  EXPECT_FALSE(ParseChecksumAlgorithm("crc32").has_value());
  EXPECT_EQ(ChecksumAlgorithmName(ChecksumAlgorithm::kSha384), "SHA384");
  EXPECT_EQ(ChecksumLength(ChecksumAlgorithm::kSha224), 28u);
}

}  // namespace
}  // namespace walrep
