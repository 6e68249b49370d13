#include "kernel/cmdline.h"

#include "kernel/errno.h"
#include "kernel/string.h"

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Cuts the next word out of *p: returns its start (or nullptr at the end) and
// points *value at the text after '=' with quotes removed. Sets *bad_quote
// when a quote is not closed.
static char *next_word(char **p, char **value, bool *bad_quote) {
  char *s = *p;
  while (is_space(*s)) s++;
  if (!*s) return nullptr;
  char *word = s, *out = s;
  bool quoted = false;
  *value = nullptr;
  *bad_quote = false;
  for (; *s && (quoted || !is_space(*s)); s++) {
    if (*s == '"') {
      quoted = !quoted;
      continue;
    }
    if (*s == '=' && !*value) {
      *out++ = '\0';
      *value = out;
      continue;
    }
    *out++ = *s;
  }
  if (quoted) *bad_quote = true;
  *p = *s ? s + 1 : s;
  *out = '\0';
  return word;
}

int parse_args(char *cmdline, const kernel_param *params, size_t nr_params,
               void (*report)(param_problem, const char *, const char *)) {
  int failed = 0;
  char *p = cmdline, *val;
  bool bad_quote;
  while (char *name = next_word(&p, &val, &bad_quote)) {
    if (bad_quote) {
      report(param_problem::bad_quoting, name, val);
      failed++;
      continue;
    }
    const kernel_param *param = nullptr;
    for (size_t i = 0; i < nr_params && !param; i++)
      if (strcmp(params[i].name, name) == 0) param = &params[i];
    if (!param) {
      report(param_problem::unknown, name, val);
      failed++;
    } else if (param->set(val) != 0) {
      report(param_problem::bad_value, name, val);
      failed++;
    }
  }
  return failed;
}

int parse_u64(const char *s, u64 *out) {
  if (!s || !*s) return -EINVAL;
  unsigned base = 10;
  if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    base = 16;
    s += 2;
    if (!*s) return -EINVAL;
  }
  u64 v = 0;
  for (; *s; s++) {
    unsigned d;
    if (*s >= '0' && *s <= '9') d = unsigned(*s - '0');
    else if (base == 16 && *s >= 'a' && *s <= 'f') d = unsigned(*s - 'a' + 10);
    else if (base == 16 && *s >= 'A' && *s <= 'F') d = unsigned(*s - 'A' + 10);
    else return -EINVAL;
    if (v > (~u64(0) - d) / base) return -EINVAL;  // overflow
    v = v * base + d;
  }
  *out = v;
  return 0;
}

int parse_size(const char *s, u64 *out) {
  if (!s) return -EINVAL;
  char digits[32];
  size_t n = strnlen(s, sizeof(digits));
  if (n == 0 || n == sizeof(digits)) return -EINVAL;
  memcpy(digits, s, n + 1);
  unsigned shift = 0;
  switch (digits[n - 1]) {
    case 'k': case 'K': shift = 10; break;
    case 'm': case 'M': shift = 20; break;
    case 'g': case 'G': shift = 30; break;
    default: break;
  }
  if (shift) digits[n - 1] = '\0';
  u64 v;
  if (parse_u64(digits, &v)) return -EINVAL;
  if (shift && v > (~u64(0) >> shift)) return -EINVAL;
  *out = v << shift;
  return 0;
}

int parse_bool(const char *val, bool *out) {
  if (!val || !val[0] || val[1]) return -EINVAL;
  switch (val[0]) {
    case 'Y': case 'y': case '1': *out = true; return 0;
    case 'N': case 'n': case '0': *out = false; return 0;
    default: return -EINVAL;
  }
}
