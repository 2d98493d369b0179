// Splitting a byte stream into PostgreSQL v3 protocol messages (type byte, int32 length
// that counts itself, body). Pure functions over caller-owned buffers: no I/O, no state,
// safe to call from any thread.
//
// The connection reads into a buffer and calls DecodeFrame until it asks for more bytes.
// "Need more bytes" is reported as a status rather than a second result type so that the
// usual RETURN_IF_ERROR flow works; callers must test IsNeedMoreBytes() before treating a
// non-OK status as fatal. Only the typed messages after the startup phase pass through
// here: the single untyped byte that answers an SSLRequest ('S'/'N'/'E') is read by the
// connection itself.
#ifndef WALREP_WIRE_FRAMING_H_
#define WALREP_WIRE_FRAMING_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace walrep {

// Upper bounds on a single message body (excluding the 5-byte header). They bound the
// memory a hostile or broken server can make us buffer. CopyData carries WAL and backup
// archive chunks, hence its own, larger cap.
struct FrameLimits {
  size_t max_message = size_t{1} << 20;     // every type except CopyData
  size_t max_copy_data = size_t{64} << 20;  // 'd'
};

// One complete message found at the start of a buffer. `body` views into that buffer.
struct Frame {
  char type = 0;
  absl::string_view body;
  size_t consumed = 0;  // header + body: drop this many bytes before the next call
};

// Size of the type byte plus the length word.
inline constexpr size_t kFrameHeaderSize = 5;

// Decodes the message at the start of `buf`.
// - OK: a whole message is present.
// - IsNeedMoreBytes(status): `buf` ends inside the message; NeedMoreBytesTotal(status) is
//   how many bytes `buf` must hold in total for the next attempt to make progress (the
//   header, or the header plus the whole body once the header is known).
// - DataLoss: length word below 4 or above INT32_MAX ("malformed"), or a body larger than
//   its cap — decided from the header alone, before any body byte is required, so an
//   oversized message is never buffered.
absl::StatusOr<Frame> DecodeFrame(absl::Span<const uint8_t> buf,
                                  const FrameLimits& limits = FrameLimits());
absl::StatusOr<Frame> DecodeFrame(absl::string_view buf, const FrameLimits& limits = FrameLimits());

// DecodeFrame's decision without a Status for an incomplete message: a read loop meets
// one after every buffer it drains, and building that Status (message, payload, parsing
// it back) cost more than the rest of the decision together.
struct FrameScan {
  enum class Kind { kFrame, kNeedMore, kMalformed };
  Kind kind = Kind::kNeedMore;
  Frame frame;         // kFrame
  size_t need = 0;     // kNeedMore: bytes `buf` must hold in total (as NeedMoreBytesTotal)
  absl::Status error;  // kMalformed: the DataLoss DecodeFrame returns
};
FrameScan ScanFrame(absl::string_view buf, const FrameLimits& limits = FrameLimits());

// True only for the "need more bytes" status produced by DecodeFrame. It uses code
// kUnavailable plus a private payload, so an ordinary Unavailable error is never
// mistaken for it.
bool IsNeedMoreBytes(const absl::Status& status);
// Total buffer size needed for progress, or 0 if `status` is not a need-more status.
size_t NeedMoreBytesTotal(const absl::Status& status);

// Builds a typed message: type byte, length, body. Used by the frontend encoders and by
// fake servers in tests; the caller keeps `body` under INT32_MAX - 4 bytes.
std::string EncodeFrame(char type, absl::string_view body);

// 'd' printed as "'d'", unprintable bytes as "0x07": for error messages.
std::string DescribeMessageType(char type);

}  // namespace walrep

#endif  // WALREP_WIRE_FRAMING_H_
