#include "wire/tar_reader.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

constexpr size_t kBlock = 512;

// Field offsets and widths of the ustar header (see tar_format.md).
constexpr size_t kNameOff = 0, kNameLen = 100;
constexpr size_t kModeOff = 100, kModeLen = 8;
constexpr size_t kSizeOff = 124, kSizeLen = 12;
constexpr size_t kMtimeOff = 136, kMtimeLen = 12;
constexpr size_t kChksumOff = 148, kChksumLen = 8;
constexpr size_t kTypeOff = 156;
constexpr size_t kLinkOff = 157, kLinkLen = 100;
constexpr size_t kMagicOff = 257;
constexpr size_t kPrefixOff = 345, kPrefixLen = 155;

uint64_t PaddingFor(uint64_t size) { return (kBlock - size % kBlock) % kBlock; }

// A NUL-terminated (or full-width) string field.
std::string TextField(const char* h, size_t off, size_t len) {
  const char* begin = h + off;
  const char* end = static_cast<const char*>(std::memchr(begin, '\0', len));
  return std::string(begin, end ? end : begin + len);
}

absl::Status Corrupt(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("tar: ", what));
}

// Numeric header field: octal digits padded by spaces/NULs, or GNU base-256 (high bit of
// the first byte set; 0xFF marks a negative two's-complement value). Rejects anything that
// does not fit an int64.
absl::Status ParseNumber(const char* h, size_t off, size_t len, absl::string_view what,
                         int64_t* out) {
  const auto* f = reinterpret_cast<const unsigned char*>(h + off);
  if (f[0] & 0x80) {
    bool negative = f[0] == 0xFF;
    // Two's complement over the whole field; for positive values the marker bit is dropped.
    uint64_t v = negative ? ~uint64_t{0} : 0;
    for (size_t i = 0; i < len; ++i) {
      uint8_t byte = i == 0 && !negative ? (f[0] & 0x7F) : f[i];
      // The bits about to be shifted out must be pure sign extension.
      uint8_t top = static_cast<uint8_t>(v >> 56);
      if (top != (negative ? 0xFF : 0x00))
        return Corrupt(absl::StrCat("base-256 ", what, " overflows"));
      v = (v << 8) | byte;
    }
    int64_t s = static_cast<int64_t>(v);
    if ((s < 0) != negative) return Corrupt(absl::StrCat("base-256 ", what, " overflows"));
    *out = s;
    return absl::OkStatus();
  }
  size_t i = 0;
  while (i < len && f[i] == ' ') ++i;
  uint64_t v = 0;
  size_t digits = 0;
  for (; i < len && f[i] >= '0' && f[i] <= '7'; ++i, ++digits) {
    if (v > (static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) >> 3)) {
      return Corrupt(absl::StrCat("octal ", what, " overflows"));
    }
    v = (v << 3) | (f[i] - '0');
  }
  for (; i < len; ++i) {
    if (f[i] != ' ' && f[i] != '\0') return Corrupt(absl::StrCat("bad octal digit in ", what));
  }
  *out = static_cast<int64_t>(v);
  return absl::OkStatus();
}

bool AllZero(const char* p, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    if (p[i] != 0) return false;
  }
  return true;
}

}  // namespace

TarReader::TarReader(Options options) : options_(options) {}

absl::Status TarReader::Fail(absl::Status status) {
  state_ = State::kFailed;
  error_ = status;
  return status;
}

void TarReader::ClearPending() {
  pending_name_.reset();
  pending_link_.reset();
  pending_size_.reset();
  pending_mtime_.reset();
}

absl::Status TarReader::Feed(absl::string_view chunk, TarSink* sink) {
  while (!chunk.empty()) {
    switch (state_) {
      case State::kFailed:
        return error_;
      case State::kHeader: {
        size_t n = std::min(kBlock - header_fill_, chunk.size());
        std::memcpy(header_ + header_fill_, chunk.data(), n);
        header_fill_ += n;
        chunk.remove_prefix(n);
        bytes_consumed_ += n;
        if (header_fill_ == kBlock) {
          header_fill_ = 0;
          absl::Status s = ProcessHeader(sink);
          if (!s.ok()) return Fail(s);
        }
        break;
      }
      case State::kContent: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(content_left_, chunk.size()));
        absl::string_view piece = chunk.substr(0, n);
        chunk.remove_prefix(n);
        bytes_consumed_ += n;
        content_left_ -= n;
        if (content_kind_ == ContentKind::kFile) {
          absl::Status s = sink->OnData(piece);
          if (!s.ok()) return Fail(s);
        } else if (content_kind_ != ContentKind::kSkip) {
          meta_.append(piece.data(), piece.size());  // size was capped in ProcessHeader
        }
        if (content_left_ == 0) {
          absl::Status s = FinishContent(sink);
          if (!s.ok()) return Fail(s);
        }
        break;
      }
      case State::kPadding: {
        size_t n = static_cast<size_t>(std::min<uint64_t>(padding_left_, chunk.size()));
        chunk.remove_prefix(n);
        bytes_consumed_ += n;
        padding_left_ -= n;
        if (padding_left_ == 0) state_ = State::kHeader;
        break;
      }
      case State::kEnd:
        // tar pads archives to whole records with zeros; anything else is not ours to drop.
        if (!AllZero(chunk.data(), chunk.size())) {
          return Fail(Corrupt("data after the end-of-archive marker"));
        }
        bytes_consumed_ += chunk.size();
        chunk = {};
        break;
    }
  }
  return state_ == State::kFailed ? error_ : absl::OkStatus();
}

