#include "wire/framing.h"

#include <limits>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "wire/bytes.h"

namespace walrep {
namespace {

constexpr char kNeedMorePayloadUrl[] = "walrep/framing/need-more-bytes";

absl::Status NeedMoreBytes(size_t total) {
  absl::Status s =
      absl::UnavailableError(absl::StrCat("incomplete message: need ", total, " bytes buffered"));
  s.SetPayload(kNeedMorePayloadUrl, absl::Cord(absl::StrCat(total)));
  return s;
}

}  // namespace

std::string DescribeMessageType(char type) {
  unsigned char c = static_cast<unsigned char>(type);
  if (c >= 0x20 && c < 0x7f) return absl::StrFormat("'%c'", type);
  return absl::StrFormat("0x%02X", c);
}

FrameScan ScanFrame(absl::string_view buf, const FrameLimits& limits) {
  FrameScan out;
  if (buf.size() < kFrameHeaderSize) {
    out.need = kFrameHeaderSize;
    return out;
  }
  ByteReader r(buf);
  uint8_t type = 0;
  uint32_t length = 0;
  r.ReadU8(&type);
  r.ReadU32(&length);
  const char t = static_cast<char>(type);
  if (length < 4 || length > static_cast<uint32_t>(std::numeric_limits<int32_t>::max())) {
    out.kind = FrameScan::Kind::kMalformed;
    out.error = absl::DataLossError(
        absl::StrCat("malformed message ", DescribeMessageType(t), ": length word ", length));
    return out;
  }
  const size_t body_size = length - 4;
  const size_t cap = (t == 'd') ? limits.max_copy_data : limits.max_message;
  if (body_size > cap) {
    out.kind = FrameScan::Kind::kMalformed;
    out.error = absl::DataLossError(absl::StrCat("message ", DescribeMessageType(t), " of ",
                                                 body_size, " bytes exceeds the limit of ", cap,
                                                 " bytes"));
    return out;
  }
  const size_t total = kFrameHeaderSize + body_size;
  if (buf.size() < total) {
    out.need = total;
    return out;
  }
  out.kind = FrameScan::Kind::kFrame;
  out.frame = Frame{t, buf.substr(kFrameHeaderSize, body_size), total};
  return out;
}

absl::StatusOr<Frame> DecodeFrame(absl::Span<const uint8_t> buf, const FrameLimits& limits) {
  FrameScan scan =
      ScanFrame(absl::string_view(reinterpret_cast<const char*>(buf.data()), buf.size()), limits);
  switch (scan.kind) {
    case FrameScan::Kind::kFrame:
      return scan.frame;
    case FrameScan::Kind::kNeedMore:
      return NeedMoreBytes(scan.need);
    case FrameScan::Kind::kMalformed:
      break;
  }
  return std::move(scan.error);
}

absl::StatusOr<Frame> DecodeFrame(absl::string_view buf, const FrameLimits& limits) {
  return DecodeFrame(
      absl::Span<const uint8_t>(reinterpret_cast<const uint8_t*>(buf.data()), buf.size()), limits);
}

bool IsNeedMoreBytes(const absl::Status& status) {
  return status.code() == absl::StatusCode::kUnavailable &&
         status.GetPayload(kNeedMorePayloadUrl).has_value();
}

size_t NeedMoreBytesTotal(const absl::Status& status) {
  if (status.code() != absl::StatusCode::kUnavailable) return 0;
  auto payload = status.GetPayload(kNeedMorePayloadUrl);
  if (!payload.has_value()) return 0;
  size_t total = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &total)) return 0;
  return total;
}

std::string EncodeFrame(char type, absl::string_view body) {
  std::string out;
  out.reserve(kFrameHeaderSize + body.size());
  ByteWriter w(&out);
  w.PutU8(static_cast<uint8_t>(type));
  w.PutU32(static_cast<uint32_t>(body.size() + 4));
  w.PutBytes(body);
  return out;
}

}  // namespace walrep
