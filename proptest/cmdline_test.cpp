// Properties of the kernel command line parser and the monitor's line editor
// (kernel/cmdline.cpp, kernel/line_edit.cpp), as compiled into the kernel.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <string>
#include <vector>

#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/line_edit.h"

namespace {

struct call {
  std::string name;
  bool has_value;
  std::string value;
  bool operator==(const call &o) const {
    return name == o.name && has_value == o.has_value && (!has_value || value == o.value);
  }
};

std::vector<call> calls, reports;

int record_alpha(const char *v) {
  calls.push_back({"alpha", v != nullptr, v ? v : ""});
  return 0;
}
int record_beta(const char *v) {
  calls.push_back({"beta", v != nullptr, v ? v : ""});
  return 0;
}
int refuse(const char *v) {
  calls.push_back({"refuse", v != nullptr, v ? v : ""});
  return -EINVAL;
}
const kernel_param params[] = {{"alpha", record_alpha, ""}, {"beta", record_beta, ""}, {"refuse", refuse, ""}};

void record_report(param_problem p, const char *name, const char *) {
  reports.push_back({name, true, p == param_problem::unknown ? "unknown" : p == param_problem::bad_value ? "bad" : "quote"});
}

rc::Gen<std::string> gen_token(bool allow_space) {
  auto chars = allow_space ? rc::gen::elementOf(std::string("abcXYZ019-_.,:/ "))
                           : rc::gen::elementOf(std::string("abcXYZ019-_.,:/"));
  return rc::gen::container<std::string>(chars);
}

struct word {
  std::string name;
  bool has_value;
  std::string value;
  bool quoted;
};

rc::Gen<word> gen_word() {
  return rc::gen::apply(
      [](std::string name, bool has_value, std::string value, bool quoted) {
        if (value.find(' ') != std::string::npos) quoted = true;
        return word{name, has_value, value, quoted && has_value};
      },
      rc::gen::element<std::string>("alpha", "beta", "refuse", "gamma", "alphabet"), rc::gen::arbitrary<bool>(),
      gen_token(true), rc::gen::arbitrary<bool>());
}

}  // namespace

// Every word reaches the handler of its name with its exact value, in order;
// unknown names and refused values are each reported once, nothing else is.
RC_GTEST_PROP(Cmdline, WordsReachTheirHandlers, ()) {
  auto words = *rc::gen::container<std::vector<word>>(gen_word());
  auto gaps = *rc::gen::container<std::vector<std::string>>(words.size() + 1, rc::gen::element<std::string>(" ", "  ", "\t", " \t "));
  std::string line = gaps[0];
  std::vector<call> want_calls, want_reports;
  for (size_t i = 0; i < words.size(); i++) {
    const word &w = words[i];
    line += w.name;
    if (w.has_value) line += "=" + (w.quoted ? "\"" + w.value + "\"" : w.value);
    line += gaps[i + 1];
    bool known = w.name == "alpha" || w.name == "beta" || w.name == "refuse";
    if (known) want_calls.push_back({w.name, w.has_value, w.value});
    if (!known) want_reports.push_back({w.name, true, "unknown"});
    if (w.name == "refuse") want_reports.push_back({w.name, true, "bad"});
  }
  calls.clear();
  reports.clear();
  std::vector<char> buf(line.begin(), line.end());
  buf.push_back('\0');
  int failed = parse_args(buf.data(), params, 3, record_report);
  RC_ASSERT(calls == want_calls);
  RC_ASSERT(reports == want_reports);
  RC_ASSERT(failed == int(want_reports.size()));
}

// An unclosed quote is reported as such and does not reach any handler.
RC_GTEST_PROP(Cmdline, UnclosedQuoteReported, ()) {
  std::string value = *gen_token(false);
  std::string line = "alpha=\"" + value;
  calls.clear();
  reports.clear();
  std::vector<char> buf(line.begin(), line.end());
  buf.push_back('\0');
  RC_ASSERT(parse_args(buf.data(), params, 3, record_report) == 1);
  RC_ASSERT(calls.empty());
  RC_ASSERT(reports.size() == 1u && reports[0].value == "quote");
}

// Decimal and hex renderings of any number parse back to it; a size suffix
// multiplies unless the result would overflow.
RC_GTEST_PROP(Cmdline, NumbersRoundTrip, (u64 v, unsigned suffix)) {
  u64 out = 0;
  RC_ASSERT(parse_u64(std::to_string(v).c_str(), &out) == 0 && out == v);
  char hex[32];
  snprintf(hex, sizeof(hex), "0x%llx", (unsigned long long)v);
  RC_ASSERT(parse_u64(hex, &out) == 0 && out == v);
  const char *units[] = {"K", "M", "G"};
  unsigned shift = 10 * (suffix % 3 + 1);
  std::string s = std::to_string(v) + units[suffix % 3];
  int err = parse_size(s.c_str(), &out);
  if (v > (~u64(0) >> shift)) RC_ASSERT(err == -EINVAL);
  else RC_ASSERT(err == 0 && out == v << shift);
}

