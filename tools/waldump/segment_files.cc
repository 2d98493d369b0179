#include "tools/waldump/segment_files.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "replay/segment.h"

namespace walrep::waldump {
namespace {

constexpr uint16_t kLongHeaderFlag = 0x0002;  // XLP_LONG_HEADER
constexpr size_t kSegSizeOffset = 32;         // xlp_seg_size in XLogLongPageHeaderData

// A segment file name's shape only: the segment fields cannot be checked before the
// segment size is known, so this takes any 24 upper-case hex digits.
bool LooksLikeSegmentName(absl::string_view name, bool* partial) {
  *partial = absl::ConsumeSuffix(&name, ".partial");
  if (name.size() != 24) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'); });
}

absl::Status AddFile(const std::string& path, const std::string& name, SegmentList* out) {
  SegmentFile f;
  if (!LooksLikeSegmentName(name, &f.partial)) {
    return absl::InvalidArgumentError(absl::StrCat("not a WAL segment file name: ", path));
  }
  f.path = path;
  f.name = name;
  out->files.push_back(std::move(f));
  return absl::OkStatus();
}

uint32_t LittleEndian32(const unsigned char* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
}

}  // namespace

absl::StatusOr<SegmentList> ListSegmentFiles(const std::vector<std::string>& args) {
  SegmentList out;
  for (const std::string& arg : args) {
    std::error_code ec;
    const std::filesystem::path path(arg);
    if (std::filesystem::is_directory(path, ec)) {
      out.from_directory = true;
      for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
        if (!entry.is_regular_file(ec)) continue;
        const std::string name = entry.path().filename().string();
        bool partial;
        if (LooksLikeSegmentName(name, &partial)) {
          out.files.push_back(SegmentFile{entry.path().string(), name, 0, 0, partial});
        }
      }
      if (ec)
        return absl::InvalidArgumentError(absl::StrCat("cannot list ", arg, ": ", ec.message()));
    } else if (std::filesystem::is_regular_file(path, ec)) {
      absl::Status st = AddFile(arg, path.filename().string(), &out);
      if (!st.ok()) return st;
    } else {
      return absl::InvalidArgumentError(absl::StrCat("no such file or directory: ", arg));
    }
  }
  if (out.files.empty()) return absl::InvalidArgumentError("no WAL segment files found");
  // Hex digits of equal length sort as their values: log id, segment, then timeline.
  std::sort(out.files.begin(), out.files.end(), [](const SegmentFile& a, const SegmentFile& b) {
    absl::string_view an(a.name), bn(b.name);
    if (an.substr(8, 16) != bn.substr(8, 16)) return an.substr(8, 16) < bn.substr(8, 16);
    return an < bn;
  });
  return out;
}

absl::StatusOr<uint64_t> ReadSegmentSize(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  unsigned char header[40];
  if (!in.read(reinterpret_cast<char*>(header), sizeof(header))) {
    return absl::DataLossError(absl::StrCat(path, ": too short for a WAL long page header"));
  }
  const uint16_t info = uint16_t{header[2]} | uint16_t{header[3]} << 8;
  if ((info & kLongHeaderFlag) == 0) {
    return absl::DataLossError(absl::StrCat(path, ": does not start with a long page header"));
  }
  const uint64_t size = LittleEndian32(header + kSegSizeOffset);
  absl::Status valid = ValidateSegmentSize(size);
  if (!valid.ok()) {
    return absl::DataLossError(absl::StrCat(path, ": bad xlp_seg_size: ", valid.message()));
  }
  return size;
}

absl::StatusOr<std::vector<SegmentFile>> SelectSegments(std::vector<SegmentFile> files,
                                                        uint64_t segment_size,
                                                        std::optional<TimelineId> timeline) {
  std::map<uint64_t, SegmentFile> chosen;
  for (SegmentFile& f : files) {
    auto parsed = ParseWalFileName(f.name, segment_size);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(f.path, ": not a segment of a ", segment_size, "-byte segment size"));
    }
    f.tli = parsed->tli;
    f.segno = parsed->segno;
    if (timeline.has_value() && f.tli != *timeline) continue;
    auto [it, inserted] = chosen.try_emplace(f.segno, f);
    if (inserted) continue;
    const SegmentFile& have = it->second;
    // Newer timeline first; on the same timeline a complete file beats a .partial.
    if (f.tli > have.tli || (f.tli == have.tli && have.partial && !f.partial)) it->second = f;
  }
  if (chosen.empty()) {
    return absl::InvalidArgumentError(
        timeline.has_value() ? absl::StrCat("no WAL segment files of timeline ", *timeline)
                             : std::string("no WAL segment files found"));
  }
  std::vector<SegmentFile> out;
  out.reserve(chosen.size());
  for (auto& [segno, f] : chosen) out.push_back(std::move(f));
  return out;
}

}  // namespace walrep::waldump
