// Where a report goes: reports (buddyinfo, zoneinfo, meminfo, ...) write to a
// seq_out, which the monitor points at the console and host tests at a string.
#pragma once

#include "kernel/types.h"

struct seq_out {
  void (*write)(void *ctx, const char *s, size_t len);
  void *ctx;
};

// Formats like printk (kernel/printk.h) and writes the result; a line longer
// than 256 bytes is cut there.
void seq_printf(seq_out &out, const char *fmt, ...) __printf(2, 3);
void seq_puts(seq_out &out, const char *s);
// A seq_out that prints to the console.
seq_out console_seq_out();

// A report into a caller's buffer, always NUL-terminated; what does not fit
// is dropped (tests compare the text).
struct seq_buf {
  char *data;
  size_t size;  // bytes at data, the terminator included
  size_t len;
};
// Empties b and returns a seq_out that appends to it.
seq_out seq_buf_out(seq_buf &b);
