// TarReader over arbitrary bytes: never crashes, honours the sink contract (content adds up
// to each member's size), and gives the same events and verdict whether the input arrives
// whole or one byte at a time.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "wire/tar_reader.h"

namespace {

class CountingSink : public walrep::TarSink {
 public:
  absl::Status OnMember(const walrep::TarMember& m) override {
    if (in_member_) std::abort();
    in_member_ = true;
    expected_ = m.size;
    got_ = 0;
    ++members;
    names_hash = names_hash * 31 + m.name.size() + m.linkname.size();
    return absl::OkStatus();
  }
  absl::Status OnData(absl::string_view bytes) override {
    if (!in_member_ || bytes.empty()) std::abort();
    got_ += bytes.size();
    total += bytes.size();
    if (got_ > expected_) std::abort();
    return absl::OkStatus();
  }
  absl::Status OnMemberEnd() override {
    if (!in_member_ || got_ != expected_) std::abort();
    in_member_ = false;
    return absl::OkStatus();
  }
  uint64_t members = 0, total = 0, names_hash = 0;

 private:
  bool in_member_ = false;
  uint64_t expected_ = 0, got_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view input(reinterpret_cast<const char*>(data), size);

  walrep::TarReader whole;
  CountingSink a;
  absl::Status sa = whole.Feed(input, &a);
  if (sa.ok()) sa = whole.Finish();

  walrep::TarReader bytewise;
  CountingSink b;
  absl::Status sb;
  for (size_t i = 0; i < size && sb.ok(); ++i) sb = bytewise.Feed(input.substr(i, 1), &b);
  if (sb.ok()) sb = bytewise.Finish();

  if (sa.code() != sb.code() || a.members != b.members || a.total != b.total ||
      a.names_hash != b.names_hash) {
    std::abort();
  }
  return 0;
}
