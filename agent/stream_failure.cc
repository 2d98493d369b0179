#include "agent/stream_failure.h"

#include <string>

#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace walrep {
namespace {

constexpr absl::string_view kPayloadUrl = "type.walrep.dev/walrep.v1.FailureReason";

}  // namespace

absl::Status Terminal(v1::FailureReason reason, absl::Status status) {
  if (status.ok()) return status;
  status.SetPayload(kPayloadUrl, absl::Cord(absl::StrCat(static_cast<int>(reason))));
  return status;
}

std::optional<v1::FailureReason> FailureReasonOf(const absl::Status& status) {
  if (status.ok()) return std::nullopt;
  auto payload = status.GetPayload(kPayloadUrl);
  if (!payload) return std::nullopt;
  int value = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &value) || !v1::FailureReason_IsValid(value) ||
      value == v1::FAILURE_REASON_UNSPECIFIED) {
    return std::nullopt;
  }
  return static_cast<v1::FailureReason>(value);
}

absl::string_view FailureReasonName(v1::FailureReason reason) {
  const std::string& full = v1::FailureReason_Name(reason);
  absl::string_view name = full;
  constexpr absl::string_view kPrefix = "FAILURE_REASON_";
  if (name.substr(0, kPrefix.size()) == kPrefix) name.remove_prefix(kPrefix.size());
  return name;
}

}  // namespace walrep
