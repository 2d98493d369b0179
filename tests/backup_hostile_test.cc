// RunBaseBackup against a fake primary that speaks the real protocol on two connections
// (the WAL stream and BASE_BACKUP; tests/backup_hostile_fake.h): the PostgreSQL 12-14
// framing end to end, and hostile or broken streams — members outside the target,
// oversized messages, wrong checksums, cut archives, another system, compression other
// than asked, tablespaces not mapped — each of which must fail with the right code, write
// nothing outside the target, and leave the target marked incomplete.
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "backup/incomplete.h"
#include "gtest/gtest.h"
#include "replay/test_util.h"
#include "tests/backup_hostile_fake.h"
#include "wire/base_backup_stream.h"
#include "wire/testing/tar_builder.h"

namespace walrep::backup_hostile {
namespace {

using walrep::testing::ReadAll;
using walrep::testing::TarBuilder;

TEST_F(BackupHostileTest, Legacy14StreamExtractsAndVerifies) {
  std::string ts_server = "/srv/primary/ts1";
  std::string ts_local = root_ + "/ts_local";
  std::string rel = "PG_14_202107181/16401/16402";
  std::string ts_tar = TarBuilder().Dir("PG_14_202107181/").Dir("PG_14_202107181/16401/")
                           .File(rel, std::string(8192, 't')).out;  // no trailer, as 12-14
  std::string base_tar = TarBuilder().File("PG_VERSION", "14\n").Dir("global/")
                             .File("global/pg_control", std::string(8192, 'c')).Dir("pg_wal/")
                             .Dir("pg_tblspc/").Symlink("pg_tblspc/16400", ts_server).out;
  std::string manifest = Manifest({{"PG_VERSION", "14\n"},
                                   {"global/pg_control", std::string(8192, 'c')},
                                   {"pg_tblspc/16400/" + rel, std::string(8192, 't')}});
  FakePrimary fake("14.9", {{"16400", ts_server}}, [&](Peer& p, const std::string& q) {
    EXPECT_EQ(q.find("("), std::string::npos) << "12-14 take keyword options: " << q;
    EXPECT_NE(q.find("MANIFEST_CHECKSUMS"), std::string::npos) << q;
    // A CopyOut per tablespace (base last), then one with the manifest.
    p.Send(CopyData(ts_tar.substr(0, 1000)) + CopyData(ts_tar.substr(1000)) + EncodeFrame('c', "") +
           CopyResp('H') + CopyData(base_tar) + EncodeFrame('c', "") + CopyResp('H') +
           CopyData(manifest.substr(0, 50)) + CopyData(manifest.substr(50)) + EndOfBackup());
  });
  auto r = Run(fake, {{ts_server, ts_local}});
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->manifest_verified());
  EXPECT_EQ(r->system_identifier(), kSystemId);
  EXPECT_EQ(r->start_lsn(), 0x1000028u);
  EXPECT_EQ(r->end_lsn(), 0x1000100u);
  EXPECT_EQ(r->files(), 4u);  // with backup_manifest
  EXPECT_EQ(ReadAll(target_ + "/backup_manifest"), manifest);
  EXPECT_EQ(ReadAll(ts_local + "/" + rel), std::string(8192, 't'));
  EXPECT_FALSE(Exists(target_ + "/" + kIncompleteMarkerName));
  std::string wal = ReadAll(target_ + "/pg_wal/000000010000000000000001");
  EXPECT_EQ(wal.size(), 16u << 20);
  EXPECT_EQ(wal.substr(0, 0x200), FirstWal());
  char link[256] = {};
  ASSERT_GT(readlink((target_ + "/pg_tblspc/16400").c_str(), link, sizeof(link) - 1), 0);
  EXPECT_EQ(std::string(link), ts_local);
  ReplicationStateStore store(root_ + "/data");
  EXPECT_EQ(store.LoadSystemId().value(), kSystemId);
  EXPECT_EQ(store.LoadTimeline().value(), 1u);
  ASSERT_FALSE(phases_.empty());
  EXPECT_EQ(phases_.front(), v1::BACKUP_PHASE_STARTING);
  EXPECT_EQ(phases_.back(), v1::BACKUP_PHASE_DONE);
}

TEST_F(BackupHostileTest, Legacy12StreamHasNoManifest) {
  std::string base_tar = TarBuilder().File("PG_VERSION", "12\n").Dir("pg_wal/").out;
  FakePrimary fake("12.17", {}, [&](Peer& p, const std::string& q) {
    EXPECT_EQ(q.find("MANIFEST"), std::string::npos) << "12 has no manifest: " << q;
    p.Send(CopyData(base_tar) + EndOfBackup());
  });
  auto r = Run(fake);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->manifest_verified());
  EXPECT_EQ(ReadAll(target_ + "/PG_VERSION"), "12\n");
  EXPECT_FALSE(Exists(target_ + "/backup_manifest"));
  EXPECT_FALSE(Exists(target_ + "/" + kIncompleteMarkerName));
}

