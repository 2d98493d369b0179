// Test certificates made with the openssl CLI at test time: a CA, a server certificate for
// localhost/127.0.0.1, client certificates it signed (CN=ops with DNS SAN ops.example, and
// CN=intruder), and a client certificate from an unrelated CA. Not thread-safe.
#ifndef WALREP_TESTS_TLS_CERTS_H_
#define WALREP_TESTS_TLS_CERTS_H_

#include <memory>
#include <string>

#include <grpcpp/grpcpp.h>

#include "absl/status/statusor.h"

namespace walrep::testing {

struct TestCerts {
  std::string dir;
  std::string Path(const std::string& name) const { return dir + "/" + name; }
  // TLS channel credentials trusting the CA; with `client` ("ops", "intruder",
  // "stranger") presenting that client's certificate.
  std::shared_ptr<grpc::ChannelCredentials> Channel(const std::string& client = "") const;
};

absl::StatusOr<TestCerts> GenerateTestCerts(const std::string& dir);

std::string ReadFileOrEmpty(const std::string& path);

}  // namespace walrep::testing

#endif  // WALREP_TESTS_TLS_CERTS_H_
