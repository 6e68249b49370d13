#include "kernel/seq_out.h"

#include "kernel/printk.h"
#include "kernel/string.h"

void seq_printf(seq_out &out, const char *fmt, ...) {
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  int n = vscnprintf(line, sizeof(line), fmt, ap);
  va_end(ap);
  out.write(out.ctx, line, size_t(n));
}

void seq_puts(seq_out &out, const char *s) { out.write(out.ctx, s, strlen(s)); }

static void console_write(void *, const char *s, size_t len) { printk(KERN_CONT "%.*s", int(len), s); }

seq_out console_seq_out() { return {console_write, nullptr}; }

static void seq_buf_write(void *ctx, const char *s, size_t n) {
  seq_buf &b = *static_cast<seq_buf *>(ctx);
  size_t room = b.size - 1 - b.len;
  if (n > room) n = room;
  memcpy(b.data + b.len, s, n);
  b.len += n;
  b.data[b.len] = '\0';
}

seq_out seq_buf_out(seq_buf &b) {
  b.len = 0;
  if (b.size) b.data[0] = '\0';
  return {seq_buf_write, &b};
}
