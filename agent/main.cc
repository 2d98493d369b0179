// walrep_agent: the daemon. Serves walrep.v1.ReplicationAgent, gRPC reflection and health
// on --grpc_listen and Prometheus metrics on --metrics_listen; SIGTERM/SIGINT stop it
// cleanly (streams closed with CopyDone + Terminate) with exit status 0.
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>
#include <string>
#include <thread>

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "agent/agent.h"
#include "agent/auth_token.h"
#include "agent/config.h"
#include "agent/grpc_credentials.h"
#include "agent/http_server.h"
#include "agent/logging.h"
#include "agent/metrics.h"
#include "agent/readiness.h"
#include "agent/service.h"

ABSL_FLAG(std::string, data_dir, "", "Agent data directory (required): identity, state, WAL.");
ABSL_FLAG(std::string, grpc_listen, "127.0.0.1:50051", "host:port of the gRPC control API.");
ABSL_FLAG(std::string, metrics_listen, "127.0.0.1:9188",
          "host:port serving Prometheus text at /metrics (empty disables it).");
ABSL_FLAG(std::string, engine, "none",
          "Apply engine: none (a WAL archive; every record read back and verified) or "
          "postgres (a supervised local hot standby in <data_dir>/pgdata that replays the "
          "streamed WAL, serves reads and becomes a writable primary on Promote).");
ABSL_FLAG(std::string, pg_bindir, "",
          "--engine=postgres: directory of postgres and pg_ctl (default: the newest "
          "/usr/lib/postgresql/*/bin); its major version must be the primary's.");
ABSL_FLAG(int32_t, pg_port, 5432, "--engine=postgres: the port the standby serves clients on.");
ABSL_FLAG(std::string, pg_listen, "localhost",
          "--engine=postgres: listen_addresses of the standby.");
ABSL_FLAG(std::string, pg_os_user, "",
          "--engine=postgres: the OS user postgres runs as; required when the agent runs "
          "as root (postgres refuses root).");
ABSL_FLAG(std::string, auth_token_file, "",
          "File holding a bearer token (mode 0600; re-read when it changes); when set every "
          "RPC needs 'authorization: Bearer <token>'.");
ABSL_FLAG(std::string, grpc_tls_cert, "",
          "PEM certificate (chain) for gRPC over TLS; reloaded when the file changes. "
          "Required, with --grpc_tls_key, for a non-loopback --grpc_listen.");
ABSL_FLAG(std::string, grpc_tls_key, "", "PEM private key for --grpc_tls_cert.");
ABSL_FLAG(int32_t, grpc_tls_reload_seconds, 10,
          "How often --grpc_tls_cert, --grpc_tls_key and --grpc_client_ca are checked for "
          "changes (at least 1).");
ABSL_FLAG(bool, metrics_tls, false,
          "Serve /metrics, /healthz and /readyz over HTTPS (TLS 1.2+) with --grpc_tls_cert and "
          "--grpc_tls_key (read at start).");
ABSL_FLAG(std::string, grpc_client_ca, "",
          "PEM CA bundle: clients must present a certificate it signed (mTLS).");
ABSL_FLAG(std::vector<std::string>, grpc_allowed_clients, {},
          "Comma-separated client certificate subject CNs / DNS SANs allowed to call "
          "(needs --grpc_client_ca); empty allows any certificate the CA signed.");

ABSL_FLAG(std::string, log_format, "text", "Log format: text or json.");
ABSL_FLAG(std::string, log_level, "info", "Log level: trace, debug, info, warn, error.");

