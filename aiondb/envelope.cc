#include "aiondb/envelope.h"

#include "absl/strings/str_cat.h"
#include "aiondb/le.h"

namespace walrep::aiondb {
namespace {

std::string Frame(MessageType type, absl::string_view payload) {
  std::string out;
  out.reserve(5 + payload.size());
  out.push_back(static_cast<char>(type));
  PutLe32(&out, static_cast<uint32_t>(payload.size()));
  out.append(payload.data(), payload.size());
  return out;
}

absl::Status WrongSize(absl::string_view what, size_t got, size_t want) {
  return absl::DataLossError(
      absl::StrCat("aiondb ", what, " payload is ", got, " bytes, expected ", want));
}

}  // namespace

absl::StatusOr<Message> DecodeMessage(absl::string_view data) {
  if (data.size() < 5) {
    return absl::DataLossError(
        absl::StrCat("aiondb replication message of ", data.size(), " bytes is truncated"));
  }
  const uint8_t type = static_cast<uint8_t>(data[0]);
  const uint32_t len = Le32(data.data() + 1);
  if (len > kMaxMessagePayload) {
    return absl::DataLossError(absl::StrCat("aiondb replication message payload of ", len,
                                            " bytes exceeds the 8 MiB cap"));
  }
  if (data.size() - 5 < len) {
    return absl::DataLossError("aiondb replication message is truncated");
  }
  if (data.size() - 5 > len) {
    // aiondb's client requires exactly one message per CopyData.
    return absl::DataLossError(absl::StrCat("aiondb replication message has ",
                                            data.size() - 5 - len, " trailing bytes"));
  }
  absl::string_view p = data.substr(5);
  switch (static_cast<MessageType>(type)) {
    case MessageType::kWalData: {
      if (p.size() < 16) return absl::DataLossError("aiondb WalData header is truncated");
      WalData w{Le64(p.data()), Le64(p.data() + 8), p.substr(16)};
      if (w.entries.empty()) return absl::DataLossError("aiondb WalData carries no entries");
      if (w.start_lsn > w.end_lsn) {
        return absl::DataLossError(absl::StrCat("aiondb WalData start ", w.start_lsn,
                                                " is past its end ", w.end_lsn));
      }
      return w;
    }
    case MessageType::kStandbyStatusUpdate:
      if (p.size() != 24) return WrongSize("StandbyStatusUpdate", p.size(), 24);
      return StatusUpdate{Le64(p.data()), Le64(p.data() + 8), Le64(p.data() + 16)};
    case MessageType::kKeepalive: {
      if (p.size() != 17) return WrongSize("Keepalive", p.size(), 17);
      const uint8_t reply = static_cast<uint8_t>(p[16]);
      if (reply > 1) {
        return absl::DataLossError(absl::StrCat("aiondb Keepalive reply flag is ", reply));
      }
      return Keepalive{Le64(p.data()), Le64(p.data() + 8), reply == 1};
    }
    case MessageType::kKeepaliveReply:
      if (p.size() != 8) return WrongSize("KeepaliveReply", p.size(), 8);
      return KeepaliveReply{Le64(p.data())};
  }
  return absl::DataLossError(absl::StrCat("unknown aiondb replication message type ", type));
}

absl::StatusOr<std::string> EncodeStatusUpdate(const StatusUpdate& u) {
  if (u.flush_lsn > u.write_lsn || u.apply_lsn > u.flush_lsn) {
    return absl::InvalidArgumentError(absl::StrCat(
        "status update out of order: write ", u.write_lsn, ", flush ", u.flush_lsn,
        ", apply ", u.apply_lsn));
  }
  std::string p;
  PutLe64(&p, u.write_lsn);
  PutLe64(&p, u.flush_lsn);
  PutLe64(&p, u.apply_lsn);
  return Frame(MessageType::kStandbyStatusUpdate, p);
}

std::string EncodeWalData(uint64_t start_lsn, uint64_t end_lsn, absl::string_view entries) {
  std::string p;
  PutLe64(&p, start_lsn);
  PutLe64(&p, end_lsn);
  p.append(entries.data(), entries.size());
  return Frame(MessageType::kWalData, p);
}

std::string EncodeKeepalive(const Keepalive& k) {
  std::string p;
  PutLe64(&p, k.wal_end);
  PutLe64(&p, k.timestamp_us);
  p.push_back(k.reply_requested ? 1 : 0);
  return Frame(MessageType::kKeepalive, p);
}

std::string EncodeKeepaliveReply(const KeepaliveReply& r) {
  std::string p;
  PutLe64(&p, r.timestamp_us);
  return Frame(MessageType::kKeepaliveReply, p);
}

}  // namespace walrep::aiondb
