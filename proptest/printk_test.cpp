// Properties of kernel/printk.cpp and kernel/string.cpp: the formatter against
// the host's snprintf (glibc), the log's levels, lines, consoles and ring, and
// the string functions against libc or a small model.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "kernel/errno.h"
#include "kernel/printk.h"
#include "kernel/string.h"


// Formats here are built at run time, and some are deliberately outside C.
#pragma GCC diagnostic ignored "-Wformat"
#pragma GCC diagnostic ignored "-Wformat-security"
#pragma GCC diagnostic ignored "-Wformat-extra-args"
#pragma GCC diagnostic ignored "-Wformat-truncation"
#pragma GCC diagnostic ignored "-Wformat-overflow"

namespace {

/* ----------------------------------------------------------------------------
 * Formatting
 * ------------------------------------------------------------------------- */

// One random conversion specification, kept in parts so that the arguments
// it needs can be passed with the right types.
struct conv_spec {
  std::string flags;
  bool width_star = false, prec_star = false;
  std::string width, prec;  // as written; prec with its '.'
  int width_arg = 0, prec_arg = 0;
  std::string length;
  char conv = 'd';

  std::string text() const {
    return "%" + flags + (width_star ? "*" : width) + (prec_star ? ".*" : prec) + length + conv;
  }
};

// Draws a specification for conv from everything glibc defines for it: any
// flags, a width and a precision as digits or '*' (negative values included),
// and, for integers, any length modifier.
conv_spec gen_spec(char conv, bool stars) {
  conv_spec s;
  s.conv = conv;
  s.flags = *rc::gen::container<std::string>(*rc::gen::inRange(0, 5),
                                             rc::gen::elementOf(std::string("-+ #0")));
  switch (*rc::gen::inRange(0, stars ? 3 : 2)) {
    case 1: s.width = std::to_string(*rc::gen::inRange(1, 40)); break;
    case 2:
      s.width_star = true;
      s.width_arg = *rc::gen::inRange(-40, 40);
      break;
  }
  switch (*rc::gen::inRange(0, stars ? 4 : 3)) {
    case 1: s.prec = "."; break;
    case 2:
      s.prec = "." + std::string(*rc::gen::inRange(0, 2), '0') +
               std::to_string(*rc::gen::inRange(0, 30));
      break;
    case 3:
      s.prec_star = true;
      s.prec_arg = *rc::gen::inRange(-5, 30);
      break;
  }
  if (std::strchr("diuoxX", conv))
    s.length = *rc::gen::element<std::string>("", "hh", "h", "l", "ll", "z", "t", "j");
  return s;
}

// Mostly RapidCheck's spread of values, with the extremes and small values
// (a single digit in any base) mixed in.
template <class T>
T gen_int() {
  using lim = std::numeric_limits<T>;
  return *rc::gen::weightedOneOf<T>(
      {{3, rc::gen::arbitrary<T>()},
       {1, rc::gen::element<T>(lim::min(), lim::max(), T(0), T(1), static_cast<T>(-1))},
       {1, rc::gen::inRange<T>(0, 20)}});
}

// Any bytes but NUL, or now and then a NULL pointer; storage keeps the bytes.
const char *gen_cstring(std::string *storage) {
  if (*rc::gen::inRange(0, 8) == 0) return nullptr;
  *storage = *rc::gen::container<std::string>(
      rc::gen::map(rc::gen::inRange(1, 256), [](int c) { return static_cast<char>(c); }));
  return storage->c_str();
}

// Literal text for between conversions, "%%" included.
std::string gen_literal() {
  auto pieces = *rc::gen::container<std::vector<std::string>>(
      *rc::gen::inRange(0, 5), rc::gen::element<std::string>("a", "Z", " ", "-", "0", "\n", "%%"));
  std::string s;
  for (const auto &p : pieces) s += p;
  return s;
}

// Formats with glibc's snprintf and with ksnprintf into guarded buffers of
// one random size (0 with a NULL buffer sometimes) and asserts that both
// return and write exactly the same.
template <class... A>
void check_like_snprintf(const std::string &fmt, A... args) {
  int full = std::snprintf(nullptr, 0, fmt.c_str(), args...);
  RC_ASSERT(full >= 0);
  size_t size = *rc::gen::weightedOneOf<size_t>(
      {{2, rc::gen::inRange<size_t>(0, static_cast<size_t>(full) + 1)},
       {1,
        rc::gen::inRange<size_t>(static_cast<size_t>(full) + 1, static_cast<size_t>(full) + 4)}});
  bool null_buf = size == 0 && *rc::gen::arbitrary<bool>();
  std::vector<char> want(size + 8, '\x5a'), got(size + 8, '\x5a');
  int want_ret = std::snprintf(null_buf ? nullptr : want.data(), size, fmt.c_str(), args...);
  int got_ret = ksnprintf(null_buf ? nullptr : got.data(), size, fmt.c_str(), args...);
  RC_LOG() << "format \"" << fmt << "\", size " << size << "\n";
  RC_ASSERT(got_ret == want_ret);
  RC_ASSERT(std::string(got.begin(), got.end()) == std::string(want.begin(), want.end()));
}

// Passes the spec's '*' arguments, then value.
template <class V>
void check_spec(const std::string &fmt, const conv_spec &s, V value) {
  if (s.width_star && s.prec_star)
    check_like_snprintf(fmt, s.width_arg, s.prec_arg, value);
  else if (s.width_star)
    check_like_snprintf(fmt, s.width_arg, value);
  else if (s.prec_star)
    check_like_snprintf(fmt, s.prec_arg, value);
  else
    check_like_snprintf(fmt, value);
}

// Calls f with a random argument of the type that s's conversion and length
// modifier name (hh and h take an int, as the argument is promoted).
template <class F>
void with_value(const conv_spec &s, F f) {
  const bool sgn = s.conv == 'd' || s.conv == 'i';
  const std::string &l = s.length;
  std::string storage;
  if (s.conv == 'c') return f(gen_int<int>());
  if (s.conv == 's') return f(gen_cstring(&storage));
  if (l == "" || l == "h" || l == "hh") return sgn ? f(gen_int<int>()) : f(gen_int<unsigned>());
  if (l == "l") return sgn ? f(gen_int<long>()) : f(gen_int<unsigned long>());
  if (l == "ll") return sgn ? f(gen_int<long long>()) : f(gen_int<unsigned long long>());
  if (l == "z") return sgn ? f(gen_int<ssize_t>()) : f(gen_int<size_t>());
  if (l == "t") return f(gen_int<ptrdiff_t>());
  if (l == "j") return sgn ? f(gen_int<intmax_t>()) : f(gen_int<uintmax_t>());
  RC_FAIL("no argument type for length " + l);
}

// One conversion of any kind, with literal text around it, formats and
// truncates exactly as glibc's snprintf does, and returns the same length.
// (Several formats per case, as the space of specifications is large.)
RC_GTEST_PROP(PrintkFormat, OneConversionMatchesSnprintf, ()) {
  for (int i = 0; i < 20; i++) {
    conv_spec s = gen_spec(*rc::gen::elementOf(std::string("diuoxXcs")), true);
    std::string fmt = gen_literal() + s.text() + gen_literal();
    with_value(s, [&](auto v) { check_spec(fmt, s, v); });
  }
}

// Conversions of different argument types in one format keep the arguments
// in step, as glibc does.
RC_GTEST_PROP(PrintkFormat, MixedConversionsMatchSnprintf, ()) {
  conv_spec a = gen_spec(*rc::gen::elementOf(std::string("diuoxX")), false);
  a.length = "ll";
  conv_spec b = gen_spec('s', false);
  conv_spec c = gen_spec('c', false);
  conv_spec d = gen_spec(*rc::gen::elementOf(std::string("diuoxX")), false);
  d.length = *rc::gen::element<std::string>("", "h", "hh");
  std::string fmt = gen_literal() + a.text() + gen_literal() + b.text() + gen_literal() + c.text() +
                    gen_literal() + d.text() + gen_literal();
  std::string storage;
  const char *str = gen_cstring(&storage);
  check_like_snprintf(fmt, gen_int<long long>(), str, gen_int<int>(), gen_int<int>());
}

// A NULL %s prints as glibc's does: "(null)", or nothing if the precision is
// too small for that, whatever the width.
TEST(PrintkFormat, NullStringMatchesSnprintf) {
  for (const char *fmt : {"%s", "%8s", "%-8s|", "%.s", "%.1s", "%.5s", "%.6s", "%.7s", "%3.5s"}) {
    char want[32], got[32];
    int want_ret = std::snprintf(want, sizeof(want), fmt, static_cast<char *>(nullptr));
    EXPECT_EQ(ksnprintf(got, sizeof(got), fmt, static_cast<char *>(nullptr)), want_ret) << fmt;
    EXPECT_STREQ(got, want) << fmt;
  }
}

// %p prints 0x and 16 lowercase hex digits (Linux's %px), padded to the width.
RC_GTEST_PROP(PrintkFormat, PointerIsFixedWidthHex, ()) {
  auto v = gen_int<uintptr_t>();
  bool left = *rc::gen::arbitrary<bool>();
  int width = *rc::gen::inRange(0, 30);
  std::string fmt =
      std::string("%") + (left ? "-" : "") + (width ? std::to_string(width) : "") + "p";
  char hex[32], want[64], got[64];
  std::snprintf(hex, sizeof(hex), "0x%016lx", static_cast<unsigned long>(v));
  std::snprintf(want, sizeof(want), left ? "%-*s" : "%*s", width, hex);
  int n = ksnprintf(got, sizeof(got), fmt.c_str(), reinterpret_cast<void *>(v));
  RC_ASSERT(std::string(got) == std::string(want));
  RC_ASSERT(n == static_cast<int>(std::strlen(want)));
}

// A conversion we do not know is printed verbatim and takes no argument (not
// even for a '*' width), so the next conversion still gets the first one.
RC_GTEST_PROP(PrintkFormat, UnknownConversionIsVerbatim, ()) {
  std::string unknown;
  for (char c = 33; c < 127; c++)
    if (!std::strchr("diuoxXcsp%hlztj-+ #0123456789.*", c)) unknown += c;
  std::string spec = "%" +
                     *rc::gen::container<std::string>(*rc::gen::inRange(0, 3),
                                                      rc::gen::elementOf(std::string("-+ #0"))) +
                     *rc::gen::element<std::string>("", "*", "7", "12", ".3") +
                     *rc::gen::elementOf(unknown);
  int v = gen_int<int>();
  char got[128];
  int n = ksnprintf(got, sizeof(got), (spec + "|%d").c_str(), v);
  std::string want = spec + "|" + std::to_string(v);
  RC_ASSERT(std::string(got) == want);
  RC_ASSERT(n == static_cast<int>(want.size()));
}

// A format that ends inside a specification prints what there is of it.
TEST(PrintkFormat, TruncatedSpecificationIsVerbatim) {
  char buf[32];
  EXPECT_EQ(ksnprintf(buf, sizeof(buf), "abc%"), 4);
  EXPECT_STREQ(buf, "abc%");
  EXPECT_EQ(ksnprintf(buf, sizeof(buf), "%d %-5", 1), 5);
  EXPECT_STREQ(buf, "1 %-5");
}

// Output longer than INT_MAX is an error, yet the buffer is filled and
// terminated; a NULL format is an error too.
TEST(PrintkFormat, OverlongOutputAndNullFormatFail) {
  char buf[8];
  EXPECT_EQ(ksnprintf(buf, sizeof(buf), "%*d%*d", INT_MAX, 1, 5, 2), -EOVERFLOW);
  EXPECT_STREQ(buf, "       ");
  EXPECT_EQ(ksnprintf(buf, sizeof(buf), "%.3000000000d", 1), -EOVERFLOW);
  EXPECT_STREQ(buf, "0000000");
  EXPECT_EQ(ksnprintf(buf, sizeof(buf), nullptr), -EINVAL);
  EXPECT_STREQ(buf, "");
  EXPECT_EQ(scnprintf(buf, sizeof(buf), nullptr), 0);
}

// scnprintf chains into one buffer: the running total never exceeds size - 1,
// the buffer holds the start of the whole text, terminated, and nothing past
// size is touched.
RC_GTEST_PROP(PrintkFormat, ScnprintfChainsWithinBuffer, ()) {
  auto pieces = *rc::gen::container<std::vector<std::string>>(
      rc::gen::container<std::string>(rc::gen::inRange('a', static_cast<char>('z' + 1))));
  size_t size = *rc::gen::inRange<size_t>(0, 64);
  std::vector<char> buf(size + 8, '\x5a');
  size_t len = 0;
  std::string whole;
  for (const auto &p : pieces) {
    int n = scnprintf(buf.data() + len, size - len, "%s", p.c_str());
    RC_ASSERT(n >= 0);
    len += static_cast<size_t>(n);
    whole += p;
    RC_ASSERT(len <= (size ? size - 1 : 0));
  }
  RC_ASSERT(len == std::min(whole.size(), size ? size - 1 : 0));
  if (size && !pieces.empty()) {
    RC_ASSERT(std::string(buf.data(), len) == whole.substr(0, len));
    RC_ASSERT(buf[len] == '\0');
  }
  for (size_t i = size; i < buf.size(); i++) RC_ASSERT(buf[i] == '\x5a');
}

/* ----------------------------------------------------------------------------
 * The log and the consoles
 * ------------------------------------------------------------------------- */

// A console that records everything written to it.
struct test_console : console {
  std::string got;
  explicit test_console(const char *con_name = "test", unsigned con_flags = CON_PRINTBUFFER)
      : console{con_name, &record, con_flags, nullptr} {}
  ~test_console() { unregister_console(this); }
  test_console(const test_console &) = delete;
  test_console &operator=(const test_console &) = delete;
  static void record(console *con, const char *s, size_t n) {
    static_cast<test_console *>(con)->got.append(s, n);
  }
};

std::string log_text() {
  std::vector<char> buf(1 << 20);
  size_t n = log_buf_copy(buf.data(), buf.size());
  return std::string(buf.data(), n);
}

// Gives a test an empty log, no open line and the default console_loglevel,
// and leaves the same behind for the tests that follow (which may be other
// suites that read the log).
struct clean_log {
  clean_log() { reset(); }
  ~clean_log() { reset(); }
  clean_log(const clean_log &) = delete;
  clean_log &operator=(const clean_log &) = delete;
  static void reset() {
    console_loglevel = CONSOLE_LOGLEVEL_DEFAULT;
    pr_cont("\n");  // ends a line left open; a blank line otherwise
    log_buf_clear();
  }
};

struct message {
  int level;  // -1: no level prefix
  bool cont;  // KERN_CONT prefix
  bool cont_first;
  std::string text;
};

// Printable text (so never a KERN_SOH), possibly empty, possibly no newline.
rc::Gen<message> gen_message(bool always_newline) {
  return rc::gen::apply(
      [always_newline](int level, bool cont, bool cont_first, std::string text, bool newline) {
        if (always_newline || newline) text += '\n';
        return message{level, cont, cont_first, text};
      },
      rc::gen::inRange(-1, 8), rc::gen::arbitrary<bool>(), rc::gen::arbitrary<bool>(),
      rc::gen::container<std::string>(rc::gen::inRange(' ', '\x7f')), rc::gen::arbitrary<bool>());
}

// Prints m through printk with its prefixes in the format string.
int send(const message &m) {
  std::string level = m.level >= 0 ? std::string(KERN_SOH) + char('0' + m.level) : "";
  std::string cont = m.cont ? KERN_CONT : "";
  std::string fmt = (m.cont_first ? cont + level : level + cont) + "%s";
  return printk(fmt.c_str(), m.text.c_str());
}

// What the log and a console should hold after a sequence of messages, by
// Linux's rules for lines: text without a final newline leaves its line open,
// KERN_CONT text joins an open line at that line's level, and any other
// message first ends the open line.
struct line_model {
  int loglevel;
  std::string log, console;
  bool open = false;
  int open_level = 0;