namespace walrep {
namespace {

constexpr const char* kServiceName = "walrep.v1.ReplicationAgent";

int Fail(const absl::Status& status) {
  std::fprintf(stderr, "walrep_agent: %s\n", std::string(status.message()).c_str());
  return 2;
}

int Run() {
  // The system Abseil is built without NDEBUG, so every Mutex acquisition would also
  // update a process-wide lock graph (one global lock) to find lock-order cycles: a debug
  // aid that the unit tests keep, and that the daemon's per-record and per-commit paths
  // do not pay for.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  AgentConfig config;
  config.data_dir = absl::GetFlag(FLAGS_data_dir);
  config.grpc_listen = absl::GetFlag(FLAGS_grpc_listen);
  config.metrics_listen = absl::GetFlag(FLAGS_metrics_listen);
  config.auth_token_file = absl::GetFlag(FLAGS_auth_token_file);
  config.grpc_tls_cert = absl::GetFlag(FLAGS_grpc_tls_cert);
  config.grpc_tls_key = absl::GetFlag(FLAGS_grpc_tls_key);
  config.grpc_client_ca = absl::GetFlag(FLAGS_grpc_client_ca);
  config.grpc_allowed_clients = absl::GetFlag(FLAGS_grpc_allowed_clients);
  config.log_format = absl::GetFlag(FLAGS_log_format);
  config.log_level = absl::GetFlag(FLAGS_log_level);
  auto engine = ParseEngine(absl::GetFlag(FLAGS_engine));
  if (!engine.ok()) return Fail(engine.status());
  config.engine = *engine;
  config.pg_bindir = absl::GetFlag(FLAGS_pg_bindir);
  config.pg_port = absl::GetFlag(FLAGS_pg_port);
  config.pg_listen = absl::GetFlag(FLAGS_pg_listen);
  config.pg_os_user = absl::GetFlag(FLAGS_pg_os_user);
  if (absl::Status st = ValidateConfig(&config); !st.ok()) return Fail(st);
  if (absl::Status st = SetupLogging(config.log_format, config.log_level); !st.ok()) return Fail(st);
  std::unique_ptr<AuthTokenFile> token;
  if (!config.auth_token_file.empty()) {
    auto t = AuthTokenFile::Open(config.auth_token_file);
    if (!t.ok()) return Fail(t.status());
    token = *std::move(t);
  }
  const int reload_seconds = absl::GetFlag(FLAGS_grpc_tls_reload_seconds);
  if (reload_seconds < 1) {
    return Fail(absl::InvalidArgumentError("--grpc_tls_reload_seconds must be at least 1"));
  }
  auto credentials = MakeServerCredentials(config, static_cast<unsigned>(reload_seconds));
  if (!credentials.ok()) return Fail(credentials.status());
  auto log = ModuleLogger("agent");

  // Signals are taken synchronously by this thread; every other thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto agent = Agent::Open(config);
  if (!agent.ok()) return Fail(agent.status());

  HttpServer metrics([&agent](const std::string& path, const std::string& query) {
    if (path == "/metrics") return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8",
                                                RenderPrometheus((*agent)->GetProgress())};
    if (path == "/healthz") {
      bool ok = (*agent)->healthy();
      return HttpResponse{ok ? 200 : 503, "text/plain", ok ? "ok\n" : "storage failure\n"};
    }
    if (path == "/readyz") {
      // Ready = doing its job (readiness.h). Liveness (/healthz) stays 200 while a
      // replica backs off; readiness does not.
      return Readiness((*agent)->GetProgress(), (*agent)->healthy(), query);
    }
    return HttpResponse{404, "text/plain", "not found; try /metrics, /healthz or /readyz\n"};
  });
  const bool metrics_tls = absl::GetFlag(FLAGS_metrics_tls);
  if (metrics_tls && config.grpc_tls_cert.empty()) {
    return Fail(absl::InvalidArgumentError("--metrics_tls needs --grpc_tls_cert and --grpc_tls_key"));
  }
  if (!config.metrics_listen.empty()) {
    HttpServerOptions http;
    http.listen = config.metrics_listen;
    if (metrics_tls) {
      http.tls_cert = config.grpc_tls_cert;
      http.tls_key = config.grpc_tls_key;
    }
    if (absl::Status st = metrics.Start(http); !st.ok()) return Fail(st);
  }

  ReplicationAgentService service(agent->get(), token.get(), config.grpc_allowed_clients);
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  int bound_port = 0;
  builder.AddListeningPort(config.grpc_listen, *credentials, &bound_port);
  builder.RegisterService(&service);
  const bool unix_socket = IsUnixListenAddress(config.grpc_listen);
  // The socket's mode is its only access control: created 0600 (umask set around the
  // bind, so there is no window with a wider mode).
  mode_t old_umask = unix_socket ? umask(0177) : 0;
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (unix_socket) umask(old_umask);
  if (server == nullptr || (bound_port == 0 && !unix_socket)) {
    return Fail(absl::UnavailableError(
        absl::StrCat("cannot listen for gRPC on ", config.grpc_listen,
                     " (address in use or not local?)")));
  }
  auto* health = server->GetHealthCheckService();
  health->SetServingStatus("", true);
  health->SetServingStatus(kServiceName, true);
  log->info("serving {} on {} (port {}{}), metrics on {}{}{}", kServiceName, config.grpc_listen,
            bound_port,
            config.grpc_tls_cert.empty() ? ", plaintext"
            : config.grpc_client_ca.empty() ? ", TLS" : ", mTLS",
            config.metrics_listen.empty() ? "(disabled)" : config.metrics_listen,
            metrics_tls ? " (HTTPS)" : "", token ? ", bearer token required" : "");

  // Health follows the agent: NOT_SERVING after a sticky storage failure. Polled rather
  // than woken on every change: changes come with every WAL flush, and waking a thread
  // per flush would take CPU from the primary's backends on a small machine.
  std::atomic<bool> stopping{false};
  std::thread health_thread([&] {
    bool serving = true;
    while (!stopping.load()) {
      absl::SleepFor(absl::Milliseconds(100));
      bool now = (*agent)->healthy();
      if (now != serving) {
        serving = now;
        health->SetServingStatus("", now);
        health->SetServingStatus(kServiceName, now);
      }
    }
  });

  int sig = 0;
  sigwait(&signals, &sig);
  log->info("received {}, shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
  stopping.store(true);
  (*agent)->Shutdown();  // ends streams and watchers first, so Shutdown below is quick
  health_thread.join();
  health->Shutdown();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(300));
  metrics.Stop();
  agent->reset();
  log->info("stopped");
  spdlog::shutdown();
  return 0;
}

}  // namespace
}  // namespace walrep

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "walrep_agent --data_dir=DIR [--grpc_listen=HOST:PORT] [--metrics_listen=HOST:PORT] "
      "[--engine=none|postgres] [--auth_token_file=FILE] [--grpc_tls_cert=PEM --grpc_tls_key=PEM "
      "[--grpc_client_ca=PEM [--grpc_allowed_clients=NAME,...]]]");
  absl::ParseCommandLine(argc, argv);
  return walrep::Run();
}
