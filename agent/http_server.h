// A minimal HTTP/1.1 server for /metrics (Prometheus text) and /healthz. One thread, one
// request per connection, bounded request size and read timeouts: it only has to serve a
// scraper, but must not be stalled by one that misbehaves.
// Start/Stop from one thread; the handler is called on the server thread.
#ifndef WALREP_AGENT_HTTP_SERVER_H_
#define WALREP_AGENT_HTTP_SERVER_H_

#include <atomic>
#include <functional>
#include <string>
#include <thread>

#include "absl/status/status.h"

namespace walrep {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; version=0.0.4; charset=utf-8";
  std::string body;
};

class HttpServer {
 public:
  // Called with the request path (query string stripped) for GET requests.
  using Handler = std::function<HttpResponse(const std::string& path)>;

  explicit HttpServer(Handler handler) : handler_(std::move(handler)) {}
  ~HttpServer() { Stop(); }

  // Binds "host:port" (port 0 picks one) and starts serving.
  absl::Status Start(const std::string& listen);
  void Stop();
  int port() const { return port_; }

 private:
  void Serve();
  void HandleConnection(int fd);

  Handler handler_;
  int listen_fd_ = -1;
  int wake_fds_[2] = {-1, -1};
  int port_ = 0;
  std::thread thread_;
};

}  // namespace walrep

#endif  // WALREP_AGENT_HTTP_SERVER_H_
