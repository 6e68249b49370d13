// /proc/slabinfo for the slab allocator.
//
// The text follows Linux's mm/slab_common.c (print_slabinfo_header and
// cache_show) to the space. Caches are listed newest first, as Linux lists
// its slab_caches (each new cache goes to the head there), so kmem_cache
// comes last.
//
// Each cache's numbers are copied under its locks and printed afterwards, so
// a row is consistent and no console output happens with a lock held. The
// cache list is a spinlock here (Linux's slab_mutex sleeps), so it is not
// held across printing either: rows are gathered a batch at a time and the
// next batch resumes by position, which is what Linux's seq_file does
// between two read() calls (a cache created or destroyed in between may be
// skipped or shown twice; no row is ever torn).
#include "mm/slab_report.h"

#include "kernel/spinlock.h"
#include "kernel/string.h"
#include "mm/slab.h"

namespace {

struct slabinfo_row {
  char name[sizeof(kmem_cache::name)];
  unsigned long active_objs, num_objs;
  unsigned long active_slabs, num_slabs;
  unsigned objsize, objperslab, order, limit, batchcount;
};

// Rows gathered per hold of slab_mutex: small enough for a kernel stack.
constexpr unsigned SLABINFO_BATCH = 16;

// Basic algorithm: with every CPU's array of s locked (so no object moves
// between an array and a slab meanwhile), sum the objects the arrays hold;
// then, under each node's list_lock, the slabs and their objects. Objects
// in the arrays are free, but their slabs count them in inuse: they are
// taken off. Linux's SLAB counted them as active; the difference is only
// what a CPU has cached, and "active" meaning "held by a caller" is what a
// leak hunt wants. Objects lost behind a corrupted freelist link are not
// held by anyone either.
void read_cache(kmem_cache *s, slabinfo_row *row) {
  strscpy(row->name, s->name, sizeof(row->name));
  // Linux prints s->size, the stride (object, red zone, outside link), as
  // objsize: with objperslab and pagesperslab it accounts for the slab.
  row->objsize = s->size;
  row->objperslab = s->objects;
  row->order = s->order;
  row->limit = s->limit;
  row->batchcount = s->batchcount;
  unsigned long in_arrays = 0, inuse = 0, total = 0, slabs = 0, free_slabs = 0;
  for (kmem_cache_cpu &c : s->cpu_slab) spin_lock(&c.lock);
  for (const kmem_cache_cpu &c : s->cpu_slab) in_arrays += c.avail;
  for (kmem_cache_node &n : s->node) {
    spin_lock_irqsave_guard g(n.list_lock);
    list_head *held[] = {&n.partial, &n.full};  // free slabs have inuse 0
    for (list_head *l : held) {
      list_for_each(e, l) {
        const page *slab = list_entry(e, page, slab_list);
        inuse += slab->inuse - slab->lost;
      }
    }
    total += n.total_objects;
    slabs += n.nr_full + n.nr_partial + n.nr_free;
    free_slabs += n.nr_free;
  }
  for (unsigned cpu = NR_CPUS; cpu-- > 0;) spin_unlock(&s->cpu_slab[cpu].lock);
  // Never below 0, even if the allocator's counts were ever broken: the
  // checker, not this report, is the place to say so.
  row->active_objs = inuse > in_arrays ? inuse - in_arrays : 0;
  row->num_objs = total;
  row->active_slabs = slabs - free_slabs;
  row->num_slabs = slabs;
}

// Copies up to SLABINFO_BATCH rows, starting at the `skip`-th cache of the
// newest-first order. Returns how many.
unsigned read_batch(slab_allocator &sa, unsigned skip, slabinfo_row *rows) {
  spin_lock_guard g(sa.slab_mutex);
  unsigned pos = 0, got = 0;
  // slab_allocator::caches is oldest first: walk it backwards.
  for (list_head *e = sa.caches.prev; e != &sa.caches && got < SLABINFO_BATCH; e = e->prev, pos++)
    if (pos >= skip) read_cache(list_entry(e, kmem_cache, list), &rows[got++]);
  return got;
}

void print_row(seq_out &out, const slabinfo_row &r) {
  // sharedfactor and sharedavail are 0: there is no shared array (as in a
  // Linux SLAB cache with shared=0, and always in SLUB).
  seq_printf(out, "%-17s %6lu %6lu %6u %4u %4d : tunables %4u %4u %4u : slabdata %6lu %6lu %6lu\n", r.name,
             r.active_objs, r.num_objs, r.objsize, r.objperslab, 1 << r.order, r.limit, r.batchcount, 0u,
             r.active_slabs, r.num_slabs, 0ul);
}

}  // namespace

void show_slabinfo(slab_allocator &sa, seq_out &out) {
  seq_puts(out, "slabinfo - version: 2.1\n");
  seq_puts(out,
           "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"
           " : tunables <limit> <batchcount> <sharedfactor>"
           " : slabdata <active_slabs> <num_slabs> <sharedavail>\n");
  slabinfo_row rows[SLABINFO_BATCH];
  for (unsigned done = 0;;) {
    unsigned n = read_batch(sa, done, rows);
    for (unsigned i = 0; i < n; i++) print_row(out, rows[i]);
    if (n < SLABINFO_BATCH) break;
    done += n;
  }
}