  void add(const message &m) {
    if (m.text.empty()) return;
    int level;
    if (m.cont && open) {
      level = open_level;
    } else {
      level = m.level >= 0 ? m.level : LOGLEVEL_DEFAULT;
      if (open) put(open_level, "\n");
    }
    put(level, m.text);
    open = m.text.back() != '\n';
    open_level = level;
  }
  void put(int level, const std::string &s) {
    log += s;
    if (level < loglevel) console += s;
  }
};

// Messages at or above console_loglevel reach no console, yet every message
// is in the log; printk returns the length of the text without its prefix.
RC_GTEST_PROP(PrintkLog, LevelFiltersConsolesNotLog, ()) {
  clean_log clean;
  test_console con;
  register_console(&con);
  console_loglevel = *rc::gen::inRange(0, 9);
  auto msgs = *rc::gen::container<std::vector<message>>(gen_message(true));
  std::string log, shown;
  for (auto m : msgs) {
    m.cont = false;
    int level = m.level >= 0 ? m.level : LOGLEVEL_DEFAULT;
    RC_ASSERT(send(m) == static_cast<int>(m.text.size()));
    log += m.text;
    if (level < console_loglevel) shown += m.text;
  }
  RC_ASSERT(log_text() == log);
  RC_ASSERT(con.got == shown);
}

// Continuation text and unterminated lines come out in the log and on a
// console as Linux's line rules say.
RC_GTEST_PROP(PrintkLog, LinesFollowLinuxRules, ()) {
  clean_log clean;
  test_console con;
  register_console(&con);
  console_loglevel = *rc::gen::inRange(0, 9);
  line_model model{console_loglevel};
  for (const auto &m : *rc::gen::container<std::vector<message>>(gen_message(false))) {
    send(m);
    model.add(m);
  }
  RC_ASSERT(log_text() == model.log);
  RC_ASSERT(con.got == model.console);
}

// A level prefix is recognised after formatting, so it may come from an
// argument; of two levels the first counts; KERN_SOH followed by anything but
// a level is plain text; an empty message logs nothing.
TEST(PrintkLog, PrefixIsParsedFromFormattedText) {
  clean_log clean;
  test_console con;
  register_console(&con);
  EXPECT_EQ(printk("%s", KERN_DEBUG "hidden\n"), 7);
  EXPECT_EQ(printk(KERN_SOH "x\n"), 3);
  EXPECT_EQ(printk(KERN_INFO ""), 0);
  EXPECT_EQ(printk(KERN_DEBUG KERN_ERR "first level wins\n"), 17);
  EXPECT_EQ(log_text(), "hidden\n" KERN_SOH "x\nfirst level wins\n");
  EXPECT_EQ(con.got, KERN_SOH "x\n");
}

// A CON_PRINTBUFFER console registered late first gets everything it would
// have been shown had it been there from the start, then live output; one
// without the flag gets only live output; registering again neither replays
// nor doubles anything.
RC_GTEST_PROP(PrintkConsole, RegisterReplaysLog, ()) {
  clean_log clean;
  console_loglevel = *rc::gen::inRange(0, 9);
  line_model model{console_loglevel};
  for (const auto &m : *rc::gen::container<std::vector<message>>(gen_message(false))) {
    send(m);
    model.add(m);
  }
  test_console con, quiet("quiet", 0);
  register_console(&con);
  register_console(&quiet);
  RC_ASSERT(con.got == model.console);
  RC_ASSERT(quiet.got.empty());
  std::string before = model.console;
  for (const auto &m : *rc::gen::container<std::vector<message>>(gen_message(false))) {
    send(m);
    model.add(m);
  }
  RC_ASSERT(con.got == model.console);
  RC_ASSERT(quiet.got == model.console.substr(before.size()));
  register_console(&con);
  message last{0, false, false, "last\n"};
  send(last);
  model.add(last);
  RC_ASSERT(con.got == model.console);
}

// An unregistered console gets nothing more; the others go on as before.
RC_GTEST_PROP(PrintkConsole, UnregisterStopsOutput, ()) {
  clean_log clean;
  test_console a("a"), b("b"), never("never");
  register_console(&a);
  register_console(&b);
  unregister_console(&never);
  line_model model{console_loglevel};
  auto before = *rc::gen::container<std::vector<message>>(gen_message(true));
  for (const auto &m : before) {
    send(m);
    model.add(m);
  }
  std::string seen_by_a = model.console;
  unregister_console(&a);
  unregister_console(&a);
  for (const auto &m : *rc::gen::container<std::vector<message>>(gen_message(true))) {
    send(m);
    model.add(m);
  }
  RC_ASSERT(a.got == seen_by_a);
  RC_ASSERT(b.got == model.console);
  RC_ASSERT(never.got.empty());
}

// A console that printks from its write method neither recurses forever nor
// loses the nested message, which goes to the log only.
TEST(PrintkConsole, PrintkFromConsoleIsLoggedOnly) {
  clean_log clean;
  struct chatty : test_console {
    chatty() { write = &chat; }
    static void chat(console *con, const char *s, size_t n) {
      record(con, s, n);
      printk("nested\n");
    }
  } con;
  register_console(&con);
  EXPECT_EQ(printk("outer\n"), 6);
  EXPECT_EQ(con.got, "outer\n");
  EXPECT_EQ(log_text(), "outer\nnested\n");
}

// Once far more text than the ring holds has been logged, the log is the tail
// of everything printed, starting at a message boundary and holding the
// newest message whole; a copy of any size gets the newest bytes of that and
// writes nothing past the size given.
RC_GTEST_PROP(PrintkLog, RingKeepsNewestText, ()) {
  clean_log clean;
  auto lens =
      *rc::gen::container<std::vector<int>>(*rc::gen::inRange(1, 50), rc::gen::inRange(0, 900));
  std::string all;
  std::vector<size_t> starts;
  for (size_t i = 0; all.size() < 200 * 1024; i++) {
    std::string text = "#" + std::to_string(i) + ":" +
                       std::string(static_cast<size_t>(lens[i % lens.size()]), char('a' + i % 26)) +
                       "\n";
    RC_ASSERT(printk("%s", text.c_str()) == static_cast<int>(text.size()));
    starts.push_back(all.size());
    all += text;
  }
  std::string kept = log_text();
  RC_ASSERT(kept.size() >= 16u * 1024);
  RC_ASSERT(all.size() - starts.back() <= kept.size());
  RC_ASSERT(all.compare(all.size() - kept.size(), kept.size(), kept) == 0);
  RC_ASSERT(std::binary_search(starts.begin(), starts.end(), all.size() - kept.size()));

  for (int i = 0; i < 4; i++) {
    size_t size = *rc::gen::inRange<size_t>(0, kept.size() + 16);
    std::vector<char> buf(size + 8, '\x5a');
    size_t n = log_buf_copy(buf.data(), size);
    RC_ASSERT(n == std::min(size, kept.size()));
    RC_ASSERT(std::string(buf.data(), n) == kept.substr(kept.size() - n));
    for (size_t j = size; j < buf.size(); j++) RC_ASSERT(buf[j] == '\x5a');
  }
  RC_ASSERT(log_buf_copy(nullptr, 0) == 0u);
}

// A message too long for the line buffer is cut, never overflowed: the log
// and the console get the same prefix of it, whose length printk returns, and
// short messages (up to 511 characters) are never cut.
RC_GTEST_PROP(PrintkLog, LongMessagesAreTruncated, ()) {
  clean_log clean;
  test_console con;
  register_console(&con);
  size_t len = *rc::gen::inRange<size_t>(0, 3000);
  std::string s(len, 'x');
  for (size_t i = 0; i < len; i++) s[i] = static_cast<char>('a' + (i * 7 + len) % 26);
  std::string text = s + "\n";
  int n = printk("%s\n", s.c_str());
  RC_ASSERT(n >= 0);
  RC_ASSERT(static_cast<size_t>(n) <= text.size());
  RC_ASSERT(static_cast<size_t>(n) >= std::min<size_t>(text.size(), 512));
  RC_ASSERT(log_text() == text.substr(0, static_cast<size_t>(n)));
  RC_ASSERT(con.got == log_text());
}

// log_buf_clear empties the log, and later messages are kept as usual; a line
// left open across it still gets its newline on the console, not in the log.
TEST(PrintkLog, ClearEmptiesLog) {
  clean_log clean;
  test_console con;
  register_console(&con);
  printk("a\n");
  EXPECT_EQ(log_text(), "a\n");
  log_buf_clear();
  EXPECT_EQ(log_text(), "");
  printk("b");
  log_buf_clear();
  printk("c\n");
  EXPECT_EQ(log_text(), "c\n");
  EXPECT_EQ(con.got, "a\nb\nc\n");
}

/* ----------------------------------------------------------------------------
 * String functions
 * ------------------------------------------------------------------------- */

// strscpy copies what fits and terminates it, returning the length or -E2BIG
// when src was cut; it writes nothing after the terminator, and nothing at
// all for size 0.
RC_GTEST_PROP(PrintkString, StrscpyMatchesModel, ()) {
  auto src = *rc::gen::container<std::string>(rc::gen::inRange('\x01', '\x7f'));
  size_t size = *rc::gen::inRange<size_t>(0, src.size() + 4);
  std::vector<char> got(size + 8, '\x5a'), want(size + 8, '\x5a');
  long ret = strscpy(got.data(), src.c_str(), size);
  long want_ret = -E2BIG;
  if (size > src.size()) {
    std::copy(src.c_str(), src.c_str() + src.size() + 1, want.begin());
    want_ret = static_cast<long>(src.size());
  } else if (size > 0) {
    std::copy(src.begin(), src.begin() + static_cast<long>(size) - 1, want.begin());
    want[size - 1] = '\0';
  }
  RC_ASSERT(ret == want_ret);
  RC_ASSERT(got == want);
}

// strscpy reads no more than size bytes of src: an unterminated source that
// ends just before an unmapped page is copied (and cut) without a fault.
RC_GTEST_PROP(PrintkString, StrscpyReadsAtMostSizeBytes, ()) {
  static char *guard = [] {
    long page = sysconf(_SC_PAGESIZE);
    void *p = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED || mprotect(static_cast<char *>(p) + page, page, PROT_NONE))
      return static_cast<char *>(nullptr);
    return static_cast<char *>(p) + page;
  }();
  RC_ASSERT(guard != nullptr);
  size_t size = *rc::gen::inRange<size_t>(1, 300);
  char *src = guard - size;
  std::memset(src, 'q', size);
  std::vector<char> dst(size);
  RC_ASSERT(strscpy(dst.data(), src, size) == -E2BIG);
  RC_ASSERT(std::string(dst.data()) == std::string(size - 1, 'q'));
  src[size - 1] = '\0';
  RC_ASSERT(strscpy(dst.data(), src, size) == static_cast<long>(size - 1));
}

