// Connection establishment as libpq's PQconnectPoll walks it: the host list (shuffled for
// load_balance_hosts=random), each host's addresses (DNS bounded by connect_timeout), one
// connect_timeout per address, requirepeer on Unix sockets, SSL negotiation with the
// allow/prefer fallbacks, then startup (connection_startup.cc) and authentication
// (connection_auth.cc). Messages, queries and COPY are in connection_io.cc.
#include "wire/connection.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "wire/backend_error.h"
#include "wire/connection_settings.h"
#include "wire/frontend.h"
#include "wire/load_balance.h"
#include "wire/peer_cred.h"
#include "wire/status_macros.h"
#include "wire/tls.h"

namespace walrep {

namespace connection_internal {
spdlog::logger& Log();  // connection_io.cc
absl::Status Annotate(const absl::Status& status, absl::string_view prefix);
absl::Status CheckSessionAttrs(PgConnection& conn, absl::string_view wanted);  // _startup.cc
}  // namespace connection_internal

using connection_internal::Annotate;
using connection_internal::CheckSessionAttrs;
using connection_internal::Log;

struct PgConnection::Attempt {
  Endpoint endpoint;
  EndpointAddress address;
  bool tls = false;
  SslMode sslmode = SslMode::kPrefer;
  TcpOptions tcp;
  absl::Time deadline = absl::InfiniteFuture();  // connect_timeout for this address
};

// What stays the same for every host of one Connect.
struct PgConnection::HostPlan {
  const ConnectionOptions* options = nullptr;
  SslMode sslmode = SslMode::kPrefer;
  std::vector<bool> tls_choices;  // TCP only: a Unix socket never negotiates TLS
  absl::Duration timeout = absl::InfiniteDuration();  // per address
  TcpOptions tcp;
  Resolver* resolver = nullptr;
  bool shuffle_addresses = false;                  // load_balance_hosts=random
  std::function<uint64_t(uint64_t)> random_up_to;  // set when shuffling

  absl::Time Deadline() const {
    return timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + timeout;
  }
};

// Every failure is reported; the code is that of the last one that was not merely
// Unavailable (a wrong password says more than the refused hosts around it).
class PgConnection::FailureLog {
 public:
  void Add(const absl::Status& st) {
    Log().debug("connection attempt failed: {}", std::string(st.message()));
    messages_.emplace_back(st.message());
    last_ = st;
    if (st.code() != absl::StatusCode::kUnavailable) specific_ = st;
  }
  absl::Status Result() const {
    if (messages_.empty()) return absl::UnavailableError("no host to connect to");
    if (messages_.size() == 1) return last_;
    absl::Status out(specific_.ok() ? absl::StatusCode::kUnavailable : specific_.code(),
                     absl::StrJoin(messages_, "; "));
    specific_.ForEachPayload(
        [&out](absl::string_view url, const absl::Cord& payload) { out.SetPayload(url, payload); });
    return out;
  }

