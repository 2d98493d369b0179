// Big-endian byte reading and writing for protocol messages. ByteReader never reads past
// its span: every getter reports failure instead, so decoders built on it are safe over
// hostile input. Not thread-safe; cheap to copy.
#ifndef WALREP_WIRE_BYTES_H_
#define WALREP_WIRE_BYTES_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace walrep {

class ByteReader {
 public:
  explicit ByteReader(absl::Span<const uint8_t> data) : data_(data) {}
  explicit ByteReader(absl::string_view data)
      : data_(reinterpret_cast<const uint8_t*>(data.data()), data.size()) {}

  size_t remaining() const { return data_.size() - pos_; }
  size_t position() const { return pos_; }
  bool empty() const { return remaining() == 0; }

  bool ReadU8(uint8_t* out);
  bool ReadU16(uint16_t* out);
  bool ReadU32(uint32_t* out);
  bool ReadU64(uint64_t* out);
  bool ReadI16(int16_t* out);
  bool ReadI32(int32_t* out);
  bool ReadI64(int64_t* out);
  // Reads `n` bytes as a view into the underlying buffer.
  bool ReadBytes(size_t n, absl::string_view* out);
  // Reads a NUL-terminated string (the NUL consumed, not returned).
  bool ReadCString(absl::string_view* out);
  // The unread rest, consumed.
  absl::string_view ReadRest();

 private:
  absl::Span<const uint8_t> data_;
  size_t pos_ = 0;
};

// Appends big-endian values to a std::string buffer.
class ByteWriter {
 public:
  explicit ByteWriter(std::string* out) : out_(out) {}

  void PutU8(uint8_t v) { out_->push_back(static_cast<char>(v)); }
  void PutU16(uint16_t v);
  void PutU32(uint32_t v);
  void PutU64(uint64_t v);
  void PutI16(int16_t v) { PutU16(static_cast<uint16_t>(v)); }
  void PutI32(int32_t v) { PutU32(static_cast<uint32_t>(v)); }
  void PutI64(int64_t v) { PutU64(static_cast<uint64_t>(v)); }
  void PutBytes(absl::string_view v) { out_->append(v.data(), v.size()); }
  // Appends `v` and a NUL. The caller must have checked `v` holds no NUL.
  void PutCString(absl::string_view v) {
    PutBytes(v);
    PutU8(0);
  }
  // Overwrites 4 bytes at `offset` (used to patch a message length after the body).
  void PatchU32(size_t offset, uint32_t v);
  size_t size() const { return out_->size(); }

 private:
  std::string* out_;
};

}  // namespace walrep

#endif  // WALREP_WIRE_BYTES_H_
