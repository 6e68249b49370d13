// Trap handling (arch/riscv/trap.cpp) and probed accesses (trap_entry.S).
#pragma once

#include "arch/arch.h"
#include "kernel/cpumask.h"
#include "kernel/types.h"
#include <asm/ptrace.h>

extern "C" {
// Each returns 0, or -EFAULT when the access faulted (the fault is recorded
// in this CPU's probe_faults entry instead of being a kernel bug).
long probe_read_u64(const void *addr, u64 *val);
long probe_write_u8(void *addr, u8 val);
long probe_exec(const void *addr);  // addr must hold a `ret` instruction
void handle_trap(pt_regs *regs);
}

struct probe_fault {
  u64 cause;
  u64 badaddr;
  unsigned long count;  // faults fixed up since boot
};
extern probe_fault probe_faults[NR_CPUS];  // per CPU: probes on several CPUs do not mix
inline probe_fault &this_cpu_probe_fault() { return probe_faults[smp_processor_id() & (NR_CPUS - 1)]; }

// Per CPU: page faults on vmalloc memory that waited for a migration entry
// (mm/migrate.h) and were retried.
extern unsigned long migration_fault_waits[NR_CPUS];

// Decodes scause in words ("load page fault", "supervisor timer interrupt").
const char *scause_name(u64 cause);
// Writes where a virtual address lies ("NULL page", "kernel text",
// "direct map", "user half", ...) into buf. In the vmalloc range, once vmalloc
// is up, it is vmalloc_describe's answer: the area and the caller that made
// it ("vmalloc guard page of area 0x... func+0x1c/0x80"), or that no area is
// there.
void classify_address(uintptr_t addr, char *buf, size_t size);
// A buffer that holds any answer of classify_address, caller name included.
constexpr size_t CLASSIFY_ADDRESS_LEN = 160;
// Each CPU's stack for reporting a kernel stack overflow (trap_entry.S moves
// there when sp is below the CPU's stack base; handle_kernel_stack_overflow
// reports on it and panics).
constexpr unsigned long OVERFLOW_STACK_SIZE = 4096;
extern "C" u8 overflow_stack[NR_CPUS][OVERFLOW_STACK_SIZE];
// Prints the report of a fatal trap and powers off with a failing status.
__noreturn void die(const pt_regs *regs, const char *what);
