// DecodeBaseBackupMessage over arbitrary bytes: never crashes, views stay inside the
// payload, and whatever it accepts re-encodes to the same bytes.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "wire/base_backup_stream.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string payload(reinterpret_cast<const char*>(data), size);
  auto m = walrep::DecodeBaseBackupMessage(payload);
  if (!m.ok()) return 0;
  std::string again;
  switch (m->kind) {
    case walrep::BaseBackupMessage::Kind::kNewArchive:
      if (m->archive_name.size() > walrep::kMaxBackupArchiveField) std::abort();
      again = walrep::EncodeBaseBackupNewArchive(m->archive_name, m->tablespace_path);
      break;
    case walrep::BaseBackupMessage::Kind::kData:
      if (m->data.data() < payload.data() ||
          m->data.data() + m->data.size() > payload.data() + payload.size()) {
        std::abort();
      }
      again = walrep::EncodeBaseBackupData(m->data);
      break;
    case walrep::BaseBackupMessage::Kind::kManifest:
      again = walrep::EncodeBaseBackupManifestFollows();
      break;
    case walrep::BaseBackupMessage::Kind::kProgress:
      if (m->progress < 0) std::abort();
      again = walrep::EncodeBaseBackupProgress(m->progress);
      break;
  }
  if (again != payload) std::abort();
  return 0;
}