// Pointers compared as numbers, which RapidCheck can show.
uintptr_t addr(const void *p) { return reinterpret_cast<uintptr_t>(p); }

// Random bytes, and a range [off, off + len) that fits in n of them.
struct span {
  size_t off, len;
};
span gen_span(size_t n) {
  size_t len = *rc::gen::inRange<size_t>(0, n + 1);
  return {*rc::gen::inRange<size_t>(0, n - len + 1), len};
}

// The kernel's memcpy and memset leave a buffer exactly as libc's do, for any
// alignment of either pointer and any length.
RC_GTEST_PROP(PrintkString, MemcpyMemsetMatchLibc, ()) {
  auto init = *rc::gen::container<std::vector<unsigned char>>(*rc::gen::inRange(0, 200),
                                                              rc::gen::arbitrary<unsigned char>());
  auto from = *rc::gen::container<std::vector<unsigned char>>(init.size(),
                                                              rc::gen::arbitrary<unsigned char>());
  span d = gen_span(init.size());
  size_t soff = *rc::gen::inRange<size_t>(0, init.size() - d.len + 1);
  auto got = init, want = init;
  RC_ASSERT(addr(kstring::memcpy(got.data() + d.off, from.data() + soff, d.len)) ==
            addr(got.data() + d.off));
  std::memcpy(want.data() + d.off, from.data() + soff, d.len);
  RC_ASSERT(got == want);

  int c = gen_int<int>();
  d = gen_span(init.size());
  RC_ASSERT(addr(kstring::memset(got.data() + d.off, c, d.len)) == addr(got.data() + d.off));
  std::memset(want.data() + d.off, c, d.len);
  RC_ASSERT(got == want);
}

