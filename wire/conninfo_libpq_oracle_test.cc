// Differential test: every string in testdata/conninfo_corpus.txt goes through libpq's
// PQconninfoParse() and ConnInfo::Parse(); both must agree on ok/error and, when ok, on
// the value of every keyword libpq reports as set.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gtest/gtest.h"
#include "libpq-fe.h"
#include "wire/conninfo.h"

namespace walrep {
namespace {

// Keywords libpq 15 accepts that walrep refuses on purpose (see kUnsupported in
// conninfo.cc: GSSAPI settings). A string setting one is expected to be rejected by
// walrep with a "not supported" error, so it is counted as agreeing without comparing
// values. (PostgreSQL 16's sslcertmode, require_auth and gssdelegation are refused the
// same way, but the oracle's libpq 15 does not know them either, so both reject.)
bool DeliberatelyRejected(absl::string_view keyword) {
  return keyword == "gsslib" || keyword == "krbsrvname";
}

// Keywords of libpq 16/17 that walrep accepts and the oracle's libpq 15 does not know.
// libpq 15 rejects a string using one as an invalid option; walrep must accept it and
// report the keyword set (its value is checked by conninfo_test).
constexpr const char* kNewerThanOracle[] = {"load_balance_hosts", "sslnegotiation"};

const char* NewerKeywordIn(absl::string_view libpq_error) {
  for (const char* k : kNewerThanOracle) {
    // Keyword/value and URI spellings of libpq's "unknown keyword" error.
    if (absl::StrContains(libpq_error, absl::StrCat("invalid connection option \"", k, "\"")) ||
        absl::StrContains(libpq_error, absl::StrCat("invalid URI query parameter: \"", k, "\""))) {
      return k;
    }
  }
  return nullptr;
}

std::string CorpusPath() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir == nullptr || workspace == nullptr) return "wire/testdata/conninfo_corpus.txt";
  return absl::StrCat(srcdir, "/", workspace, "/wire/testdata/conninfo_corpus.txt");
}

// One corpus entry per line: a double-quoted, C-escaped string. Lines starting with '#'
// and blank lines are skipped.
std::vector<std::string> LoadCorpus() {
  std::ifstream in(CorpusPath());
  EXPECT_TRUE(in.good()) << "cannot open " << CorpusPath();
  std::vector<std::string> corpus;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty() || line[0] == '#') continue;
    if (line.size() < 2 || line.front() != '"' || line.back() != '"') {
      ADD_FAILURE() << "corpus line " << lineno << " is not a quoted string: " << line;
      continue;
    }
    std::string value;
    std::string error;
    if (!absl::CUnescape(absl::string_view(line).substr(1, line.size() - 2), &value,
                         &error)) {
      ADD_FAILURE() << "corpus line " << lineno << ": " << error;
      continue;
    }
    // libpq takes C strings; NUL handling is covered by conninfo_test.
    EXPECT_EQ(value.find('\0'), std::string::npos) << "corpus line " << lineno;
    corpus.push_back(value);
  }
  return corpus;
}

// Returns "" when libpq and walrep agree on `input`, else a description of the difference.
std::string Compare(const std::string& input) {
  char* errmsg = nullptr;
  PQconninfoOption* options = PQconninfoParse(input.c_str(), &errmsg);
  absl::StatusOr<ConnInfo> ours = ConnInfo::Parse(input);
  std::string diff;
  if (options == nullptr) {
    std::string libpq_error = errmsg != nullptr ? errmsg : "(no message)";
    PQfreemem(errmsg);
    if (const char* newer = NewerKeywordIn(libpq_error)) {
      if (!ours.ok() || !ours->IsSet(newer)) {
        diff = absl::StrCat(newer, " is newer than the oracle's libpq and must be accepted; ",
                            ours.ok() ? "it is not set" : ours.status().ToString());
      }
      return diff;
    }
    if (ours.ok()) {
      diff = absl::StrCat("libpq rejects (", libpq_error, ") but walrep accepts: ",
                          ours->Redacted());
    }
    return diff;
  }
  bool uses_rejected = false;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val != nullptr && DeliberatelyRejected(o->keyword)) uses_rejected = true;
  }
  if (uses_rejected) {
    if (ours.ok() || !absl::StrContains(ours.status().message(), "not supported")) {
      diff = absl::StrCat("expected a deliberate \"not supported\" rejection, got ",
                          ours.status().ToString());
    }
    PQconninfoFree(options);
    return diff;
  }
  if (!ours.ok()) {
    PQconninfoFree(options);
    return absl::StrCat("libpq accepts but walrep rejects: ", ours.status().ToString());
  }
  int libpq_set = 0;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    ++libpq_set;
    std::string keyword = o->keyword;
    if (!ours->IsSet(keyword)) {
      absl::StrAppend(&diff, keyword, " set by libpq only; ");
      continue;
    }
    std::string value = keyword == "password" ? ours->password() : ours->Get(keyword);
    if (value != o->val) {
      absl::StrAppend(&diff, keyword, ": libpq \"", absl::CEscape(o->val), "\" walrep \"",
                      absl::CEscape(value), "\"; ");
    }
  }
  if (static_cast<int>(ours->SetKeywords().size()) != libpq_set) {
    absl::StrAppend(&diff, "walrep sets ", ours->SetKeywords().size(),
                    " keywords, libpq ", libpq_set, "; ");
  }
  PQconninfoFree(options);
  return diff;
}

TEST(ConnInfoLibpqOracleTest, AgreesWithPQconninfoParse) {
  std::vector<std::string> corpus = LoadCorpus();
  ASSERT_GE(corpus.size(), 170u);
  int agree = 0;
  for (const std::string& input : corpus) {
    std::string diff = Compare(input);
    if (diff.empty()) {
      ++agree;
    } else {
      ADD_FAILURE() << "\"" << absl::CEscape(input) << "\": " << diff;
    }
  }
  std::printf("conninfo oracle: %d/%zu strings agree\n", agree, corpus.size());
  EXPECT_EQ(agree, static_cast<int>(corpus.size()));
}

// The corpus must exercise both verdicts heavily, or agreement means little.
TEST(ConnInfoLibpqOracleTest, CorpusHasBothVerdicts) {
  int ok = 0;
  int bad = 0;
  for (const std::string& input : LoadCorpus()) {
    char* errmsg = nullptr;
    PQconninfoOption* options = PQconninfoParse(input.c_str(), &errmsg);
    if (options != nullptr) {
      ++ok;
      PQconninfoFree(options);
    } else {
      ++bad;
      PQfreemem(errmsg);
    }
  }
  EXPECT_GE(ok, 60);
  EXPECT_GE(bad, 40);
}

}  // namespace
}  // namespace walrep
