// The trap frame that arch/riscv/trap_entry.S saves: epc in the slot of x0,
// then x1..x31 at 8*i, then sstatus, stval and scause.
#pragma once

#include "kernel/types.h"

struct pt_regs {
  u64 epc;
  u64 ra, sp, gp, tp;
  u64 t0, t1, t2;
  u64 s0, s1;
  u64 a0, a1, a2, a3, a4, a5, a6, a7;
  u64 s2, s3, s4, s5, s6, s7, s8, s9, s10, s11;
  u64 t3, t4, t5, t6;
  u64 status, badaddr, cause;
  u64 pad;  // keeps the frame a multiple of 16 bytes
};
static_assert(sizeof(pt_regs) == 288, "trap_entry.S hard-codes the frame size");
static_assert(__builtin_offsetof(pt_regs, status) == 256, "trap_entry.S hard-codes PT_STATUS");
static_assert(__builtin_offsetof(pt_regs, cause) == 272, "trap_entry.S hard-codes PT_CAUSE");
