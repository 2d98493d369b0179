// Authentication: the server's AuthenticationRequest loop — cleartext, MD5,
// SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (tls-server-end-point) with libpq's
// channel_binding rules. Establishment is in connection.cc.
#include <algorithm>
#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "wire/backend_error.h"
#include "wire/backend_startup.h"
#include "wire/connection.h"
#include "wire/frontend.h"
#include "wire/md5_auth.h"
#include "wire/scram.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

const char* AuthCodeName(int32_t code) {
  switch (code) {
    case 2:
      return "Kerberos V5";
    case 7:
    case 8:
      return "GSSAPI";
    case 9:
      return "SSPI";
    default:
      return "unknown";
  }
}

absl::Status NoPassword() {
  return absl::PermissionDeniedError(
      "the server requested password authentication, but no password was supplied");
}

}  // namespace

absl::Status PgConnection::Authenticate(const ConnInfo& info) {
  const std::string binding_mode =
      info.Get("channel_binding").empty() ? "prefer" : info.Get("channel_binding");
  std::optional<ScramClient> scram;
  for (;;) {
    ASSIGN_OR_RETURN(BackendMessage msg, ReadRequired("authentication request"));
    if (msg.type == 'E') {
      absl::StatusOr<ErrorFields> fields = DecodeErrorFields(msg.body);
      return Fail(fields.ok() ? fields->ToStatus() : fields.status());
    }
    if (msg.type == 'v') {
      // Only sent when we ask for a newer minor version or _pq_ options; we do neither,
      // but a server saying so is harmless.
      absl::StatusOr<NegotiateProtocolVersion> v = DecodeNegotiateProtocolVersion(msg.body);
      if (!v.ok()) return Fail(v.status());
      continue;
    }
    if (msg.type != 'R') return Unexpected(msg, "authentication");
    absl::StatusOr<AuthenticationRequest> req = DecodeAuthentication(msg.body);
    if (!req.ok()) return Fail(req.status());

    const bool plain_password = req->code == static_cast<int32_t>(AuthCode::kCleartextPassword) ||
                                req->code == static_cast<int32_t>(AuthCode::kMd5Password);
    if (plain_password && binding_mode == "require") {
      return Fail(absl::PermissionDeniedError(
          "channel binding required, but server requested password authentication without "
          "channel binding"));
    }
    switch (static_cast<AuthCode>(req->code)) {
      case AuthCode::kOk:
        if (scram.has_value() && !scram->authenticated()) {
          return Fail(absl::PermissionDeniedError(
              "server accepted authentication before proving it knows the password "
              "(SCRAM exchange incomplete)"));
        }
        if (binding_mode == "require" && auth_method_ != "SCRAM-SHA-256-PLUS") {
          return Fail(absl::PermissionDeniedError(
              "channel binding required, but server authenticated client without channel "
              "binding"));
        }
        return absl::OkStatus();
      case AuthCode::kCleartextPassword: {
        if (info.password().empty()) return Fail(NoPassword());
        auth_method_ = "cleartext";
        ASSIGN_OR_RETURN(std::string m, EncodePasswordMessage(info.password()));
        RETURN_IF_ERROR(Send(m));
        break;
      }
      case AuthCode::kMd5Password: {
        if (info.password().empty()) return Fail(NoPassword());
        auth_method_ = "md5";
        absl::string_view salt(reinterpret_cast<const char*>(req->md5_salt.data()), 4);
        ASSIGN_OR_RETURN(std::string hash, Md5PasswordHash(info.user(), info.password(), salt));
        ASSIGN_OR_RETURN(std::string m, EncodePasswordMessage(hash));
        RETURN_IF_ERROR(Send(m));
        break;
      }
      case AuthCode::kSasl: {
        if (scram.has_value()) return Unexpected(msg, "SASL authentication");
        const auto& mechs = req->sasl_mechanisms;
        auto offered = [&mechs](absl::string_view m) {
          return std::find(mechs.begin(), mechs.end(), m) != mechs.end();
        };
        if (info.password().empty()) return Fail(NoPassword());
        if (is_tls_ && binding_mode != "disable" && offered("SCRAM-SHA-256-PLUS")) {
          absl::StatusOr<std::string> cb = transport_->TlsServerEndPointHash();
          if (!cb.ok()) return Fail(cb.status());
          scram.emplace(info.password(), ScramChannelBinding::kTlsServerEndPoint, *cb);
        } else if (offered("SCRAM-SHA-256")) {
          if (binding_mode == "require") {
            return Fail(absl::PermissionDeniedError(
                "channel binding is required, but server did not offer an authentication "
                "method that supports channel binding"));
          }
          // On TLS, "y" tells the server we could have bound, so a man in the middle
          // that stripped -PLUS from the list is caught by the server.
          scram.emplace(info.password(), is_tls_ && binding_mode != "disable"
                                             ? ScramChannelBinding::kClientSupports
                                             : ScramChannelBinding::kNone);
        } else {
          return Fail(absl::UnimplementedError(
              absl::StrCat("none of the server's SASL authentication mechanisms are supported: ",
                           absl::StrJoin(mechs, ", "))));
        }
        auth_method_ = std::string(scram->MechanismName());
        absl::StatusOr<std::string> first = scram->ClientFirstMessage();
        if (!first.ok()) return Fail(first.status());
        ASSIGN_OR_RETURN(std::string m, EncodeSaslInitialResponse(auth_method_, *first));
        RETURN_IF_ERROR(Send(m));
        break;
      }
      case AuthCode::kSaslContinue: {
        if (!scram.has_value()) return Unexpected(msg, "authentication (no SASL exchange)");
        absl::StatusOr<std::string> final_msg = scram->HandleServerFirst(req->data);
        if (!final_msg.ok()) {
          const absl::Status& st = final_msg.status();
          return Fail(st.code() == absl::StatusCode::kInvalidArgument
                          ? absl::DataLossError(absl::StrCat("SCRAM: ", st.message()))
                          : st);
        }
        ASSIGN_OR_RETURN(std::string m, EncodeSaslResponse(*final_msg));
        RETURN_IF_ERROR(Send(m));
        break;
      }
      case AuthCode::kSaslFinal: {
        if (!scram.has_value()) return Unexpected(msg, "authentication (no SASL exchange)");
        absl::Status st = scram->HandleServerFinal(req->data);
        if (!st.ok()) {
          return Fail(st.code() == absl::StatusCode::kInvalidArgument
                          ? absl::DataLossError(absl::StrCat("SCRAM: ", st.message()))
                          : st);
        }
        break;
      }
      default:
        return Fail(absl::UnimplementedError(
            absl::StrCat("authentication method ", req->code, " (", AuthCodeName(req->code),
                         ") requested by the server is not supported")));
    }
  }
}

}  // namespace walrep
