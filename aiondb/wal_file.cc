#include "aiondb/wal_file.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_format.h"
#include "aiondb/le.h"

namespace walrep::aiondb {

std::string WalFileName(uint64_t sequence) { return absl::StrFormat("wal_%012u.log", sequence); }

std::optional<uint64_t> ParseWalFileName(absl::string_view name) {
  if (!absl::ConsumePrefix(&name, "wal_") || !absl::ConsumeSuffix(&name, ".log")) {
    return std::nullopt;
  }
  if (name.empty() || name.size() > 20) return std::nullopt;
  for (char c : name) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  uint64_t v = 0;
  if (!absl::SimpleAtoi(name, &v)) return std::nullopt;
  return v;
}

std::string EncodeFileHeader(LsnMode lsn_mode, uint64_t system_id, uint32_t timeline) {
  std::string h = "AIONWAL1";
  h.push_back(3);
  h.push_back(static_cast<char>(lsn_mode == LsnMode::kByteOffset ? 2 : 1));
  PutLe64(&h, system_id);
  PutLe32(&h, timeline);
  return h;
}

absl::StatusOr<std::optional<FileHeader>> DecodeFileHeader(absl::string_view data) {
  if (data.size() < 9) return std::optional<FileHeader>();
  absl::string_view magic = data.substr(0, 8);
  if (magic != "AIONWAL1" && magic != absl::string_view("AIONWAL\0", 8)) {
    return absl::DataLossError("not an aiondb WAL file (bad magic)");
  }
  FileHeader h;
  h.version = static_cast<uint8_t>(data[8]);
  if (h.version == 1) {
    h.entry_offset = 9;
    return std::optional<FileHeader>(h);
  }
  if (h.version != 2 && h.version != 3) {
    return absl::DataLossError(absl::StrCat("aiondb WAL file version ", h.version, " is unknown"));
  }
  h.entry_offset = h.version == 2 ? 10 : kFileHeaderBytes;
  if (data.size() < h.entry_offset) return std::optional<FileHeader>();
  const uint8_t mode = static_cast<uint8_t>(data[9]);
  if (mode != 1 && mode != 2) {
    return absl::DataLossError(absl::StrCat("aiondb WAL file LSN mode ", mode, " is unknown"));
  }
  h.lsn_mode = static_cast<LsnMode>(mode);
  if (h.version == 3) {
    h.system_id = Le64(data.data() + 10);
    h.timeline = Le32(data.data() + 18);
  }
  return std::optional<FileHeader>(h);
}

}  // namespace walrep::aiondb
