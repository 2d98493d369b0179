#include "tests/tls_certs.h"

#include <fstream>

#include "absl/strings/str_cat.h"
#include "tests/pg_fixture.h"

namespace walrep::testing {

std::string ReadFileOrEmpty(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

absl::StatusOr<TestCerts> GenerateTestCerts(const std::string& dir) {
  const std::string q = ShellQuote(dir);
  auto sign = [](const std::string& name, const std::string& cn, const std::string& ca,
                 const std::string& ext) {
    return absl::StrCat(
        "openssl req -newkey rsa:2048 -nodes -keyout ", name, ".key -out ", name,
        ".csr -subj /CN=", cn, " 2>/dev/null; ", ext.empty() ? "" : "printf '" + ext + "\\n' > " + name + ".ext; ",
        "openssl x509 -req -in ", name, ".csr -CA ", ca, ".crt -CAkey ", ca,
        ".key -CAcreateserial -out ", name, ".crt -days 3 -sha256",
        ext.empty() ? "" : " -extfile " + name + ".ext", " 2>/dev/null; ");
  };
  std::string cmd = absl::StrCat(
      "set -e; rm -rf ", q, "; mkdir -p ", q, "; cd ", q, "; ",
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3"
      " -subj /CN=walrep-test-ca 2>/dev/null; ",
      "openssl req -x509 -newkey rsa:2048 -nodes -keyout other_ca.key -out other_ca.crt"
      " -days 3 -subj /CN=walrep-unrelated-ca 2>/dev/null; ",
      sign("server", "localhost", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1"),
      sign("ops", "ops", "ca", "subjectAltName=DNS:ops.example"),
      sign("intruder", "intruder", "ca", ""), sign("stranger", "ops", "other_ca", ""),
      "chmod 0600 *.key");
  auto r = RunShell(cmd);
  if (!r.ok()) return r.status();
  return TestCerts{dir};
}

std::shared_ptr<grpc::ChannelCredentials> TestCerts::Channel(const std::string& client) const {
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = ReadFileOrEmpty(Path("ca.crt"));
  if (!client.empty()) {
    o.pem_cert_chain = ReadFileOrEmpty(Path(client + ".crt"));
    o.pem_private_key = ReadFileOrEmpty(Path(client + ".key"));
  }
  return grpc::SslCredentials(o);
}

}  // namespace walrep::testing
