// Replication result parsers over result sets built from arbitrary bytes. The first byte
// picks the parser; the rest is a stream of 'T' (RowDescription) and 'D' (DataRow)
// messages, or, for the history-content parser, the file content itself.
#include <cstdint>
#include <cstdlib>

#include "wire/backend_query.h"
#include "wire/framing.h"
#include "wire/replication_results.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t which = data[0] % 9;
  absl::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  if (which == 8) {
    auto entries = walrep::ParseTimelineHistoryContent(rest, data[0] >> 4);
    if (entries.ok()) {
      for (size_t i = 1; i < entries->size(); ++i) {
        if ((*entries)[i].parent <= (*entries)[i - 1].parent ||
            (*entries)[i].switchpoint < (*entries)[i - 1].switchpoint) {
          std::abort();
        }
      }
    }
    return 0;
  }
  walrep::ResultSet rs;
  while (!rest.empty()) {
    auto frame = walrep::DecodeFrame(rest);
    if (!frame.ok()) break;
    if (frame->type == 'T') {
      auto rd = walrep::DecodeRowDescription(frame->body);
      if (rd.ok()) rs.description = std::move(*rd);
    } else if (frame->type == 'D') {
      auto row = walrep::DecodeDataRow(frame->body);
      if (row.ok()) rs.rows.push_back(std::move(*row));
    }
    rest.remove_prefix(frame->consumed);
  }
  switch (which) {
    case 0:
      (void)walrep::ParseIdentifySystem(rs);
      break;
    case 1: {
      auto h = walrep::ParseTimelineHistory(rs);
      // A name that passed must be a plain file name.
      if (h.ok() && (h->filename.find('/') != std::string::npos || h->filename.size() != 16)) {
        std::abort();
      }
      break;
    }
    case 2:
      (void)walrep::ParseReadReplicationSlot(rs);
      break;
    case 3:
      (void)walrep::ParseCreateReplicationSlot(rs);
      break;
    case 4:
      (void)walrep::ParseEndOfTimeline(rs);
      break;
    case 5:
      (void)walrep::ParseBaseBackupStart(rs);
      break;
    case 6:
      (void)walrep::ParseBaseBackupEnd(rs);
      break;
    case 7:
      (void)walrep::ParseBaseBackupTablespaces(rs);
      break;
  }
  return 0;
}
