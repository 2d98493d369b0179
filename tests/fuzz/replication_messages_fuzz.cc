// Replication CopyData payloads: decoding never crashes, and whatever decodes re-encodes to
// bytes that decode to the same values.
#include <cstdint>
#include <cstdlib>

#include "wire/replication_messages.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view payload(reinterpret_cast<const char*>(data), size);
  if (auto m = walrep::DecodePrimaryMessage(payload); m.ok()) {
    if (const auto* w = std::get_if<walrep::XLogData>(&*m)) {
      std::string again = walrep::EncodeXLogData(*w);
      Check(again == payload);
      auto d = walrep::DecodeXLogData(again);
      Check(d.ok() && d->start == w->start && d->wal_end == w->wal_end &&
            d->send_time == w->send_time && d->data == w->data);
    } else {
      const auto& k = std::get<walrep::PrimaryKeepalive>(*m);
      auto d = walrep::DecodePrimaryKeepalive(walrep::EncodePrimaryKeepalive(k));
      Check(d.ok() && d->wal_end == k.wal_end && d->send_time == k.send_time &&
            d->reply_requested == k.reply_requested);
    }
  }
  if (auto r = walrep::DecodeStandbyStatusUpdate(payload); r.ok()) {
    auto d = walrep::DecodeStandbyStatusUpdate(walrep::EncodeStandbyStatusUpdate(*r));
    Check(d.ok() && d->write == r->write && d->flush == r->flush && d->apply == r->apply &&
          d->client_time == r->client_time && d->reply_requested == r->reply_requested);
  }
  if (auto h = walrep::DecodeHotStandbyFeedback(payload); h.ok()) {
    Check(walrep::EncodeHotStandbyFeedback(*h) == payload);
  }
  if (size >= 8) {
    int64_t micros = 0;
    for (int i = 0; i < 8; ++i)
      micros = static_cast<int64_t>((static_cast<uint64_t>(micros) << 8) | data[i]);
    absl::Time t = walrep::FromPostgresMicros(micros);
    Check(walrep::ToPostgresMicros(t) == micros);
  }
  return 0;
}
