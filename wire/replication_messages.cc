#include "wire/replication_messages.h"

#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "wire/bytes.h"
#include "wire/framing.h"

namespace walrep {
namespace {

absl::Status CheckShape(absl::string_view payload, char tag, absl::string_view name, size_t size,
                        bool exact) {
  if (payload.empty() || payload[0] != tag) {
    return absl::DataLossError(absl::StrCat(
        name, ": expected tag '", std::string(1, tag), "', got ",
        payload.empty() ? std::string("an empty payload") : DescribeMessageType(payload[0])));
  }
  if (exact ? payload.size() != size : payload.size() < size) {
    return absl::DataLossError(absl::StrCat("malformed ", name, ": ", payload.size(),
                                            " bytes (expected ", exact ? "" : "at least ", size,
                                            ")"));
  }
  return absl::OkStatus();
}

ByteReader AfterTag(absl::string_view payload) {
  ByteReader r(payload);
  uint8_t tag;
  r.ReadU8(&tag);
  return r;
}

Lsn ReadLsn(ByteReader* r) {
  uint64_t v = 0;
  r->ReadU64(&v);
  return Lsn(v);
}

}  // namespace

int64_t ToPostgresMicros(absl::Time t) {
  // absl::Duration arithmetic saturates at ±infinity instead of overflowing.
  absl::Duration since = t - (absl::UnixEpoch() + absl::Microseconds(kPostgresEpochUnixMicros));
  if (since >= absl::Microseconds(std::numeric_limits<int64_t>::max())) {
    return std::numeric_limits<int64_t>::max();
  }
  if (since <= absl::Microseconds(std::numeric_limits<int64_t>::min())) {
    return std::numeric_limits<int64_t>::min();
  }
  return absl::ToInt64Microseconds(since);
}

absl::Time FromPostgresMicros(int64_t micros) {
  return absl::UnixEpoch() + absl::Microseconds(kPostgresEpochUnixMicros) +
         absl::Microseconds(micros);
}

absl::StatusOr<XLogData> DecodeXLogData(absl::string_view payload) {
  if (auto s = CheckShape(payload, 'w', "XLogData", kXLogDataHeaderSize, false); !s.ok()) {
    return s;
  }
  return DecodeXLogData(payload.substr(0, kXLogDataHeaderSize),
                        payload.substr(kXLogDataHeaderSize));
}

absl::StatusOr<XLogData> DecodeXLogData(absl::string_view header, absl::string_view data) {
  if (auto s = CheckShape(header, 'w', "XLogData", kXLogDataHeaderSize, true); !s.ok()) {
    return s;
  }
  ByteReader r = AfterTag(header);
  XLogData m;
  m.start = ReadLsn(&r);
  m.wal_end = ReadLsn(&r);
  r.ReadI64(&m.send_time);
  m.data = data;
  if (m.data.size() > std::numeric_limits<uint64_t>::max() - m.start.value()) {
    return absl::DataLossError(absl::StrCat("malformed XLogData: ", m.data.size(), " bytes at ",
                                            m.start.ToString(),
                                            " run past the end of the WAL address space"));
  }
  return m;
}

absl::StatusOr<PrimaryKeepalive> DecodePrimaryKeepalive(absl::string_view payload) {
  if (auto s = CheckShape(payload, 'k', "PrimaryKeepalive", kPrimaryKeepaliveSize, true); !s.ok()) {
    return s;
  }
  ByteReader r = AfterTag(payload);
  PrimaryKeepalive m;
  m.wal_end = ReadLsn(&r);
  r.ReadI64(&m.send_time);
  uint8_t reply = 0;
  r.ReadU8(&reply);
  m.reply_requested = reply != 0;
  return m;
}

absl::StatusOr<StandbyStatusUpdate> DecodeStandbyStatusUpdate(absl::string_view payload) {
  if (auto s = CheckShape(payload, 'r', "StandbyStatusUpdate", kStandbyStatusUpdateSize, true);
      !s.ok()) {
    return s;
  }
  ByteReader r = AfterTag(payload);
  StandbyStatusUpdate m;
  m.write = ReadLsn(&r);
  m.flush = ReadLsn(&r);
  m.apply = ReadLsn(&r);
  r.ReadI64(&m.client_time);
  uint8_t reply = 0;
  r.ReadU8(&reply);
  m.reply_requested = reply != 0;
  return m;
}

absl::StatusOr<HotStandbyFeedback> DecodeHotStandbyFeedback(absl::string_view payload) {
  if (auto s = CheckShape(payload, 'h', "HotStandbyFeedback", kHotStandbyFeedbackSize, true);
      !s.ok()) {
    return s;
  }
  ByteReader r = AfterTag(payload);
  HotStandbyFeedback m;
  r.ReadI64(&m.client_time);
  r.ReadU32(&m.xmin);
  r.ReadU32(&m.xmin_epoch);
  r.ReadU32(&m.catalog_xmin);
  r.ReadU32(&m.catalog_xmin_epoch);
  return m;
}

absl::StatusOr<PrimaryMessage> DecodePrimaryMessage(absl::string_view payload) {
  if (!payload.empty() && payload[0] == 'w') {
    auto m = DecodeXLogData(payload);
    if (!m.ok()) return m.status();
    return PrimaryMessage(*m);
  }
  if (!payload.empty() && payload[0] == 'k') {
    auto m = DecodePrimaryKeepalive(payload);
    if (!m.ok()) return m.status();
    return PrimaryMessage(*m);
  }
  return absl::DataLossError(absl::StrCat(
      "unexpected replication message ",
      payload.empty() ? std::string("(empty CopyData)") : DescribeMessageType(payload[0])));
}

std::string EncodeXLogData(const XLogData& m) {
  std::string out;
  out.reserve(kXLogDataHeaderSize + m.data.size());
  ByteWriter w(&out);
  w.PutU8('w');
  w.PutU64(m.start.value());
  w.PutU64(m.wal_end.value());
  w.PutI64(m.send_time);
  w.PutBytes(m.data);
  return out;
}

std::string EncodePrimaryKeepalive(const PrimaryKeepalive& m) {
  std::string out;
  ByteWriter w(&out);
  w.PutU8('k');
  w.PutU64(m.wal_end.value());
  w.PutI64(m.send_time);
  w.PutU8(m.reply_requested ? 1 : 0);
  return out;
}

std::string EncodeStandbyStatusUpdate(const StandbyStatusUpdate& m) {
  std::string out;
  ByteWriter w(&out);
  w.PutU8('r');
  w.PutU64(m.write.value());
  w.PutU64(m.flush.value());
  w.PutU64(m.apply.value());
  w.PutI64(m.client_time);
  w.PutU8(m.reply_requested ? 1 : 0);
  return out;
}

std::string EncodeHotStandbyFeedback(const HotStandbyFeedback& m) {
  std::string out;
  ByteWriter w(&out);
  w.PutU8('h');
  w.PutI64(m.client_time);
  w.PutU32(m.xmin);
  w.PutU32(m.xmin_epoch);
  w.PutU32(m.catalog_xmin);
  w.PutU32(m.catalog_xmin_epoch);
  return out;
}

}  // namespace walrep
