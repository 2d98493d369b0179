#include "wire/bytes.h"

#include <cstring>

namespace walrep {
namespace {

template <typename T>
bool ReadBigEndian(absl::Span<const uint8_t> data, size_t* pos, T* out) {
  if (data.size() - *pos < sizeof(T)) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < sizeof(T); ++i) v = (v << 8) | data[*pos + i];
  *pos += sizeof(T);
  *out = static_cast<T>(v);
  return true;
}

}  // namespace

bool ByteReader::ReadU8(uint8_t* out) { return ReadBigEndian(data_, &pos_, out); }
bool ByteReader::ReadU16(uint16_t* out) { return ReadBigEndian(data_, &pos_, out); }
bool ByteReader::ReadU32(uint32_t* out) { return ReadBigEndian(data_, &pos_, out); }
bool ByteReader::ReadU64(uint64_t* out) { return ReadBigEndian(data_, &pos_, out); }
bool ByteReader::ReadI16(int16_t* out) { return ReadBigEndian(data_, &pos_, out); }
bool ByteReader::ReadI32(int32_t* out) { return ReadBigEndian(data_, &pos_, out); }
bool ByteReader::ReadI64(int64_t* out) { return ReadBigEndian(data_, &pos_, out); }

bool ByteReader::ReadBytes(size_t n, absl::string_view* out) {
  if (remaining() < n) return false;
  *out = absl::string_view(reinterpret_cast<const char*>(data_.data() + pos_), n);
  pos_ += n;
  return true;
}

bool ByteReader::ReadCString(absl::string_view* out) {
  const void* nul = std::memchr(data_.data() + pos_, 0, remaining());
  if (nul == nullptr) return false;
  size_t len = static_cast<const uint8_t*>(nul) - (data_.data() + pos_);
  *out = absl::string_view(reinterpret_cast<const char*>(data_.data() + pos_), len);
  pos_ += len + 1;
  return true;
}

absl::string_view ByteReader::ReadRest() {
  absl::string_view rest(reinterpret_cast<const char*>(data_.data() + pos_), remaining());
  pos_ = data_.size();
  return rest;
}

void ByteWriter::PutU16(uint16_t v) {
  PutU8(static_cast<uint8_t>(v >> 8));
  PutU8(static_cast<uint8_t>(v));
}

void ByteWriter::PutU32(uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) PutU8(static_cast<uint8_t>(v >> shift));
}

void ByteWriter::PutU64(uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) PutU8(static_cast<uint8_t>(v >> shift));
}

void ByteWriter::PatchU32(size_t offset, uint32_t v) {
  for (int i = 0; i < 4; ++i) (*out_)[offset + i] = static_cast<char>(v >> (24 - 8 * i));
}

}  // namespace walrep
