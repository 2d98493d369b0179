// sync_floor: the least a synchronous WAL receiver can do per commit, for comparison.
//
//   sync_floor CONNINFO FILE SYNC_THREADS     (SYNC_THREADS: -1, 0, 1..8)
//
// Streams from the primary's current segment into FILE (512 MiB, zero-filled and fsynced
// before it connects, as both walrep and pg_receivewal prepare a segment) at the WAL's
// offset from that segment, and acknowledges as flushed what is fdatasynced — nothing
// else: no segment files, no record decoding, no metrics. With SYNC_THREADS = 0 the
// receiving thread writes, fdatasyncs and replies in turn, as pg_receivewal --synchronous
// does. With N > 0, up to N threads fdatasync while the receiving thread keeps reading:
// a sync starts as soon as new WAL is written, even while another is in flight, and the
// reply goes out from the thread whose sync made it durable. That is the lever of
// overlapping flushes, measured. With -1, each cycle takes the fewest system calls it
// can: a blocking recv of whatever has arrived, one pwritev2(RWF_DSYNC) of the batch's WAL
// (contiguous in the file, so one write whose range sync covers all of it) and one send —
// three calls where pg_receivewal and walrep make six or seven a cycle (perf trace: their
// waits and reads, the write, the sync, the send). tools/bench/sync_ab.sh BENCH_FLOOR=1
// runs all three modes.
//
// A measurement tool only: the flush it reports is a byte position, not a record end, and
// it never checks what it receives.
#include <fcntl.h>
#include <libpq-fe.h>
#include <limits.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace {

constexpr uint64_t kFileSize = uint64_t{512} << 20;  // a benchmark run writes ~150 MB
constexpr uint64_t kSegment = uint64_t{16} << 20;
// Seconds between 1970-01-01 and 2000-01-01, the protocol's epoch.
constexpr int64_t kPgEpochOffset = 946684800;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "sync_floor: %s\n", what.c_str());
  std::exit(1);
}

uint64_t Get64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

uint32_t Get32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; i++) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

void Put64(char* p, uint64_t v) {
  for (int i = 7; i >= 0; i--, v >>= 8) p[i] = static_cast<char>(v & 0xff);
}

int64_t NowPostgresMicros() {
  timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (t.tv_sec - kPgEpochOffset) * 1000000 + t.tv_nsec / 1000;
}

class Receiver {
 public:
  Receiver(PGconn* conn, int fd, uint64_t base, int sync_threads, std::string start)
      : conn_(conn), fd_(fd), base_(base), sync_threads_(sync_threads), start_(std::move(start)) {}

  // Never returns but by exiting: the benchmark kills it.
  void Run() {
    if (sync_threads_ < 0) return RunMinimal();
    for (int i = 0; i < sync_threads_; i++) std::thread([this] { SyncThread(); }).detach();
    const int sock = PQsocket(conn_);
    std::unique_lock lock(mu_);
    for (;;) {
      char* buf = nullptr;
      int n;
      while ((n = PQgetCopyData(conn_, &buf, 1)) > 0) {
        Handle(buf, n);
        PQfreemem(buf);
      }
      if (n == -1) std::exit(0);  // the primary ended the COPY
      if (n < -1) Die(PQerrorMessage(conn_));
      if (written_ > requested_) {
        if (sync_threads_ == 0) {
          SyncAndReply(lock);
          Consume();
          continue;
        }
        if (inflight_ < sync_threads_) cv_.notify_one();
      }
      lock.unlock();
      pollfd p{sock, POLLIN, 0};
      poll(&p, 1, 1000);
      lock.lock();
      Consume();
    }
  }

 private:
  void Handle(const char* buf, int n) {
    if (buf[0] == 'w' && n >= 25) {
      const uint64_t start = Get64(buf + 1) - base_;
      const size_t len = static_cast<size_t>(n) - 25;
      if (start + len > kFileSize) Die("the file is full (512 MiB of WAL)");
      if (pwrite(fd_, buf + 25, len, static_cast<off_t>(start)) != static_cast<ssize_t>(len)) {
        Die(std::string("pwrite: ") + std::strerror(errno));
      }
      written_ = std::max(written_, start + len);
    } else if (buf[0] == 'k' && n >= 18 && buf[17] != 0) {
      SendStatus();
    }
  }

  void Consume() {
    if (!PQconsumeInput(conn_)) Die(PQerrorMessage(conn_));
  }

