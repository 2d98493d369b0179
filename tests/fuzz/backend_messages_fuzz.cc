// Every backend message decoder over arbitrary bodies; the first byte is the message type
// and picks the decoder, as the connection's dispatch does.
#include <cstdint>
#include <cstdlib>

#include "wire/backend_error.h"
#include "wire/backend_query.h"
#include "wire/backend_startup.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const char type = static_cast<char>(data[0]);
  absl::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (type) {
    case 'R': {
      auto a = walrep::DecodeAuthentication(body);
      if (a.ok() && a->sasl_mechanisms.size() > walrep::kMaxSaslMechanisms) std::abort();
      break;
    }
    case 'S':
      (void)walrep::DecodeParameterStatus(body);
      break;
    case 'K':
      (void)walrep::DecodeBackendKeyData(body);
      break;
    case 'Z':
      (void)walrep::DecodeReadyForQuery(body);
      break;
    case 'v':
      (void)walrep::DecodeNegotiateProtocolVersion(body);
      break;
    case 'T': {
      auto rd = walrep::DecodeRowDescription(body);
      if (rd.ok() && rd->fields.size() > walrep::kMaxColumns) std::abort();
      break;
    }
    case 'D': {
      auto row = walrep::DecodeDataRow(body, 8);
      if (row.ok() && row->values.size() > 8) std::abort();
      break;
    }
    case 'C':
      (void)walrep::DecodeCommandComplete(body);
      break;
    case 'I':
      (void)walrep::DecodeEmptyQueryResponse(body);
      break;
    case 'G':
    case 'H':
    case 'W':
      (void)walrep::DecodeCopyResponse(body);
      break;
    case 'E':
    case 'N': {
      auto e = walrep::DecodeErrorFields(body);
      if (e.ok()) {
        absl::Status s = e->ToStatus();
        if (s.ok()) std::abort();
        (void)walrep::SqlStateOf(s);
      }
      break;
    }
    default:
      break;
  }
  return 0;
}
