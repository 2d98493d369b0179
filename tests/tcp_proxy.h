// A TCP proxy between walrep and a real primary, for what a network does that a server
// cannot be asked to do: black-hole traffic without closing (a partition: both ends keep
// their sockets, nothing passes), and cut every connection. Listens on 127.0.0.1 on a
// free port; each accepted connection is paired with one to the upstream and pumped on
// its own thread. Thread-safe.
#ifndef WALREP_TESTS_TCP_PROXY_H_
#define WALREP_TESTS_TCP_PROXY_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace walrep::testing {

class TcpProxy {
 public:
  static absl::StatusOr<std::unique_ptr<TcpProxy>> Start(const std::string& upstream_host,
                                                         int upstream_port);
  ~TcpProxy();  // closes everything and joins the threads

  int port() const { return port_; }
  // While on, nothing is forwarded in either direction and nothing is closed: bytes stay
  // in the kernel's buffers, as in a partition. New connections are accepted (and their
  // upstream connections made) but carry nothing either.
  void SetBlackHole(bool on);
  // Closes every open connection pair at once (both sides see the connection end).
  void CutAll();
  // Connections accepted so far.
  int accepted() const { return accepted_.load(); }
  // While on, each connection accepted is held: nothing is connected upstream and
  // nothing passes (the client waits, as for a server slow to answer) until it is
  // released by ReleaseHeld() or by turning this off.
  void SetHoldNew(bool on);
  // Lets the connections held now go through; later ones are held as before.
  void ReleaseHeld();
  // Connections held now.
  int held() const;

 private:
  TcpProxy() = default;
  void AcceptLoop();
  void Pump(int client, int upstream);
  // Waits while `client` is held, then connects upstream and pumps.
  void HoldThenPump(int client);

  std::string upstream_host_;
  int upstream_port_ = 0;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<bool> black_hole_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> generation_{0};  // CutAll() bumps it; pumps of older ones close
  std::thread accept_thread_;
  mutable absl::Mutex mu_;
  std::vector<std::thread> pumps_ ABSL_GUARDED_BY(mu_);
  bool hold_ ABSL_GUARDED_BY(mu_) = false;
  int held_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t releases_ ABSL_GUARDED_BY(mu_) = 0;  // ReleaseHeld() calls
};

}  // namespace walrep::testing

#endif  // WALREP_TESTS_TCP_PROXY_H_
