// WalDecoder: PostgreSQL's WAL page and record format (12-17), decoded incrementally from
// bytes in LSN order. The format is written down in WAL_FORMAT.md beside this file.
//
// The caller feeds contiguous WAL bytes (Feed) and pulls results (Next): a verified
// record, "need more input", or a typed stop saying how and where the WAL ended or broke
// (zeros = the end of WAL; bad magic, bad page address, timeline going back, bad record
// length, unknown resource manager, broken xl_prev chain, CRC mismatch, a missing
// continuation, malformed block headers), the way LevelDB's log reader reports
// corruption. A record is returned only when every byte of it, up to its MAXALIGNed end
// (for XLOG_SWITCH: the end of its segment), has been fed and its CRC-32C matched, so
// `last_end()` is always the end of the last complete, verified record — the position a
// receiver may report as flushed once the bytes below it are fsynced.
//
// Two modes: with `retain` the record's bytes are assembled (page headers removed) and
// its block headers decoded (main-data size, full-page-image sizes, block references);
// without it only the 24-byte header is kept and the CRC is computed as bytes pass, so
// memory stays constant whatever the record size (the receiver's flush path).
//
// Pure: no I/O, no logging, no globals. Fed views must stay valid until Next() returns
// kNeedMore. Thread-compatible (one owner).
#ifndef WALREP_REPLAY_WAL_DECODER_H_
#define WALREP_REPLAY_WAL_DECODER_H_

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "wire/lsn.h"

