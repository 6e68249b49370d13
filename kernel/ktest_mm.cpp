#include "kernel/ktest_mm.h"

#include <asm/csr.h>
#include <asm/traps.h>

#include "kernel/errno.h"
#include "kernel/printk.h"
#include "kernel/seq_out.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "mm/page_alloc.h"
#include "mm/slab.h"
#include "mm/vmalloc.h"

free_state settle() {
  slab_allocator &sa = *system_slab;
  mem_system &ms = *sa.ms;
  // Lazily freed vmalloc ranges hold their vmap_area nodes and emptied
  // table pages until a purge.
  if (system_vmalloc) vm_unmap_aliases(*system_vmalloc);
  for (auto &row : sa.kmalloc_caches)
    for (kmem_cache *c : row)
      if (c) kmem_cache_shrink(c);
  kmem_cache_shrink(&sa.kmem_cache_boot);
  drain_all_pages(ms);
  return {nr_free_pages(ms) + nr_free_pcp_pages(ms), global_node_page_state_snapshot(ms, NR_SLAB_UNRECLAIMABLE),
          global_node_page_state_snapshot(ms, NR_SLAB_RECLAIMABLE)};
}

void expect_same_free_state(ktest *t, const free_state &before, const free_state &after) {
  KTEST_EXPECT_EQ(t, after.free_pages, before.free_pages);
  KTEST_EXPECT_EQ(t, after.slab_unreclaimable, before.slab_unreclaimable);
  KTEST_EXPECT_EQ(t, after.slab_reclaimable, before.slab_reclaimable);
}

namespace {
struct run_on_ctx {
  work_struct work;  // first: the work is the context
  void (*fn)(void *);
  void *arg;
};

void run_on_work(work_struct *w) {
  run_on_ctx *c = reinterpret_cast<run_on_ctx *>(w);
  c->fn(c->arg);
}
}  // namespace

bool run_on(unsigned cpu, void (*fn)(void *), void *arg) {
  run_on_ctx c{{nullptr, run_on_work, WORK_IDLE}, fn, arg};
  if (!queue_work_on(cpu, &c.work)) return false;
  flush_work(&c.work);
  return true;
}

bool read_faults(const void *addr) {
  u64 v;
  return probe_read_u64(addr, &v) == -EFAULT && this_cpu_probe_fault().cause == EXC_LOAD_PAGE_FAULT &&
         this_cpu_probe_fault().badaddr == reinterpret_cast<uintptr_t>(addr);
}

const char *find(const char *s, const char *needle) {
  size_t n = strlen(needle);
  for (; *s; s++)
    if (strncmp(s, needle, n) == 0) return s;
  return nullptr;
}

bool vmallocinfo_lists(const void *addr, unsigned pages, const char *caller) {
  static char text[8192];
  static seq_buf out;
  out = {text, sizeof(text), 0};
  seq_out so = seq_buf_out(out);
  show_vmallocinfo(*system_vmalloc, so);
  const uintptr_t start = reinterpret_cast<uintptr_t>(addr), size = (uintptr_t(pages) + 1) * PAGE_SIZE;
  char want[64], who[64], count[32];
  scnprintf(want, sizeof(want), "0x%016lx-0x%016lx %7lu ", start, start + size, size);
  scnprintf(who, sizeof(who), "%s+0x", caller);
  scnprintf(count, sizeof(count), " pages=%u vmalloc", pages);
  const char *line = find(text, want);
  const char *nl = line ? strchr(line, '\n') : nullptr;
  const char *w = line ? find(line, who) : nullptr, *c = line ? find(line, count) : nullptr;
  return nl && w && w < nl && c && c < nl;
}