// The kernel's memmove copies overlapping ranges in either direction as
// libc's does.
RC_GTEST_PROP(PrintkString, MemmoveMatchesLibc, ()) {
  auto init = *rc::gen::container<std::vector<unsigned char>>(*rc::gen::inRange(0, 200),
                                                              rc::gen::arbitrary<unsigned char>());
  span d = gen_span(init.size());
  size_t soff = *rc::gen::inRange<size_t>(0, init.size() - d.len + 1);
  auto got = init, want = init;
  RC_ASSERT(addr(kstring::memmove(got.data() + d.off, got.data() + soff, d.len)) ==
            addr(got.data() + d.off));
  std::memmove(want.data() + d.off, want.data() + soff, d.len);
  RC_ASSERT(got == want);
}

int sign(int x) { return (x > 0) - (x < 0); }

// The kernel's comparisons agree in sign with libc's (bytes compare unsigned)
// and its strlen, strnlen and strchr find what libc's find.
RC_GTEST_PROP(PrintkString, CompareAndSearchMatchLibc, ()) {
  // A small alphabet makes equal prefixes common; \x80 and \xff test signedness.
  auto gen_str = rc::gen::container<std::string>(rc::gen::element('a', 'b', '\x80', '\xff'));
  std::string a = *gen_str;
  std::string b = *rc::gen::oneOf(rc::gen::just(a), gen_str,
                                  rc::gen::just(a + *rc::gen::element<std::string>("a", "\xff")));
  size_t n = *rc::gen::inRange<size_t>(0, std::max(a.size(), b.size()) + 3);
  size_t common = std::min(a.size(), b.size()) + 1;
  RC_ASSERT(sign(kstring::strcmp(a.c_str(), b.c_str())) == sign(std::strcmp(a.c_str(), b.c_str())));
  RC_ASSERT(sign(kstring::strncmp(a.c_str(), b.c_str(), n)) ==
            sign(std::strncmp(a.c_str(), b.c_str(), n)));
  size_t m = std::min(n, common);
  RC_ASSERT(sign(kstring::memcmp(a.c_str(), b.c_str(), m)) ==
            sign(std::memcmp(a.c_str(), b.c_str(), m)));
  RC_ASSERT(kstring::strlen(a.c_str()) == a.size());
  RC_ASSERT(kstring::strnlen(a.c_str(), n) == std::min(a.size(), n));
  int c = *rc::gen::element<int>('a', '\xff', 0xff, 'b' + 256, 0, 'z');
  RC_ASSERT(addr(kstring::strchr(a.c_str(), c)) == addr(std::strchr(a.c_str(), c)));
}

}  // namespace
