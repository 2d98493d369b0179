#include "aiondb/base_backup_frames.h"

#include "absl/strings/str_cat.h"
#include "aiondb/le.h"

namespace walrep::aiondb {
namespace {

std::string Frame(uint8_t tag, absl::string_view payload) {
  std::string out(1, static_cast<char>(tag));
  PutLe32(&out, static_cast<uint32_t>(payload.size()));
  out.append(payload.data(), payload.size());
  return out;
}

// Well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF), as Rust's
// String::from_utf8 requires on aiondb's side.
bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const uint8_t c = static_cast<uint8_t>(s[i]);
    if (c < 0x80) {
      ++i;
      continue;
    }
    size_t n = 0;
    uint32_t cp = 0;
    if ((c & 0xE0) == 0xC0) {
      n = 1;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 2;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // the sequence runs past the end
    for (size_t k = 1; k <= n; ++k) {
      const uint8_t cc = static_cast<uint8_t>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::optional<DecodedFrame>> DecodeBackupFrame(absl::string_view data) {
  if (data.size() < 5) return std::optional<DecodedFrame>();
  const uint8_t tag = static_cast<uint8_t>(data[0]);
  if (tag < 1 || tag > 5) {
    return absl::DataLossError(absl::StrCat("unknown aiondb backup frame tag ", tag));
  }
  const uint32_t len = Le32(data.data() + 1);
  if (len > kMaxBackupFramePayload) {
    return absl::DataLossError(
        absl::StrCat("aiondb backup frame of ", len, " bytes exceeds the 8 MiB cap"));
  }
  if (data.size() - 5 < len) return std::optional<DecodedFrame>();
  absl::string_view p = data.substr(5, len);
  DecodedFrame out;
  out.consumed = 5 + size_t{len};
  switch (tag) {
    case 1: {
      if (p.size() < 16) return absl::DataLossError("aiondb backup Header is truncated");
      BackupHeader h;
      h.wal_start_lsn = Le64(p.data());
      h.timeline = Le32(p.data() + 8);
      const uint32_t n = Le32(p.data() + 12);
      if (n != p.size() - 16) {
        return absl::DataLossError("aiondb backup Header's system identifier length is wrong");
      }
      h.system_identifier = std::string(p.substr(16));
      if (!IsValidUtf8(h.system_identifier)) {
        return absl::DataLossError("aiondb backup Header's system identifier is not UTF-8");
      }
      out.frame = std::move(h);
      break;
    }
    case 2: {
      if (p.size() < 12) return absl::DataLossError("aiondb backup FileStart is truncated");
      const uint32_t n = Le32(p.data());
      if (n != p.size() - 12) {
        return absl::DataLossError("aiondb backup FileStart's path length is wrong");
      }
      FileStart f;
      f.path = std::string(p.substr(4, n));
      f.size = Le64(p.data() + 4 + n);
      if (!IsValidUtf8(f.path)) return absl::DataLossError("aiondb backup path is not UTF-8");
      out.frame = std::move(f);
      break;
    }
    case 3:
      out.frame = FileData{p};
      break;
    case 4:
    case 5:
      if (!p.empty()) return absl::DataLossError("aiondb backup end frame carries a payload");
      if (tag == 4) {
        out.frame = FileEnd{};
      } else {
        out.frame = BackupEnd{};
      }
      break;
  }
  return std::optional<DecodedFrame>(std::move(out));
}

std::string EncodeBackupHeader(const BackupHeader& h) {
  std::string p;
  PutLe64(&p, h.wal_start_lsn);
  PutLe32(&p, h.timeline);
  PutLe32(&p, static_cast<uint32_t>(h.system_identifier.size()));
  p += h.system_identifier;
  return Frame(1, p);
}

std::string EncodeFileStart(const FileStart& f) {
  std::string p;
  PutLe32(&p, static_cast<uint32_t>(f.path.size()));
  p += f.path;
  PutLe64(&p, f.size);
  return Frame(2, p);
}

std::string EncodeFileData(absl::string_view data) { return Frame(3, data); }
std::string EncodeFileEnd() { return Frame(4, ""); }
std::string EncodeBackupEnd() { return Frame(5, ""); }

}  // namespace walrep::aiondb
