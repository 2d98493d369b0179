#include "tests/fake_aiondb_primary.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <variant>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "aiondb/base_backup_frames.h"
#include "aiondb/le.h"
#include "wire/framing.h"
#include "wire/lsn.h"
#include "wire/md5_auth.h"

namespace walrep::testing {
namespace {

using aiondb::PutLe32;
using aiondb::PutLe64;

std::string BE32(uint32_t v) {
  std::string s(4, '\0');
  s[0] = static_cast<char>(v >> 24);
  s[1] = static_cast<char>(v >> 16);
  s[2] = static_cast<char>(v >> 8);
  s[3] = static_cast<char>(v);
  return s;
}
std::string BE16(uint16_t v) { return std::string{static_cast<char>(v >> 8), static_cast<char>(v)}; }
uint32_t ReadBE32(const std::string& s, size_t at) {
  return (uint32_t{static_cast<uint8_t>(s[at])} << 24) | (uint32_t{static_cast<uint8_t>(s[at + 1])} << 16) |
         (uint32_t{static_cast<uint8_t>(s[at + 2])} << 8) | static_cast<uint8_t>(s[at + 3]);
}

// Blocking I/O with a deadline; false on EOF, error or timeout.
bool ReadExact(int fd, std::string* out, size_t n, absl::Duration timeout = absl::Seconds(10)) {
  out->assign(n, '\0');
  size_t got = 0;
  const absl::Time deadline = absl::Now() + timeout;
  while (got < n) {
    pollfd p{fd, POLLIN, 0};
    const int ms = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (ms <= 0 || poll(&p, 1, ms) <= 0) return false;
    ssize_t r = recv(fd, out->data() + got, n - got, 0);
    if (r <= 0) return false;
    got += static_cast<size_t>(r);
  }
  return true;
}
bool SendAll(int fd, absl::string_view data) {
  while (!data.empty()) {
    ssize_t r = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (r <= 0) return false;
    data.remove_prefix(static_cast<size_t>(r));
  }
  return true;
}
// A typed frontend message: (type, body).
std::optional<std::pair<char, std::string>> ReadTyped(int fd, absl::Duration timeout = absl::Seconds(10)) {
  std::string h;
  if (!ReadExact(fd, &h, 5, timeout)) return std::nullopt;
  std::string body;
  if (!ReadExact(fd, &body, ReadBE32(h, 1) - 4, timeout)) return std::nullopt;
  return std::make_pair(h[0], body);
}
bool Readable(int fd, int ms) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, ms) > 0;
}

std::string AuthMsg(int32_t code, absl::string_view extra = "") {
  return EncodeFrame('R', BE32(static_cast<uint32_t>(code)) + std::string(extra));
}
std::string Param(const std::string& k, const std::string& v) {
  return EncodeFrame('S', k + '\0' + v + '\0');
}
std::string Ready() { return EncodeFrame('Z', "I"); }
std::string Error(const std::string& code, const std::string& msg) {
  return EncodeFrame('E', "SERROR\0VERROR\0C" + code + '\0' + "M" + msg + '\0' + '\0');
}
std::string RowDesc(const std::vector<std::string>& names) {
  std::string b = BE16(static_cast<uint16_t>(names.size()));
  for (const auto& n : names) {
    b += n + '\0' + BE32(0) + BE16(0) + BE32(25) + BE16(0xFFFF) + BE32(0xFFFFFFFF) + BE16(0);
  }
  return EncodeFrame('T', b);
}
std::string Row(const std::vector<std::string>& values) {
  std::string b = BE16(static_cast<uint16_t>(values.size()));
  for (const auto& v : values) b += BE32(static_cast<uint32_t>(v.size())) + v;
  return EncodeFrame('D', b);
}
std::string Complete(const std::string& tag) { return EncodeFrame('C', tag + '\0'); }
std::string CopyData(absl::string_view payload) { return EncodeFrame('d', payload); }

std::string Hmac(absl::string_view key, absl::string_view data) {
  unsigned char out[32];
  unsigned int len = 32;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}
std::string Sha256(absl::string_view data) {
  unsigned char out[32];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return std::string(reinterpret_cast<char*>(out), 32);
}

