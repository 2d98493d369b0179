#include "wire/resolver.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "wire/cancel_token.h"

namespace walrep {
namespace {

ResolvedAddress Ipv4(const char* text, int port) {
  ResolvedAddress a;
  struct sockaddr_in sin = {};
  sin.sin_family = AF_INET;
  sin.sin_port = htons(port);
  inet_pton(AF_INET, text, &sin.sin_addr);
  a.family = AF_INET;
  a.len = sizeof(sin);
  std::memcpy(&a.addr, &sin, sizeof(sin));
  return a;
}

std::string Text(const ResolvedAddress& a) {
  char buf[INET6_ADDRSTRLEN] = {0};
  const auto* sin = reinterpret_cast<const struct sockaddr_in*>(&a.addr);
  inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf));
  return buf;
}

// A name service that answers "slow.test" only once released, everything else at once.
struct FakeNameService {
  absl::Notification release;
  std::atomic<int> calls{0};
  Resolver::LookupFn Fn() {
    return [this](const std::string& node, const std::string& service,
                  std::vector<ResolvedAddress>* out) {
      ++calls;
      if (node == "missing.test") return EAI_NONAME;
      if (node == "slow.test") release.WaitForNotification();
      out->push_back(Ipv4("127.0.0.7", std::stoi(service)));
      return 0;
    };
  }
};

TEST(ResolverTest, NumericAddressesNeverReachTheNameService) {
  FakeNameService ns;
  Resolver resolver(ns.Fn());
  auto v4 = resolver.Resolve("127.0.0.1", "5432", absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(v4.ok()) << v4.status();
  ASSERT_EQ(v4->size(), 1u);
  EXPECT_EQ(Text((*v4)[0]), "127.0.0.1");
  auto v6 = resolver.Resolve("::1", "5432", absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ((*v6)[0].family, AF_INET6);
  EXPECT_EQ(ns.calls, 0);
  EXPECT_EQ(resolver.running(), 0);
}

TEST(ResolverTest, NamesGoThroughTheNameService) {
  FakeNameService ns;
  Resolver resolver(ns.Fn());
  auto got = resolver.Resolve("db.test", "6543", absl::Now() + absl::Seconds(5));
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(Text((*got)[0]), "127.0.0.7");
  EXPECT_EQ(ntohs(reinterpret_cast<const sockaddr_in*>(&(*got)[0].addr)->sin_port), 6543);
  // Without a deadline the lookup runs on the caller's thread.
  EXPECT_TRUE(resolver.Resolve("db.test", "1", absl::InfiniteFuture()).ok());
  EXPECT_EQ(ns.calls, 2);
}

TEST(ResolverTest, NameServiceErrorsAreUnavailableWithTheirText) {
  FakeNameService ns;
  Resolver resolver(ns.Fn());
  auto got = resolver.Resolve("missing.test", "1", absl::Now() + absl::Seconds(5));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(got.status().message(), gai_strerror(EAI_NONAME));
}

TEST(ResolverTest, SlowLookupIsAbandonedAtTheDeadlineAndJoinedLater) {
  FakeNameService ns;
  {
    Resolver resolver(ns.Fn());
    const absl::Time start = absl::Now();
    auto got = resolver.Resolve("slow.test", "1", start + absl::Milliseconds(300));
    const absl::Duration waited = absl::Now() - start;
    EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_EQ(got.status().message(), "timeout expired");
    EXPECT_GE(waited, absl::Milliseconds(300));
    EXPECT_LT(waited, absl::Seconds(5));
    // The lookup is still running on its own thread; the caller was not held up by it.
    EXPECT_EQ(resolver.running(), 1);
    EXPECT_FALSE(resolver.AwaitIdle(absl::Now()));
    ns.release.Notify();
    EXPECT_TRUE(resolver.AwaitIdle(absl::InfiniteFuture()));
    EXPECT_EQ(resolver.running(), 0);
    // Its thread is joined by the next lookup (or the destructor); the answer it got late
    // went nowhere.
    EXPECT_TRUE(resolver.Resolve("db.test", "1", absl::Now() + absl::Seconds(5)).ok());
  }
  EXPECT_EQ(ns.calls, 2);
}

TEST(ResolverTest, AbandonedLookupsAreCapped) {
  FakeNameService ns;
  Resolver resolver(ns.Fn(), /*max_running=*/2);
  for (int i = 0; i < 2; ++i) {
    auto got = resolver.Resolve("slow.test", "1", absl::Now() + absl::Milliseconds(50));
    EXPECT_EQ(got.status().message(), "timeout expired");
  }
  EXPECT_EQ(resolver.running(), 2);
  // A third would be one more thread stuck in the name service: refused at once.
  auto refused = resolver.Resolve("db.test", "1", absl::Now() + absl::Seconds(5));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(refused.status().message(), "still waiting")) << refused.status();
  EXPECT_EQ(ns.calls, 2);
  ns.release.Notify();
  ASSERT_TRUE(resolver.AwaitIdle(absl::InfiniteFuture()));
  EXPECT_TRUE(resolver.Resolve("db.test", "1", absl::Now() + absl::Seconds(5)).ok());
}

TEST(ResolverTest, PastDeadlineStartsNoLookup) {
  FakeNameService ns;
  Resolver resolver(ns.Fn());
  auto got = resolver.Resolve("db.test", "1", absl::Now() - absl::Seconds(1));
  EXPECT_EQ(got.status().message(), "timeout expired");
  EXPECT_EQ(ns.calls, 0);
}

TEST(ResolverTest, SystemLookupResolvesLocalhost) {
  Resolver resolver;
  auto got = resolver.Resolve("localhost", "5432", absl::Now() + absl::Seconds(10));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(got->empty());  // from /etc/hosts: no name server involved
}

TEST(ResolverTest, ParseNumericRefusesNames) {
  EXPECT_TRUE(Resolver::ParseNumeric("10.1.2.3", "1").ok());
  EXPECT_EQ(Resolver::ParseNumeric("db.test", "1").status().code(), absl::StatusCode::kUnavailable);
}

// A token ends the wait at once, even without a deadline (the lookup then runs on a
// thread so that it can be abandoned), and a fired token starts no lookup at all.
TEST(ResolverTest, CancelTokenEndsTheWaitAndAbandonsTheLookup) {
  FakeNameService ns;
  Resolver resolver(ns.Fn());
  CancelToken token;
  std::thread canceller([&] {
    while (ns.calls.load() == 0) std::this_thread::yield();  // the lookup is under way
    token.Cancel();
  });
  absl::Time start = absl::Now();
  auto r = resolver.Resolve("slow.test", "5432", absl::InfiniteFuture(), &token);
  canceller.join();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled) << r.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(resolver.running(), 1);  // abandoned, still in the name service
  ns.release.Notify();
  EXPECT_TRUE(resolver.AwaitIdle(absl::Now() + absl::Seconds(10)));

  auto again = resolver.Resolve("db.test", "5432", absl::Now() + absl::Seconds(5), &token);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(ns.calls.load(), 1);
  // Numeric addresses need no lookup and are answered whatever the token says.
  EXPECT_TRUE(resolver.Resolve("127.0.0.1", "5432", absl::InfiniteFuture(), &token).ok());
}

}  // namespace
}  // namespace walrep
