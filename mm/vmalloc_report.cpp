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
// The purge list's batch looks one range further in each tree, to tell
// whether more follow.
constexpr unsigned LOOKAHEAD = BATCH + 1;

struct area_line {
  uintptr_t start, end;
  const void *caller;
  unsigned long flags;
  unsigned nr_pages;
  unsigned per_node[MAX_NUMNODES];
};

// Up to max ranges of tree t that start at or above from, in address order,
// appended to out[n..]: a walk that skips every subtree below from, so a
// batch costs the tree's depth plus its length however many ranges wait.
void collect_from(const vmap_area *t, uintptr_t from, uintptr_t (*out)[2], unsigned max, unsigned &n) {
  if (!t || n == max) return;
  if (t->va_start >= from) {
    collect_from(t->left, from, out, max, n);
    if (n == max) return;
    out[n][0] = t->va_start;
    out[n][1] = t->va_end;
    n++;
  }
  collect_from(t->right, from, out, max, n);
}

// The lazily freed ranges (lazy and purging trees, which never overlap) in
// address order, a batch at a time as the areas are.
void show_purge_info(vmalloc_system &vs, seq_out &out) {
  uintptr_t from = vs.space.start;
  for (;;) {
    uintptr_t lazy[LOOKAHEAD][2], purging[LOOKAHEAD][2], ranges[BATCH][2];
    unsigned nl = 0, np = 0, n = 0;
    {
      spin_lock_irqsave_guard g(vs.lock);
      collect_from(vs.space.lazy_root, from, lazy, LOOKAHEAD, nl);
      collect_from(vs.space.purging_root, from, purging, LOOKAHEAD, np);
    }
    unsigned il = 0, ip = 0;
    while (n < BATCH && (il < nl || ip < np)) {
      const uintptr_t *r = ip == np || (il < nl && lazy[il][0] < purging[ip][0]) ? lazy[il++] : purging[ip++];
      ranges[n][0] = r[0];
      ranges[n][1] = r[1];
      n++;
    }
    const bool more = il < nl || ip < np;
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
