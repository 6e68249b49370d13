// Host call stacks through glibc's unwinder: frame pointers cannot be
// trusted across the C++ runtime and the test framework's frames.
#include <asm/stacktrace.h>
#include <dlfcn.h>
#include <elf.h>
#include <execinfo.h>
#include <link.h>

#include "kernel/panic.h"
#include "kernel/printk.h"

size_t save_stack_trace(uintptr_t *pcs, size_t max) {
  void *frames[65];
  int want = int(max < 64 ? max : 64) + 1;  // one more for this function's own frame
  int n = backtrace(frames, want);
  size_t out = 0;
  for (int i = 1; i < n && out < max; i++) pcs[out++] = reinterpret_cast<uintptr_t>(frames[i]);
  return out;
}

bool host_function_range(const void *fn, uintptr_t *start, uintptr_t *end) {
  Dl_info info;
  void *extra = nullptr;
  if (!dladdr1(fn, &info, &extra, RTLD_DL_SYMENT) || !extra || !info.dli_saddr) return false;
  const ElfW(Sym) *sym = static_cast<const ElfW(Sym) *>(extra);
  if (sym->st_size == 0) return false;
  *start = reinterpret_cast<uintptr_t>(info.dli_saddr);
  *end = *start + sym->st_size;
  return true;
}

void dump_stack() {
  uintptr_t pcs[32];
  size_t n = save_stack_trace(pcs, 32);
  printk("Call Trace:\n");
  for (size_t i = 0; i < n; i++) printk(" [<%016lx>]\n", static_cast<unsigned long>(pcs[i]));
}