  // Called with mu_ held; releases it for the fdatasync.
  void SyncAndReply(std::unique_lock<std::mutex>& lock) {
    const uint64_t target = written_;
    requested_ = target;
    ++inflight_;
    lock.unlock();
    if (fdatasync(fd_) != 0) Die(std::string("fdatasync: ") + std::strerror(errno));
    lock.lock();
    --inflight_;
    // A later sync that returned first covered this one's bytes too (fdatasync makes
    // everything written before it durable), so the position only moves forward.
    if (target > flushed_) {
      flushed_ = target;
      SendStatus();
    }
  }

  void SyncThread() {
    std::unique_lock lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return written_ > requested_ && inflight_ < sync_threads_; });
      SyncAndReply(lock);
    }
  }

  // START_REPLICATION and the stream by hand on the blocking socket (see the top): libpq's
  // buffer is empty after IDENTIFY_SYSTEM's ReadyForQuery, so no byte is libpq's.
  void RunMinimal() {
    sock_ = PQsocket(conn_);
    if (fcntl(sock_, F_SETFL, fcntl(sock_, F_GETFL) & ~O_NONBLOCK) != 0) Die("fcntl");
    std::string q(1, 'Q');
    const uint32_t qlen = static_cast<uint32_t>(4 + start_.size() + 1);
    for (int i = 3; i >= 0; i--) q += static_cast<char>((qlen >> (8 * i)) & 0xff);
    q += start_;
    q += '\0';
    if (send(sock_, q.data(), q.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(q.size())) {
      Die(std::string("send: ") + std::strerror(errno));
    }
    std::vector<char> in(size_t{4} << 20);
    size_t have = 0;
    bool copying = false;  // CopyBothResponse seen
    std::vector<iovec> iov;
    for (;;) {
      const ssize_t r = recv(sock_, in.data() + have, in.size() - have, 0);
      if (r == 0) Die("the primary closed the connection");
      if (r < 0) Die(std::string("recv: ") + std::strerror(errno));
      have += static_cast<size_t>(r);
      size_t off = 0;
      uint64_t start = 0, end = 0;
      bool reply = false, plain_written = false;
      iov.clear();
      while (have - off >= 5) {
        const uint32_t len = Get32(in.data() + off + 1);
        if (len < 4 || len > (uint32_t{64} << 20)) Die("a message length out of range");
        if (have - off < 1 + size_t{len}) break;
        const char type = in[off];
        const char* body = in.data() + off + 5;
        const size_t blen = len - 4;
        if (!copying) {
          if (type != 'W') Die(std::string("START_REPLICATION answered '") + type + "'");
          copying = true;
          off += 1 + len;
          continue;
        }
        if (type != 'd') {
          if (type == 'c') std::exit(0);
          Die(std::string("unexpected message '") + type + "' while streaming");
        }
        if (blen == 0) Die("an empty CopyData message");
        if (body[0] == 'w' && blen >= 25) {
          const uint64_t at = Get64(body + 1) - base_;
          if (!iov.empty() && at != end) Die("WAL messages not contiguous");
          if (iov.empty()) start = at;
          if (iov.size() == IOV_MAX) {  // written now, synced with the rest below
            WriteAll(iov, start, 0);
            plain_written = true;
            iov.clear();
            start = at;
          }
          iov.push_back({const_cast<char*>(body + 25), blen - 25});
          end = at + blen - 25;
          if (end > kFileSize) Die("the file is full (512 MiB of WAL)");
        } else if (body[0] == 'k' && blen >= 18 && body[17] != 0) {
          reply = true;
        }
        off += 1 + len;
      }
      if (!iov.empty()) {
        // RWF_DSYNC syncs the range of this one write; earlier plain writes need their own.
        WriteAll(iov, start, plain_written ? 0 : RWF_DSYNC);
        if (plain_written && fdatasync(fd_) != 0) {
          Die(std::string("fdatasync: ") + std::strerror(errno));
        }
        written_ = flushed_ = end;
        SendStatus();
      } else if (reply) {
        SendStatus();
      }
      std::memmove(in.data(), in.data() + off, have - off);
      have -= off;
      if (have == in.size()) in.resize(in.size() * 2);
    }
  }

  void WriteAll(std::vector<iovec>& iov, uint64_t at, int flags) {
    size_t total = 0;
    for (const iovec& v : iov) total += v.iov_len;
    const ssize_t w = pwritev2(fd_, iov.data(), static_cast<int>(iov.size()),
                               static_cast<off_t>(at), flags);
    if (w != static_cast<ssize_t>(total)) Die(std::string("pwritev2: ") + std::strerror(errno));
  }

  // A standby status update ('r'): write, flush, apply, clock, reply requested.
  void SendStatus() {
    char m[34];
    m[0] = 'r';
    Put64(m + 1, base_ + written_);
    Put64(m + 9, base_ + flushed_);
    Put64(m + 17, 0);
    Put64(m + 25, static_cast<uint64_t>(NowPostgresMicros()));
    m[33] = 0;
    if (sock_ >= 0) {  // RunMinimal: a CopyData frame of our own
      char f[5 + sizeof(m)] = {'d', 0, 0, 0, static_cast<char>(4 + sizeof(m))};
      std::memcpy(f + 5, m, sizeof(m));
      if (send(sock_, f, sizeof(f), MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof(f))) {
        Die(std::string("send: ") + std::strerror(errno));
      }
      return;
    }
    if (PQputCopyData(conn_, m, sizeof(m)) <= 0 || PQflush(conn_) != 0) {
      Die(PQerrorMessage(conn_));
    }
  }

  PGconn* const conn_;
  const int fd_;
  const uint64_t base_;
  const int sync_threads_;
  std::mutex mu_;  // guards the connection (libpq is not thread-safe per connection) and:
  std::condition_variable cv_;
  uint64_t written_ = 0;    // bytes pwritten, from base_
  uint64_t requested_ = 0;  // the most a started fdatasync covers
  uint64_t flushed_ = 0;    // the most a finished fdatasync covered (reported)
  int inflight_ = 0;
  const std::string start_;  // the START_REPLICATION command
  int sock_ = -1;  // set once RunMinimal speaks the protocol itself
};