absl::Status TarReader::ProcessHeader(TarSink* sink) {
  if (AllZero(header_, kBlock)) {
    if (++zero_blocks_ == 2) {
      if (pending_name_ || pending_link_ || pending_size_) {
        return Corrupt("extended header not followed by a member");
      }
      state_ = State::kEnd;
    }
    return absl::OkStatus();
  }
  if (zero_blocks_ != 0) return Corrupt("zero block inside the archive");

  int64_t stored_sum = 0;
  RETURN_IF_ERROR(ParseNumber(header_, kChksumOff, kChksumLen, "checksum", &stored_sum));
  // The checksum is the byte sum with the checksum field read as spaces; historic tars summed
  // signed chars, so both sums are accepted, as GNU tar does.
  int64_t unsigned_sum = 0, signed_sum = 0;
  for (size_t i = 0; i < kBlock; ++i) {
    bool in_field = i >= kChksumOff && i < kChksumOff + kChksumLen;
    char c = in_field ? ' ' : header_[i];
    unsigned_sum += static_cast<unsigned char>(c);
    signed_sum += static_cast<signed char>(c);
  }
  if (stored_sum != unsigned_sum && stored_sum != signed_sum) {
    return Corrupt(absl::StrCat("header checksum mismatch at offset ", bytes_consumed_ - kBlock));
  }
  if (std::memcmp(header_ + kMagicOff, "ustar", 5) != 0) {
    return Corrupt("not a ustar header");
  }
  // POSIX ustar ("ustar\0") splits long names into prefix/name; GNU ("ustar ") uses that
  // area for other fields.
  const bool posix = header_[kMagicOff + 5] == '\0';

  int64_t size = 0, mtime = 0, mode = 0;
  RETURN_IF_ERROR(ParseNumber(header_, kSizeOff, kSizeLen, "size", &size));
  RETURN_IF_ERROR(ParseNumber(header_, kMtimeOff, kMtimeLen, "mtime", &mtime));
  RETURN_IF_ERROR(ParseNumber(header_, kModeOff, kModeLen, "mode", &mode));
  if (size < 0) return Corrupt("negative size");

  const char type = header_[kTypeOff];
  member_name_ = TextField(header_, kNameOff, kNameLen);
  auto start_meta = [&](ContentKind kind, size_t cap) -> absl::Status {
    if (kind != ContentKind::kSkip && static_cast<uint64_t>(size) > cap) {
      return absl::InvalidArgumentError(
          absl::StrCat("tar: extended header of ", size, " bytes exceeds the cap of ", cap));
    }
    content_kind_ = kind;
    content_left_ = static_cast<uint64_t>(size);
    padding_left_ = PaddingFor(content_left_);
    meta_.clear();
    member_name_ = "(extended header)";
    state_ = State::kContent;
    if (content_left_ == 0) return FinishContent(sink);
    return absl::OkStatus();
  };

  TarMember m;
  switch (type) {
    case 'L':
      return start_meta(ContentKind::kLongName, options_.max_long_name);
    case 'K':
      return start_meta(ContentKind::kLongLink, options_.max_long_name);
    case 'x':
      return start_meta(ContentKind::kPax, options_.max_pax_header);
    case 'g':  // global pax defaults: nothing in them matters to a backup
      return start_meta(ContentKind::kSkip, 0);
    case '0':
    case '\0':
    case '7':  // contiguous file: a regular file everywhere that matters
      m.type = TarMember::Type::kRegular;
      break;
    case '5':
      m.type = TarMember::Type::kDirectory;
      break;
    case '2':
      m.type = TarMember::Type::kSymlink;
      break;
    case '1':
      return absl::InvalidArgumentError(
          absl::StrCat("tar: hard link member \"", member_name_, "\" is not supported"));
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "tar: member \"", member_name_, "\" has unsupported type '", std::string(1, type), "'"));
  }

  m.name = member_name_;
  if (posix) {
    std::string prefix = TextField(header_, kPrefixOff, kPrefixLen);
    if (!prefix.empty()) m.name = absl::StrCat(prefix, "/", m.name);
  }
  m.linkname = TextField(header_, kLinkOff, kLinkLen);
  if (pending_name_) m.name = *pending_name_;
  if (pending_link_) m.linkname = *pending_link_;
  m.size = static_cast<uint64_t>(size);
  if (pending_size_) m.size = *pending_size_;
  m.mtime = pending_mtime_ ? *pending_mtime_ : mtime;
  m.mode = static_cast<uint32_t>(mode) & 07777;
  ClearPending();
  member_name_ = m.name;

  if (m.type != TarMember::Type::kRegular) {
    if (m.size != 0) {
      return Corrupt(absl::StrCat("member \"", m.name, "\" is not a file but has a size"));
    }
    m.linkname = m.type == TarMember::Type::kSymlink ? m.linkname : std::string();
  } else {
    m.linkname.clear();
  }
  return StartMember(m, sink);
}