TEST_F(BackupHostileTest, UnannouncedTablespaceArchiveIsRefused) {
  FakePrimary fake("15.4", {}, [this](Peer& p, const std::string&) {
    p.Send(CopyData(EncodeBaseBackupNewArchive("16999.tar", root_ + "/sentinel")) +
           CopyData(EncodeBaseBackupData(TarBuilder().File("evil", "x").Trailer().out)) +
           EndOfBackup());
  });
  auto r = Run(fake);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  ExpectContained();
}

TEST_F(BackupHostileTest, DotDotMemberIsRefused) {
  std::string tar = TarBuilder().File("../sentinel/evil", "x").Trailer().out;
  FakePrimary fake("15.4", {}, Modern(tar, Manifest({})));
  auto r = Run(fake);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  ExpectContained();
}

TEST_F(BackupHostileTest, AbsoluteMemberIsRefused) {
  std::string tar = TarBuilder().File(root_ + "/sentinel/evil", "x").Trailer().out;
  FakePrimary fake("15.4", {}, Modern(tar, Manifest({})));
  auto r = Run(fake);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  ExpectContained();
}

TEST_F(BackupHostileTest, WriteThroughSymlinkIsRefused) {
  std::string tar = TarBuilder().Symlink("base", root_ + "/sentinel").File("base/evil", "x")
                        .Trailer().out;
  FakePrimary fake("15.4", {}, Modern(tar, Manifest({})));
  auto r = Run(fake);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  ExpectContained();
}

TEST_F(BackupHostileTest, OversizedCopyDataIsRefused) {
  FakePrimary fake("15.4", {}, [](Peer& p, const std::string&) {
    p.Send(CopyData(EncodeBaseBackupNewArchive("base.tar", "")) + "d" +
           fake_pg::I32((64 << 20) + 4) + std::string(1 << 16, 'x'));
  });
  auto r = Run(fake);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  ExpectContained();
}

TEST_F(BackupHostileTest, WrongManifestChecksumIsDataLoss) {
  std::string tar = TarBuilder().File("PG_VERSION", "15\n").Trailer().out;
  FakePrimary fake("15.4", {}, Modern(tar, Manifest({{"PG_VERSION", "15\n"}}, false)));
  auto r = Run(fake);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  ExpectContained();
}

TEST_F(BackupHostileTest, WrongFileChecksumIsDataLoss) {
  std::string tar = TarBuilder().File("PG_VERSION", "15\n").Trailer().out;
  FakePrimary fake("15.4", {}, Modern(tar, Manifest({{"PG_VERSION", "16\n"}})));
  auto r = Run(fake);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_NE(r.status().message().find("PG_VERSION"), std::string::npos) << r.status();
  ExpectContained();
}

TEST_F(BackupHostileTest, ArchiveCutInAMemberIsDataLoss) {
  std::string tar = TarBuilder().File("big", std::string(4096, 'b')).out.substr(0, 2048);
  FakePrimary fake("15.4", {}, Modern(tar, Manifest({})));
  auto r = Run(fake);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  ExpectContained();
}

