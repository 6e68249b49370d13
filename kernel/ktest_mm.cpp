#include "kernel/ktest_mm.h"

#include "kernel/smp.h"
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
