// PostgreSQL 15's resource-manager names and record-type names ("identify"), as
// pg_waldump prints them: `rmgr: Heap ... desc: HOT_UPDATE`. The tables mirror each
// rmgr's rm_identify() in src/backend/access/rmgrdesc/, including its quirks (which bits of
// xl_info each one looks at), so output can be compared with pg_waldump line by line.
//
// Pure functions over constant tables; thread-safe.
#ifndef WALREP_REPLAY_RMGR_NAMES_H_
#define WALREP_REPLAY_RMGR_NAMES_H_

#include <cstdint>
#include <string>

namespace walrep {

// Ids 0..21 are PostgreSQL 15's built-in managers.
inline constexpr uint8_t kMaxBuiltinRmgrId = 21;
inline constexpr uint8_t kFirstCustomRmgrId = 128;

// True for a built-in id or a custom id (128..255); PostgreSQL 15 has no others.
bool RmgrIdIsValid(uint8_t rmid);
bool RmgrIdIsCustom(uint8_t rmid);

// "Heap", "Btree", ..., "custom128" for custom ids; "" for an invalid id.
std::string RmgrName(uint8_t rmid);

// The record type named by `info` (the whole xl_info byte), or nullptr where
// PostgreSQL's rm_identify returns NULL (pg_waldump then prints "UNKNOWN (%x)").
// Custom managers are not loaded by pg_waldump either, so they have no names.
const char* RmgrIdentify(uint8_t rmid, uint8_t info);

// RmgrIdentify, or pg_waldump's "UNKNOWN (x)" with the rmgr's four info bits in hex.
std::string RecordTypeName(uint8_t rmid, uint8_t info);

}  // namespace walrep

#endif  // WALREP_REPLAY_RMGR_NAMES_H_