// The deterministic record of entry `i`: a tag byte and a body of varied size; every
// fifth is long and repetitive, so compression has something to do.
std::string RecordFor(size_t i) {
  std::string r(1, static_cast<char>(1 + i % 40));
  if (i % 5 == 0) {
    r += std::string(600 + i % 300, static_cast<char>('a' + i % 26));
  } else {
    r += absl::StrCat("row-", i, "-", std::string(i % 97, 'x'));
  }
  return r;
}

}  // namespace

FakeAiondbPrimary::FakeAiondbPrimary(Options options) : options_(std::move(options)) {
  listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  listen(listen_fd_, 8);
  getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
  port_ = ntohs(addr.sin_port);
  thread_ = std::thread([this] { Serve(); });
}

FakeAiondbPrimary::~FakeAiondbPrimary() {
  stop_.store(true);
  if (thread_.joinable()) thread_.join();
  close(listen_fd_);
}

std::string FakeAiondbPrimary::ConnInfo() const {
  return absl::StrCat("host=127.0.0.1 port=", port_, " user=", options_.user,
                      " password=", options_.password, " sslmode=disable connect_timeout=5");
}

void FakeAiondbPrimary::AddEntries(size_t n) {
  absl::MutexLock lock(&mu_);
  for (size_t k = 0; k < n; ++k) {
    const size_t i = entries_.size();
    uint64_t lsn = 1;
    if (i > 0) {
      lsn = options_.mode == aiondb::LsnMode::kByteOffset ? lsns_.back() + entries_.back().size()
                                                          : lsns_.back() + 1;
    }
    aiondb::EncodeOptions o;
    if (options_.legacy_checksum) o.checksum = aiondb::ChecksumKind::kLegacyFnv1a;
    if (options_.framed) {
      o.prev_lsn = i > 0 ? lsns_.back() : 0;
      o.database_id = 3;
      o.compression = options_.compression;
    }
    entries_.push_back(*aiondb::EncodeEntry(lsn, RecordFor(i), o));
    lsns_.push_back(lsn);
  }
}

std::vector<std::string> FakeAiondbPrimary::entries() const {
  absl::MutexLock lock(&mu_);
  return entries_;
}
std::vector<uint64_t> FakeAiondbPrimary::lsns() const {
  absl::MutexLock lock(&mu_);
  return lsns_;
}
std::vector<std::string> FakeAiondbPrimary::start_commands() const {
  absl::MutexLock lock(&mu_);
  return start_commands_;
}
std::vector<aiondb::StatusUpdate> FakeAiondbPrimary::status_updates() const {
  absl::MutexLock lock(&mu_);
  return updates_;
}
uint64_t FakeAiondbPrimary::max_flush_reported() const {
  absl::MutexLock lock(&mu_);
  uint64_t m = 0;
  for (const auto& u : updates_) m = std::max(m, u.flush_lsn);
  return m;
}
void FakeAiondbPrimary::EndStream() { end_stream_.store(true); }

std::vector<FakeAiondbPrimary::BackupFile> FakeAiondbPrimary::WalFiles(size_t n) const {
  absl::MutexLock lock(&mu_);
  n = std::min(n, entries_.size());
  std::vector<BackupFile> files;
  // Small files, so a backup carries several: a new file every 2,000 entries.
  for (size_t i = 0; i < n; i += 2000) {
    BackupFile f;
    f.path = aiondb::WalFileName(files.size() + 1);
    f.content = aiondb::EncodeFileHeader(options_.mode, options_.system_id, options_.timeline);
    for (size_t k = i; k < std::min(n, i + 2000); ++k) f.content += entries_[k];
    files.push_back(std::move(f));
  }
  return files;
}

void FakeAiondbPrimary::Serve() {
  while (!stop_.load()) {
    if (!Readable(listen_fd_, 50)) continue;
    int fd = accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) continue;
    connections_.fetch_add(1);
    end_stream_.store(false);
    Handle(fd);
    close(fd);
  }
}

