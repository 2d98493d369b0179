// A push-style streaming reader for the tar archives BASE_BACKUP sends (ustar, with GNU
// long-name and pax extended headers). Bytes go in as they arrive from the connection, in
// chunks of any size down to one byte; members come out through a TarSink as a header,
// the file content in pieces (never a whole file in memory), and an end call. Decoding
// only: no I/O, no logging, every length checked against a cap before it is buffered.
//
// Why push rather than pull: the CopyData stream decides the chunk boundaries, and a
// file of gigabytes must flow straight to disk. The grammar is in tar_format.md.
//
// Not thread-safe: one reader per archive, fed from one thread.
#ifndef WALREP_WIRE_TAR_READER_H_
#define WALREP_WIRE_TAR_READER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace walrep {

// One archive member, with GNU/pax overrides already applied.
struct TarMember {
  enum class Type { kRegular, kDirectory, kSymlink };

  Type type = Type::kRegular;
  std::string name;      // as stored (may end in '/', may start with "./")
  std::string linkname;  // symlink target; empty otherwise
  uint64_t size = 0;     // content bytes that follow (0 for directories and symlinks)
  uint32_t mode = 0;     // permission bits as stored
  int64_t mtime = 0;     // seconds since the Unix epoch
};

// Receives the members of an archive in order. A non-OK return stops the reader, which then
// returns that status from Feed (and from every later call).
class TarSink {
 public:
  virtual ~TarSink() = default;
  virtual absl::Status OnMember(const TarMember& member) = 0;
  // Content of the current regular file, in order; the pieces add up to member.size.
  virtual absl::Status OnData(absl::string_view bytes) = 0;
  virtual absl::Status OnMemberEnd() = 0;
};

class TarReader {
 public:
  struct Options {
    // Caps on what is buffered: GNU 'L'/'K' names and pax 'x' records.
    size_t max_long_name = 64 * 1024;
    size_t max_pax_header = 64 * 1024;
  };

  TarReader() : TarReader(Options()) {}
  explicit TarReader(Options options);

  // Consumes `chunk`, calling `sink` for every member event it completes. Corrupt input
  // (bad header checksum, bad number, bad pax record) is DataLoss; a well-formed member this
  // reader will not produce (hard link, device, sparse file) is InvalidArgument. Errors are
  // sticky.
  absl::Status Feed(absl::string_view chunk, TarSink* sink);

  // Declares the end of input. OK after the two-zero-block trailer, and also at a member
  // boundary without it: PostgreSQL 12-14 send each tablespace's tar without the trailer.
  // Anywhere else: DataLoss "archive truncated in member <name>".
  absl::Status Finish();

  // True once the two zero blocks that end a tar archive have been read.
  bool saw_end_marker() const { return state_ == State::kEnd; }
  uint64_t members() const { return members_; }
  uint64_t bytes_consumed() const { return bytes_consumed_; }

 private:
  enum class State { kHeader, kContent, kPadding, kEnd, kFailed };
  // What the bytes of the current member are for.
  enum class ContentKind { kFile, kLongName, kLongLink, kPax, kSkip };

  absl::Status Fail(absl::Status status);
  absl::Status ProcessHeader(TarSink* sink);
  absl::Status StartMember(const TarMember& member, TarSink* sink);
  absl::Status FinishContent(TarSink* sink);
  absl::Status ApplyPaxRecords(absl::string_view records);
  void ClearPending();

  Options options_;
  State state_ = State::kHeader;
  absl::Status error_;

  char header_[512];
  size_t header_fill_ = 0;
  int zero_blocks_ = 0;

  ContentKind content_kind_ = ContentKind::kFile;
  uint64_t content_left_ = 0;
  uint64_t padding_left_ = 0;
  std::string meta_;         // content of a GNU long name / pax member being read
  std::string member_name_;  // for error messages

  // Overrides for the next real member, from GNU 'L'/'K' and pax 'x' headers.
  std::optional<std::string> pending_name_;
  std::optional<std::string> pending_link_;
  std::optional<uint64_t> pending_size_;
  std::optional<int64_t> pending_mtime_;

  uint64_t members_ = 0;
  uint64_t bytes_consumed_ = 0;
};

}  // namespace walrep

#endif  // WALREP_WIRE_TAR_READER_H_
