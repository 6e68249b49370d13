// check_report: the bounded text buffer every checker writes its findings to
// (see mm/check.h). Lines are appended while they fit; once the buffer is
// full the text stops but the count goes on, so a caller always learns how
// many violations there were even when it can only show the first ones.
#include "mm/check.h"

#include "kernel/printk.h"

// Needs r.buf to hold r.size bytes (r.size may be 0). Cannot fail: a line
// that does not fit is cut, and buf stays NUL-terminated with len == strlen.
// A full buffer needs no test of its own: vscnprintf then has room for the
// terminator alone (or, with r.size 0, for nothing) and adds no character.
void check_fail(check_report &r, const char *fmt, ...) {
  r.violations++;
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
