#include "backup/json_reader.h"

#include <algorithm>
#include <vector>

#include "wire/utf8.h"
#include "absl/strings/str_cat.h"
#include "wire/status_macros.h"

namespace walrep {
namespace {

class Parser {
 public:
  Parser(absl::string_view text, JsonHandler* handler, JsonLimits limits)
      : s_(text), h_(handler), limits_(limits) {}

  absl::Status Run() {
    SkipSpace();
    RETURN_IF_ERROR(Value(0));
    SkipSpace();
    if (pos_ != s_.size()) return Error("trailing data after the JSON value");
    return absl::OkStatus();
  }

 private:
  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("JSON: ", what, " at byte ", pos_));
  }
  bool AtEnd() const { return pos_ >= s_.size(); }
  char Peek() const { return s_[pos_]; }

  void SkipSpace() {
    while (!AtEnd() && (Peek() == ' ' || Peek() == '\t' || Peek() == '\n' || Peek() == '\r')) {
      ++pos_;
    }
  }

  absl::Status Value(size_t depth) {
    if (AtEnd()) return Error("unexpected end of input");
    switch (Peek()) {
      case '{':
        return Object(depth + 1);
      case '[':
        return Array(depth + 1);
      case '"': {
        std::string str;
        RETURN_IF_ERROR(String(&str));
        return h_->OnScalar(JsonScalar::kString, std::move(str));
      }
      case 't':
        return Literal("true", JsonScalar::kTrue);
      case 'f':
        return Literal("false", JsonScalar::kFalse);
      case 'n':
        return Literal("null", JsonScalar::kNull);
      default:
        return Number();
    }
  }

  absl::Status Literal(absl::string_view word, JsonScalar kind) {
    if (s_.substr(pos_, word.size()) != word) return Error("invalid literal");
    pos_ += word.size();
    return h_->OnScalar(kind, "");
  }

