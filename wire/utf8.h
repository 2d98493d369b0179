// UTF-8 encoding of one code point, shared by SASLprep (scram.cc) and the manifest's
// JSON \u escapes. The caller has checked the code point is valid (<= U+10FFFF, not a
// surrogate). Pure; thread-safe.
#ifndef WALREP_WIRE_UTF8_H_
#define WALREP_WIRE_UTF8_H_

#include <cstdint>
#include <string>

namespace walrep {

inline void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

}  // namespace walrep

#endif  // WALREP_WIRE_UTF8_H_
