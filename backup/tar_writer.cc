#include "backup/tar_writer.h"

#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace walrep {
namespace {

// Octal, zero-padded to width-1 digits and NUL-terminated, as PostgreSQL's tarCreateHeader.
// The callers keep `value` below 8^(width-1) (larger sizes go base-256).
void Octal(char* field, size_t width, uint64_t value) {
  field[width - 1] = '\0';
  for (size_t i = width - 1; i-- > 0;) {
    field[i] = static_cast<char>('0' + (value & 7));
    value >>= 3;
  }
}

// GNU base-256: the first byte's high bit set, the value big-endian in the rest.
void Base256(char* field, size_t width, uint64_t value) {
  std::memset(field, 0, width);
  for (size_t i = width; i-- > 1;) {
    field[i] = static_cast<char>(value & 0xff);
    value >>= 8;
  }
  field[0] = static_cast<char>(0x80);
}

}  // namespace

absl::StatusOr<std::string> TarFileHeader(const TarFileFields& f) {
  if (f.name.empty() || f.name.size() > 99) {
    return absl::InvalidArgumentError(
        absl::StrCat("tar member name \"", f.name, "\" must be 1 to 99 bytes"));
  }
  std::string h(kTarBlock, '\0');
  char* b = h.data();
  std::memcpy(b, f.name.data(), f.name.size());
  Octal(b + 100, 8, f.mode & 07777);
  Octal(b + 108, 8, f.uid & 07777777);
  Octal(b + 116, 8, f.gid & 07777777);
  if (f.size < (uint64_t{1} << 33)) {
    Octal(b + 124, 12, f.size);
  } else {
    Base256(b + 124, 12, f.size);
  }
  Octal(b + 136, 12, static_cast<uint64_t>(f.mtime < 0 ? 0 : f.mtime));
  b[156] = '0';
  std::memcpy(b + 257, "ustar", 6);  // magic "ustar\0", version "00"
  std::memcpy(b + 263, "00", 2);
  std::memset(b + 148, ' ', 8);
  unsigned sum = 0;
  for (size_t i = 0; i < kTarBlock; ++i) sum += static_cast<unsigned char>(b[i]);
  std::snprintf(b + 148, 8, "%06o", sum);  // six digits, NUL, then the space already there
  b[155] = ' ';
  return h;
}

std::string TarPadding(uint64_t size) {
  size_t rem = size % kTarBlock;
  return std::string(rem == 0 ? 0 : kTarBlock - rem, '\0');
}

std::string TarEndOfArchive() { return std::string(2 * kTarBlock, '\0'); }

absl::StatusOr<uint64_t> TarNumericField(absl::string_view field) {
  if (!field.empty() && (static_cast<unsigned char>(field[0]) & 0x80) != 0) {
    uint64_t v = static_cast<unsigned char>(field[0]) & 0x7f;
    for (size_t i = 1; i < field.size(); ++i) {
      if (v >> 56) return absl::InvalidArgumentError("tar number overflows 64 bits");
      v = (v << 8) | static_cast<unsigned char>(field[i]);
    }
    return v;
  }
  uint64_t v = 0;
  size_t i = 0;
  while (i < field.size() && field[i] == ' ') ++i;
  bool any = false;
  for (; i < field.size() && field[i] >= '0' && field[i] <= '7'; ++i) {
    if (v >> 60) return absl::InvalidArgumentError("tar number overflows 64 bits");
    v = v * 8 + static_cast<uint64_t>(field[i] - '0');
    any = true;
  }
  for (; i < field.size(); ++i) {
    if (field[i] != ' ' && field[i] != '\0') {
      return absl::InvalidArgumentError("tar number field is not octal");
    }
  }
  if (!any) return absl::InvalidArgumentError("empty tar number field");
  return v;
}

}  // namespace walrep
