#include "agent/logging.h"

#include <mutex>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace walrep {
namespace {

// `%*` in the JSON pattern: the message, escaped as a JSON string body, so that server
// error texts with quotes or control bytes still yield one valid JSON object per line.
class JsonMessageFlag : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    for (char c : absl::string_view(msg.payload.data(), msg.payload.size())) {
      switch (c) {
        case '"': dest.append(absl::string_view("\\\"")); break;
        case '\\': dest.append(absl::string_view("\\\\")); break;
        case '\n': dest.append(absl::string_view("\\n")); break;
        case '\t': dest.append(absl::string_view("\\t")); break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            std::string esc = absl::StrFormat("\\u%04x", static_cast<unsigned char>(c));
            dest.append(esc.data(), esc.data() + esc.size());
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessageFlag>();
  }
};

std::mutex g_mu;
bool g_json = false;

std::unique_ptr<spdlog::formatter> MakeFormatter() {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  if (g_json) {
    f->add_flag<JsonMessageFlag>('*').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","logger":"%n","msg":"%*"})");
  } else {
    f->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l [%n] %v");
  }
  return f;
}

}  // namespace

absl::Status SetupLogging(const std::string& format, const std::string& level) {
  spdlog::level::level_enum lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    return absl::InvalidArgumentError(absl::StrCat("unknown --log_level \"", level, "\""));
  }
  std::lock_guard<std::mutex> lock(g_mu);
  g_json = format == "json";
  spdlog::set_level(lvl);
  spdlog::set_formatter(MakeFormatter());
  return absl::OkStatus();
}

std::shared_ptr<spdlog::logger> ModuleLogger(const std::string& module) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto logger = spdlog::get(module);
  if (logger) return logger;
  logger = std::make_shared<spdlog::logger>(module,
                                            std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_level(spdlog::get_level());
  logger->set_formatter(MakeFormatter());
  spdlog::register_logger(logger);
  return logger;
}

}  // namespace walrep
