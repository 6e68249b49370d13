// Kernel stacks from vmalloc, and their checker (kernel/thread_stack.h).
#include "kernel/thread_stack.h"

#include "kernel/numa.h"
#include "kernel/percpu.h"
#include "kernel/smp.h"
#include "mm/check.h"
#include "mm/vmalloc.h"

// Not inlined: its return address is the caller vmallocinfo shows.
__attribute__((noinline)) void *alloc_thread_stack_node(int node) {
  if (!system_vmalloc) return nullptr;
  return __vmalloc_node(*system_vmalloc, THREAD_SIZE, PAGE_SIZE, GFP_KERNEL | __GFP_ZERO, node,
                        __builtin_return_address(0));
}

void free_thread_stack(void *stack) {
  if (stack) vfree(*system_vmalloc, stack);
}

unsigned check_thread_stacks(check_report &r) {
  const unsigned before = r.violations;
  if (!system_vmalloc) return 0;
  vmalloc_system &vs = *system_vmalloc;
  spin_lock_irqsave_guard g(vs.lock);
  spin_lock_guard gp(vs.pt_lock);
  for_each_cpu(cpu, cpu_online_mask) {
    const percpu_area &a = cpu_areas[cpu];
    const uintptr_t base = reinterpret_cast<uintptr_t>(a.stack);
    if (!base) {
      check_fail(r, "stack: CPU%u runs on no vmalloc stack", cpu);
      continue;
    }
    if (a.stack_top != base + THREAD_SIZE)
      check_fail(r, "stack: CPU%u's stack_top is 0x%lx, not its stack 0x%lx + THREAD_SIZE", cpu, a.stack_top, base);
    const vmap_area *va = vmap_find_busy_at(&vs.space, base);
    if (!va || !va->vm || !(va->vm->flags & VM_ALLOC) || va->vm->nr_pages != THREAD_PAGES)
      check_fail(r, "stack: CPU%u's stack 0x%lx is not a live vmalloc area of %u pages", cpu, base, THREAD_PAGES);
    if (pgtable_walk(*vs.pt, base - PAGE_SIZE, nullptr))
      check_fail(r, "stack: the page below CPU%u's stack 0x%lx is mapped: an overflow would not fault", cpu, base);
    for (unsigned other = 0; other < cpu; other++)
      if (cpu_online(other) && cpu_areas[other].stack == a.stack)
        check_fail(r, "stack: CPU%u and CPU%u share the stack 0x%lx", other, cpu, base);
  }
  return r.violations - before;
}