namespace walrep {

inline constexpr uint32_t kWalPageSize = 8192;           // XLOG_BLCKSZ
inline constexpr uint32_t kShortPageHeaderSize = 24;     // SizeOfXLogShortPHD
inline constexpr uint32_t kLongPageHeaderSize = 40;      // SizeOfXLogLongPHD
inline constexpr uint32_t kRecordHeaderSize = 24;        // SizeOfXLogRecord
// Larger records are refused (PostgreSQL 16+ caps records at 1020 MiB; 1 GiB covers
// every version without letting a hostile length allocate without bound).
inline constexpr uint32_t kMaxRecordSize = uint32_t{1} << 30;

// xlp_info bits.
inline constexpr uint16_t kXlpFirstIsContrecord = 0x0001;
inline constexpr uint16_t kXlpLongHeader = 0x0002;
inline constexpr uint16_t kXlpBkpRemovable = 0x0004;
inline constexpr uint16_t kXlpFirstIsOverwriteContrecord = 0x0008;
inline constexpr uint16_t kXlpAllFlags = 0x000F;

// Resource managers of interest to the decoder itself.
inline constexpr uint8_t kRmgrXlog = 0;
inline constexpr uint8_t kRmgrXact = 1;
inline constexpr uint8_t kMaxBuiltinRmgr = 21;  // RM_LOGICALMSG_ID
inline constexpr uint8_t kMinCustomRmgr = 128;  // PostgreSQL 15+
inline constexpr uint8_t kXlogSwitch = 0x40;    // RM_XLOG_ID info
inline constexpr uint8_t kXlrInfoMask = 0x0F;

// The page magic of each supported major version; 0 for an unknown magic.
int PostgresMajorForMagic(uint16_t magic);

// How decoding ended or broke. kNone only while records keep coming.
enum class WalStop {
  kNone,
  kEndOfWal,          // zeros where a page header or a record's length belongs
  kBadMagic,          // non-zero page magic of no supported version, or a change of magic
  kBadPageHeader,     // unknown info bits, long-header mismatch, unexpected continuation
  kBadPageAddress,    // xlp_pageaddr is not the page's own LSN (a recycled or stale page)
  kBadTimeline,       // xlp_tli went backwards, or above the allowed maximum
  kBadRecordLength,   // xl_tot_len below the header size or above kMaxRecordSize
  kBadRmgr,           // resource manager id of no built-in or custom manager
  kBadPrevLink,       // xl_prev is not the start of the previous record
  kBadCrc,            // CRC-32C of the record does not match xl_crc
  kMissingContrecord, // a record continues onto a page without XLP_FIRST_IS_CONTRECORD,
                      // or with an xlp_rem_len that disagrees with the record
  kBadBlockHeader,    // block references / main-data lengths inconsistent with xl_tot_len
};
const char* WalStopName(WalStop stop);

struct WalPageHeader {
  uint16_t magic = 0;
  uint16_t info = 0;
  uint32_t tli = 0;
  uint64_t pageaddr = 0;
  uint32_t rem_len = 0;
  // Long header only (first page of a segment).
  uint64_t system_id = 0;
  uint32_t segment_size = 0;
  uint32_t block_size = 0;
  bool is_long() const { return (info & kXlpLongHeader) != 0; }
  uint32_t size() const { return is_long() ? kLongPageHeaderSize : kShortPageHeaderSize; }
};

// Decodes a page header from the start of `bytes` (which must hold at least 24 bytes,
// 40 for a long header). Checks only what the header says of itself: magic, info bits,
// and for a long header the block size. kEndOfWal when the first 24 bytes are zero.
// Returns kNone on success.
WalStop DecodePageHeader(absl::string_view bytes, WalPageHeader* out);

// One block reference of a record (XLogRecordBlockHeader and what follows it).
struct WalBlockRef {
  uint8_t id = 0;
  uint8_t fork = 0;
  bool has_image = false;
  bool apply_image = false;
  bool has_data = false;
  bool will_init = false;
  uint32_t spc = 0, db = 0, rel = 0;
  uint32_t block = 0;
  uint16_t image_len = 0;     // bytes of the (possibly compressed) image in the record
  uint16_t hole_offset = 0;
  uint16_t hole_length = 0;
  uint8_t bimg_info = 0;
  bool image_compressed = false;
  uint16_t data_len = 0;
};

struct WalRecord {
  Lsn lsn;             // start of the record
  Lsn end;             // MAXALIGNed end; the next segment's start for XLOG_SWITCH
  uint32_t tot_len = 0;
  uint32_t xid = 0;
  Lsn prev;
  uint8_t info = 0;
  uint8_t rmid = 0;
  uint32_t crc = 0;
  TimelineId page_tli = 0;  // xlp_tli of the page holding the record's last byte
  // Decoded in retain mode only (also for a record whose body was not kept, see
  // WalDecoder::Options::keep_body):
  std::vector<WalBlockRef> blocks;
  uint32_t main_data_len = 0;
  uint32_t fpi_len = 0;        // sum of image_len: pg_waldump's "tot - rec"
  uint16_t origin = 0;         // XLR_BLOCK_ID_ORIGIN, 0 if absent
  uint32_t toplevel_xid = 0;   // XLR_BLOCK_ID_TOPLEVEL_XID (14+), 0 if absent
  // Both views are valid until the next Next()/Feed()/Reset*() call, and no longer than
  // the input fed to the decoder (a record lying whole in one fed chunk is not copied).
  // Both empty when the body was not kept (main_data_len still says its size).
  absl::string_view main_data;
  absl::string_view bytes;     // the whole record, header first (retain mode)

