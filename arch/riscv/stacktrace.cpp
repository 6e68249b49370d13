#include <asm/sections.h>
#include <asm/stacktrace.h>
#include <asm/traps.h>

#include "kernel/kallsyms.h"
#include "kernel/percpu.h"
#include "kernel/printk.h"

// The boot stack (CPU 0's until switch_boot_cpu_stack), the running CPU's
// own (kernel/thread_stack.h), or its overflow stack (the report of an
// overflow walks from there into the stack that overflowed).
static bool on_kernel_stack(uintptr_t addr) {
  if (addr >= kaddr(boot_stack) && addr <= kaddr(boot_stack_top)) return true;
  const percpu_area &a = this_cpu_area();
  const uintptr_t ovf = reinterpret_cast<uintptr_t>(overflow_stack[a.cpu & (NR_CPUS - 1)]);
  if (addr >= ovf && addr <= ovf + OVERFLOW_STACK_SIZE) return true;
  return a.stack && addr >= reinterpret_cast<uintptr_t>(a.stack) && addr <= a.stack_top;
}

template <class F>
static void walk_stackframe(uintptr_t pc, uintptr_t fp, F &&visit) {
  for (int depth = 0; depth < 64; depth++) {
    if (!visit(pc)) return;
    if (fp == 0 || (fp & 7) || !on_kernel_stack(fp - 16) || !on_kernel_stack(fp)) return;
    const uintptr_t *frame = reinterpret_cast<const uintptr_t *>(fp);
    uintptr_t next_fp = frame[-2];
    pc = frame[-1];
    if (pc == 0 || !in_kernel_text(pc - 4)) return;
    if (next_fp != 0 && next_fp <= fp) return;  // a stack grows down: a loop or garbage
    fp = next_fp;
  }
}

void print_backtrace(uintptr_t pc, uintptr_t fp) {
  walk_stackframe(pc, fp, [](uintptr_t addr) {
    char sym[96];
    if (in_kernel_text(addr)) sprint_symbol(sym, sizeof(sym), addr);
    else scnprintf(sym, sizeof(sym), "(not kernel text)");
    printk(KERN_ALERT "[<%016lx>] %s\n", addr, sym);
    return true;
  });
}

size_t save_stack_trace(uintptr_t *pcs, size_t max) {
  size_t n = 0;
  uintptr_t fp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  walk_stackframe(reinterpret_cast<uintptr_t>(__builtin_return_address(0)),
                  reinterpret_cast<const uintptr_t *>(fp)[-2], [&](uintptr_t addr) {
                    if (n == max) return false;
                    pcs[n++] = addr;
                    return true;
                  });
  return n;
}
