// Test runner for the host property tests: GoogleTest, with RapidCheck's
// properties registered through rapidcheck/gtest.h, reporting in TAP so that
// `meson test` and scripts/test count every test case.
#include <gtest/gtest.h>

#include <cstdio>
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

// Prints one TAP line per test, with failure details as TAP comments.
class tap_printer : public testing::EmptyTestEventListener {
 public:
  void OnTestProgramStart(const testing::UnitTest &) override { std::printf("TAP version 13\n"); }
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

int main(int argc, char **argv) {
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
