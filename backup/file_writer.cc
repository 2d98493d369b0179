#include "backup/file_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "replay/errno_status.h"
#include "wire/status_macros.h"

namespace walrep {

FileWriter::FileWriter(size_t buffer_size, int buffers, bool direct_io)
    : buffer_size_(buffer_size == 0 ? kDirectIoAlignment : buffer_size),
      direct_ok_(direct_io && buffer_size_ % kDirectIoAlignment == 0) {
  const size_t alloc =
      (buffer_size_ + kDirectIoAlignment - 1) / kDirectIoAlignment * kDirectIoAlignment;
  for (int i = 0; i < std::max(buffers, 1); ++i) {
    char* p = static_cast<char*>(std::aligned_alloc(kDirectIoAlignment, alloc));
    if (p == nullptr) break;
    storage_.emplace_back(p);
    free_.push_back(p);
  }
  if (storage_.empty()) status_ = absl::ResourceExhaustedError("no memory for write buffers");
  thread_ = std::thread([this] { Run(); });
}

FileWriter::~FileWriter() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

char* FileWriter::Buffer() {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !free_.empty() || !status_.ok();
  };
  mu_.Await(absl::Condition(&ready));
  if (!status_.ok()) return nullptr;
  char* p = free_.back();
  free_.pop_back();
  return p;
}

void FileWriter::Write(int fd, char* buffer, size_t len, const std::string& display) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(Op{fd, buffer, len, display});
}

void FileWriter::Close(int fd, const std::string& display) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(Op{fd, nullptr, 0, display});
}

absl::Status FileWriter::Drain() {
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return queue_.empty() && !busy_; };
  mu_.Await(absl::Condition(&idle));
  return status_;
}

absl::Status FileWriter::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

uint64_t FileWriter::direct_bytes() const {
  absl::MutexLock lock(&mu_);
  return direct_bytes_;
}

void FileWriter::Run() {
  for (;;) {
    Op op;
    bool failed;
    {
      absl::MutexLock lock(&mu_);
      auto work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !queue_.empty() || stop_; };
      mu_.Await(absl::Condition(&work));
      if (queue_.empty()) return;  // stopping, and everything queued is done
      op = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      failed = !status_.ok();
    }
    absl::Status st;
    if (op.buffer == nullptr) {
      if (close(op.fd) != 0 && !failed) st = ErrnoStatus("close", op.display, errno);
      file_direct_ = false;
      file_aligned_ = true;
    } else if (!failed) {
      st = WriteOp(op);
    }
    absl::MutexLock lock(&mu_);
    if (op.buffer != nullptr) free_.push_back(op.buffer);
    if (status_.ok() && !st.ok()) status_ = std::move(st);
    busy_ = false;
  }
}

absl::Status FileWriter::SetDirect(int fd, bool on, const std::string& display) {
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0) return ErrnoStatus("fcntl", display, errno);
  flags = on ? (flags | O_DIRECT) : (flags & ~O_DIRECT);
  if (fcntl(fd, F_SETFL, flags) != 0) {
    if (on && errno == EINVAL) {
      direct_ok_ = false;  // this file system does not do direct I/O: page cache from now on
      return absl::OkStatus();
    }
    return ErrnoStatus("fcntl", display, errno);
  }
  file_direct_ = on;
  return absl::OkStatus();
}

absl::Status FileWriter::WriteOp(const Op& op) {
  // Only a full buffer is aligned in length, and while every earlier write of the file
  // was one its offset is aligned too; a file's last, partial buffer goes through the
  // page cache.
  const bool full = op.len == buffer_size_;
  if (full && direct_ok_ && file_aligned_ && !file_direct_) {
    RETURN_IF_ERROR(SetDirect(op.fd, true, op.display));
  }
  if (!full && file_direct_) RETURN_IF_ERROR(SetDirect(op.fd, false, op.display));
  const char* p = op.buffer;
  size_t left = op.len;
  uint64_t direct = 0;
  while (left > 0) {
    ssize_t n = write(op.fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EINVAL && file_direct_) {
        // The device wants a larger alignment than kDirectIoAlignment: buffered for good.
        direct_ok_ = false;
        RETURN_IF_ERROR(SetDirect(op.fd, false, op.display));
        continue;
      }
      return ErrnoStatus("write", op.display, errno);
    }
    if (file_direct_) direct += static_cast<uint64_t>(n);
    p += n;
    left -= static_cast<size_t>(n);
    // A short direct write leaves the offset unaligned for the next: the rest of the file
    // goes through the page cache.
    if (left > 0 && file_direct_) {
      file_aligned_ = false;
      RETURN_IF_ERROR(SetDirect(op.fd, false, op.display));
    }
  }
  absl::MutexLock lock(&mu_);
  direct_bytes_ += direct;
  return absl::OkStatus();
}

}  // namespace walrep
