// /proc/vmallocinfo, in Linux's format:
//   0xSTART-0xEND SIZE CALLER pages=N vmalloc [user] [movable] N0=n ...
// ("movable" is this kernel's: Linux's vmalloc memory never moves)
// (vmap areas: "vmap" and no pages= count). SIZE counts the guard page, as
// Linux's does. Areas are copied a batch at a time under the lock and
// printed without it; the next batch resumes after the last address printed.
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
}
