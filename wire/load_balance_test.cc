#include "wire/load_balance.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace walrep {
namespace {

// Replays scripted draws and records the bounds asked for.
struct Script {
  std::vector<uint64_t> draws;
  std::vector<uint64_t> asked;
  size_t next = 0;
  uint64_t operator()(uint64_t max) {
    asked.push_back(max);
    return draws.at(next++);
  }
};

TEST(ShuffleLikeLibpqTest, InsideOutFisherYates) {
  std::vector<std::string> hosts = {"a", "b", "c", "d"};
  Script script{{0, 1, 0}};
  ShuffleLikeLibpq(hosts, [&](uint64_t max) { return script(max); });
  // i=1: swap(0,1) → b a c d; i=2: j=1, swap(1,2) → b c a d; i=3: j=0, swap(0,3) → d c a b.
  EXPECT_EQ(hosts, (std::vector<std::string>{"d", "c", "a", "b"}));
  // Each step draws from [0, i], as pg_prng_uint64_range(&state, 0, i).
  EXPECT_EQ(script.asked, (std::vector<uint64_t>{1, 2, 3}));
}

TEST(ShuffleLikeLibpqTest, DrawingTheLastIndexEveryTimeKeepsTheOrder) {
  std::vector<int> v = {1, 2, 3, 4, 5};
  ShuffleLikeLibpq(v, [](uint64_t max) { return max; });
  EXPECT_EQ(v, (std::vector<int>{1, 2, 3, 4, 5}));
}

TEST(ShuffleLikeLibpqTest, ZeroOrOneElementDrawsNothing) {
  std::vector<int> none;
  std::vector<int> one = {7};
  int draws = 0;
  auto rng = [&](uint64_t) -> uint64_t {
    ++draws;
    return 0;
  };
  ShuffleLikeLibpq(none, rng);
  ShuffleLikeLibpq(one, rng);
  EXPECT_EQ(draws, 0);
  EXPECT_EQ(one, std::vector<int>{7});
}

}  // namespace
}  // namespace walrep
