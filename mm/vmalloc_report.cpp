// /proc/vmallocinfo, in Linux's format:
//   0xSTART-0xEND SIZE CALLER pages=N vmalloc [user] [movable] N0=n ...
// ("movable" is this kernel's: Linux's vmalloc memory never moves)
// (vmap areas: "vmap" and no pages= count). SIZE counts the guard page, as
// Linux's does. Then, as Linux's show_purge_info, each range freed and
// waiting for the lazy purge (its flush under way or not):
//   0xSTART-0xEND SIZE unpurged vm_area
// Areas are copied a batch at a time under the lock and printed without it;
// the next batch resumes after the last address printed.
#include "kernel/printk.h"
#include "kernel/seq_out.h"
#include "mm/mmzone.h"
#include "mm/page_alloc.h"
#include "mm/vmalloc.h"

namespace {

constexpr unsigned BATCH = 16;

struct area_line {
  uintptr_t start, end;
  const void *caller;
  unsigned long flags;
  unsigned nr_pages;
  unsigned per_node[MAX_NUMNODES];
};

// The lazily freed ranges, in address order: lazy and purging ranges never
// overlap, so one cursor serves both trees.
void show_purge_info(vmalloc_system &vs, seq_out &out) {
  uintptr_t from = vs.space.start;
  for (;;) {
    uintptr_t ranges[BATCH][2];
    unsigned n = 0;
    bool more = false;
    {
      spin_lock_irqsave_guard g(vs.lock);
      // The BATCH lowest ranges at or above from, over both trees.
      for_each_lazy_range_locked(vs, [&](uintptr_t start, uintptr_t end) {
        if (start < from) return;
        unsigned i = n;
        if (n == BATCH) {
          more = true;
          if (start >= ranges[BATCH - 1][0]) return;
          i = BATCH - 1;
        } else {
          n++;
        }
        for (; i > 0 && ranges[i - 1][0] > start; i--) {
          ranges[i][0] = ranges[i - 1][0];
          ranges[i][1] = ranges[i - 1][1];
        }
        ranges[i][0] = start;
        ranges[i][1] = end;
      });
    }
    if (n) from = ranges[n - 1][1];
    for (unsigned i = 0; i < n; i++)
      seq_printf(out, "0x%016lx-0x%016lx %7lu unpurged vm_area\n", ranges[i][0], ranges[i][1],
                 ranges[i][1] - ranges[i][0]);
    if (!more) break;
  }
}

}  // namespace

void show_vmallocinfo(vmalloc_system &vs, seq_out &out) {
  uintptr_t from = vs.space.start;
  for (;;) {
    area_line lines[BATCH];
    unsigned n = 0;
    bool more = false;
    {
      // One in-order walk per batch: reports are rare, so simplicity wins.
      spin_lock_irqsave_guard g(vs.lock);
      spin_lock_guard gp(vs.pt_lock);
      vmap_for_each(vs.space.busy_root, [&](vmap_area *va) {
        if (va->va_start < from || !va->vm) return;
        if (n == BATCH) {
          more = true;
          return;
        }
        area_line &l = lines[n++];
        l = {va->va_start, va->va_end, va->vm->caller, va->vm->flags, va->vm->nr_pages, {}};
        if (va->vm->flags & VM_ALLOC)
          for (unsigned i = 0; i < va->vm->nr_pages; i++) {
            pt_walk_result w;
            if (!pgtable_walk(*vs.pt, va->va_start + uintptr_t(i) * PAGE_SIZE, &w)) continue;
            if (const page *p = pfn_to_page(*vs.ms, PHYS_PFN(w.pa))) l.per_node[page_to_nid(p)]++;
          }
      });
    }
    if (n) from = lines[n - 1].end;
    for (unsigned i = 0; i < n; i++) {
      const area_line &l = lines[i];
      char who[96];
      if (vs.symbolize) vs.symbolize(l.caller, who, sizeof(who));
      else scnprintf(who, sizeof(who), "%p", l.caller);
      seq_printf(out, "0x%016lx-0x%016lx %7lu %s", l.start, l.end, l.end - l.start, who);
      if (l.flags & VM_ALLOC) seq_printf(out, " pages=%u vmalloc", l.nr_pages);
      if (l.flags & VM_MAP) seq_puts(out, " vmap");
      if (l.flags & VM_USER) seq_puts(out, " user");
      if (l.flags & VM_MOVABLE) seq_puts(out, " movable");
      for (unsigned nid = 0; nid < MAX_NUMNODES; nid++)
        if (l.per_node[nid]) seq_printf(out, " N%u=%u", nid, l.per_node[nid]);
      seq_puts(out, "\n");
    }
    if (!more) break;
  }
  show_purge_info(vs, out);
}