PGresult* Exec(PGconn* conn, const std::string& sql, ExecStatusType want) {
  PGresult* r = PQexec(conn, sql.c_str());
  if (PQresultStatus(r) != want) Die(sql + ": " + PQerrorMessage(conn));
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: sync_floor CONNINFO FILE SYNC_THREADS\n");
    return 2;
  }
  // Started in the background by a script, SIGINT arrives ignored; it is how the benchmark
  // stops a receiver (pg_receivewal handles it), so its default action is restored.
  std::signal(SIGINT, SIG_DFL);
  const int sync_threads = std::atoi(argv[3]);
  if (sync_threads < -1 || sync_threads > 8) Die("SYNC_THREADS must be -1..8");
  const int fd = open(argv[2], O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) Die(std::string(argv[2]) + ": " + std::strerror(errno));
  std::vector<char> zeros(1 << 20);
  for (uint64_t off = 0; off < kFileSize; off += zeros.size()) {
    if (pwrite(fd, zeros.data(), zeros.size(), static_cast<off_t>(off)) !=
        static_cast<ssize_t>(zeros.size())) {
      Die(std::string("zero-filling: ") + std::strerror(errno));
    }
  }
  if (fsync(fd) != 0) Die(std::string("fsync: ") + std::strerror(errno));

  PGconn* conn = PQconnectdb((std::string(argv[1]) + " replication=true").c_str());
  if (PQstatus(conn) != CONNECTION_OK) Die(PQerrorMessage(conn));
  PGresult* id = Exec(conn, "IDENTIFY_SYSTEM", PGRES_TUPLES_OK);
  unsigned hi = 0, lo = 0;
  if (std::sscanf(PQgetvalue(id, 0, 2), "%X/%X", &hi, &lo) != 2) Die("IDENTIFY_SYSTEM xlogpos");
  const int tli = std::atoi(PQgetvalue(id, 0, 1));
  PQclear(id);
  const uint64_t base = ((uint64_t{hi} << 32) | lo) & ~(kSegment - 1);
  char cmd[96];
  std::snprintf(cmd, sizeof(cmd), "START_REPLICATION PHYSICAL %X/%X TIMELINE %d",
                static_cast<unsigned>(base >> 32), static_cast<unsigned>(base), tli);
  // The raw mode speaks on the socket itself: only a plain connection will do.
  if (sync_threads < 0 && (PQsslInUse(conn) || PQgssEncInUse(conn))) {
    Die("SYNC_THREADS -1 needs a connection without TLS or GSS encryption");
  }
  if (sync_threads >= 0) {
    PQclear(Exec(conn, cmd, PGRES_COPY_BOTH));
    if (PQsetnonblocking(conn, 1) != 0) Die(PQerrorMessage(conn));
  }
  Receiver(conn, fd, base, sync_threads, cmd).Run();
}
