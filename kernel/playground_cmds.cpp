// The monitor's allocation playground: `alloc`, `kmalloc` and `vmalloc` take
// memory and keep it under a numbered handle until `free` or `reset`;
// `churn` runs a reproducible random mix of them; `handles` lists the live
// ones. The handle table is a fixed array in the kernel's data, so nothing is
// allocated but what the user asks for; a full table is refused like any bad
// input. Every command checks all of its input before it changes anything.
// Only the monitor's CPU touches the table, so it takes no lock.
#include "kernel/cmdline.h"
#include "kernel/monitor.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "mm/gfp.h"
#include "mm/mmzone.h"
#include "mm/page_alloc.h"
#include "mm/slab.h"
#include "mm/vmalloc.h"

namespace {

enum class kind : u8 { none, pages, kmalloc, vmalloc };
constexpr const char *kind_names[] = {"none", "pages", "kmalloc", "vmalloc"};

struct handle {
  kind k;
  unsigned order;      // pages
  unsigned long size;  // kmalloc, vmalloc: bytes asked for
  unsigned long id;    // what the user types; 0 for a free slot
  gfp_t gfp;
  page *pg;            // pages
  void *addr;          // kmalloc, vmalloc
};

constexpr unsigned PLAYGROUND_HANDLES = 512;
handle handles[PLAYGROUND_HANDLES];
unsigned long next_id = 1;  // ids are never reused: an old one is "already freed"

constexpr unsigned long PLAYGROUND_VMALLOC_MAX = 256ul << 20;

handle *free_slot() {
  for (handle &h : handles)
    if (h.k == kind::none) return &h;
  return nullptr;
}

unsigned nr_live() {
  unsigned n = 0;
  for (const handle &h : handles) n += h.k != kind::none;
  return n;
}

// Where the memory of a page lives: zone, node and the pageblock's migrate type.
void describe_page(mem_system &ms, const page *p, unsigned long phys_offset) {
  const zone *z = page_zone(ms, p);
  printk("  pfn %#lx phys %#lx zone %s node %d migratetype %s\n", page_to_pfn(ms, p),
         page_to_phys(ms, p) + phys_offset, z->name, z->zone_pgdat->node_id,
         migratetype_names[get_pageblock_migratetype(z, p)]);
}

void describe(mem_system &ms, const handle &h, unsigned long free_before) {
  char flags[160];
  format_gfp(flags, sizeof(flags), h.gfp);
  switch (h.k) {
  case kind::pages:
    printk("handle %lu: pages order %u (%lu KiB) virt %p gfp %s\n", h.id, h.order, (PAGE_SIZE << h.order) >> 10,
           page_address(ms, h.pg), flags);
    describe_page(ms, h.pg, 0);
    break;
  case kind::kmalloc:
    printk("handle %lu: kmalloc %lu bytes (ksize %lu) virt %p gfp %s\n", h.id, h.size, ksize(*system_slab, h.addr),
           h.addr, flags);
    describe_page(ms, virt_to_page(ms, h.addr), reinterpret_cast<uintptr_t>(h.addr) & (PAGE_SIZE - 1));
    break;
  case kind::vmalloc:
    printk("handle %lu: vmalloc %lu bytes (%lu pages) virt %p gfp %s\n", h.id, h.size,
           (h.size + PAGE_SIZE - 1) / PAGE_SIZE, h.addr, flags);
    printk("  first page:");
    describe_page(ms, vmalloc_to_page(*system_vmalloc, h.addr), 0);
    break;
  case kind::none:
    break;
  }
  printk("  free pages %lu -> %lu\n", free_before, nr_free_pages(ms));
}

void release(handle &h) {
  switch (h.k) {
  case kind::pages: __free_pages_var(*system_mem, h.pg, h.order); break;
  case kind::kmalloc: kfree(*system_slab, h.addr); break;
  case kind::vmalloc: vfree(*system_vmalloc, h.addr); break;
  case kind::none: break;
  }
  h = handle{};
}

// Takes the memory h describes (kind, order or size, gfp set); on success
// gives it the next id. Returns false with nothing taken.
bool take(handle &h) {
  switch (h.k) {
  case kind::pages: h.pg = alloc_pages_var(*system_mem, h.gfp, h.order); break;
  case kind::kmalloc: h.addr = kmalloc(*system_slab, h.size, h.gfp); break;
  case kind::vmalloc:
    h.addr = (h.gfp & __GFP_MOVABLE) ? vmalloc_movable(*system_vmalloc, h.size) : vmalloc(*system_vmalloc, h.size);
    break;
  case kind::none: break;
  }
  if (!h.pg && !h.addr) {
    h = handle{};
    return false;
  }
  h.id = next_id++;
  return true;
}

// The checks every command shares: the allocators are up, a slot is free.
handle *ready_slot(const char *cmd) {
  if (!system_mem || !system_slab || !system_vmalloc) {
    printk("%s: the allocators are not set up\n", cmd);
    return nullptr;
  }
  handle *h = free_slot();
  if (!h) printk("%s: the handle table is full (%u handles); `free` or `reset` some\n", cmd, PLAYGROUND_HANDLES);
  return h;
}

// Parses argv[first..] as GFP flags, GFP_KERNEL when none; false after saying why.
bool parse_gfp_args(const char *cmd, int argc, char **argv, int first, gfp_t *gfp) {
  *gfp = 0;
  for (int i = first; i < argc; i++)
    if (const char *bad = parse_gfp(argv[i], gfp)) {
      int len = 0;
      while (bad[len] && bad[len] != '|') len++;
      printk("%s: unknown GFP flag \"%.*s\" (Linux's names: GFP_KERNEL, __GFP_ZERO, ...)\n", cmd, len, bad);
      return false;
    }
  if (argc <= first) *gfp = GFP_KERNEL;
  if (gfp_zone(*gfp) == ZONE_INVALID || gfp_migratetype(*gfp) == MIGRATE_TYPE_INVALID) {
    printk("%s: contradictory GFP flags (two zone modifiers, or __GFP_MOVABLE with __GFP_RECLAIMABLE)\n", cmd);
    return false;
  }
  return true;
}

// Takes the memory of h (filled in by the caller) into slot, and reports it.
int commit(const char *cmd, handle *slot, const handle &h) {
  unsigned long before = nr_free_pages(*system_mem);
  *slot = h;
  if (!take(*slot)) {
    printk("%s: the allocation failed (no memory for it)\n", cmd);
    return 1;
  }
  describe(*system_mem, *slot, before);
  return 0;
}

int cmd_alloc(int argc, char **argv) {
  u64 order;
  if (argc < 2 || parse_u64(argv[1], &order)) {
    printk("alloc: usage: alloc ORDER [GFP...]\n");
    return 1;
  }
  if (order > MAX_PAGE_ORDER) {
    printk("alloc: order %llu is too large (at most %u)\n", (unsigned long long)order, MAX_PAGE_ORDER);
    return 1;
  }
  handle h{};
  h.k = kind::pages;
  h.order = unsigned(order);
  if (!parse_gfp_args("alloc", argc, argv, 2, &h.gfp)) return 1;
  handle *slot = ready_slot("alloc");
  return slot ? commit("alloc", slot, h) : 1;
}

bool size_in_range(const char *cmd, u64 size, unsigned long max) {
  if (size != 0 && size <= max) return true;
  printk("%s: size %llu out of range (1 to %lu)\n", cmd, (unsigned long long)size, max);
  return false;
}

int cmd_kmalloc(int argc, char **argv) {
  u64 size;
  if (argc < 2 || parse_size(argv[1], &size)) {
    printk("kmalloc: usage: kmalloc SIZE [GFP...]\n");
    return 1;
  }
  if (!size_in_range("kmalloc", size, KMALLOC_MAX_SIZE)) return 1;
  handle h{};
  h.k = kind::kmalloc;
  h.size = size;
  if (!parse_gfp_args("kmalloc", argc, argv, 2, &h.gfp)) return 1;
  handle *slot = ready_slot("kmalloc");
  return slot ? commit("kmalloc", slot, h) : 1;
}

int cmd_vmalloc(int argc, char **argv) {
  u64 size;
  if (argc < 2 || argc > 3 || parse_size(argv[1], &size) || (argc == 3 && strcmp(argv[2], "movable") != 0)) {
    printk("vmalloc: usage: vmalloc SIZE [movable]\n");
    return 1;
  }
  if (!size_in_range("vmalloc", size, PLAYGROUND_VMALLOC_MAX)) return 1;
  handle h{};
  h.k = kind::vmalloc;
  h.size = size;
  h.gfp = GFP_KERNEL | (argc == 3 ? __GFP_MOVABLE : 0);
  handle *slot = ready_slot("vmalloc");
  return slot ? commit("vmalloc", slot, h) : 1;
}

int cmd_free(int argc, char **argv) {
  u64 id;
  if (argc != 2 || parse_u64(argv[1], &id)) {
    printk("free: usage: free HANDLE\n");
    return 1;
  }
  for (handle &h : handles)
    if (h.k != kind::none && h.id == id) {
      unsigned long before = nr_free_pages(*system_mem);
      const char *what = kind_names[int(h.k)];
      release(h);
      printk("free: handle %llu (%s) freed; free pages %lu -> %lu\n", (unsigned long long)id, what, before,
             nr_free_pages(*system_mem));
      return 0;
    }
  if (id != 0 && id < next_id) printk("free: handle %llu is already freed\n", (unsigned long long)id);
  else printk("free: no handle %llu\n", (unsigned long long)id);
  return 1;
}

int cmd_handles(int, char **) {
  printk("handle  kind     order/size  virt\n");
  for (const handle &h : handles) {
    if (h.k == kind::none) continue;
    const void *virt = h.k == kind::pages ? page_address(*system_mem, h.pg) : h.addr;
    printk("%6lu  %-7s  %10lu  %p\n", h.id, kind_names[int(h.k)], h.k == kind::pages ? h.order : h.size, virt);
  }
  printk("%u live of %u\n", nr_live(), PLAYGROUND_HANDLES);
  return 0;
}

// Gives the empty slabs every cache keeps (min_partial per node, the
// CPUs' own) back to the page allocator, as writing to each of Linux's
// /sys/kernel/slab/*/shrink does; kmalloc's and vmalloc's vmap_area cache
// would otherwise keep the churn's footprint. Returns the pages freed.
unsigned long shrink_all_caches() {
  unsigned long pages = 0;
  spin_lock(&system_slab->slab_mutex);
  list_for_each(e, &system_slab->caches) pages += kmem_cache_shrink(list_entry(e, kmem_cache, list));
  spin_unlock(&system_slab->slab_mutex);
  return pages;
}

int cmd_reset(int, char **) {
  if (!system_mem || !system_slab || !system_vmalloc) {
    printk("reset: the allocators are not set up\n");
    return 1;
  }
  unsigned long before = nr_free_pages(*system_mem);
  unsigned n = 0;
  for (handle &h : handles)
    if (h.k != kind::none) release(h), n++;
  // Ranges vfree left for the lazy purge hold vmap_area structs: purge them
  // first so that their slabs can go too.
  vm_unmap_aliases(*system_vmalloc);
  unsigned long shrunk = shrink_all_caches();
  printk("reset: %u handles freed, %lu pages of empty slabs; free pages %lu -> %lu\n", n, shrunk, before,
         nr_free_pages(*system_mem));
  return 0;
}

// xorshift64: the same seed gives the same workload on every boot.
u64 churn_next(u64 &s) {
  s ^= s << 13;
  s ^= s >> 7;
  s ^= s << 17;
  return s;
}

constexpr gfp_t churn_gfps[] = {GFP_KERNEL, GFP_KERNEL | __GFP_MOVABLE, GFP_KERNEL | __GFP_RECLAIMABLE, GFP_ATOMIC,
                                GFP_KERNEL | __GFP_DMA32, GFP_KERNEL | __GFP_ZERO};
constexpr u64 CHURN_MAX_OPS = 100000000;

int cmd_churn(int argc, char **argv) {
  u64 n, seed = 1;
  if (argc < 2 || argc > 3 || parse_u64(argv[1], &n) || (argc == 3 && parse_u64(argv[2], &seed))) {
    printk("churn: usage: churn N [seed]\n");
    return 1;
  }
  if (n == 0 || n > CHURN_MAX_OPS) {
    printk("churn: N %llu out of range (1 to %llu)\n", (unsigned long long)n, (unsigned long long)CHURN_MAX_OPS);
    return 1;
  }
  if (!ready_slot("churn")) return 1;
  u64 s = seed ? seed : 1;  // xorshift's one stuck state
  unsigned long allocs = 0, frees = 0, failed = 0, before = nr_free_pages(*system_mem);
  u64 step = n >= 20000 ? n / 10 : 0;
  for (u64 i = 0; i < n; i++) {
    if (step && i && i % step == 0) printk("churn: %llu/%llu\n", (unsigned long long)i, (unsigned long long)n);
    unsigned live = nr_live();
    u64 r = churn_next(s);
    if (live && (live == PLAYGROUND_HANDLES || r % 5 < 2)) {
      // Free the k-th live handle.
      unsigned k = unsigned((r >> 8) % live);
      for (handle &h : handles)
        if (h.k != kind::none && k-- == 0) {
          release(h);
          break;
        }
      frees++;
      continue;
    }
    handle h{};
    u64 pick = (r >> 8) % 10;
    h.gfp = churn_gfps[(r >> 16) % ARRAY_SIZE(churn_gfps)] | __GFP_NOWARN;
    if (pick < 4) {
      h.k = kind::pages;
      h.order = unsigned((r >> 24) % 4 == 0 ? (r >> 32) % (MAX_PAGE_ORDER + 1) : (r >> 32) % 4);
    } else if (pick < 8) {
      h.k = kind::kmalloc;
      h.size = 1 + (r >> 24) % ((r >> 40) % 8 == 0 ? 65536 : 2048);
    } else {
      h.k = kind::vmalloc;
      h.size = 1 + (r >> 24) % (256 << 10);
      h.gfp = GFP_KERNEL | ((r >> 48) & 1 ? __GFP_MOVABLE : 0);
    }
    handle *slot = free_slot();
    *slot = h;
    if (take(*slot)) allocs++;
    else failed++;
  }
  printk("churn: %llu steps (seed %llu): %lu allocations, %lu frees, %lu failed; %u handles live; "
         "free pages %lu -> %lu\n",
         (unsigned long long)n, (unsigned long long)seed, allocs, frees, failed, nr_live(), before,
         nr_free_pages(*system_mem));
  return 0;
}

}  // namespace

MONITOR_COMMAND(alloc_cmd, "alloc", "ORDER [GFP...]", "take 2^ORDER pages (alloc_pages) under a new handle",
                cmd_alloc);
MONITOR_COMMAND(kmalloc_cmd, "kmalloc", "SIZE [GFP...]", "take SIZE bytes from kmalloc under a new handle",
                cmd_kmalloc);
MONITOR_COMMAND(vmalloc_cmd, "vmalloc", "SIZE [movable]", "take SIZE bytes from vmalloc under a new handle",
                cmd_vmalloc);
MONITOR_COMMAND(free_cmd, "free", "HANDLE", "give a handle's memory back (__free_pages, kfree or vfree)", cmd_free);
MONITOR_COMMAND(handles_cmd, "handles", "", "the playground's live handles", cmd_handles);
MONITOR_COMMAND(churn_cmd, "churn", "N [seed]", "N random allocations and frees of every kind, reproducible by seed",
                cmd_churn);
MONITOR_COMMAND(reset_cmd, "reset", "", "free every playground handle, purge vmalloc's lazy ranges and shrink every slab cache", cmd_reset);
