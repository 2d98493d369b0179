// PostgreSQL's MD5 password response (AuthenticationMD5Password, R/5): the
// client sends "md5" + hex(md5(hex(md5(password + user)) + salt)). A pure
// function: no I/O, no state, thread-safe. MD5 authentication is deprecated
// upstream but still met on older primaries.
#ifndef WALREP_WIRE_MD5_AUTH_H_
#define WALREP_WIRE_MD5_AUTH_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace walrep {

// `salt` is the 4 bytes from AuthenticationMD5Password; any other length →
// InvalidArgument. The result is the 35-character PasswordMessage payload (no
// NUL).
absl::StatusOr<std::string> Md5PasswordHash(absl::string_view user,
                                            absl::string_view password,
                                            absl::string_view salt);

}  // namespace walrep

#endif  // WALREP_WIRE_MD5_AUTH_H_
