#include "backup/json_reader.h"

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace walrep {
namespace {

// Flattens events into one line, e.g. "{ k:n1 k:[ s:a ] }".
class Flatten : public JsonHandler {
 public:
  absl::Status OnObjectStart() override { return Add("{"); }
  absl::Status OnObjectEnd() override { return Add("}"); }
  absl::Status OnArrayStart() override { return Add("["); }
  absl::Status OnArrayEnd() override { return Add("]"); }
  absl::Status OnKey(std::string key) override { return Add(absl::StrCat("k:", key)); }
  absl::Status OnScalar(JsonScalar kind, std::string text) override {
    const char* tag = kind == JsonScalar::kString   ? "s:"
                      : kind == JsonScalar::kNumber ? "n:"
                      : kind == JsonScalar::kTrue   ? "true"
                      : kind == JsonScalar::kFalse  ? "false"
                                                    : "null";
    return Add(absl::StrCat(tag, text));
  }
  absl::Status Add(std::string s) {
    if (!out.empty()) out += " ";
    out += s;
    return absl::OkStatus();
  }
  std::string out;
};

std::string Events(absl::string_view json) {
  Flatten f;
  absl::Status s = ParseJson(json, &f);
  return s.ok() ? f.out : "ERROR";
}

TEST(JsonReaderTest, Accepts) {
  EXPECT_EQ(Events(" { \"a\" : [1, -0.5e+3, true, false, null, \"x\"], \"b\": {} }\n"),
            "{ k:a [ n:1 n:-0.5e+3 true false null s:x ] k:b { } }");
  EXPECT_EQ(Events("[]"), "[ ]");
  EXPECT_EQ(Events("\"\\\"\\\\\\/\\b\\f\\n\\r\\t\""), "s:\"\\/\b\f\n\r\t");
  EXPECT_EQ(Events("\"\\u00e9\\u20AC\\ud83d\\ude00\""), "s:\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
  EXPECT_EQ(Events("\"\xC3\xA9\xF0\x9F\x98\x80\""), "s:\xC3\xA9\xF0\x9F\x98\x80");
  EXPECT_EQ(Events("0"), "n:0");
}

TEST(JsonReaderTest, RejectsMalformed) {
  for (absl::string_view bad : {"",
                                "{",
                                "[1,]",
                                "{\"a\":1,}",
                                "{\"a\" 1}",
                                "{a:1}",
                                "[01]",
                                "[1.]",
                                "[.5]",
                                "[1e]",
                                "[-]",
                                "[+1]",
                                "tru",
                                "nul",
                                "\"abc",
                                "\"\\x\"",
                                "\"\\u12\"",
                                "\"\\ud800\"",
                                "\"\\udc00\"",
                                "\"\\ud800\\u0041\"",
                                "\"\x01\"",
                                "\"\xC0\xAF\"",
                                "\"\xED\xA0\x80\"",
                                "\"\xF4\x90\x80\x80\"",
                                "\"\xE2\x82\"",
                                "\"\xFF\"",
                                "{\"a\":1,\"a\":2}",
                                "1 2",
                                "[1] x",
                                "[NaN]",
                                "[Infinity]",
                                "// c\n1",
                                "'a'"}) {
    Flatten f;
    absl::Status s = ParseJson(bad, &f);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << absl::CHexEscape(bad);
  }
}

TEST(JsonReaderTest, Caps) {
  std::string deep(17, '[');
  deep += std::string(17, ']');
  Flatten f;
  EXPECT_FALSE(ParseJson(deep, &f).ok());
  std::string ok_depth(16, '[');
  ok_depth += std::string(16, ']');
  EXPECT_TRUE(ParseJson(ok_depth, &f).ok());

  JsonLimits limits;
  limits.max_string_bytes = 10;
  EXPECT_FALSE(ParseJson("\"" + std::string(20, 'a') + "\"", &f, limits).ok());
  limits.max_keys_per_object = 2;
  EXPECT_FALSE(ParseJson("{\"a\":1,\"b\":2,\"c\":3}", &f, limits).ok());
}

class Stopper : public Flatten {
 public:
  absl::Status OnKey(std::string key) override { return absl::DataLossError("stop"); }
};

TEST(JsonReaderTest, HandlerErrorStops) {
  Stopper s;
  EXPECT_EQ(ParseJson("{\"a\":1}", &s).code(), absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace walrep
