#include "arch/host/physmem.h"

#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>

#include "arch/arch.h"
#include "kernel/errno.h"

namespace host {
uintptr_t phys_window;
constinit thread_local unsigned current_cpu;
thread_local unsigned long tlb_flushes;
}  // namespace host

// Reserving the window without backing it costs nothing until a page is used.
void host_cpu_setup();  // arch/host/cpu.cpp

static void reserve_window() {
  if (host::phys_window) return;
  host_cpu_setup();
  void *p = mmap(nullptr, HOST_PHYS_WINDOW, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    perror("host physmem: cannot reserve the physical window");
    abort();
  }
  host::phys_window = reinterpret_cast<uintptr_t>(p);
}

int host_physmem_add(phys_addr_t base, u64 size) {
  if (!IS_ALIGNED(base, PAGE_SIZE) || !IS_ALIGNED(size, PAGE_SIZE) || size == 0 ||
      base >= HOST_PHYS_WINDOW || size > HOST_PHYS_WINDOW - base)
    return -EINVAL;
  reserve_window();
  void *p = mmap(reinterpret_cast<void *>(host::phys_window + base), size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
  if (p == MAP_FAILED) return -ENOMEM;
  // ASan's shadow outlives the mapping: pages a previous test left free are
  // still poisoned, and this fresh RAM is nobody's free page yet.
  kasan_unpoison(p, size);
  return 0;
}

void host_physmem_reset() {
  if (!host::phys_window) return;
  // Re-reserving drops every page, so the next test starts from zeroed, inaccessible memory.
  // Their poison (arch kasan_poison) may stay: nothing reaches the window
  // before host_physmem_add maps RAM again, and that unpoisons what it maps.
  // Unpoisoning the whole window here would write 4 GiB of ASan shadow.
  mmap(reinterpret_cast<void *>(host::phys_window), HOST_PHYS_WINDOW, PROT_NONE,
       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
}

void host_set_cpu(unsigned cpu) { host::current_cpu = cpu; }
