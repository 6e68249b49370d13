// Test runner for the host property tests: GoogleTest, with RapidCheck's
// properties registered through rapidcheck/gtest.h, reporting in TAP so that
// `meson test` and scripts/test count every test case.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <iostream>
#include <streambuf>
#include <string>

namespace {

// RapidCheck prints its progress and classifications on std::cout. In TAP
// those lines must be comments, or meson reports "Unknown TAP output lines"
// as an error of the test.
class tap_comment_buf : public std::streambuf {
 public:
  explicit tap_comment_buf(std::streambuf *out) : out_(out) {}

 protected:
  int overflow(int c) override {
    if (c == traits_type::eof()) return traits_type::not_eof(c);
    if (at_line_start_ && out_->sputn("# ", 2) != 2) return traits_type::eof();
    at_line_start_ = c == '\n';
    return out_->sputc(char(c));
  }
  int sync() override { return out_->pubsync(); }

 private:
  std::streambuf *out_;
  bool at_line_start_ = true;
};

// What choose_seed() says, printed as a TAP comment after the version line.
std::string seed_note;

// Prints one TAP line per test, with failure details as TAP comments.
class tap_printer : public testing::EmptyTestEventListener {
 public:
  void OnTestProgramStart(const testing::UnitTest &) override {
    std::printf("TAP version 13\n%s", seed_note.c_str());
  }
  void OnTestPartResult(const testing::TestPartResult &r) override {
    if (!r.failed()) return;
    std::string msg = r.message();
    std::printf("# %s:%d: failure\n", r.file_name() ? r.file_name() : "?", r.line_number());
    size_t start = 0;
    while (start <= msg.size()) {
      size_t end = msg.find('\n', start);
      if (end == std::string::npos) end = msg.size();
      std::printf("#   %s\n", msg.substr(start, end - start).c_str());
      start = end + 1;
    }
  }
  void OnTestEnd(const testing::TestInfo &t) override {
    ++count_;
    bool ok = !t.result()->Failed();
    std::printf("%sok %d - %s.%s%s\n", ok ? "" : "not ", count_, t.test_suite_name(), t.name(),
                t.result()->Skipped() ? " # SKIP" : "");
    std::fflush(stdout);
  }
  void OnTestProgramEnd(const testing::UnitTest &) override { std::printf("1..%d\n", count_); }

 private:
  int count_ = 0;
};

}  // namespace

// The RapidCheck seed, printed so that any failure can be replayed.
// RC_PARAMS with a seed wins. Otherwise MM_RC_SEED picks it: a number (the
// fixed seed the meson tests use), or "fresh" for the run's fresh seed,
// MM_RC_FRESH_SEED (scripts/test draws one per run), or a random one.
void choose_seed() {
  const char *params = std::getenv("RC_PARAMS");
  const char *seed = std::getenv("MM_RC_SEED");
  if (!seed || !*seed || (params && std::strstr(params, "seed="))) return;
  std::string value = seed;
  if (value == "fresh") {
    const char *fresh = std::getenv("MM_RC_FRESH_SEED");
    value = fresh && *fresh ? fresh : std::to_string(std::random_device{}() | u_int64_t(std::random_device{}()) << 32);
  }
  std::string all = (params && *params ? std::string(params) + " " : std::string()) + "seed=" + value;
  setenv("RC_PARAMS", all.c_str(), 1);
  seed_note = "# RapidCheck seed " + value + (std::string(seed) == "fresh" ? " (fresh this run)" : " (fixed)") +
              "; replay a failure with RC_PARAMS=\"seed=" + value + "\"\n";
}

int main(int argc, char **argv) {
  choose_seed();
  testing::InitGoogleTest(&argc, argv);
  bool tap = true;
  for (int i = 1; i < argc; i++)
    if (std::string(argv[i]) == "--gtest-output") tap = false;
  if (tap) {
    auto &listeners = testing::UnitTest::GetInstance()->listeners();
    delete listeners.Release(listeners.default_result_printer());
    listeners.Append(new tap_printer);
    static tap_comment_buf comments(std::cout.rdbuf());
    std::cout.rdbuf(&comments);
  }
  return RUN_ALL_TESTS();
}
