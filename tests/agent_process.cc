#include "tests/agent_process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "tests/pg_fixture.h"

namespace walrep::testing {
namespace {

pid_t Spawn(const std::vector<std::string>& args, const std::string& log_path) {
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

absl::StatusOr<int> WaitExit(pid_t pid, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return absl::InternalError("waitpid failed");
    if (absl::Now() > deadline) return absl::DeadlineExceededError("process did not exit");
    absl::SleepFor(absl::Milliseconds(10));
  }
}

}  // namespace

std::string AgentBinaryPath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* ws = std::getenv("TEST_WORKSPACE");
  if (srcdir && ws) return absl::StrCat(srcdir, "/", ws, "/agent/walrep_agent");
  return "agent/walrep_agent";
}

absl::StatusOr<std::unique_ptr<AgentProcess>> AgentProcess::Start(Options options) {
  std::unique_ptr<AgentProcess> p(new AgentProcess());
  p->grpc_port_ = PickFreePort();
  p->metrics_port_ = PickFreePort();
  p->token_ = options.token;
  p->log_path_ = options.data_dir + ".agent.log";
  const bool unix_socket = !options.unix_socket.empty();
  p->target_ = unix_socket ? "unix:" + options.unix_socket
                           : absl::StrCat("127.0.0.1:", p->grpc_port_);
  std::vector<std::string> args = {AgentBinaryPath(), "--data_dir=" + options.data_dir,
                                   absl::StrCat("--grpc_listen=", unix_socket ? "" : "127.0.0.1:",
                                                unix_socket ? p->target_ : std::to_string(p->grpc_port_)),
                                   absl::StrCat("--metrics_listen=127.0.0.1:", p->metrics_port_)};
  for (const auto& f : options.extra_flags) args.push_back(f);
  args.insert(args.begin(), options.wrapper.begin(), options.wrapper.end());
  p->pid_ = Spawn(args, p->log_path_);
  if (p->pid_ < 0) return absl::InternalError("fork failed");
  // Wait for the listening socket first: a gRPC channel that meets a refused connection
  // backs off for seconds before trying again.
  absl::Time deadline = absl::Now() + absl::Seconds(20);
  for (;;) {
    int status;
    if (waitpid(p->pid_, &status, WNOHANG) == p->pid_) {
      p->pid_ = -1;
      return absl::InternalError(absl::StrCat("agent exited during start-up:\n", p->ReadLog()));
    }
    bool up;
    if (unix_socket) {
      int fd = socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un addr{};
      addr.sun_family = AF_UNIX;
      snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", options.unix_socket.c_str());
      up = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
      close(fd);
    } else {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(p->grpc_port_);
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      up = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
      close(fd);
    }
    if (up) break;
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("agent did not listen:\n", p->ReadLog()));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  p->channel_ = grpc::CreateChannel(
      p->target_, options.credentials ? options.credentials : grpc::InsecureChannelCredentials());
  p->stub_ = walrep::v1::ReplicationAgent::NewStub(p->channel_);
  auto ctx = p->Context(absl::Seconds(10));
  ctx->set_wait_for_ready(true);
  walrep::v1::GetProgressResponse resp;
  grpc::Status st = p->stub_->GetProgress(ctx.get(), walrep::v1::GetProgressRequest(), &resp);
  // UNAUTHENTICATED / PERMISSION_DENIED still prove the agent answers (tests of the
  // token and of client certificates use them).
  if (st.ok() || st.error_code() == grpc::StatusCode::UNAUTHENTICATED ||
      st.error_code() == grpc::StatusCode::PERMISSION_DENIED) {
    return p;
  }
  return absl::DeadlineExceededError(absl::StrCat("agent did not answer:\n", p->ReadLog()));
}

AgentProcess::~AgentProcess() { Kill(); }

std::unique_ptr<walrep::v1::ReplicationAgent::Stub> AgentProcess::NewStub(
    std::shared_ptr<grpc::ChannelCredentials> credentials) const {
  return walrep::v1::ReplicationAgent::NewStub(grpc::CreateChannel(target_, credentials));
}

std::string AgentProcess::ReadLog() const {
  std::ifstream in(log_path_);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::unique_ptr<grpc::ClientContext> AgentProcess::Context(absl::Duration timeout) const {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)));
  if (!token_.empty()) ctx->AddMetadata("authorization", "Bearer " + token_);
  return ctx;
}

absl::StatusOr<int> AgentProcess::Signal(int sig, absl::Duration timeout) {
  if (pid_ < 0) return absl::FailedPreconditionError("not running");
  kill(pid_, sig);
  auto status = WaitExit(pid_, timeout);
  if (status.ok()) pid_ = -1;
  return status;
}

void AgentProcess::Kill() {
  if (pid_ < 0) return;
  kill(pid_, SIGKILL);
  (void)WaitExit(pid_, absl::Seconds(10));
  pid_ = -1;
}

absl::StatusOr<std::string> AgentProcess::HttpGet(const std::string& path) const {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(metrics_port_);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return absl::UnavailableError("cannot connect to metrics port");
  }
  std::string req = absl::StrCat("GET ", path, " HTTP/1.1\r\nHost: localhost\r\n\r\n");
  (void)!write(fd, req.data(), req.size());
  std::string out;
  char buf[8192];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) out.append(buf, n);
  close(fd);
  size_t body = out.find("\r\n\r\n");
  if (body == std::string::npos) return absl::DataLossError("malformed HTTP response");
  if (out.find(" 200 ") == std::string::npos) {
    return absl::UnavailableError(out.substr(0, out.find("\r\n")));
  }
  return out.substr(body + 4);
}

absl::StatusOr<std::pair<int, std::string>> RunAgentToExit(const std::vector<std::string>& args,
                                                          absl::Duration timeout) {
  char log_path[] = "/tmp/walrep-agent-run.XXXXXX";
  int fd = mkstemp(log_path);
  close(fd);
  std::vector<std::string> full = {AgentBinaryPath()};
  full.insert(full.end(), args.begin(), args.end());
  pid_t pid = Spawn(full, log_path);
  auto status = WaitExit(pid, timeout);
  if (!status.ok()) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
  std::ifstream in(log_path);
  std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  unlink(log_path);
  if (!status.ok()) return status.status();
  return std::make_pair(*status, out);
}

}  // namespace walrep::testing
