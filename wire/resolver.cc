#include "wire/resolver.h"

#include <netdb.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace walrep {
namespace {

absl::Status TimeoutExpired() { return absl::UnavailableError("timeout expired"); }

// getaddrinfo for a TCP stream socket, copying the list out and freeing it.
int GetAddrInfo(const std::string& node, const std::string& service, int flags,
                std::vector<ResolvedAddress>* out) {
  struct addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = flags;
  struct addrinfo* res = nullptr;
  int rc = getaddrinfo(node.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) return rc;
  for (struct addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    if (ai->ai_addrlen > sizeof(sockaddr_storage)) continue;
    ResolvedAddress a;
    a.family = ai->ai_family;
    a.len = ai->ai_addrlen;
    std::memcpy(&a.addr, ai->ai_addr, ai->ai_addrlen);
    out->push_back(a);
  }
  freeaddrinfo(res);
  return out->empty() ? EAI_NONAME : 0;
}

// `err` is the errno the lookup left, which EAI_SYSTEM refers to (errno is per thread).
absl::StatusOr<std::vector<ResolvedAddress>> Result(int rc, int err,
                                                    std::vector<ResolvedAddress> addresses) {
  if (rc != 0) {
    return absl::UnavailableError(rc == EAI_SYSTEM ? std::strerror(err) : gai_strerror(rc));
  }
  return addresses;
}

}  // namespace

// What a worker thread and the caller that started it share. The caller may stop
// waiting and return; the worker still owns a reference, so it never writes into freed
// memory, and the Resolver keeps one too until it joins the thread.
struct Resolver::Lookup {
  std::string node;
  std::string service;
  absl::Mutex mu;
  bool done ABSL_GUARDED_BY(mu) = false;
  bool cancelled ABSL_GUARDED_BY(mu) = false;  // the caller's token fired
  int rc ABSL_GUARDED_BY(mu) = 0;
  int err ABSL_GUARDED_BY(mu) = 0;
  std::vector<ResolvedAddress> addresses ABSL_GUARDED_BY(mu);
  // Set under the Resolver's mu_ as the worker's very last step, so a thread seen
  // finished there needs no lock again and joins at once.
  bool finished = false;
};

int Resolver::SystemLookup(const std::string& node, const std::string& service,
                           std::vector<ResolvedAddress>* out) {
  return GetAddrInfo(node, service, 0, out);
}

absl::StatusOr<std::vector<ResolvedAddress>> Resolver::ParseNumeric(const std::string& node,
                                                                    const std::string& service) {
  std::vector<ResolvedAddress> out;
  int rc = GetAddrInfo(node, service, AI_NUMERICHOST, &out);
  return Result(rc, errno, std::move(out));
}

Resolver::Resolver(LookupFn lookup, int max_running)
    : lookup_(std::move(lookup)), max_running_(max_running) {}

Resolver::~Resolver() {
  std::list<Worker> workers;
  {
    absl::MutexLock lock(&mu_);
    workers.swap(workers_);
  }
  for (Worker& w : workers) w.thread.join();
}

Resolver& Resolver::Default() {
  static Resolver resolver;
  return resolver;
}

void Resolver::Reap() {
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (!it->lookup->finished) {
      ++it;
      continue;
    }
    it->thread.join();
    it = workers_.erase(it);
  }
}

void Resolver::RunLookup(const std::shared_ptr<Lookup>& lookup) {
  std::vector<ResolvedAddress> out;
  int rc = lookup_(lookup->node, lookup->service, &out);
  int err = errno;
  {
    absl::MutexLock l(&lookup->mu);
    lookup->rc = rc;
    lookup->err = err;
    lookup->addresses = std::move(out);
    lookup->done = true;
  }
  absl::MutexLock lock(&mu_);
  --running_;
  lookup->finished = true;
}

int Resolver::running() const {
  absl::MutexLock lock(&mu_);
  return running_;
}

bool Resolver::AwaitIdle(absl::Time deadline) const {
  absl::MutexLock lock(&mu_);
  return mu_.AwaitWithDeadline(absl::Condition(
                                   +[](const int* running) { return *running == 0; }, &running_),
                               deadline);
}

absl::StatusOr<std::vector<ResolvedAddress>> Resolver::Resolve(const std::string& node,
                                                               const std::string& service,
                                                               absl::Time deadline,
                                                               const CancelToken* cancel) {
  // An IP literal needs no name service: parse it here, without a thread.
  std::vector<ResolvedAddress> numeric;
  if (GetAddrInfo(node, service, AI_NUMERICHOST, &numeric) == 0) return numeric;
  if (cancel != nullptr && cancel->cancelled()) return CancelledByToken();

  if (deadline == absl::InfiniteFuture() && cancel == nullptr) {
    std::vector<ResolvedAddress> out;
    int rc = lookup_(node, service, &out);
    return Result(rc, errno, std::move(out));
  }
  if (absl::Now() >= deadline) return TimeoutExpired();

  auto lookup = std::make_shared<Lookup>();
  lookup->node = node;
  lookup->service = service;
  {
    absl::MutexLock lock(&mu_);
    Reap();
    if (running_ >= max_running_) {
      return absl::UnavailableError(
          absl::StrCat(max_running_, " host name lookups are still waiting for the name service"));
    }
    ++running_;
    // `this` outlives the thread: the destructor joins it.
    workers_.push_back(Worker{std::thread([this, lookup] { RunLookup(lookup); }), lookup});
  }
  // Declared before the lock so that it is unregistered after the lock is released: the
  // callback takes the same lock.
  std::optional<CancelToken::Callback> on_cancel;
  if (cancel != nullptr) {
    on_cancel.emplace(*cancel, [lookup] {
      absl::MutexLock l(&lookup->mu);
      lookup->cancelled = true;
    });
  }
  absl::MutexLock l(&lookup->mu);
  auto answered_or_cancelled = [](Lookup* lk) ABSL_SHARED_LOCKS_REQUIRED(lk->mu) {
    return lk->done || lk->cancelled;
  };
  // The worker finishes on its own when abandoned; Reap or ~Resolver joins it.
  if (!lookup->mu.AwaitWithDeadline(absl::Condition(+answered_or_cancelled, lookup.get()),
                                    deadline)) {
    return TimeoutExpired();
  }
  if (!lookup->done) return CancelledByToken();
  return Result(lookup->rc, lookup->err, std::move(lookup->addresses));
}

}  // namespace walrep
