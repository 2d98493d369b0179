// Connection establishment: endpoints, SSL negotiation, startup and authentication.
// Messages, queries and COPY are in connection_io.cc.
#include "wire/connection.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "wire/backend_error.h"
#include "wire/backend_startup.h"
#include "wire/frontend.h"
#include "wire/md5_auth.h"
#include "wire/scram.h"
#include "wire/status_macros.h"
#include "wire/tls.h"

namespace walrep {

namespace connection_internal {
spdlog::logger& Log();  // connection_io.cc
absl::Status Annotate(const absl::Status& status, absl::string_view prefix);
}  // namespace connection_internal

using connection_internal::Annotate;
using connection_internal::Log;

struct PgConnection::Attempt {
  Endpoint endpoint;
  bool tls = false;
  SslMode sslmode = SslMode::kPrefer;
};

namespace {

// libpq: connect_timeout is whole seconds, 0 or negative means none, 1 is raised to 2
// (a one-second timeout could expire before a slow DNS answer or SYN retransmit).
absl::Duration ConnectTimeout(const ConnInfo& info, absl::Duration fallback) {
  int seconds = 0;
  if (info.connect_timeout().empty() || !absl::SimpleAtoi(info.connect_timeout(), &seconds)) {
    return fallback;
  }
  if (seconds <= 0) return absl::InfiniteDuration();
  return absl::Seconds(std::max(seconds, 2));
}

ConnectOptions TcpOptions(const ConnInfo& info, absl::Duration connect_timeout) {
  ConnectOptions o;
  o.connect_timeout = connect_timeout;
  auto int_of = [&info](absl::string_view keyword, int fallback) {
    int v = fallback;
    if (!absl::SimpleAtoi(info.Get(keyword), &v)) v = fallback;
    return v;
  };
  o.keepalives = int_of("keepalives", 1) != 0;
  o.keepalives_idle = absl::Seconds(int_of("keepalives_idle", 0));
  o.keepalives_interval = absl::Seconds(int_of("keepalives_interval", 0));
  o.keepalives_count = int_of("keepalives_count", 0);
  return o;
}

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

// The value of a one-row SHOW.
absl::StatusOr<std::string> ShowSetting(PgConnection& conn, absl::string_view name) {
  ASSIGN_OR_RETURN(std::vector<ResultSet> rs, conn.Query(absl::StrCat("SHOW ", name)));
  if (rs.size() != 1 || rs[0].rows.size() != 1 || rs[0].rows[0].values.size() != 1 ||
      !rs[0].rows[0].values[0].has_value()) {
    return absl::DataLossError(absl::StrCat("SHOW ", name, " returned no value"));
  }
  return *rs[0].rows[0].values[0];
}

// Whether a connected server is what target_session_attrs asks for, decided as libpq
// decides it: from the in_hot_standby and default_transaction_read_only parameters that
// PostgreSQL 14+ reports at startup, else from SHOW transaction_read_only (which a
// replication connection accepts, unlike pg_is_in_recovery()). OK when it matches;
// otherwise Unavailable with libpq's reason, so the next host is tried.
absl::Status CheckSessionAttrs(PgConnection& conn, absl::string_view wanted) {
  if (wanted.empty() || wanted == "any") return absl::OkStatus();
  bool hot_standby = false;
  bool read_only = false;
  const std::string reported = conn.parameter("in_hot_standby");
  if (!reported.empty()) {
    hot_standby = reported == "on";
    read_only = hot_standby || conn.parameter("default_transaction_read_only") == "on";
  } else {
    ASSIGN_OR_RETURN(std::string ro, ShowSetting(conn, "transaction_read_only"));
    read_only = ro == "on";
    hot_standby = read_only;  // before 14 a standby is told apart by being read-only
  }
  const char* reason = nullptr;
  if (wanted == "read-write" && read_only) reason = "session is read-only";
  if (wanted == "read-only" && !read_only) reason = "session is not read-only";
  if (wanted == "primary" && hot_standby) reason = "server is in hot standby mode";
  if ((wanted == "standby" || wanted == "prefer-standby") && !hot_standby) {
    reason = "server is not in hot standby mode";
  }
  if (reason == nullptr) return absl::OkStatus();
  return absl::UnavailableError(absl::StrCat("connection to server at ", conn.endpoint(),
                                             " does not match target_session_attrs=", wanted,
                                             ": ", reason));
}

}  // namespace

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::Connect(
    const ConnInfo& conninfo, const ConnectionOptions& options) {
  ConnInfo info = conninfo;
  RETURN_IF_ERROR(info.ApplyDefaults(options.env));
  absl::Status passfile = info.ApplyPassfile(options.env);
  if (!passfile.ok()) Log().warn("ignoring password file: {}", std::string(passfile.message()));
  RETURN_IF_ERROR(info.Validate());
  ASSIGN_OR_RETURN(std::vector<Endpoint> endpoints, info.Endpoints());
  ASSIGN_OR_RETURN(SslMode sslmode, ParseSslMode(info.sslmode()));

  // allow: plain first, TLS if the server rejects that; prefer: the reverse.
  std::vector<bool> tls_choices;
  switch (sslmode) {
    case SslMode::kDisable:
      tls_choices = {false};
      break;
    case SslMode::kAllow:
      tls_choices = {false, true};
      break;
    case SslMode::kPrefer:
      tls_choices = {true, false};
      break;
    default:
      tls_choices = {true};
      break;
  }

  std::vector<std::string> failures;
  absl::StatusCode code = absl::StatusCode::kUnavailable;
  absl::Status specific;  // the last failure that was not just Unavailable
  absl::Status last;
  // target_session_attrs as libpq applies it: each host in turn must match;
  // prefer-standby takes a standby if any host is one, else any host (a second pass).
  const std::string attrs = info.Get("target_session_attrs");
  std::vector<std::string> passes = {attrs};
  if (attrs == "prefer-standby") passes.push_back("any");
  for (const std::string& wanted : passes) {
    for (const Endpoint& endpoint : endpoints) {
      for (bool tls : tls_choices) {
        AttemptOutcome outcome;
        absl::StatusOr<std::unique_ptr<PgConnection>> conn =
            TryEndpoint(info, Attempt{endpoint, tls, sslmode}, options, &outcome);
        if (conn.ok()) {
          absl::Status match = CheckSessionAttrs(**conn, wanted);
          if (!match.ok()) {
            (*conn)->Close();
            Log().debug("{}", std::string(match.message()));
            failures.emplace_back(match.message());
            last = match;
            break;  // the same server over TLS or not: try the next host
          }
          (*conn)->redacted_conninfo_ = info.Redacted();
          Log().debug("connected to {} ({}, auth {}, server {})", (*conn)->endpoint_,
                     (*conn)->is_tls_ ? "TLS" : "no TLS", (*conn)->auth_method_,
                     (*conn)->parameter("server_version"));
          return conn;
        }
        const absl::Status& st = conn.status();
        last = st;
        // Local configuration errors repeat identically for every endpoint.
        if (st.code() == absl::StatusCode::kInvalidArgument) return st;
        Log().debug("connection attempt failed: {}", std::string(st.message()));
        failures.emplace_back(st.message());
        if (st.code() != absl::StatusCode::kUnavailable) {
          code = st.code();
          specific = st;
        }
        // A refused TCP connection will be refused without TLS too; after 'N' plain text
        // was already tried on the same connection.
        if (!outcome.tcp_connected || outcome.server_refused_tls) break;
      }
    }
  }
  if (failures.size() == 1) return last;
  absl::Status out(code, absl::StrJoin(failures, "; "));
  if (!specific.ok()) {
    specific.ForEachPayload(
        [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
  }
  return out;
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::TryEndpoint(
    const ConnInfo& info, const Attempt& attempt, const ConnectionOptions& options,
    AttemptOutcome* outcome) {
  const Endpoint& ep = attempt.endpoint;
  const std::string name = ep.host.empty() ? ep.hostaddr : ep.host;
  // Transport's own messages already name the server; the prefix matches their form.
  ASSIGN_OR_RETURN(
      Transport transport,
      Transport::Connect(ep.host, ep.hostaddr, ep.port,
                         TcpOptions(info, ConnectTimeout(info, options.connect_timeout))));
  outcome->tcp_connected = true;
  const std::string prefix =
      absl::StrCat("connection to server at \"", name, "\" (", transport.peer_address(), "), port ",
                   ep.port, " failed: ");
  std::unique_ptr<PgConnection> conn(new PgConnection(std::move(transport), options));
  conn->endpoint_ = absl::StrCat(name, ":", ep.port);

  auto negotiate = [&]() -> absl::Status {
    if (!attempt.tls) return absl::OkStatus();
    const absl::Time deadline = absl::Now() + options.io_timeout;
    RETURN_IF_ERROR(conn->transport_->WriteAll(EncodeSslRequest(), deadline));
    uint8_t answer = 0;
    // Exactly one byte: anything after 'S' must be the TLS handshake (StartTls checks).
    RETURN_IF_ERROR(conn->transport_->Read(absl::MakeSpan(&answer, 1), deadline).status());
    if (answer == 'S') {
      TlsOptions tls;
      tls.sslmode = attempt.sslmode;
      tls.root_cert = info.sslrootcert();
      tls.cert = info.sslcert();
      tls.key = info.sslkey();
      tls.key_password = info.Get("sslpassword");
      RETURN_IF_ERROR(conn->transport_->StartTls(tls, deadline));
      conn->is_tls_ = true;
      return absl::OkStatus();
    }
    if (answer == 'N') {
      if (attempt.sslmode >= SslMode::kRequire) {
        return absl::FailedPreconditionError(
            absl::StrCat("server does not support SSL, but SSL was required (sslmode=",
                         SslModeName(attempt.sslmode), ")"));
      }
      outcome->server_refused_tls = true;
      return absl::OkStatus();
    }
    if (answer == 'E') {
      // Old servers (and ones out of connection slots) answer with an ErrorResponse.
      conn->buf_.push_back('E');
      ASSIGN_OR_RETURN(BackendMessage msg, conn->ReadRequired("an error message"));
      if (msg.type != 'E') return conn->Unexpected(msg, "SSL negotiation");
      ASSIGN_OR_RETURN(ErrorFields fields, DecodeErrorFields(msg.body));
      return fields.ToStatus();
    }
    return absl::DataLossError(absl::StrCat("received invalid response to SSL negotiation: ",
                                            DescribeMessageType(static_cast<char>(answer))));
  };
  absl::Status st = negotiate();
  if (st.ok()) st = conn->Startup(info, options);
  if (!st.ok()) {
    conn->transport_->Close();
    return Annotate(st, prefix);
  }
  return conn;
}

absl::Status PgConnection::Startup(const ConnInfo& info, const ConnectionOptions& options) {
  if (info.user().empty()) {
    return absl::InvalidArgumentError("no user name given and none could be determined");
  }
  StartupParameters params = {{"user", info.user()}};
  if (!info.dbname().empty()) params.emplace_back("database", info.dbname());
  if (!info.replication().empty()) {
    params.emplace_back("replication", info.replication());
  } else if (options.replication) {
    params.emplace_back("replication", "true");
  }
  std::string app = info.application_name();
  if (app.empty()) app = info.Get("fallback_application_name");
  if (app.empty()) app = options.default_application_name;
  if (!app.empty()) params.emplace_back("application_name", app);
  if (!info.Get("options").empty()) params.emplace_back("options", info.Get("options"));
  if (!info.Get("client_encoding").empty()) {
    params.emplace_back("client_encoding", info.Get("client_encoding"));
  }
  ASSIGN_OR_RETURN(std::string packet, EncodeStartupMessage(params));
  RETURN_IF_ERROR(Send(packet));
  RETURN_IF_ERROR(Authenticate(info));

  for (;;) {
    ASSIGN_OR_RETURN(BackendMessage msg, ReadRequired("ReadyForQuery"));
    switch (msg.type) {
      case 'K': {
        absl::StatusOr<BackendKeyData> key = DecodeBackendKeyData(msg.body);
        if (!key.ok()) return Fail(key.status());
        backend_pid_ = key->process_id;
        cancel_key_ = std::move(key->secret_key);
        break;
      }
      case 'Z': {
        absl::StatusOr<TransactionStatus> ts = DecodeReadyForQuery(msg.body);
        if (!ts.ok()) return Fail(ts.status());
        ready_ = true;
        return absl::OkStatus();
      }
      case 'E': {
        absl::StatusOr<ErrorFields> fields = DecodeErrorFields(msg.body);
        return Fail(fields.ok() ? fields->ToStatus() : fields.status());
      }
      default:
        return Unexpected(msg, "startup");
    }
  }
}

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
