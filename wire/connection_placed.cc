// PgConnection's placed CopyData bodies (see CopyDataPlacer): the rest of a large body is
// received from the socket straight into the placer's memory.
#include <algorithm>
#include <cstring>

#include "wire/connection.h"

namespace walrep {

bool PgConnection::StartPlaced(absl::string_view avail, size_t frame_size,
                               CopyDataPlacer& placer) {
  const size_t head = std::min(placer.head_size(), kMaxPlacerHead);
  // The frame's size is known (DecodeFrame checked it against the limits) and its head
  // has arrived; most of its body has not.
  if (avail.size() < kFrameHeaderSize + head || avail[0] != 'd' ||
      frame_size < kFrameHeaderSize + head + kMinPlaced) {
    return false;
  }
  const size_t rest = frame_size - kFrameHeaderSize - head;
  const size_t arrived = avail.size() - kFrameHeaderSize - head;
  if (rest - arrived < kMinPlaced) return false;
  const absl::string_view head_bytes = avail.substr(kFrameHeaderSize, head);
  absl::Span<char> dest = placer.Place(head_bytes, rest);
  if (dest.size() < rest) return false;
  Placed p;
  std::memcpy(p.head, head_bytes.data(), head);
  p.head_size = head;
  p.dest = dest.subspan(0, rest);
  std::memcpy(p.dest.data(), avail.data() + kFrameHeaderSize + head, arrived);
  p.got = arrived;
  p.placer = &placer;
  buf_.Consume(avail.size());
  placed_ = p;
  return true;
}

absl::StatusOr<std::optional<BackendMessageView>> PgConnection::ContinuePlaced(
    absl::Time deadline, const CopyDataPlacer* placer) {
  Placed& p = *placed_;
  if (placer != p.placer) {
    // Only the reader that chose the memory may have the rest put there: for anyone else
    // it may no longer be valid (the stream that placed it stopped, its ring was reset).
    return Fail(absl::FailedPreconditionError(
        "a CopyData body is half received into another reader's memory"));
  }
  while (p.got < p.dest.size()) {
    absl::Span<char> room = p.dest.subspan(p.got);
    absl::StatusOr<size_t> n = transport_->Read(
        absl::MakeSpan(reinterpret_cast<uint8_t*>(room.data()), room.size()), deadline);
    if (!n.ok()) {
      // Kept: the next read continues this body.
      if (n.status().code() == absl::StatusCode::kDeadlineExceeded) return std::nullopt;
      return Fail(n.status());  // drops the body
    }
    p.got += *n;
  }
  // The head is returned from here, valid like any view until the next read.
  placed_head_.assign(p.head, p.head_size);
  BackendMessageView msg('d', placed_head_);
  msg.placed = absl::string_view(p.dest.data(), p.dest.size());
  placed_.reset();
  peek_next_header_ = true;
  return msg;
}

}  // namespace walrep