// Anything that is not a number is refused, and the output is left alone.
RC_GTEST_PROP(Cmdline, GarbageRefused, ()) {
  std::string s = *rc::gen::nonEmpty(gen_token(true));
  bool digits = s.find_first_not_of("0123456789") == std::string::npos;
  RC_PRE(!digits);
  u64 out = 77;
  if (s.size() > 2 && s[0] == '0' && s[1] == 'x' && s.find_first_not_of("0123456789abcABC", 2) == std::string::npos) RC_DISCARD();
  RC_ASSERT(parse_u64(s.c_str(), &out) == -EINVAL);
  RC_ASSERT(out == 77u);
  RC_ASSERT(parse_u64("99999999999999999999", &out) == -EINVAL);
}

namespace {
std::string echoed;
void echo_to_string(const char *s, size_t n) { echoed.append(s, n); }

// What a terminal shows after the echo: "\b \b" erases, "\a" rings, others print.
std::string screen_of(const std::string &out) {
  std::string screen;
  for (size_t i = 0; i < out.size(); i++) {
    if (out.compare(i, 3, "\b \b") == 0) {
      if (!screen.empty()) screen.pop_back();
      i += 2;
    } else if (out[i] != '\a') {
      screen += out[i];
    }
  }
  return screen;
}
}  // namespace

// The line editor's buffer matches a plain string model under any keystrokes,
// never overflows, and its echo leaves the terminal showing exactly the buffer.
RC_GTEST_PROP(LineEdit, MatchesModel, ()) {
  auto keys = *rc::gen::container<std::vector<int>>(rc::gen::oneOf(
      rc::gen::inRange(0x20, 0x7f), rc::gen::element<int>(0x7f, '\b', 0x15), rc::gen::element<int>(0x1b),
      rc::gen::element<int>('[', 'A', 'D', '1', ';')));
  line_editor ed{};
  line_edit_reset(ed);
  echoed.clear();
  std::string model;
  int esc = 0;  // 0: none, 1: after ESC, 2: inside ESC [
  // The model: escape sequences vanish; a byte that cannot continue one is typed.
  auto model_step = [&](int k) {
    if (esc == 1) {
      esc = 0;
      if (k == '[') {
        esc = 2;
        return;
      }
    } else if (esc == 2) {
      if (k >= 0x20 && k <= 0x7e) {
        if (k >= 0x40) esc = 0;
        return;
      }
      esc = 0;
    }
    if (k == 0x1b) esc = 1;
    else if (k == 0x7f || k == '\b') { if (!model.empty()) model.pop_back(); }
    else if (k == 0x15) model.clear();
    else if (k >= 0x20 && k < 0x7f && model.size() + 1 < MONITOR_LINE_MAX) model += char(k);
  };
  for (int k : keys) {
    RC_ASSERT(line_edit_feed(ed, k, echo_to_string) == line_event::none);
    model_step(k);
    RC_ASSERT(std::string(ed.buf) == model);
    RC_ASSERT(ed.len == model.size());
  }
  RC_ASSERT(screen_of(echoed) == model);
  RC_ASSERT(line_edit_feed(ed, '\r', echo_to_string) == line_event::done);
  RC_ASSERT(line_edit_feed(ed, '\n', echo_to_string) == line_event::none);  // CR LF is one end of line
  RC_ASSERT(std::string(ed.buf) == model);
}

// Ctrl-C abandons the line.
TEST(LineEdit, CtrlCCancels) {
  line_editor ed{};
  line_edit_reset(ed);
  echoed.clear();
  for (char c : std::string("poweroff")) line_edit_feed(ed, c, echo_to_string);
  EXPECT_EQ(line_edit_feed(ed, 0x03, echo_to_string), line_event::cancelled);
  EXPECT_EQ(ed.len, 0u);
  EXPECT_STREQ(ed.buf, "");
}

// split_words finds the same words as splitting on blanks.
RC_GTEST_PROP(LineEdit, SplitWords, ()) {
  std::string line = *rc::gen::container<std::string>(rc::gen::element(' ', '\t', 'a', 'b', '7'));
  std::vector<std::string> want;
  std::string cur;
  for (char c : line + " ") {
    if (c == ' ' || c == '\t') {
      if (!cur.empty()) want.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  std::vector<char> buf(line.begin(), line.end());
  buf.push_back('\0');
  char *argv[64];
  int argc = split_words(buf.data(), argv, 64);
  std::vector<std::string> got(argv, argv + argc);
  if (want.size() > 64) want.resize(64);
  RC_ASSERT(got == want);
}
