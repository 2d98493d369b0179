// DecodeFrame over arbitrary bytes: never crashes, never returns a body outside the buffer,
// and a need-more answer always asks for more than it was given. The first byte picks
// small limits so the cap paths are reached too.
#include <cstdint>
#include <cstdlib>

#include "wire/framing.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  walrep::FrameLimits limits;
  if (data[0] & 1) limits = walrep::FrameLimits{static_cast<size_t>(data[0]), 300};
  absl::Span<const uint8_t> buf(data + 1, size - 1);
  while (!buf.empty()) {
    auto frame = walrep::DecodeFrame(buf, limits);
    if (!frame.ok()) {
      if (walrep::IsNeedMoreBytes(frame.status()) &&
          walrep::NeedMoreBytesTotal(frame.status()) <= buf.size()) {
        std::abort();
      }
      break;
    }
    const char* begin = reinterpret_cast<const char*>(buf.data());
    if (frame->consumed < walrep::kFrameHeaderSize || frame->consumed > buf.size() ||
        frame->body.data() != begin + walrep::kFrameHeaderSize ||
        frame->body.size() + walrep::kFrameHeaderSize != frame->consumed) {
      std::abort();
    }
    if (walrep::EncodeFrame(frame->type, frame->body) !=
        absl::string_view(begin, frame->consumed)) {
      std::abort();
    }
    buf.remove_prefix(frame->consumed);
  }
  return 0;
}