TEST_F(BackupHostileTest, ConnectionCutMidStreamFails) {
  std::string tar = TarBuilder().File("big", std::string(4096, 'b')).out.substr(0, 2048);
  FakePrimary fake("15.4", {}, [tar](Peer& p, const std::string&) {
    p.Send(CopyData(EncodeBaseBackupNewArchive("base.tar", "")) + CopyData(EncodeBaseBackupData(tar)));
    p.CloseNow();
  });
  auto r = Run(fake);
  EXPECT_FALSE(r.ok());
  EXPECT_TRUE(r.status().code() == absl::StatusCode::kUnavailable ||
              r.status().code() == absl::StatusCode::kDataLoss)
      << r.status();
  ExpectContained();
}

TEST_F(BackupHostileTest, ChecksumFailureOnThePrimaryIsDataLoss) {
  FakePrimary fake("15.4", {}, [](Peer& p, const std::string&) {
    p.Send(CopyData(EncodeBaseBackupNewArchive("base.tar", "")) +
           fake_pg::Fields('E', "ERROR", "XX001", "checksum verification failure during base backup") +
           Ready());
  });
  auto r = Run(fake);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  ExpectContained();
}

TEST_F(BackupHostileTest, DifferentSystemIdentifierIsRefused) {
  ReplicationStateStore store(root_ + "/data");
  ASSERT_TRUE(store.Init().ok());
  ASSERT_TRUE(store.StoreSystemId(42).ok());
  FakePrimary fake("15.4", {}, Modern("", ""));
  auto r = Run(fake);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition) << r.status();
  EXPECT_FALSE(Exists(target_ + "/PG_VERSION"));
}

