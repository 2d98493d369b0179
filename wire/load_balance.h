// libpq 16's load_balance_hosts=random: the host list is shuffled once per connection
// attempt, and each host's resolved addresses once per visit, with the "inside-out"
// Fisher–Yates shuffle libpq uses (for i = 1..n-1, swap element i with a uniformly chosen
// j in [0, i]). Spreads a fleet of standbys over the hosts named instead of all of them
// piling onto the first one that answers.
//
// The random source is passed in, so a test can seed it; header-only, thread-compatible.
#ifndef WALREP_WIRE_LOAD_BALANCE_H_
#define WALREP_WIRE_LOAD_BALANCE_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"

namespace walrep {

// Returns a uniformly distributed integer in [0, max], as pg_prng_uint64_range(0, max).
using RandomUpTo = absl::FunctionRef<uint64_t(uint64_t max)>;

template <typename T>
void ShuffleLikeLibpq(std::vector<T>& items, RandomUpTo random_up_to) {
  for (size_t i = 1; i < items.size(); ++i) {
    const size_t j = static_cast<size_t>(random_up_to(i));
    std::swap(items[j], items[i]);
  }
}

}  // namespace walrep

#endif  // WALREP_WIRE_LOAD_BALANCE_H_
