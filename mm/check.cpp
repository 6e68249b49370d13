// check_report: the bounded text buffer every checker writes its findings to
// (see mm/check.h). Lines are appended while they fit; once the buffer is
// full the text stops but the count goes on, so a caller always learns how
// many violations there were even when it can only show the first ones.
#include "mm/check.h"

#include "kernel/printk.h"

// Needs r.buf to hold r.size bytes (r.size may be 0). Cannot fail: a line
// that does not fit is cut, and buf stays NUL-terminated with len == strlen.
void check_fail(check_report &r, const char *fmt, ...) {
  r.violations++;
  // One byte for the terminator and one so that a line is never empty.
  if (!r.buf || r.size == 0 || r.len + 2 > r.size) return;
  va_list ap;
  va_start(ap, fmt);
  r.len += size_t(vscnprintf(r.buf + r.len, r.size - r.len, fmt, ap));
  va_end(ap);
  // A cut line gets no newline: the reader sees where the text stopped.
  if (r.len + 1 < r.size) {
    r.buf[r.len++] = '\n';
    r.buf[r.len] = '\0';
  }
}
