// What the ConnInfo tests share (conninfo_test.cc, conninfo_validate_test.cc,
// pgpass_test.cc): a parse that must succeed, and an environment with nothing set.
#ifndef WALREP_WIRE_CONNINFO_TEST_UTIL_H_
#define WALREP_WIRE_CONNINFO_TEST_UTIL_H_

#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "wire/conninfo.h"

namespace walrep::conninfo_testing {

inline ConnInfo MustParse(absl::string_view s) {
  absl::StatusOr<ConnInfo> info = ConnInfo::Parse(s);
  EXPECT_TRUE(info.ok()) << s << ": " << info.status();
  return info.ok() ? *std::move(info) : ConnInfo();
}

// An OS user and a home directory that does not exist; no PG* variables.
inline Environment TestEnv() {
  Environment env;
  env.os_user = "osuser";
  env.home_dir = "/nonexistent-home";
  return env;
}

}  // namespace walrep::conninfo_testing

#endif  // WALREP_WIRE_CONNINFO_TEST_UTIL_H_