bool FakeAiondbPrimary::Authenticate(int fd, const std::string& user) {
  auto fail = [&](const std::string& msg) {
    SendAll(fd, Error("28P01", msg));
    auth_failures_.fetch_add(1);
    return false;
  };
  switch (options_.auth) {
    case Auth::kTrust:
      break;
    case Auth::kCleartext: {
      SendAll(fd, AuthMsg(3));
      auto p = ReadTyped(fd);
      if (!p || p->first != 'p') return false;
      if (p->second != options_.password + '\0') return fail("password authentication failed");
      break;
    }
    case Auth::kMd5: {
      const std::string salt = "\x01\x02\x03\x04";
      SendAll(fd, AuthMsg(5, salt));
      auto p = ReadTyped(fd);
      if (!p || p->first != 'p') return false;
      auto want = Md5PasswordHash(user, options_.password, salt);
      if (!want.ok() || p->second != *want + '\0') return fail("password authentication failed");
      break;
    }
    case Auth::kScram: {
      SendAll(fd, AuthMsg(10, std::string("SCRAM-SHA-256") + '\0' + '\0'));
      auto p = ReadTyped(fd);
      if (!p || p->first != 'p') return false;
      // mechanism\0 | int32 length | client-first
      const size_t nul = p->second.find('\0');
      if (nul == std::string::npos || p->second.substr(0, nul) != "SCRAM-SHA-256") {
        return fail("unsupported SASL mechanism");
      }
      const std::string client_first = p->second.substr(nul + 5);
      if (!absl::StartsWith(client_first, "n,,")) return fail("channel binding not supported");
      const std::string bare = client_first.substr(3);
      const size_t r = bare.find("r=");
      if (r == std::string::npos) return fail("no nonce");
      const std::string nonce = bare.substr(r + 2) + "fakeaiondbserver";
      const std::string salt = "aiondb-salt-0123";
      const int iterations = 4096;
      const std::string server_first =
          absl::StrCat("r=", nonce, ",s=", absl::Base64Escape(salt), ",i=", iterations);
      SendAll(fd, AuthMsg(11, server_first));
      auto f = ReadTyped(fd);
      if (!f || f->first != 'p') return false;
      const std::string& client_final = f->second;
      const size_t pp = client_final.rfind(",p=");
      if (pp == std::string::npos) return fail("no proof");
      const std::string without_proof = client_final.substr(0, pp);
      std::string proof;
      if (!absl::Base64Unescape(client_final.substr(pp + 3), &proof) || proof.size() != 32) {
        return fail("bad proof");
      }
      unsigned char salted[32];
      PKCS5_PBKDF2_HMAC(options_.password.data(), static_cast<int>(options_.password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), iterations, EVP_sha256(), 32, salted);
      const std::string salted_password(reinterpret_cast<char*>(salted), 32);
      const std::string client_key = Hmac(salted_password, "Client Key");
      const std::string stored_key = Sha256(client_key);
      const std::string auth_message = bare + "," + server_first + "," + without_proof;
      const std::string client_signature = Hmac(stored_key, auth_message);
      std::string recovered(32, '\0');
      for (int i = 0; i < 32; ++i) recovered[i] = proof[i] ^ client_signature[i];
      if (Sha256(recovered) != stored_key) return fail("password authentication failed");
      const std::string server_key = Hmac(salted_password, "Server Key");
      SendAll(fd, AuthMsg(12, "v=" + absl::Base64Escape(Hmac(server_key, auth_message))));
      break;
    }
  }
  SendAll(fd, AuthMsg(0) + Param("server_version", options_.server_version) +
                  Param("client_encoding", "UTF8") +
                  EncodeFrame('K', BE32(4242) + BE32(0x1234)) + Ready());
  authenticated_.fetch_add(1);
  return true;
}

