// A strict, event-driven JSON reader (RFC 8259) for backup_manifest. Event-driven because a
// manifest lists every file of the cluster: a tree of it would cost many times the file's
// size, while the manifest decoder keeps only what it needs, as PostgreSQL's own
// parse_manifest.c does. Strict because the bytes come from the primary: no comments, no
// trailing commas, no duplicate keys, valid UTF-8 only, lone surrogates refused, nesting
// and string lengths capped. Pure: no I/O, no globals.
//
// Thread-safe (stateless function); a handler is used from the calling thread only.
#ifndef WALREP_BACKUP_JSON_READER_H_
#define WALREP_BACKUP_JSON_READER_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace walrep {

enum class JsonScalar { kString, kNumber, kTrue, kFalse, kNull };

// Receives the document in order. A non-OK return stops parsing with that status.
class JsonHandler {
 public:
  virtual ~JsonHandler() = default;
  virtual absl::Status OnObjectStart() = 0;
  virtual absl::Status OnObjectEnd() = 0;
  virtual absl::Status OnArrayStart() = 0;
  virtual absl::Status OnArrayEnd() = 0;
  // An object key, unescaped.
  virtual absl::Status OnKey(std::string key) = 0;
  // A value: strings unescaped; numbers as their (validated) source text; literals empty.
  virtual absl::Status OnScalar(JsonScalar kind, std::string text) = 0;
};

struct JsonLimits {
  size_t max_depth = 16;
  size_t max_string_bytes = 64 * 1024;
  // Keys per object, for the duplicate check (which is linear per object).
  size_t max_keys_per_object = 64;
};

// Parses exactly one JSON value (surrounded by optional whitespace). Syntax errors are
// InvalidArgument with the byte offset.
absl::Status ParseJson(absl::string_view text, JsonHandler* handler, JsonLimits limits = {});

}  // namespace walrep

#endif  // WALREP_BACKUP_JSON_READER_H_
