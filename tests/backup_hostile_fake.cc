#include "tests/backup_hostile_fake.h"

#include <sys/stat.h>

#include <openssl/sha.h>

#include "absl/strings/escaping.h"
#include "replay/wal_test_builder.h"
#include "wire/base_backup_stream.h"
#include "wire/crc32c.h"
#include "wire/replication_messages.h"

namespace walrep::backup_hostile {

std::string TypedRowDesc(const std::vector<std::pair<std::string, int32_t>>& cols) {
  std::string b = fake_pg::I16(static_cast<int16_t>(cols.size()));
  for (const auto& [name, oid] : cols) {
    b += name + '\0' + fake_pg::I32(0) + fake_pg::I16(0) + fake_pg::I32(oid) + fake_pg::I16(-1) +
         fake_pg::I32(-1) + fake_pg::I16(0);
  }
  return EncodeFrame('T', b);
}

void Handshake(Peer& p, const std::string& version) {
  auto startup = p.ReadStartup();
  ASSERT_TRUE(startup.has_value());
  p.Send(fake_pg::Auth(0) + fake_pg::Param("server_version", version) + fake_pg::KeyData(77) +
         Ready());
}

std::string CopyData(const std::string& payload) { return EncodeFrame('d', payload); }

std::string EndOfBackup() {
  return EncodeFrame('c', "") + TypedRowDesc({{"recptr", 25}, {"tli", 20}}) +
         Row({"0/1000100", "1"}) + Complete("SELECT") + Complete("BASE_BACKUP") + Ready();
}

std::string FirstWal() {
  WalTestBuilder b({.segment_size = 16u << 20, .system_id = kSystemId, .start = 0x1000000});
  while (b.bytes().size() < 0x200) b.Add(10, 0, 1, std::string(100, 'w'));
  return b.bytes().substr(0, 0x200);
}

// The backup connection after BASE_BACKUP: IDENTIFY_SYSTEM, where the primary's WAL
// ends now (the job streams WAL up to it), until the client goes away.
void AnswerWalEnd(Peer& p, const std::string& xlogpos) {
  for (;;) {
    auto m = p.ReadTyped();
    if (!m.has_value() || m->first != 'Q') return;
    EXPECT_EQ(m->second.substr(0, m->second.size() - 1), "IDENTIFY_SYSTEM");
    p.Send(TypedRowDesc({{"systemid", 25}, {"timeline", 23}, {"xlogpos", 25}, {"dbname", 25}}) +
           Row({absl::StrCat(kSystemId), "1", xlogpos, std::nullopt}) +
           Complete("IDENTIFY_SYSTEM") + Ready());
  }
}

// The WAL connection: IDENTIFY_SYSTEM, SHOW, the slot, then WAL up to 0/1000200.
// With `answer_pings` off it never answers a reply-requested status update (a primary
// gone silent on the WAL connection).
void ServeWal(Peer& p, const std::string& version, bool answer_pings) {
  Handshake(p, version);
  for (;;) {
    auto m = p.ReadTyped();
    if (!m.has_value() || m->first != 'Q') return;
    std::string q = m->second.substr(0, m->second.size() - 1);
    if (q == "IDENTIFY_SYSTEM") {
      p.Send(TypedRowDesc({{"systemid", 25}, {"timeline", 23}, {"xlogpos", 25}, {"dbname", 25}}) +
             Row({absl::StrCat(kSystemId), "1", "0/1000000", std::nullopt}) +
             Complete("IDENTIFY_SYSTEM") + Ready());
    } else if (q == "SHOW wal_segment_size") {
      p.Send(TypedRowDesc({{"wal_segment_size", 25}}) + Row({"16MB"}) + Complete("SHOW") + Ready());
    } else if (q.rfind("CREATE_REPLICATION_SLOT", 0) == 0) {
      EXPECT_NE(q.find("TEMPORARY"), std::string::npos) << q;
      p.Send(Complete("CREATE_REPLICATION_SLOT") + Ready());
    } else if (q.rfind("START_REPLICATION", 0) == 0) {
      EXPECT_NE(q.find("0/1000000"), std::string::npos) << q;
      XLogData x;
      x.start = Lsn(0x1000000);
      x.wal_end = Lsn(0x1000200);
      std::string wal = FirstWal();
      x.data = wal;
      p.Send(CopyResp('W') + CopyData(EncodeXLogData(x)));
      for (;;) {  // status updates until the client's CopyDone (or it goes away)
        auto in = p.ReadTyped();
        if (!in.has_value() || in->first == 'X') return;
        if (in->first == 'd') {  // a reply-requested update gets a keepalive, as walsender
          auto update = DecodeStandbyStatusUpdate(in->second);
          if (update.ok() && update->reply_requested && answer_pings) {
            p.Send(CopyData(EncodePrimaryKeepalive(PrimaryKeepalive{Lsn(0x1000200), 0, false})));
          }
        }
        if (in->first == 'c') {
          p.Send(EncodeFrame('c', "") + Complete("START_STREAMING") + Ready());
          return;
        }
      }
    } else {
      ADD_FAILURE() << "unexpected WAL query " << q;
      return;
    }
  }
}

std::string CrcHex(absl::string_view data) {
  uint32_t c = Crc32c(data);
  std::string le(reinterpret_cast<const char*>(&c), 4);  // the primary's native order
  return absl::BytesToHexString(le);
}

std::string Manifest(const std::vector<std::pair<std::string, std::string>>& files,
                     bool good_seal) {
  std::string body = "{ \"PostgreSQL-Backup-Manifest-Version\": 1,\n\"Files\": [\n";
  for (size_t i = 0; i < files.size(); ++i) {
    absl::StrAppend(&body, i ? ",\n" : "", "{ \"Path\": \"", files[i].first, "\", \"Size\": ",
                    files[i].second.size(),
                    ", \"Last-Modified\": \"2026-11-27 23:21:01 GMT\", \"Checksum-Algorithm\": "
                    "\"CRC32C\", \"Checksum\": \"",
                    CrcHex(files[i].second), "\" }");
  }
  absl::StrAppend(&body, "\n],\n\"WAL-Ranges\": [\n{ \"Timeline\": 1, \"Start-LSN\": "
                         "\"0/1000028\", \"End-LSN\": \"0/1000100\" }\n],\n");
  unsigned char d[32];
  SHA256(reinterpret_cast<const unsigned char*>(body.data()), body.size(), d);
  if (!good_seal) d[0] ^= 1;
  return absl::StrCat(body, "\"Manifest-Checksum\": \"",
                      absl::BytesToHexString(absl::string_view(reinterpret_cast<char*>(d), 32)),
                      "\"}\n");
}

bool Exists(const std::string& path) {
  struct stat st;
  return lstat(path.c_str(), &st) == 0;
}

FakePrimary::CopyScript Modern(std::string tar, std::string manifest) {
  return [tar, manifest](Peer& p, const std::string&) {
    std::string out = CopyData(EncodeBaseBackupNewArchive("base.tar", ""));
    for (size_t i = 0; i < tar.size(); i += 700) out += CopyData(EncodeBaseBackupData(tar.substr(i, 700)));
    out += CopyData(EncodeBaseBackupProgress(static_cast<int64_t>(tar.size())));
    out += CopyData(EncodeBaseBackupManifestFollows()) + CopyData(EncodeBaseBackupData(manifest));
    p.Send(out + EndOfBackup());
  };
}

void AwaitClientClose(Peer& p) {
  while (p.ReadTyped().has_value()) {
  }
}

}  // namespace walrep::backup_hostile