 private:
  std::vector<std::string> messages_;
  absl::Status last_;
  absl::Status specific_;
};

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::Connect(
    const ConnInfo& conninfo, const ConnectionOptions& options) {
  ConnInfo info = conninfo;
  RETURN_IF_ERROR(info.ApplyDefaults(options.env));
  absl::Status passfile = info.ApplyPassfile(options.env);
  if (!passfile.ok()) Log().warn("ignoring password file: {}", std::string(passfile.message()));
  RETURN_IF_ERROR(info.Validate());
  ASSIGN_OR_RETURN(std::vector<Endpoint> endpoints, info.Endpoints());

  HostPlan plan;
  plan.options = &options;
  ASSIGN_OR_RETURN(plan.sslmode, ParseSslMode(info.sslmode()));
  // allow: plain first, TLS if the server rejects that; prefer: the reverse.
  switch (plan.sslmode) {
    case SslMode::kDisable:
      plan.tls_choices = {false};
      break;
    case SslMode::kAllow:
      plan.tls_choices = {false, true};
      break;
    case SslMode::kPrefer:
      plan.tls_choices = {true, false};
      break;
    default:
      plan.tls_choices = {true};
      break;
  }
  plan.timeout = ConnectTimeoutOf(info, options.connect_timeout);
  if (plan.timeout <= absl::ZeroDuration()) plan.timeout = absl::InfiniteDuration();
  plan.tcp = TcpOptionsOf(info);
  plan.resolver = options.resolver != nullptr ? options.resolver : &Resolver::Default();

  // load_balance_hosts=random: the host list once per Connect, each host's addresses
  // whenever it is visited (libpq 16).
  plan.shuffle_addresses = info.Get("load_balance_hosts") == "random";
  if (plan.shuffle_addresses) {
    const uint64_t seed = options.load_balance_seed.has_value()
                              ? *options.load_balance_seed
                              : absl::Uniform<uint64_t>(absl::BitGen());
    auto gen = std::make_shared<std::mt19937_64>(seed);
    plan.random_up_to = [gen](uint64_t max) {
      return absl::Uniform<uint64_t>(absl::IntervalClosed, *gen, 0, max);
    };
    ShuffleLikeLibpq(endpoints, plan.random_up_to);
  }

  FailureLog log;
  // target_session_attrs as libpq applies it: each host in turn must match;
  // prefer-standby takes a standby if any host is one, else any host (a second pass).
  const std::string attrs = info.Get("target_session_attrs");
  std::vector<std::string> passes = {attrs};
  if (attrs == "prefer-standby") passes.push_back("any");
  for (const std::string& wanted : passes) {
    for (const Endpoint& endpoint : endpoints) {
      ASSIGN_OR_RETURN(std::unique_ptr<PgConnection> conn,
                       TryHost(info, endpoint, plan, wanted, &log));
      if (conn == nullptr) continue;
      conn->redacted_conninfo_ = info.Redacted();
      Log().debug("connected to {} ({}, auth {}, server {})", conn->endpoint_,
                  conn->is_tls_ ? "TLS" : "no TLS", conn->auth_method_,
                  conn->parameter("server_version"));
      return conn;
    }
  }
  return log.Result();
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::TryHost(const ConnInfo& info,
                                                                    const Endpoint& endpoint,
                                                                    const HostPlan& plan,
                                                                    absl::string_view wanted,
                                                                    FailureLog* log) {
  // The lookup and the first address share one connect_timeout; each further address
  // gets its own, as libpq restarts the timer whenever it moves to another address.
  const absl::Time first_deadline = plan.Deadline();
  absl::StatusOr<std::vector<EndpointAddress>> addresses =
      Transport::Resolve(endpoint.host, endpoint.hostaddr, endpoint.port, *plan.resolver,
                         first_deadline, plan.options->cancel);
  if (!addresses.ok()) {
    // Local configuration errors repeat identically for every endpoint; a cancellation
    // ends the whole Connect.
    if (addresses.status().code() == absl::StatusCode::kInvalidArgument ||
        addresses.status().code() == absl::StatusCode::kCancelled) {
      return addresses.status();
    }
    log->Add(addresses.status());
    return nullptr;
  }
  if (plan.shuffle_addresses) ShuffleLikeLibpq(*addresses, plan.random_up_to);
  for (size_t i = 0; i < addresses->size(); ++i) {
    const EndpointAddress& address = (*addresses)[i];
    const absl::Time deadline = i == 0 ? first_deadline : plan.Deadline();
    const std::vector<bool> tls_choices =
        address.is_unix() ? std::vector<bool>{false} : plan.tls_choices;
    for (bool tls : tls_choices) {
      AttemptOutcome outcome;
      Attempt attempt{endpoint, address, tls, plan.sslmode, plan.tcp, deadline};
      absl::StatusOr<std::unique_ptr<PgConnection>> conn =
          TryAddress(info, attempt, *plan.options, &outcome);
      if (conn.ok()) {
        absl::Status match = CheckSessionAttrs(**conn, wanted);
        if (!match.ok()) {
          (*conn)->Close();
          log->Add(match);
          return nullptr;  // libpq: the next host, not this one's other addresses
        }
        (*conn)->connect_deadline_ = absl::InfiniteFuture();
        return conn;
      }
      const absl::Status& st = conn.status();
      if (st.code() == absl::StatusCode::kInvalidArgument ||
          st.code() == absl::StatusCode::kCancelled || outcome.fatal) {
        return st;
      }
      log->Add(st);
      // A refused TCP connection will be refused without TLS too; after 'N' plain text
      // was already tried on the same connection.
      if (!outcome.tcp_connected || outcome.server_refused_tls) break;
    }
  }
  return nullptr;
}

absl::StatusOr<std::unique_ptr<PgConnection>> PgConnection::TryAddress(
    const ConnInfo& info, const Attempt& attempt, const ConnectionOptions& options,
    AttemptOutcome* outcome) {
  const Endpoint& ep = attempt.endpoint;
  const std::string name = ep.host.empty() ? ep.hostaddr : ep.host;
  // Transport's own messages already name the server; the prefix matches their form.
  ASSIGN_OR_RETURN(Transport transport,
                   Transport::ConnectAddress(attempt.address, name, ep.port, attempt.tcp,
                                             attempt.deadline, options.cancel));
  outcome->tcp_connected = true;
  const std::string prefix =
      transport.is_unix_socket()
          ? absl::StrCat("connection to server on socket \"", attempt.address.text, "\" failed: ")
          : absl::StrCat("connection to server at \"", name, "\" (", transport.peer_address(),
                         "), port ", ep.port, " failed: ");
  if (transport.is_unix_socket()) {
    // libpq checks requirepeer before sending anything and gives up entirely on a
    // mismatch: the socket may belong to an impostor.
    absl::Status peer = CheckRequirePeer(transport.native_handle(), info.Get("requirepeer"));
    if (!peer.ok()) {
      outcome->fatal = true;
      return Annotate(peer, prefix);
    }
  }
  std::unique_ptr<PgConnection> conn(new PgConnection(std::move(transport), options));
  conn->endpoint_ = absl::StrCat(name, ":", ep.port);
  conn->connect_deadline_ = attempt.deadline;
  conn->address_ = attempt.address;
  conn->host_ = name;
  conn->port_ = ep.port;
  conn->tls_options_ = TlsOptionsOf(info, attempt.sslmode);
  conn->tcp_options_ = attempt.tcp;

  auto negotiate = [&]() -> absl::Status {
    if (!attempt.tls) return absl::OkStatus();
    const absl::Time deadline = conn->IoDeadline();
    RETURN_IF_ERROR(conn->transport_->WriteAll(EncodeSslRequest(), deadline));
    uint8_t answer = 0;
    // Exactly one byte: anything after 'S' must be the TLS handshake (StartTls checks).
    RETURN_IF_ERROR(conn->transport_->Read(absl::MakeSpan(&answer, 1), deadline).status());
    if (answer == 'S') {
      RETURN_IF_ERROR(
          conn->transport_->StartTls(TlsOptionsOf(info, attempt.sslmode), conn->IoDeadline()));
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
      conn->buf_.Append("E");
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

}  // namespace walrep