absl::Status TarReader::StartMember(const TarMember& member, TarSink* sink) {
  ++members_;
  RETURN_IF_ERROR(sink->OnMember(member));
  content_kind_ = ContentKind::kFile;
  content_left_ = member.size;
  padding_left_ = PaddingFor(member.size);
  state_ = State::kContent;
  if (content_left_ == 0) return FinishContent(sink);
  return absl::OkStatus();
}

absl::Status TarReader::FinishContent(TarSink* sink) {
  state_ = padding_left_ > 0 ? State::kPadding : State::kHeader;
  switch (content_kind_) {
    case ContentKind::kFile:
      return sink->OnMemberEnd();
    case ContentKind::kLongName:
    case ContentKind::kLongLink: {
      // The GNU convention stores the name with a trailing NUL counted in the size.
      std::string name = meta_.substr(0, meta_.find('\0'));
      (content_kind_ == ContentKind::kLongName ? pending_name_ : pending_link_) = name;
      break;
    }
    case ContentKind::kPax:
      RETURN_IF_ERROR(ApplyPaxRecords(meta_));
      break;
    case ContentKind::kSkip:
      break;
  }
  meta_.clear();
  return absl::OkStatus();
}

// pax records: "<len> <key>=<value>\n", where <len> counts the whole record in bytes.
absl::Status TarReader::ApplyPaxRecords(absl::string_view rest) {
  while (!rest.empty()) {
    size_t space = rest.find(' ');
    if (space == absl::string_view::npos || space == 0 || space > 20) {
      return Corrupt("bad pax record length");
    }
    uint64_t len = 0;
    for (char c : rest.substr(0, space)) {
      if (c < '0' || c > '9') return Corrupt("bad pax record length");
      len = len * 10 + (c - '0');
    }
    if (len < space + 3 || len > rest.size() || rest[len - 1] != '\n') {
      return Corrupt("bad pax record length");
    }
    absl::string_view kv = rest.substr(space + 1, len - space - 2);
    rest.remove_prefix(len);
    size_t eq = kv.find('=');
    if (eq == absl::string_view::npos || eq == 0) return Corrupt("pax record without key");
    absl::string_view key = kv.substr(0, eq);
    absl::string_view value = kv.substr(eq + 1);
    // An empty value removes the keyword (POSIX), so the ustar field applies again.
    if (key == "path") {
      if (value.empty())
        pending_name_.reset();
      else
        pending_name_ = std::string(value);
    } else if (key == "linkpath") {
      if (value.empty())
        pending_link_.reset();
      else
        pending_link_ = std::string(value);
    } else if (key == "size") {
      uint64_t size = 0;
      if (value.empty()) {
        pending_size_.reset();
      } else if (!absl::SimpleAtoi(value, &size) || value[0] == '+' || value[0] == '-' ||
                 size > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return Corrupt("bad pax size");
      } else {
        pending_size_ = size;
      }
    } else if (key == "mtime") {
      int64_t secs = 0;
      absl::string_view whole = value.substr(0, value.find('.'));
      if (!whole.empty() && absl::SimpleAtoi(whole, &secs)) pending_mtime_ = secs;
    }
  }
  return absl::OkStatus();
}

absl::Status TarReader::Finish() {
  switch (state_) {
    case State::kFailed:
      return error_;
    case State::kEnd:
      return absl::OkStatus();
    case State::kHeader:
      if (header_fill_ != 0) return Fail(Corrupt("archive truncated in a member header"));
      if (pending_name_ || pending_link_ || pending_size_) {
        return Fail(Corrupt("archive truncated after an extended header"));
      }
      return absl::OkStatus();
    case State::kContent:
    case State::kPadding:
      break;
  }
  return Fail(absl::DataLossError(absl::StrCat("archive truncated in member ", member_name_)));
}

}  // namespace walrep
