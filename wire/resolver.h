// Resolver: host name lookups (getaddrinfo) that give up at a deadline, so libpq's
// connect_timeout can cover DNS as well as the TCP handshake. getaddrinfo cannot be
// interrupted and may block for the system resolver's own timeouts (resolv.conf's timeout
// × attempts × nameservers: tens of seconds), so a lookup with a finite deadline runs on a
// thread the Resolver owns while the caller waits on a condition. A caller that stops
// waiting abandons the lookup: the thread finishes on its own, drops the answer and is
// joined later (by the next Resolve or by the destructor). The lookup's state is shared
// between the two sides, so nothing the thread touches goes away under it.
//
// A lookup handed a CancelToken (cancel_token.h) is abandoned the same way when the token
// fires, and the caller gets Cancelled at once.
//
// Numeric addresses (AI_NUMERICHOST parses them without any I/O) and lookups with neither
// a deadline nor a token run inline on the caller's thread.
//
// Thread-safe. The destructor waits for lookups still running; Default() is destroyed at
// exit like any static, so a lookup hung in the system resolver delays exit by at most
// that resolver's own timeout (DESIGN.md: every thread is joined).
#ifndef WALREP_WIRE_RESOLVER_H_
#define WALREP_WIRE_RESOLVER_H_

#include <sys/socket.h>

#include <functional>
#include <list>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "wire/cancel_token.h"

namespace walrep {

// One address of a resolved host, copied out of getaddrinfo's list (which is freed on the
// thread that made it).
struct ResolvedAddress {
  int family = AF_UNSPEC;
  sockaddr_storage addr = {};
  socklen_t len = 0;
};

class Resolver {
 public:
  // The blocking lookup of a (non-numeric) name for SOCK_STREAM/TCP: 0 or an EAI_* code,
  // as getaddrinfo returns. Tests substitute one they can hold back.
  using LookupFn = std::function<int(const std::string& node, const std::string& service,
                                     std::vector<ResolvedAddress>* out)>;
  static int SystemLookup(const std::string& node, const std::string& service,
                          std::vector<ResolvedAddress>* out);

  // At most `max_running` lookups may be running at once, abandoned ones included: when
  // the name servers hang, each reconnect attempt leaves one behind, and this bounds the
  // threads that can pile up.
  explicit Resolver(LookupFn lookup = SystemLookup, int max_running = 8);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Addresses of `node` (a name or a numeric address) for TCP port `service`, in
  // getaddrinfo's order. Errors are Unavailable: the gai_strerror() text, "timeout
  // expired" when `deadline` passes first, or a refusal when too many lookups are still
  // running. The caller adds which host it was. `cancel` firing (before or during the
  // lookup) ends the wait with Cancelled.
  absl::StatusOr<std::vector<ResolvedAddress>> Resolve(const std::string& node,
                                                       const std::string& service,
                                                       absl::Time deadline,
                                                       const CancelToken* cancel = nullptr);

  // A numeric IPv4/IPv6 address (AI_NUMERICHOST: no I/O). Unavailable with the
  // gai_strerror() text if `node` is not one.
  static absl::StatusOr<std::vector<ResolvedAddress>> ParseNumeric(const std::string& node,
                                                                   const std::string& service);

  // Lookups started and not yet finished (abandoned ones included).
  int running() const;
  // Waits until no lookup is running; false if `deadline` passed first. For shutdown
  // paths and tests that must not proceed while an abandoned lookup is in flight.
  bool AwaitIdle(absl::Time deadline) const;

  // The process-wide resolver used when ConnectOptions names none.
  static Resolver& Default();

 private:
  struct Lookup;
  struct Worker {
    std::thread thread;
    std::shared_ptr<Lookup> lookup;
  };
  // Joins workers that have finished.
  void Reap() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A worker thread's body.
  void RunLookup(const std::shared_ptr<Lookup>& lookup) ABSL_LOCKS_EXCLUDED(mu_);

  const LookupFn lookup_;
  const int max_running_;
  mutable absl::Mutex mu_;
  std::list<Worker> workers_ ABSL_GUARDED_BY(mu_);
  int running_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace walrep

#endif  // WALREP_WIRE_RESOLVER_H_
