#include "agent/http_server.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <dlfcn.h>
#include <sys/socket.h>
#include <unistd.h>

#include <climits>
#include <fstream>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/synchronization/notification.h"
#include "absl/strings/str_cat.h"
#include "agent/config.h"

namespace walrep {
namespace {

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 503: return "Service Unavailable";
    default: return "Error";
  }
}

// civetweb wants the key and certificate in one PEM file. It reads it once in mg_start,
// so a private temporary copy (0600) is removed right after.
absl::StatusOr<std::string> CombinedPem(const std::string& cert, const std::string& key) {
  std::string out;
  for (const std::string& path : {key, cert}) {
    std::ifstream in(path);
    if (!in) return absl::InvalidArgumentError(absl::StrCat("cannot read ", path));
    out.append(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    out.push_back('\n');
  }
  char tmpl[] = "/tmp/walrep-http-tls.XXXXXX";
  int fd = mkstemp(tmpl);  // mode 0600
  if (fd < 0) return absl::InternalError("mkstemp failed");
  bool ok = write(fd, out.data(), out.size()) == static_cast<ssize_t>(out.size());
  close(fd);
  if (!ok) {
    unlink(tmpl);
    return absl::InternalError("cannot write the TLS PEM");
  }
  return std::string(tmpl);
}

// Loads agent/civetweb_openssl3_shim.c's library (see there for why) from beside the
// running binary.
absl::Status LoadOpenSslShim() {
  char exe[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return absl::InternalError("cannot read /proc/self/exe");
  std::string dir(exe, static_cast<size_t>(n));
  dir = dir.substr(0, dir.rfind('/'));
  std::string path = dir + "/libwalrep_civetweb_ssl.so";
  if (dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL) == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("HTTP TLS needs ", path, " (built with the agent): ", dlerror()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status HttpServer::Start(const std::string& listen) {
  HttpServerOptions options;
  options.listen = listen;
  return Start(options);
}

absl::Status HttpServer::Start(const HttpServerOptions& options) {
  std::string host;
  int port;
  if (absl::Status st = SplitHostPort(options.listen, &host, &port); !st.ok()) return st;
  const bool tls = !options.tls_cert.empty() || !options.tls_key.empty();
  if (tls && (options.tls_cert.empty() || options.tls_key.empty())) {
    return absl::InvalidArgumentError("HTTP TLS needs both a certificate and a key");
  }
  // One initialisation per process: the agent runs one endpoint, TLS or not.
  static std::once_flag init;
  static absl::Status init_status;
  std::call_once(init, [tls] {
    if (tls) init_status = LoadOpenSslShim();
    if (init_status.ok()) mg_init_library(tls ? MG_FEATURES_TLS : 0);
  });
  if (!init_status.ok()) return init_status;

  std::string ports = absl::StrCat(host.empty() ? "0.0.0.0" : host, ":", port, tls ? "s" : "");
  std::string threads = std::to_string(options.worker_threads);
  std::string timeout = std::to_string(options.request_timeout_ms);
  std::string max_request = std::to_string(options.max_request_bytes);
  std::string pem;
  if (tls) {
    auto p = CombinedPem(options.tls_cert, options.tls_key);
    if (!p.ok()) return p.status();
    pem = *p;
  }
  absl::Cleanup remove_pem = [&pem] {
    if (!pem.empty()) unlink(pem.c_str());
  };
  std::vector<const char*> opts = {
      "listening_ports", ports.c_str(),
      "num_threads", threads.c_str(),
      "request_timeout_ms", timeout.c_str(),
      "max_request_size", max_request.c_str(),
      // One request per connection: a scraper reconnects, and an idle keep-alive
      // connection must not hold a worker.
      "enable_keep_alive", "no",
      // A scrape herd (every Prometheus replica and kubelet probe at the same second) must
      // wait in the kernel's accept queue, not overflow it: civetweb's default backlog of
      // 200 makes the kernel drop or cookie-answer the rest, and those scrapes arrive late
      // or not at all. The kernel caps this at net.core.somaxconn.
      "listen_backlog", "4096",
      // Accepted connections waiting for a worker; the accept thread blocks when full.
      "connection_queue", "256",
      // No abortive close (linger 0 sends RST): a reset that overtakes the response
      // discards what the client has not read yet — a scrape lost under load.
  };
  if (tls) {
    // TLS 1.2 and later only.
    opts.insert(opts.end(), {"ssl_certificate", pem.c_str(), "ssl_protocol_version", "4"});
  }
  opts.push_back(nullptr);
  mg_callbacks callbacks{};
  // civetweb prints its own errors to stderr otherwise; they are per-client noise.
  callbacks.log_message = [](const mg_connection*, const char*) { return 1; };
  ctx_ = mg_start(&callbacks, this, opts.data());
  if (ctx_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("cannot serve HTTP on ", options.listen,
                     tls ? " (address in use, or a bad TLS certificate/key?)" : " (address in use?)"));
  }
  mg_set_request_handler(ctx_, "/", &HttpServer::OnRequest, this);
  mg_server_port bound[2];
  int n = mg_get_server_ports(ctx_, 2, bound);
  port_ = n > 0 ? bound[0].port : 0;
  return absl::OkStatus();
}

void HttpServer::Stop() {
  if (ctx_ == nullptr) return;
  // mg_stop joins every worker, but civetweb's accept loop only notices the stop between
  // polls of its listening socket (2 s apart). Connecting to it wakes that poll, so the
  // agent's SIGTERM shutdown is not held up; repeated until mg_stop has returned.
  absl::Notification stopped;
  std::thread stopper([this, &stopped] {
    mg_stop(ctx_);
    stopped.Notify();
  });
  while (!stopped.WaitForNotificationWithTimeout(absl::Milliseconds(20))) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port_);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    (void)connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    close(fd);
  }
  stopper.join();
  ctx_ = nullptr;
}

int HttpServer::OnRequest(mg_connection* conn, void* self) {
  const mg_request_info* info = mg_get_request_info(conn);
  std::string method = info->request_method ? info->request_method : "";
  HttpResponse resp;
  if (method != "GET" && method != "HEAD") {
    resp = {405, "text/plain", "only GET is served\n"};
  } else {
    resp = static_cast<HttpServer*>(self)->handler_(info->local_uri ? info->local_uri : "",
                                                    info->query_string ? info->query_string : "");
  }
  std::string head = absl::StrCat("HTTP/1.1 ", resp.status, " ", Reason(resp.status),
                                  "\r\nContent-Type: ", resp.content_type,
                                  "\r\nContent-Length: ", resp.body.size(),
                                  "\r\nConnection: close\r\n\r\n");
  mg_write(conn, head.data(), head.size());
  if (method != "HEAD") mg_write(conn, resp.body.data(), resp.body.size());
  return resp.status;
}

}  // namespace walrep