void FakeAiondbPrimary::Handle(int fd) {
  std::string len;
  if (!ReadExact(fd, &len, 4)) return;
  std::string body;
  if (!ReadExact(fd, &body, ReadBE32(len, 0) - 4)) return;
  if (ReadBE32(body, 0) == 80877103) {  // SSLRequest: aiondb without TLS says N
    SendAll(fd, "N");
    if (!ReadExact(fd, &len, 4) || !ReadExact(fd, &body, ReadBE32(len, 0) - 4)) return;
  }
  if (ReadBE32(body, 0) != 196608) return;
  std::map<std::string, std::string> params;
  std::vector<std::string> parts = absl::StrSplit(body.substr(4), '\0');
  for (size_t i = 0; i + 1 < parts.size(); i += 2) {
    if (parts[i].empty()) break;
    params[parts[i]] = parts[i + 1];
  }
  if (params["replication"] != "true" && params["replication"] != "1" &&
      params["replication"] != "on" && params["replication"] != "yes") {
    SendAll(fd, Error("0A000", "aiondb replication needs replication=true"));
    return;
  }
  if (!Authenticate(fd, params["user"])) return;
  for (;;) {
    auto q = ReadTyped(fd, absl::Seconds(30));
    if (!q || q->first == 'X') return;
    if (q->first != 'Q') return;
    std::string sql = q->second;
    if (!sql.empty() && sql.back() == '\0') sql.pop_back();
    if (sql == "IDENTIFY_SYSTEM") {
      uint64_t last = 0;
      {
        absl::MutexLock lock(&mu_);
        if (!lsns_.empty()) last = lsns_.back();
      }
      SendAll(fd, RowDesc({"systemid", "timeline", "xlogpos", "dbname"}) +
                      Row({absl::StrCat(options_.system_id), absl::StrCat(options_.timeline),
                           Lsn(last).ToString(), "aiondb"}) +
                      Complete("IDENTIFY_SYSTEM") + Ready());
    } else if (absl::StartsWith(sql, "TIMELINE_HISTORY")) {
      SendAll(fd, RowDesc({"filename", "content"}) +
                      Row({absl::StrFormat("%08X.history", options_.timeline), options_.history}) +
                      Complete("TIMELINE_HISTORY") + Ready());
    } else if (sql == "BASE_BACKUP") {
      BaseBackup(fd);
    } else if (absl::StartsWith(sql, "START_REPLICATION")) {
      {
        absl::MutexLock lock(&mu_);
        start_commands_.push_back(sql);
      }
      std::vector<std::string> words = absl::StrSplit(sql, ' ', absl::SkipEmpty());
      absl::StatusOr<Lsn> start = Lsn::Parse(words.back());
      if (!start.ok()) {
        SendAll(fd, Error("42601", "bad LSN") + Ready());
        continue;
      }
      Stream(fd, start->value());
      return;
    } else {
      SendAll(fd, Error("42601", "unsupported replication command") + Ready());
    }
  }
}

void FakeAiondbPrimary::BaseBackup(int fd) {
  backups_.fetch_add(1);
  std::vector<BackupFile> files =
      WalFiles(options_.backup_entries == 0 ? SIZE_MAX : options_.backup_entries);
  for (const BackupFile& f : options_.extra_backup_files) files.push_back(f);
  uint64_t start = 0;
  {
    absl::MutexLock lock(&mu_);
    if (!lsns_.empty()) start = lsns_.back();
  }
  // H (CopyOutResponse): format 0, no columns.
  SendAll(fd, EncodeFrame('H', std::string(1, '\0') + BE16(0)));
  // The Header and the first FileStart share one CopyData; FileData is cut into 64 KiB
  // frames, each sent across two CopyData messages.
  std::string pending = aiondb::EncodeBackupHeader(
      {start, options_.timeline, absl::StrCat(options_.system_id)});
  for (const BackupFile& f : files) {
    pending += aiondb::EncodeFileStart({f.path, f.content.size()});
    SendAll(fd, CopyData(pending));
    pending.clear();
    for (size_t at = 0; at < f.content.size(); at += 64 << 10) {
      const std::string frame = aiondb::EncodeFileData(f.content.substr(at, 64 << 10));
      const size_t half = frame.size() / 2;
      SendAll(fd, CopyData(frame.substr(0, half)));
      SendAll(fd, CopyData(frame.substr(half)));
    }
    pending += aiondb::EncodeFileEnd();
  }
  if (options_.hostile_backup == HostileBackup::kPathEscape) {
    pending += aiondb::EncodeFileStart({"../escaped", 5}) + aiondb::EncodeFileData("owned") +
               aiondb::EncodeFileEnd();
  } else if (options_.hostile_backup == HostileBackup::kOversizedFrame) {
    pending += aiondb::EncodeFileStart({"big", 9u << 20});
    std::string claim(1, 0x03);
    PutLe32(&claim, 9u << 20);
    pending += claim + "only a little";
  }
  pending += aiondb::EncodeBackupEnd();
  SendAll(fd, CopyData(pending));
  SendAll(fd, EncodeFrame('c', "") + Complete("BASE_BACKUP") + Ready());
}

