#include "kernel/panic.h"

#include <asm/stacktrace.h>

#include "kernel/poweroff.h"
#include "kernel/printk.h"
#include "kernel/smp.h"

static int in_panic;  // an int: riscv has no byte-sized atomic swap

void dump_stack() {
  uintptr_t fp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  print_backtrace(reinterpret_cast<uintptr_t>(__builtin_return_address(0)),
                  reinterpret_cast<const uintptr_t *>(fp)[-2]);
}

void panic_end(const char *msg) {
  pr_emerg("---[ end Kernel panic - not syncing: %s ]---\n", msg);
  machine_power_off(POWEROFF_PANIC);
}

void panic(const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  kvsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  if (__atomic_exchange_n(&in_panic, 1, __ATOMIC_ACQ_REL))
    machine_power_off(POWEROFF_PANIC);  // a panic while panicking, or on a second CPU: just stop
  oops_in_progress = 1;
  smp_send_stop();  // the others halt: nothing changes under the report
  pr_emerg("Kernel panic - not syncing: %s\n", msg);
  pr_emerg("Call Trace:\n");
  dump_stack();
  panic_end(msg);
}

void __warn(const char *file, int line, const char *cond) {
  pr_warn("------------[ cut here ]------------\n");
  pr_warn("WARNING: %s:%d: %s\n", file, line, cond);
  dump_stack();
  pr_warn("---[ end trace ]---\n");
}
