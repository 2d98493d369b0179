// sync_floor: the least a synchronous WAL receiver can do per commit, for comparison.
//
//   sync_floor CONNINFO FILE SYNC_THREADS
//
// Streams from the primary's current segment into FILE (1 GiB, zero-filled and fsynced
// before it connects, as both walrep and pg_receivewal prepare a segment) at the WAL's
// offset from that segment, and acknowledges as flushed what is fdatasynced — nothing
// else: no segment files, no record decoding, no metrics. With SYNC_THREADS = 0 the
// receiving thread writes, fdatasyncs and replies in turn, as pg_receivewal --synchronous
// does. With N > 0, up to N threads fdatasync while the receiving thread keeps reading:
// a sync starts as soon as new WAL is written, even while another is in flight, and the
// reply goes out from the thread whose sync made it durable. That is the lever of
// overlapping flushes, measured (tools/bench/sync_floor.sh).
//
// A measurement tool only: the flush it reports is a byte position, not a record end, and
// it never checks what it receives.
#include <fcntl.h>
#include <libpq-fe.h>
#include <poll.h>
#include <unistd.h>

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
#include <vector>

namespace {

constexpr uint64_t kFileSize = uint64_t{1} << 30;
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
  Receiver(PGconn* conn, int fd, uint64_t base, int sync_threads)
      : conn_(conn), fd_(fd), base_(base), sync_threads_(sync_threads) {}

  // Never returns but by exiting: the benchmark kills it.
  void Run() {
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
      if (start + len > kFileSize) Die("the file is full (1 GiB of WAL)");
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

  // A standby status update ('r'): write, flush, apply, clock, reply requested.
  void SendStatus() {
    char m[34];
    m[0] = 'r';
    Put64(m + 1, base_ + written_);
    Put64(m + 9, base_ + flushed_);
    Put64(m + 17, 0);
    Put64(m + 25, static_cast<uint64_t>(NowPostgresMicros()));
    m[33] = 0;
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
  if (sync_threads < 0 || sync_threads > 8) Die("SYNC_THREADS must be 0..8");
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
  PQclear(Exec(conn, cmd, PGRES_COPY_BOTH));
  if (PQsetnonblocking(conn, 1) != 0) Die(PQerrorMessage(conn));
  Receiver(conn, fd, base, sync_threads).Run();
}
