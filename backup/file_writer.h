// FileWriter: the extractor's writes, done on a thread of their own so that the device
// writes one buffer while the next is being received and unpacked. With O_DIRECT (which
// the extractor uses for full buffers) each write() waits for the device; done inline it
// would stop the stream for every buffer, and the copy would take receive time plus write
// time instead of the larger of the two.
//
// Operations run in the order they are queued. A file's buffers are queued one after the
// other and then its close, so at most one file is open for writing at a time. The first
// failure is sticky: later writes are skipped (their files still closed) and every call
// that can report it does, naming the file. Thread-safe between one producer (the
// extractor) and the writer thread.
#ifndef WALREP_BACKUP_FILE_WRITER_H_
#define WALREP_BACKUP_FILE_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "replay/file_ops.h"  // kDirectIoAlignment

namespace walrep {

class FileWriter {
 public:
  // `buffers` buffers of `buffer_size` bytes, kDirectIoAlignment-aligned. With `direct_io`
  // (and buffer_size a multiple of the alignment) full buffers are written with O_DIRECT.
  FileWriter(size_t buffer_size, int buffers, bool direct_io);
  ~FileWriter();  // finishes the queue and closes every file handed over

  FileWriter(const FileWriter&) = delete;
  FileWriter& operator=(const FileWriter&) = delete;

  size_t buffer_size() const { return buffer_size_; }

  // A free buffer, waiting while all of them are queued; null after a failure (whose
  // status() is then not OK).
  char* Buffer();
  // Queues `len` bytes of `buffer` (from Buffer(), handed back) to be appended to `fd`,
  // which the caller keeps open until Close(fd). `display` names the file in errors.
  void Write(int fd, char* buffer, size_t len, const std::string& display);
  // Queues closing `fd` (ownership passes here) after its writes.
  void Close(int fd, const std::string& display);
  // Waits until everything queued is done; the first failure, if any.
  absl::Status Drain();
  // The first failure so far, without waiting.
  absl::Status status() const;
  // Bytes written with O_DIRECT so far.
  uint64_t direct_bytes() const;

 private:
  struct FreeAligned {
    void operator()(char* p) const { std::free(p); }
  };
  struct Op {
    int fd;
    char* buffer;  // null for a close
    size_t len;
    std::string display;
  };

  void Run();
  absl::Status WriteOp(const Op& op);
  absl::Status SetDirect(int fd, bool on, const std::string& display);

  const size_t buffer_size_;
  std::vector<std::unique_ptr<char, FreeAligned>> storage_;

  mutable absl::Mutex mu_;
  std::vector<char*> free_ ABSL_GUARDED_BY(mu_);
  std::deque<Op> queue_ ABSL_GUARDED_BY(mu_);
  bool busy_ ABSL_GUARDED_BY(mu_) = false;  // the thread is running an op
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  uint64_t direct_bytes_ ABSL_GUARDED_BY(mu_) = 0;

  // The writer thread's own state.
  bool direct_ok_;             // O_DIRECT is on offer (option, alignment, file system)
  bool file_direct_ = false;   // the open file has O_DIRECT set
  bool file_aligned_ = true;   // its offset is a multiple of kDirectIoAlignment

  std::thread thread_;
};

}  // namespace walrep

#endif  // WALREP_BACKUP_FILE_WRITER_H_
