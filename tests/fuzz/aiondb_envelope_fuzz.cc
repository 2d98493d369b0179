// aiondb replication envelope (one CopyData payload): decoding never crashes, and what
// decodes re-encodes to the same bytes.
#include <cstdint>
#include <cstdlib>
#include <variant>

#include "aiondb/envelope.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace a = walrep::aiondb;
  absl::string_view payload(reinterpret_cast<const char*>(data), size);
  auto m = a::DecodeMessage(payload);
  if (!m.ok()) return 0;
  std::string again;
  if (const auto* w = std::get_if<a::WalData>(&*m)) {
    Check(w->start_lsn <= w->end_lsn && !w->entries.empty());
    again = a::EncodeWalData(w->start_lsn, w->end_lsn, w->entries);
  } else if (const auto* k = std::get_if<a::Keepalive>(&*m)) {
    again = a::EncodeKeepalive(*k);
  } else if (const auto* r = std::get_if<a::KeepaliveReply>(&*m)) {
    again = a::EncodeKeepaliveReply(*r);
  } else {
    const auto& u = std::get<a::StatusUpdate>(*m);
    auto e = a::EncodeStatusUpdate(u);
    // The decoder accepts any order; the encoder refuses flush > write or apply > flush.
    if (!e.ok()) return 0;
    again = *e;
  }
  Check(again == payload);
  return 0;
}