  bool is_switch() const { return rmid == kRmgrXlog && (info & ~kXlrInfoMask) == kXlogSwitch; }
};

// Decodes the block headers and main-data length of an assembled record (`record`
// holds xl_tot_len bytes, header first). `major` selects the bimg_info bit layout
// (15+ differs from 12-14). Returns kNone or kBadBlockHeader with `*why` set.
// With `tot_len` above record.size(), `record` is only the record's first bytes (all its
// headers, else kBadBlockHeader): the headers are decoded against tot_len and main_data
// is left empty.
WalStop DecodeRecordBlocks(absl::string_view record, int major, WalRecord* out,
                           std::string* why, uint32_t tot_len = 0);
// The same for the `size` bytes that follow a record's header, of which `rest` holds the
// first (all of them, or at least all the headers). *headers_len, when given, is set to
// the length of the headers: the record's data (images, block data, main data) follows.
WalStop DecodeBlockHeaders(absl::string_view rest, uint64_t size, int major, WalRecord* out,
                           std::string* why, size_t* headers_len);

// Record kinds for WalDecoder::Options::keep_body: a resource manager with one of the 16
// record types xl_info's upper four bits give it.
inline constexpr size_t kBodyKinds = 256 * 16;
inline constexpr size_t BodyKind(uint8_t rmid, uint8_t info) {
  return size_t{rmid} * 16 + (info >> 4);
}

// No valid record's headers (XLogRecord, 33 block headers of at most 27 bytes each with
// image, compression and relation, origin, top-level xid, main-data length: 928 bytes)
// reach past this many bytes from its start.
inline constexpr uint32_t kRecordHeadersMax = 1024;

class WalDecoder {
 public:
  struct Options {
    uint64_t segment_size = uint64_t{16} << 20;
    // Expected system identifier from long page headers; 0 = take the first one seen and
    // require every later one to match.
    uint64_t system_id = 0;
    // Assemble records and decode block headers (see the header comment).
    bool retain = true;
    // With `retain`: the kinds of record assembled whole, by BodyKind(rmid, info) — a
    // resource manager and its record type (xl_info's upper four bits). A record of any
    // other kind that crosses a page and lies in verified input (Feed) keeps only its
    // first kRecordHeadersMax bytes — its blocks, main_data_len and fpi_len are decoded,
    // `bytes` and `main_data` are empty — so that replay does not copy full-page images
    // it never reads (XLOG's FPI records among them, beside the restore points it reads).
    // (Unverified input is always kept whole: its CRC needs every byte.)
    std::bitset<kBodyKinds> keep_body = std::bitset<kBodyKinds>().set();
    // Page timelines above this are kBadTimeline (0 = no ceiling).
    TimelineId max_timeline = 0;
  };

  enum class Result { kRecord, kNeedMore, kStop };

  explicit WalDecoder(Options options);

  // Decoding resumes at `lsn`, the start of a record (MAXALIGNed, or a page boundary
  // whose page starts with a record). `prev` is the start of the record before it (its
  // xl_prev must match); Lsn() leaves the first record's xl_prev unchecked.
  void ResetAtRecord(Lsn lsn, Lsn prev);
  // Decoding starts at the page boundary `page`, where record alignment is unknown: the
  // page's continuation (xlp_rem_len) is skipped and decoding begins at the first record
  // that starts on it. xl_prev of that record is unchecked.
  void ResetAtPage(Lsn page);

  // Appends input; its first byte is the WAL byte at input_lsn(). `verified`: these bytes
  // were already decoded and CRC-checked in this process by another WalDecoder (the WAL
  // writer's, whose in-memory copy replay reads: recent_wal.h), so a record that lies
  // wholly in one run of such input is not checked again. Everything else still is:
  // page headers, lengths, the xl_prev chain. Only with `retain` (a record that turns out
  // to be partly unverified input is then checked from its retained bytes).
  void Feed(absl::string_view bytes, bool verified = false);
  // The LSN of the next byte Feed() expects.
  Lsn input_lsn() const { return Lsn(input_end_); }

  // kRecord: `*record` is the next verified record. kNeedMore: all input consumed.
  // kStop: see stop(), stop_lsn() and stop_message(); sticky until a Reset.
  Result Next(WalRecord* record);

