// Bytes received from a socket and not yet consumed. Grown as needed but never
// zero-filled: a read goes straight into spare capacity. (A std::string resized by 256 KiB
// before every read zeroed that much each time; under synchronous commit, where every
// read carries a few hundred bytes, that memset was the receiver's largest user-space
// cost.) Not thread-safe.
#ifndef WALREP_WIRE_READ_BUFFER_H_
#define WALREP_WIRE_READ_BUFFER_H_

#include <cstdint>
#include <cstring>
#include <memory>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace walrep {

class ReadBuffer {
 public:
  // The bytes received and not consumed yet; valid until the next non-const call.
  absl::string_view readable() const { return {data_.get() + start_, end_ - start_}; }
  // Drops the first `n` readable bytes.
  void Consume(size_t n) {
    start_ += n;
    if (start_ == end_) start_ = end_ = 0;
  }
  // Spare room of at least `n` bytes after the readable ones (moving them to the front or
  // growing the buffer when needed); fill some of it, then Commit.
  absl::Span<uint8_t> Reserve(size_t n) {
    if (cap_ - end_ < n && start_ > 0) {
      std::memmove(data_.get(), data_.get() + start_, end_ - start_);
      end_ -= start_;
      start_ = 0;
    }
    if (cap_ - end_ < n) {
      size_t cap = cap_ == 0 ? n : cap_;
      while (cap - end_ < n) cap *= 2;
      std::unique_ptr<char[]> grown(new char[cap]);  // deliberately not value-initialised
      if (end_ > 0) std::memcpy(grown.get(), data_.get(), end_);
      data_ = std::move(grown);
      cap_ = cap;
    }
    return absl::MakeSpan(reinterpret_cast<uint8_t*>(data_.get()) + end_, cap_ - end_);
  }
  // The first `n` bytes of the last Reserve now hold received data.
  void Commit(size_t n) { end_ += n; }
  void Append(absl::string_view bytes) {
    absl::Span<uint8_t> room = Reserve(bytes.size());
    std::memcpy(room.data(), bytes.data(), bytes.size());
    Commit(bytes.size());
  }

 private:
  std::unique_ptr<char[]> data_;
  size_t cap_ = 0;
  size_t start_ = 0;
  size_t end_ = 0;
};

}  // namespace walrep

#endif  // WALREP_WIRE_READ_BUFFER_H_
