// panic() for host programs: the message on stderr, then abort(), so that a
// test runner reports the crash and a debugger stops at it. mm/ calls it only
// where the kernel would stop too (SLAB_PANIC).
#include <cstdio>
#include <cstdlib>

#include "kernel/panic.h"
#include "kernel/printk.h"

void panic(const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  kvsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  fprintf(stderr, "Kernel panic - not syncing: %s\n", msg);
  abort();
}
