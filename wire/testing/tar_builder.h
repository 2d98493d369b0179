// Test-only: builds ustar archives byte by byte, including ones no tar tool would write
// (hostile names, symlinks anywhere, base-256 sizes), for the tar reader, extractor and
// hostile-primary tests.
#ifndef WALREP_WIRE_TESTING_TAR_BUILDER_H_
#define WALREP_WIRE_TESTING_TAR_BUILDER_H_

#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace walrep::testing {

class TarBuilder {
 public:
  // Names and link targets over 100 bytes go out as GNU 'L'/'K' extended headers.
  TarBuilder& Header(absl::string_view name, char type, uint64_t size,
                     absl::string_view link = "") {
    if (name.size() > 100) {
      std::string n(name);
      n.push_back('\0');
      RawHeader("././@LongLink", 'L', n.size(), "").Data(n);
    }
    if (link.size() > 100) {
      std::string l(link);
      l.push_back('\0');
      RawHeader("././@LongLink", 'K', l.size(), "").Data(l);
    }
    return RawHeader(name, type, size, link);
  }
  // One header as given: names and links over 100 bytes are cut, not extended.
  // `base256_size` writes the size in GNU's binary form (for sizes past 8 GiB).
  TarBuilder& RawHeader(absl::string_view name, char type, uint64_t size, absl::string_view link,
                        bool base256_size = false) {
    char h[512] = {};
    std::memcpy(h, name.data(), name.size() < 100 ? name.size() : 100);
    std::snprintf(h + 100, 8, "%07o", 0644);
    std::snprintf(h + 108, 8, "%07o", 0);
    std::snprintf(h + 116, 8, "%07o", 0);
    if (base256_size) {
      h[124] = static_cast<char>(0x80);
      for (int i = 0; i < 8; ++i) h[135 - i] = static_cast<char>(size >> (8 * i));
    } else {
      std::snprintf(h + 124, 12, "%011llo", static_cast<unsigned long long>(size));
    }
    std::snprintf(h + 136, 12, "%011o", 1700000000);
    h[156] = type;
    std::memcpy(h + 157, link.data(), link.size() < 100 ? link.size() : 100);
    std::memcpy(h + 257, "ustar  ", 8);  // GNU magic: no prefix field
    std::memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (unsigned char c : h) sum += c;
    std::snprintf(h + 148, 8, "%06o", sum);
    out.append(h, 512);
    return *this;
  }
  TarBuilder& Data(absl::string_view bytes) {
    out.append(bytes.data(), bytes.size());
    out.append((512 - bytes.size() % 512) % 512, '\0');
    return *this;
  }
  TarBuilder& File(absl::string_view name, absl::string_view bytes) {
    return Header(name, '0', bytes.size()).Data(bytes);
  }
  TarBuilder& Dir(absl::string_view name) { return Header(name, '5', 0); }
  TarBuilder& Symlink(absl::string_view name, absl::string_view target) {
    return Header(name, '2', 0, target);
  }
  TarBuilder& Pax(absl::string_view records) {
    return RawHeader("PaxHeader", 'x', records.size(), "").Data(records);
  }
  TarBuilder& Trailer() {
    out.append(1024, '\0');
    return *this;
  }
  std::string out;
};

// One pax extended-header record: "<len> <key>=<value>\n", the length counting itself.
inline std::string PaxRecord(absl::string_view key, absl::string_view value) {
  size_t body = key.size() + value.size() + 3;
  size_t len = body + 1;
  while (absl::StrCat(len).size() + body != len) len = absl::StrCat(len).size() + body;
  return absl::StrCat(len, " ", key, "=", value, "\n");
}

}  // namespace walrep::testing

#endif  // WALREP_WIRE_TESTING_TAR_BUILDER_H_