void FakeAiondbPrimary::Stream(int fd, uint64_t start) {
  SendAll(fd, EncodeFrame('W', std::string(1, '\0') + BE16(0)));
  size_t next = 0;
  {
    absl::MutexLock lock(&mu_);
    while (next < lsns_.size() && lsns_[next] < start) ++next;  // lsn >= start, as aiondb
  }
  uint64_t sent_last = next > 0 ? lsns()[next - 1] : 0;
  absl::Time last_keepalive = absl::Now();
  bool ending = false;
  bool hostile_sent = false;
  for (;;) {
    // Read what the replica sent.
    while (Readable(fd, 0)) {
      auto m = ReadTyped(fd);
      if (!m || m->first == 'X') return;
      if (m->first == 'c') {
        SendAll(fd, EncodeFrame('c', "") + Complete("START_REPLICATION") + Ready());
        return;
      }
      if (m->first != 'd') return;
      auto msg = aiondb::DecodeMessage(m->second);
      if (!msg.ok()) return;
      if (const auto* u = std::get_if<aiondb::StatusUpdate>(&*msg)) {
        absl::MutexLock lock(&mu_);
        updates_.push_back(*u);
        if (reply_pending_) {
          reply_pending_ = false;
          keepalive_replies_.fetch_add(1);
        }
      }
    }
    if (stop_.load()) return;
    if (end_stream_.load() && !ending) ending = true;
    if (ending) {
      // End only after the replica acknowledged all it was sent.
      if (max_flush_reported() >= sent_last) {
        SendAll(fd, EncodeFrame('c', ""));
        // Wait for its CopyDone (or its going away) before closing.
        for (int i = 0; i < 200; ++i) {
          if (!Readable(fd, 25)) continue;
          auto m = ReadTyped(fd);
          if (!m || m->first == 'c' || m->first == 'X') break;
        }
        return;
      }
      Readable(fd, 10);
      continue;
    }
    std::vector<std::string> batch;
    std::vector<uint64_t> batch_lsns;
    size_t first_index = next;
    {
      absl::MutexLock lock(&mu_);
      while (next < entries_.size() && batch.size() < options_.batch) {
        batch.push_back(entries_[next]);
        batch_lsns.push_back(lsns_[next]);
        ++next;
      }
    }
    if (batch.empty()) {
      if (absl::Now() - last_keepalive > absl::Milliseconds(200)) {
        {
          absl::MutexLock lock(&mu_);
          reply_pending_ = true;
        }
        SendAll(fd, CopyData(aiondb::EncodeKeepalive(
                        {sent_last, static_cast<uint64_t>(absl::ToUnixMicros(absl::Now())), true})));
        last_keepalive = absl::Now();
      }
      Readable(fd, 20);
      continue;
    }
    std::string raw;
    std::string trailing;
    bool oversized = false;
    const size_t h = options_.hostile_at;
    const bool hits = options_.hostile != Hostile::kNone && !hostile_sent && h >= first_index &&
                      h < first_index + batch.size();
    if (hits) {
      hostile_sent = true;
      const size_t k = h - first_index;
      switch (options_.hostile) {
        case Hostile::kBadCrc:
          batch[k][batch[k].size() - 1] ^= 0x5A;
          break;
        case Hostile::kGap:
          batch.erase(batch.begin() + k);
          batch_lsns.erase(batch_lsns.begin() + k);
          break;
        case Hostile::kTrailingBytes:
          trailing = "junk";
          break;
        case Hostile::kOversizedFrame:
          // Entries before the bad one go out first, in a message of their own.
          batch.resize(k);
          batch_lsns.resize(k);
          oversized = true;
          break;
        case Hostile::kNone:
          break;
      }
    }
    for (const std::string& e : batch) raw += e;
    if (!batch.empty()) {
      SendAll(fd, CopyData(aiondb::EncodeWalData(batch_lsns.front(), batch_lsns.back(), raw) +
                           trailing));
      sent_last = batch_lsns.back();
      last_sent_.store(sent_last);
      // Pacing the primary's sending, not synchronising the test with it.
      if (options_.pace > absl::ZeroDuration()) absl::SleepFor(options_.pace);
    }
    if (oversized) {
      std::string claim(1, 0x01);
      PutLe32(&claim, (8u << 20) + 1);
      SendAll(fd, CopyData(claim + std::string(64, 'o')));
    }
    // Now and then ask for a reply, as aiondb's walsender does when idle.
    if (first_index / options_.batch % 20 == 19) {
      SendAll(fd, CopyData(aiondb::EncodeKeepalive(
                      {sent_last, static_cast<uint64_t>(absl::ToUnixMicros(absl::Now())), true})));
    }
  }
}

}  // namespace walrep::testing