// 12-14 send tablespace archives without the end-of-archive blocks: in tar format each file
// gets them, the standby configuration goes into base.tar, and pg_wal.tar holds the WAL.
TEST_F(BackupHostileTest, Legacy14TarFormatWritesWholeArchives) {
  std::string ts_server = "/srv/primary/ts1";
  std::string rel = "PG_14_202107181/16401/16402";
  std::string ts_tar = TarBuilder().Dir("PG_14_202107181/").Dir("PG_14_202107181/16401/")
                           .File(rel, std::string(8192, 't')).out;
  std::string base_tar = TarBuilder().File("PG_VERSION", "14\n")
                             .File("postgresql.auto.conf", "work_mem = '8MB'\n").Dir("global/")
                             .File("global/pg_control", std::string(8192, 'c')).Dir("pg_wal/")
                             .Dir("pg_tblspc/").Symlink("pg_tblspc/16400", ts_server).out;
  std::string manifest = Manifest({{"PG_VERSION", "14\n"},
                                   {"global/pg_control", std::string(8192, 'c')},
                                   {"pg_tblspc/16400/" + rel, std::string(8192, 't')}});
  FakePrimary fake("14.9", {{"16400", ts_server}}, [&](Peer& p, const std::string& q) {
    p.Send(CopyData(ts_tar) + EncodeFrame('c', "") + CopyResp('H') + CopyData(base_tar) +
           EncodeFrame('c', "") + CopyResp('H') + CopyData(manifest) + EndOfBackup());
  });
  auto r = Run(fake, {}, [](v1::FetchBaseBackupRequest* p) {
    auto& req = *p;
    req.set_format(v1::BACKUP_FORMAT_TAR);
    req.set_write_recovery_conf(true);
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->manifest_verified());
  EXPECT_EQ(std::vector<std::string>(r->archives().begin(), r->archives().end()),
            (std::vector<std::string>{"16400.tar", "base.tar", "pg_wal.tar"}));
  std::string ts_file = ReadAll(target_ + "/16400.tar");
  EXPECT_EQ(ts_file.substr(0, ts_tar.size()), ts_tar);
  EXPECT_EQ(ts_file.substr(ts_tar.size()), std::string(1024, '\0'));
  EXPECT_EQ(ReadAll(target_ + "/backup_manifest"), manifest);
  EXPECT_FALSE(Exists(target_ + "/pg_wal"));
  EXPECT_FALSE(Exists(target_ + "/" + kIncompleteMarkerName));
  // GNU tar is the oracle for what a restore sees.
  std::string x = root_ + "/x";
  ASSERT_EQ(std::system(("mkdir -p '" + x + "/pg_wal' && tar -xf '" + target_ + "/base.tar' -C '" +
                         x + "' && tar -xf '" + target_ + "/pg_wal.tar' -C '" + x + "/pg_wal'")
                            .c_str()),
            0);
  EXPECT_EQ(ReadAll(x + "/PG_VERSION"), "14\n");
  EXPECT_EQ(ReadAll(x + "/postgresql.auto.conf"),
            "work_mem = '8MB'\nprimary_conninfo = 'user=''rep'' password=''pw'' "
            "host=''127.0.0.1'' port=''" +
                std::to_string(fake.port()) + "'' sslmode=''disable'''\n");
  EXPECT_TRUE(Exists(x + "/standby.signal"));
  EXPECT_EQ(ReadAll(x + "/pg_wal/000000010000000000000001").substr(0, 0x200), FirstWal());
}

TEST_F(BackupHostileTest, ServerCompressionBefore15IsRefusedByName) {
  FakePrimary fake("14.9", {}, [&](Peer&, const std::string& q) {
    ADD_FAILURE() << "no BASE_BACKUP may be sent: " << q;
  });
  auto r = Run(fake, {}, [](v1::FetchBaseBackupRequest* p) {
    auto& req = *p;
    req.mutable_compression()->set_method(v1::COMPRESSION_METHOD_LZ4);
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(r.status().message().find("PostgreSQL 15"), std::string::npos) << r.status();
}

TEST_F(BackupHostileTest, ArchiveCompressedOtherThanAskedIsDataLoss) {
  FakePrimary fake("15.4", {}, [&](Peer& p, const std::string& q) {
    EXPECT_NE(q.find("COMPRESSION 'lz4'"), std::string::npos) << q;
    p.Send(CopyData(EncodeBaseBackupNewArchive("base.tar.gz", "")) +
           CopyData(EncodeBaseBackupData("not gzip either")) + EndOfBackup());
  });
  auto r = Run(fake, {}, [](v1::FetchBaseBackupRequest* p) {
    auto& req = *p;
    req.mutable_compression()->set_method(v1::COMPRESSION_METHOD_LZ4);
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDataLoss) << r.status();
  EXPECT_NE(r.status().message().find("base.tar.gz"), std::string::npos) << r.status();
  ExpectContained();
}

TEST_F(BackupHostileTest, UnmappedTablespacesAreRefusedBeforeAnythingIsWritten) {
  std::string ts1 = root_ + "/sentinel/ts1";
  std::string ts2 = root_ + "/sentinel/ts2";
  FakePrimary fake("15.4", {{"16400", ts1}, {"16401", ts2}}, [ts1](Peer& p, const std::string&) {
    p.Send(CopyData(EncodeBaseBackupNewArchive("16400.tar", ts1)) +
           CopyData(EncodeBaseBackupData(TarBuilder().File("evil", "x").Trailer().out)));
    AwaitClientClose(p);
  });
  auto r = Run(fake);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_NE(r.status().message().find(absl::StrCat("\"", ts1, "\", \"", ts2, "\"")),
            std::string::npos)
      << r.status();
  EXPECT_FALSE(Exists(ts1));
  EXPECT_FALSE(Exists(ts2));
  ExpectContained();
  EXPECT_EQ(fake.cancel_requests(), 1);
}

TEST_F(BackupHostileTest, InPlaceTablespaceThroughASymlinkIsRefused) {
  ASSERT_EQ(symlink((root_ + "/sentinel").c_str(), (root_ + "/link").c_str()), 0);
  std::string ts = root_ + "/link/ts";
  FakePrimary fake("15.4", {{"16400", ts}},
                   [](Peer& p, const std::string&) { AwaitClientClose(p); });
  auto r =
      Run(fake, {}, [](v1::FetchBaseBackupRequest* req) { req->set_tablespaces_in_place(true); });
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
  EXPECT_FALSE(Exists(root_ + "/sentinel/ts"));
  ExpectContained();
}

}  // namespace
}  // namespace walrep::backup_hostile
