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
#include "mm/slab_internal.h"

namespace {

struct slabinfo_row {
  char name[sizeof(kmem_cache::name)];
  unsigned long active_objs, num_objs;
  unsigned long active_slabs, num_slabs;
  unsigned objsize, objperslab, order;
};

// Rows gathered per hold of slab_mutex: small enough for a kernel stack.
constexpr unsigned SLABINFO_BATCH = 16;

// Objects a slab's callers hold: not free, not lost behind a corrupted
// link, not freed by another CPU and waiting to be taken back.
unsigned long held_objects(const kmem_cache *s, const page *slab) {
  const u64 *remote = remote_map(*s->sa->ms, s, slab);
  unsigned long pending = 0;
  for (unsigned w = 0; w < bitmap_words(s); w++) pending += unsigned(__builtin_popcountll(remote[w]));
  unsigned long held = slab->inuse - slab->lost;
  return held > pending ? held - pending : 0;
}

// Basic algorithm (under stop_machine, so that every CPU's slabs are at
// rest): the objects callers hold, summed over the slabs of every CPU and,
// under each node's list_lock, of every node list. "Active" means held by a
// caller, which is what a leak hunt wants (Linux's SLUB counts every object
// of a CPU's slab as active); objects lost behind a corrupted freelist link
// are held by nobody.
void read_cache(kmem_cache *s, slabinfo_row *row) {
  strscpy(row->name, s->name, sizeof(row->name));
  // Linux prints s->size, the stride (object, red zone, outside link), as
  // objsize: with objperslab and pagesperslab it accounts for the slab.
  row->objsize = s->size;
  row->objperslab = s->objects;
  row->order = s->order;
  unsigned long active = 0, total = 0, slabs = 0, empty_slabs = 0;
  auto count = [&](const page *slab) {
    active += held_objects(s, slab);
    empty_slabs += slab->inuse == 0;
  };
  for (const kmem_cache_cpu &c : s->cpu_slab) {
    if (c.slab) count(c.slab);
    list_for_each(e, &c.partial) count(list_entry(e, page, slab_list));
  }
  for (kmem_cache_node &n : s->node) {
    spin_lock_irqsave_guard g(n.list_lock);
    list_head *held[] = {&n.partial, &n.full};  // free slabs hold nothing
    for (list_head *l : held) list_for_each(e, l) count(list_entry(e, page, slab_list));
    total += n.total_objects;
    slabs += n.nr_slabs;
    empty_slabs += n.nr_free;
  }
  row->active_objs = active;
  row->num_objs = total;
  // Never below 0, even if the allocator's counts were ever broken: the
  // checker, not this report, is the place to say so.
  row->active_slabs = slabs > empty_slabs ? slabs - empty_slabs : 0;
  row->num_slabs = slabs;
}

struct batch {
  slab_allocator &sa;
  unsigned skip;
  slabinfo_row *rows;
  unsigned got;
};

void read_batch_stopped(void *arg) {
  batch &b = *static_cast<batch *>(arg);
  unsigned pos = 0;
  // slab_allocator::caches is oldest first: walk it backwards.
  for (list_head *e = b.sa.caches.prev; e != &b.sa.caches && b.got < SLABINFO_BATCH; e = e->prev, pos++)
    if (pos >= b.skip) read_cache(list_entry(e, kmem_cache, list), &b.rows[b.got++]);
}

// Copies up to SLABINFO_BATCH rows, starting at the `skip`-th cache of the
// newest-first order. Returns how many.
unsigned read_batch(slab_allocator &sa, unsigned skip, slabinfo_row *rows) {
  // slab_mutex first: a CPU parked while holding it would never give it up.
  spin_lock_guard g(sa.slab_mutex);
  batch b{sa, skip, rows, 0};
  stop_machine(read_batch_stopped, &b);
  return b.got;
}

void print_row(seq_out &out, const slabinfo_row &r) {
  // The tunables and sharedavail are 0, as SLUB prints them: there are no
  // per-CPU arrays to size, and no shared one.
  seq_printf(out, "%-17s %6lu %6lu %6u %4u %4d : tunables %4u %4u %4u : slabdata %6lu %6lu %6lu\n", r.name,
             r.active_objs, r.num_objs, r.objsize, r.objperslab, 1 << r.order, 0u, 0u, 0u, r.active_slabs,
             r.num_slabs, 0ul);
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
