// panic, BUG and WARN. panic() prints the message, this CPU's registers where
// a trap frame is at hand, a backtrace, and powers the machine off with a
// failing status: a kernel developer gets a report, CI gets a non-zero exit.
#pragma once

#include "kernel/types.h"

struct pt_regs;

__noreturn void panic(const char *fmt, ...) __printf(1, 2);
// Prints the trap frame (registers, decoded cause, backtrace from the frame).
void show_regs(const pt_regs *regs);
// Prints a frame-pointer backtrace starting at the caller.
void dump_stack();

void __warn(const char *file, int line, const char *cond);
// The last line of a panic report; powers off with a failing status.
__noreturn void panic_end(const char *msg);

#define BUG() panic("kernel BUG at %s:%d!", __FILE__, __LINE__)
#define BUG_ON(cond)                \
  do {                              \
    if (unlikely(cond)) BUG();      \
  } while (0)
#define WARN_ON(cond)                                          \
  ({                                                           \
    bool __warn_cond = !!(cond);                               \
    if (unlikely(__warn_cond)) __warn(__FILE__, __LINE__, #cond); \
    __warn_cond;                                               \
  })
