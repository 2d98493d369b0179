#include "agent/stream_failure.h"

#include "gtest/gtest.h"

namespace walrep {
namespace {

TEST(StreamFailureTest, ATerminalStatusKeepsItsCodeAndMessageAndCarriesItsReason) {
  absl::Status st = Terminal(v1::FAILURE_REASON_DIVERGED, absl::DataLossError("WAL diverged at 0/10"));
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(st.message(), "WAL diverged at 0/10");
  ASSERT_TRUE(FailureReasonOf(st).has_value());
  EXPECT_EQ(*FailureReasonOf(st), v1::FAILURE_REASON_DIVERGED);
  EXPECT_EQ(FailureReasonName(*FailureReasonOf(st)), "DIVERGED");
}

TEST(StreamFailureTest, OrdinaryErrorsAndOkAreNotTerminal) {
  EXPECT_FALSE(FailureReasonOf(absl::UnavailableError("connection refused")).has_value());
  EXPECT_FALSE(FailureReasonOf(absl::OkStatus()).has_value());
  // OK cannot be made terminal: there is nothing to stop for.
  EXPECT_TRUE(Terminal(v1::FAILURE_REASON_STORAGE, absl::OkStatus()).ok());
}

TEST(StreamFailureTest, EveryReasonHasAName) {
  for (int r = v1::FailureReason_MIN + 1; r <= v1::FailureReason_MAX; ++r) {
    ASSERT_TRUE(v1::FailureReason_IsValid(r));
    const auto reason = static_cast<v1::FailureReason>(r);
    EXPECT_FALSE(FailureReasonName(reason).empty());
    EXPECT_EQ(FailureReasonName(reason).find("FAILURE_REASON_"), absl::string_view::npos);
    EXPECT_EQ(*FailureReasonOf(Terminal(reason, absl::InternalError("x"))), reason);
  }
}

}  // namespace
}  // namespace walrep