  absl::Status Object(size_t depth) {
    if (depth > limits_.max_depth) return Error("nesting too deep");
    ++pos_;  // '{'
    RETURN_IF_ERROR(h_->OnObjectStart());
    std::vector<std::string> keys;
    SkipSpace();
    if (!AtEnd() && Peek() == '}') {
      ++pos_;
      return h_->OnObjectEnd();
    }
    while (true) {
      SkipSpace();
      if (AtEnd() || Peek() != '"') return Error("expected an object key");
      std::string key;
      RETURN_IF_ERROR(String(&key));
      if (std::find(keys.begin(), keys.end(), key) != keys.end()) {
        return Error(absl::StrCat("duplicate key \"", key, "\""));
      }
      if (keys.size() >= limits_.max_keys_per_object) return Error("too many keys in an object");
      keys.push_back(key);
      SkipSpace();
      if (AtEnd() || Peek() != ':') return Error("expected ':'");
      ++pos_;
      RETURN_IF_ERROR(h_->OnKey(std::move(key)));
      SkipSpace();
      RETURN_IF_ERROR(Value(depth));
      SkipSpace();
      if (AtEnd()) return Error("unexpected end of input in an object");
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == '}') {
        ++pos_;
        return h_->OnObjectEnd();
      }
      return Error("expected ',' or '}'");
    }
  }

  absl::Status Array(size_t depth) {
    if (depth > limits_.max_depth) return Error("nesting too deep");
    ++pos_;  // '['
    RETURN_IF_ERROR(h_->OnArrayStart());
    SkipSpace();
    if (!AtEnd() && Peek() == ']') {
      ++pos_;
      return h_->OnArrayEnd();
    }
    while (true) {
      SkipSpace();
      RETURN_IF_ERROR(Value(depth));
      SkipSpace();
      if (AtEnd()) return Error("unexpected end of input in an array");
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == ']') {
        ++pos_;
        return h_->OnArrayEnd();
      }
      return Error("expected ',' or ']'");
    }
  }

  // number = [ "-" ] int [ frac ] [ exp ], int without leading zeros.
  absl::Status Number() {
    size_t start = pos_;
    auto digits = [&] {
      size_t n = 0;
      while (!AtEnd() && Peek() >= '0' && Peek() <= '9') ++pos_, ++n;
      return n;
    };
    if (!AtEnd() && Peek() == '-') ++pos_;
    if (AtEnd()) return Error("invalid number");
    if (Peek() == '0') {
      ++pos_;
    } else if (digits() == 0) {
      return Error("unexpected character");
    }
    if (!AtEnd() && Peek() == '.') {
      ++pos_;
      if (digits() == 0) return Error("invalid number");
    }
    if (!AtEnd() && (Peek() == 'e' || Peek() == 'E')) {
      ++pos_;
      if (!AtEnd() && (Peek() == '+' || Peek() == '-')) ++pos_;
      if (digits() == 0) return Error("invalid number");
    }
    if (pos_ - start > 64) return Error("number too long");
    return h_->OnScalar(JsonScalar::kNumber, std::string(s_.substr(start, pos_ - start)));
  }

  absl::Status Hex4(uint32_t* out) {
    if (s_.size() - pos_ < 4) return Error("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char c = s_[pos_++];
      v <<= 4;
      if (c >= '0' && c <= '9')
        v |= c - '0';
      else if (c >= 'a' && c <= 'f')
        v |= c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        v |= c - 'A' + 10;
      else
        return Error("bad \\u escape");
    }
    *out = v;
    return absl::OkStatus();
  }

  // Length of the valid UTF-8 sequence starting at pos_ (2-4), or 0 (overlong forms,
  // surrogates and code points past U+10FFFF are invalid).
  size_t Utf8Length() const {
    auto b = [&](size_t i) { return static_cast<unsigned char>(s_[pos_ + i]); };
    size_t left = s_.size() - pos_;
    unsigned char c = b(0);
    auto cont = [&](size_t i) { return i < left && (b(i) & 0xC0) == 0x80; };
    if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
      if (!cont(1) || !cont(2)) return 0;
      if (c == 0xE0 && b(1) < 0xA0) return 0;   // overlong
      if (c == 0xED && b(1) >= 0xA0) return 0;  // UTF-16 surrogate
      return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
      if (!cont(1) || !cont(2) || !cont(3)) return 0;
      if (c == 0xF0 && b(1) < 0x90) return 0;   // overlong
      if (c == 0xF4 && b(1) >= 0x90) return 0;  // past U+10FFFF
      return 4;
    }
    return 0;
  }

  absl::Status String(std::string* out) {
    ++pos_;  // opening quote
    while (true) {
      if (AtEnd()) return Error("unterminated string");
      if (out->size() > limits_.max_string_bytes) return Error("string too long");
      unsigned char c = static_cast<unsigned char>(Peek());
      if (c == '"') {
        ++pos_;
        return absl::OkStatus();
      }
      if (c < 0x20) return Error("control character in string");
      if (c >= 0x80) {
        size_t n = Utf8Length();
        if (n == 0) return Error("invalid UTF-8");
        out->append(s_.data() + pos_, n);
        pos_ += n;
        continue;
      }
      if (c != '\\') {
        out->push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      ++pos_;
      if (AtEnd()) return Error("unterminated escape");
      char e = s_[pos_++];
      switch (e) {
        case '"':
          out->push_back('"');
          break;
        case '\\':
          out->push_back('\\');
          break;
        case '/':
          out->push_back('/');
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          uint32_t cp = 0;
          RETURN_IF_ERROR(Hex4(&cp));
          if (cp >= 0xDC00 && cp <= 0xDFFF) return Error("lone low surrogate");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            uint32_t low = 0;
            if (s_.substr(pos_, 2) != "\\u") return Error("lone high surrogate");
            pos_ += 2;
            RETURN_IF_ERROR(Hex4(&low));
            if (low < 0xDC00 || low > 0xDFFF) return Error("bad surrogate pair");
            cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
          }
          AppendUtf8(cp, out);
          break;
        }
        default:
          return Error("bad escape");
      }
    }
  }

  absl::string_view s_;
  size_t pos_ = 0;
  JsonHandler* h_;
  JsonLimits limits_;
};

}  // namespace

absl::Status ParseJson(absl::string_view text, JsonHandler* handler, JsonLimits limits) {
  return Parser(text, handler, limits).Run();
}

}  // namespace walrep
