// The agent's HTTP endpoint (/metrics, /healthz, /readyz) on civetweb, the library
// prometheus-cpp's exposer uses. A pool of worker threads serves clients concurrently, so
// one slow or stuck client (a slowloris trickling its headers) holds only its own worker
// until its deadline and never delays a liveness probe; requests are bounded in size and
// every connection has a read/write deadline. Optional TLS (1.2+) with a PEM certificate and
// key, read at start (needs libwalrep_civetweb_ssl.so beside the binary; see
// civetweb_openssl3_shim.c).
// Start/Stop from one thread; the handler is called concurrently from worker threads and
// must be thread-safe.
#ifndef WALREP_AGENT_HTTP_SERVER_H_
#define WALREP_AGENT_HTTP_SERVER_H_

#include <functional>
#include <string>

#include "absl/status/status.h"

struct mg_context;
struct mg_connection;

namespace walrep {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; version=0.0.4; charset=utf-8";
  std::string body;
};

struct HttpServerOptions {
  std::string listen;  // "host:port"; port 0 picks one (IPv4 only in Debian's build)
  std::string tls_cert;  // PEM files; both empty = plain HTTP
  std::string tls_key;
  int worker_threads = 8;
  // Deadline for reading a request and for writing its answer, per connection.
  int request_timeout_ms = 2000;
  // Largest request (request line plus headers) accepted.
  int max_request_bytes = 8192;
};

class HttpServer {
 public:
  // Called with the request path (query string stripped) for GET and HEAD requests.
  using Handler = std::function<HttpResponse(const std::string& path)>;
  // The same with the raw query string ("" when none), for endpoints that take
  // parameters (/readyz?max_lag_bytes=N).
  using QueryHandler =
      std::function<HttpResponse(const std::string& path, const std::string& query)>;

  explicit HttpServer(Handler handler)
      : handler_([h = std::move(handler)](const std::string& path, const std::string&) {
          return h(path);
        }) {}
  explicit HttpServer(QueryHandler handler) : handler_(std::move(handler)) {}
  ~HttpServer() { Stop(); }
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  absl::Status Start(const std::string& listen);  // plain HTTP, default limits
  absl::Status Start(const HttpServerOptions& options);
  void Stop();
  int port() const { return port_; }

 private:
  static int OnRequest(mg_connection* conn, void* self);

  QueryHandler handler_;
  mg_context* ctx_ = nullptr;
  int port_ = 0;
};

}  // namespace walrep

#endif  // WALREP_AGENT_HTTP_SERVER_H_
