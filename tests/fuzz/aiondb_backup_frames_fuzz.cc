// aiondb BASE_BACKUP frames: decoding a stream of them never crashes, never consumes
// more than it has, honours the 8 MiB cap, and every frame re-encodes to its bytes.
#include <cstdint>
#include <cstdlib>
#include <variant>

#include "aiondb/base_backup_frames.h"

namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  namespace a = walrep::aiondb;
  absl::string_view rest(reinterpret_cast<const char*>(data), size);
  while (!rest.empty()) {
    auto f = a::DecodeBackupFrame(rest);
    if (!f.ok() || !f->has_value()) break;
    Check((*f)->consumed <= rest.size() && (*f)->consumed <= 5 + a::kMaxBackupFramePayload);
    std::string again;
    if (const auto* h = std::get_if<a::BackupHeader>(&(*f)->frame)) {
      again = a::EncodeBackupHeader(*h);
    } else if (const auto* s = std::get_if<a::FileStart>(&(*f)->frame)) {
      again = a::EncodeFileStart(*s);
    } else if (const auto* d = std::get_if<a::FileData>(&(*f)->frame)) {
      again = a::EncodeFileData(d->data);
    } else if (std::holds_alternative<a::FileEnd>((*f)->frame)) {
      again = a::EncodeFileEnd();
    } else {
      again = a::EncodeBackupEnd();
    }
    Check(again == rest.substr(0, (*f)->consumed));
    rest.remove_prefix((*f)->consumed);
  }
  return 0;
}