  // End of the last record returned (or the reset position before any). Never moves
  // past a byte that was not fed.
  Lsn last_end() const { return last_end_; }
  // Start of the last record returned (the next record's expected xl_prev).
  Lsn last_start() const { return prev_; }
  WalStop stop() const { return stop_; }
  // Where the WAL ends or broke: the page or the record at fault (for a record cut off
  // by a zero page, the record's start).
  Lsn stop_lsn() const { return stop_lsn_; }
  // How far input was consumed when decoding stopped: the byte at which the fault was
  // detected (a page header, or the end of a record whose CRC failed). It tells which
  // file the evidence is in, which stop_lsn() may not (a record crossing files).
  Lsn consumed_lsn() const { return Lsn(pos_); }
  const std::string& stop_message() const { return stop_message_; }
  // The first long header's system identifier (0 before one was seen).
  uint64_t system_id() const { return system_id_; }
  uint16_t magic() const { return magic_; }
  // Records abandoned at an XLP_FIRST_IS_OVERWRITE_CONTRECORD page.
  uint64_t aborted_records() const { return aborted_records_; }
  const Options& options() const { return options_; }

 private:
  enum class State { kRecordStart, kRecordBody, kSkip };

  Result Fail(WalStop stop, Lsn at, std::string message);
  // At a page boundary: gathers and validates the page header. Returns false when more
  // input is needed or decoding stopped (then *result is set).
  bool ConsumePageHeader(Result* result);
  // Takes up to `want` bytes of input at pos_, returning the view consumed.
  absl::string_view Take(uint64_t want);
  bool ValidateHeader(Result* result);
  Result FinishRecord(WalRecord* record);
  // The common case in one step; false leaves everything as it was, for the general path.
  bool TryWholeRecord(WalRecord* record);

  const Options options_;
  uint64_t system_id_ = 0;
  uint16_t magic_ = 0;
  int major_ = 0;

  // Input not yet consumed: input_[0] is the byte at pos_.
  std::vector<absl::string_view> pending_;
  uint64_t pos_ = 0;        // next byte to consume
  uint64_t input_end_ = 0;  // next byte to be fed

  State state_ = State::kRecordStart;
  std::string page_buf_;           // a page header gathered across Feed() calls
  uint32_t last_page_tli_ = 0;
  TimelineId cur_page_tli_ = 0;
  bool skip_contrecord_ = false;   // ResetAtPage: skip the first page's continuation
  uint64_t skip_until_ = 0;        // kSkip: consume up to here

  // The record being assembled.
  uint64_t rec_start_ = 0;
  uint32_t rec_len_ = 0;           // xl_tot_len (0 until its 4 bytes are in)
  uint32_t rec_got_ = 0;           // bytes of the record consumed so far
  char header_[kRecordHeaderSize];
  bool header_checked_ = false;  // xl_rmid and xl_prev checked
  uint32_t crc_ = 0;               // running CRC over the bytes after the header
  bool crc_skipped_ = false;       // crc_ lacks bytes that were verified input
  bool trim_ = false;              // body_ keeps only the first kept_ bytes
  uint32_t kept_ = kRecordHeadersMax;  // the headers' length once known
  WalRecord scratch_;                  // where a trimmed record's headers are measured
  // The run of verified input (Feed): LSNs [verified_begin_, verified_end_).
  uint64_t verified_begin_ = 0;
  uint64_t verified_end_ = 0;
  std::string body_;               // retain mode: the whole record
  bool pending_switch_ = false;    // record complete; skipping to the segment end

  // Whether [from, to) lies in the run of verified input.
  bool Verified(uint64_t from, uint64_t to) const {
    return options_.retain && verified_begin_ <= from && to <= verified_end_;
  }

  Lsn prev_;
  bool prev_known_ = false;
  Lsn last_end_;
  uint64_t aborted_records_ = 0;

  WalStop stop_ = WalStop::kNone;
  Lsn stop_lsn_;
  std::string stop_message_;
  WalRecord done_;  // a finished switch record held while its segment is skipped
};

}  // namespace walrep

#endif  // WALREP_REPLAY_WAL_DECODER_H_
