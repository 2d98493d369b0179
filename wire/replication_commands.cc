#include "wire/replication_commands.h"

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

constexpr size_t kMaxSlotName = 63;  // NAMEDATALEN - 1

absl::Status CheckVersion(int server_version_num) {
  if (server_version_num < kMinServerVersionNum) {
    return absl::FailedPreconditionError(absl::StrCat("server version ", server_version_num,
                                                      " is not supported (need 12 or later)"));
  }
  return absl::OkStatus();
}

std::string QuoteSlot(absl::string_view slot) { return absl::StrCat("\"", slot, "\""); }

}  // namespace

absl::Status ValidateSlotName(absl::string_view slot) {
  if (slot.empty() || slot.size() > kMaxSlotName) {
    return absl::InvalidArgumentError(absl::StrCat("replication slot name must be 1-", kMaxSlotName,
                                                   " bytes, got ", slot.size()));
  }
  for (char c : slot) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return absl::InvalidArgumentError(
          absl::StrCat("replication slot name \"", absl::CEscape(slot),
                       "\" may contain only lower-case letters, digits and underscores"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> QuoteLiteral(absl::string_view text) {
  std::string out = "'";
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f || c == '\\') {
      return absl::InvalidArgumentError(
          absl::StrCat("string \"", absl::CEscape(text),
                       "\" contains a control character or backslash, which is not allowed"));
    }
    if (c == '\'') out.push_back('\'');
    out.push_back(c);
  }
  out.push_back('\'');
  return out;
}

std::string IdentifySystemCommand() { return "IDENTIFY_SYSTEM"; }

absl::StatusOr<std::string> TimelineHistoryCommand(TimelineId timeline) {
  if (timeline == 0) return absl::InvalidArgumentError("timeline 0 has no history");
  return absl::StrCat("TIMELINE_HISTORY ", timeline);
}

absl::StatusOr<std::string> ReadReplicationSlotCommand(absl::string_view slot) {
  RETURN_IF_ERROR(ValidateSlotName(slot));
  return absl::StrCat("READ_REPLICATION_SLOT ", QuoteSlot(slot));
}

absl::StatusOr<std::string> CreatePhysicalSlotCommand(absl::string_view slot,
                                                      const CreatePhysicalSlotOptions& options,
                                                      int server_version_num) {
  RETURN_IF_ERROR(ValidateSlotName(slot));
  RETURN_IF_ERROR(CheckVersion(server_version_num));
  std::string out = absl::StrCat("CREATE_REPLICATION_SLOT ", QuoteSlot(slot));
  if (options.temporary) out += " TEMPORARY";
  out += " PHYSICAL";
  if (options.reserve_wal) out += server_version_num >= 150000 ? " (RESERVE_WAL)" : " RESERVE_WAL";
  return out;
}

absl::StatusOr<std::string> DropReplicationSlotCommand(absl::string_view slot, bool wait) {
  RETURN_IF_ERROR(ValidateSlotName(slot));
  return absl::StrCat("DROP_REPLICATION_SLOT ", QuoteSlot(slot), wait ? " WAIT" : "");
}

absl::StatusOr<std::string> StartPhysicalReplicationCommand(
    const StartReplicationOptions& options) {
  std::string out = "START_REPLICATION";
  if (!options.slot.empty()) {
    RETURN_IF_ERROR(ValidateSlotName(options.slot));
    absl::StrAppend(&out, " SLOT ", QuoteSlot(options.slot));
  }
  absl::StrAppend(&out, " PHYSICAL ", options.start.ToString());
  if (options.timeline != 0) absl::StrAppend(&out, " TIMELINE ", options.timeline);
  return out;
}

absl::StatusOr<uint64_t> MaxRateKb(uint64_t bytes_per_sec) {
  if (bytes_per_sec == 0) return 0;
  uint64_t kb = bytes_per_sec / 1024;
  if (kb < kMinMaxRateKb) {
    return absl::InvalidArgumentError(absl::StrCat("backup rate limit of ", bytes_per_sec,
                                                   " bytes/s is below PostgreSQL's minimum of ",
                                                   kMinMaxRateKb, " kB/s"));
  }
  return kb > kMaxMaxRateKb ? kMaxMaxRateKb : kb;
}

absl::StatusOr<std::string> BaseBackupCommand(const BaseBackupOptions& options,
                                              int server_version_num) {
  RETURN_IF_ERROR(CheckVersion(server_version_num));
  if (options.label.size() > kMaxBackupLabel) {
    return absl::InvalidArgumentError(
        absl::StrCat("backup label of ", options.label.size(), " bytes exceeds ", kMaxBackupLabel));
  }
  ASSIGN_OR_RETURN(std::string label, QuoteLiteral(options.label));
  ASSIGN_OR_RETURN(uint64_t rate_kb, MaxRateKb(options.max_rate_bytes_per_sec));
  if (options.manifest && server_version_num < 130000) {
    return absl::FailedPreconditionError(absl::StrCat(
        "backup manifests need PostgreSQL 13 or later (server is ", server_version_num, ")"));
  }
  if (!options.compression.empty() && server_version_num < 150000) {
    return absl::FailedPreconditionError(absl::StrCat(
        "server-side compression needs PostgreSQL 15 or later (server is ", server_version_num,
        "); compress on the client instead"));
  }
  if (options.compression_level && options.compression.empty()) {
    return absl::InvalidArgumentError("a compression level without a compression method");
  }
  std::vector<std::string> opts;
  if (server_version_num >= 150000) {
    opts.push_back(absl::StrCat("LABEL ", label));
    if (options.progress) opts.push_back("PROGRESS");
    opts.push_back(options.fast_checkpoint ? "CHECKPOINT 'fast'" : "CHECKPOINT 'spread'");
    if (options.include_wal) opts.push_back("WAL");
    if (!options.wait_for_wal_archive) opts.push_back("WAIT false");
    if (options.manifest) {
      opts.push_back("MANIFEST 'yes'");
      opts.push_back("MANIFEST_CHECKSUMS 'CRC32C'");
    }
    if (rate_kb != 0) opts.push_back(absl::StrCat("MAX_RATE ", rate_kb));
    if (options.tablespace_map) opts.push_back("TABLESPACE_MAP");
    if (!options.verify_checksums) opts.push_back("VERIFY_CHECKSUMS false");
    if (!options.compression.empty()) {
      ASSIGN_OR_RETURN(std::string method, QuoteLiteral(options.compression));
      opts.push_back(absl::StrCat("COMPRESSION ", method));
      if (options.compression_level) {
        opts.push_back(absl::StrCat("COMPRESSION_DETAIL 'level=", *options.compression_level, "'"));
      }
    }
    return absl::StrCat("BASE_BACKUP ( ", absl::StrJoin(opts, ", "), " )");
  }
  opts.push_back(absl::StrCat("LABEL ", label));
  if (options.progress) opts.push_back("PROGRESS");
  if (options.fast_checkpoint) opts.push_back("FAST");
  if (options.include_wal) opts.push_back("WAL");
  if (!options.wait_for_wal_archive) opts.push_back("NOWAIT");
  if (rate_kb != 0) opts.push_back(absl::StrCat("MAX_RATE ", rate_kb));
  if (options.tablespace_map) opts.push_back("TABLESPACE_MAP");
  if (!options.verify_checksums) opts.push_back("NOVERIFY_CHECKSUMS");
  if (options.manifest) {
    opts.push_back("MANIFEST 'yes'");
    opts.push_back("MANIFEST_CHECKSUMS 'CRC32C'");
  }
  return absl::StrCat("BASE_BACKUP ", absl::StrJoin(opts, " "));
}

}  // namespace walrep
