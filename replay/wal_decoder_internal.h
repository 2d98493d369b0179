// Helpers shared by wal_decoder.cc and wal_decoder_pages.cc; not part of the decoder's
// interface.
#ifndef WALREP_REPLAY_WAL_DECODER_INTERNAL_H_
#define WALREP_REPLAY_WAL_DECODER_INTERNAL_H_

#include <cstdint>
#include <string>

#include "wire/lsn.h"

namespace walrep::wal_decoder_internal {

// Records start MAXALIGNed (8 bytes) in WAL.
constexpr uint64_t MaxAlign(uint64_t v) { return (v + 7) & ~uint64_t{7}; }

inline std::string LsnText(uint64_t v) { return Lsn(v).ToString(); }

}  // namespace walrep::wal_decoder_internal

#endif  // WALREP_REPLAY_WAL_DECODER_INTERNAL_H_
