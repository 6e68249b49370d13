#include "arch/host/physmem.h"

#include <sys/mman.h>

#include <atomic>
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

// Which live thread holds each CPU number: the address of its claim (a
// thread_local, so unique among live threads), or nullptr.
static std::atomic<const void *> cpu_owner[host::HOST_NR_CPUS];

namespace {
struct cpu_claim {
  unsigned slot = ~0u;  // the number held, masked; ~0u: none
  void release() {
    if (slot == ~0u) return;
    cpu_owner[slot].store(nullptr, std::memory_order_release);
    slot = ~0u;
  }
  ~cpu_claim() { release(); }  // the thread ends
};
thread_local cpu_claim claim;
}  // namespace

bool host_try_set_cpu(unsigned cpu) {
  const unsigned slot = cpu & (host::HOST_NR_CPUS - 1);
  if (claim.slot != slot) {
    const void *expected = nullptr;
    if (!cpu_owner[slot].compare_exchange_strong(expected, &claim, std::memory_order_acq_rel)) return false;
    claim.release();
    claim.slot = slot;
  }
  host::current_cpu = cpu;
  return true;
}

void host_set_cpu(unsigned cpu) {
  if (host_try_set_cpu(cpu)) return;
  fprintf(stderr,
          "host_set_cpu(%u): another live thread runs as CPU %u; per-CPU data would be updated by two threads "
          "at once (call host_release_cpu in the thread that hands it over)\n",
          cpu, cpu & (host::HOST_NR_CPUS - 1));
  abort();
}

void host_release_cpu() { claim.release(); }
