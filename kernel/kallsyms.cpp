#include "kernel/kallsyms.h"

#include "kernel/printk.h"
#include "kernel/string.h"

// Emitted by scripts/gen-kallsyms.py (kallsyms_none.S in the first link):
// addresses ascending, each with its size and the offset of its name.
extern "C" {
extern const u64 kallsyms_num_syms;
extern const u64 kallsyms_addresses[];
extern const u32 kallsyms_sizes[];
extern const u32 kallsyms_name_offsets[];
extern const char kallsyms_names[];
}

bool kallsyms_lookup(uintptr_t addr, const char **name, uintptr_t *offset, uintptr_t *size) {
  u64 lo = 0, hi = kallsyms_num_syms;  // find the last symbol at or below addr
  if (hi == 0 || addr < kallsyms_addresses[0]) return false;
  while (hi - lo > 1) {
    u64 mid = lo + (hi - lo) / 2;
    if (kallsyms_addresses[mid] <= addr) lo = mid;
    else hi = mid;
  }
  uintptr_t off = addr - kallsyms_addresses[lo];
  if (off >= kallsyms_sizes[lo]) return false;
  *name = kallsyms_names + kallsyms_name_offsets[lo];
  *offset = off;
  *size = kallsyms_sizes[lo];
  return true;
}

int sprint_symbol(char *buf, size_t size, uintptr_t addr) {
  const char *name;
  uintptr_t off, len;
  if (!kallsyms_lookup(addr, &name, &off, &len)) return scnprintf(buf, size, "0x%016lx", addr);
  return scnprintf(buf, size, "%s+0x%lx/0x%lx", name, off, len);
}

uintptr_t kallsyms_lookup_name(const char *name) {
  for (u64 i = 0; i < kallsyms_num_syms; i++)
    if (strcmp(kallsyms_names + kallsyms_name_offsets[i], name) == 0) return kallsyms_addresses[i];
  return 0;
}
