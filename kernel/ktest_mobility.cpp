// In-kernel tests of grouping by mobility on the machine's real memory: the
// pageblocks the boot left, where reclaimable slabs land, the highatomic
// reserve made and given back, and the fragmentation reports.
#include "kernel/boot.h"
#include "kernel/cmdline.h"
#include "kernel/ktest.h"
#include "kernel/line_edit.h"
#include "kernel/printk.h"
#include "kernel/seq_out.h"
#include "kernel/string.h"
#include "mm/page_alloc.h"
#include "mm/page_report.h"
#include "mm/slab.h"
#include "mm/watermark.h"

namespace {

mem_system &ms() { return *system_mem; }

unsigned long pageblocks_of(const zone *z) {
  unsigned long count[MIGRATE_TYPES], n = 0;
  count_pageblock_types(z, count);
  for (unsigned long c : count) n += c;
  return n;
}

// Right after the page allocator was built, before the first allocation,
// every pageblock was MOVABLE, as in Linux.
void boot_pageblocks_were_movable(ktest *t) {
  KTEST_ASSERT_TRUE(t, !ms().page_group_by_mobility_disabled);
  unsigned long total = 0;
  for_each_online_pgdat(ms(), pgdat) for_each_zone_of(pgdat, z) if (populated_zone(z)) total += pageblocks_of(z);
  KTEST_EXPECT_EQ(t, boot_pageblocks[MIGRATE_MOVABLE], total);
  for (unsigned mt = 0; mt < MIGRATE_TYPES; mt++)
    if (mt != MIGRATE_MOVABLE) KTEST_EXPECT_EQ(t, boot_pageblocks[mt], 0ul);
}

// The rest of the boot (page tables, slabs, per-CPU stacks, the other
// harts) took pageblocks for its own memory, and few: about as many as that
// memory fills, plus what a steal takes at once for each kernel type and
// zone (an order-10 block: two pageblocks), partly used.
void boot_memory_is_grouped(ktest *t) {
  unsigned long zones = 0;
  for_each_online_pgdat(ms(), pgdat) for_each_zone_of(pgdat, z) zones += populated_zone(z);
  const unsigned long kernel_blocks = boot_end_pageblocks[MIGRATE_UNMOVABLE] + boot_end_pageblocks[MIGRATE_RECLAIMABLE];
  printk(KERN_INFO "        # %s: %lu unmovable/reclaimable pageblocks for %lu pages in use, %lu zones\n", t->name,
         kernel_blocks, boot_end_pages_in_use, zones);
  KTEST_EXPECT_GE(t, kernel_blocks, 1ul);
  KTEST_EXPECT_LE(t, kernel_blocks, boot_end_pages_in_use / pageblock_nr_pages + 2 * 2 * zones);
  KTEST_EXPECT_EQ(t, boot_end_pageblocks[MIGRATE_HIGHATOMIC] + boot_end_pageblocks[MIGRATE_ISOLATE], 0ul);
}

// A reclaimable cache's slabs, and kmalloc's reclaimable caches', come from
// RECLAIMABLE pageblocks (a mostly free machine always has a whole block to
// steal for the first of them).
void reclaimable_slabs_in_reclaimable_pageblocks(ktest *t) {
  constexpr unsigned N = 256;
  static void *objs[N], *kobjs[N];
  drain_all_pages(ms());
  kmem_cache *s = kmem_cache_create(*system_slab, "ktest_reclaimable", 700, 0, SLAB_RECLAIM_ACCOUNT, nullptr);
  KTEST_ASSERT_TRUE(t, s != nullptr);
  unsigned wrong = 0;
  for (unsigned i = 0; i < N; i++) {
    objs[i] = kmem_cache_alloc(s, GFP_KERNEL);
    kobjs[i] = kmalloc(*system_slab, 192, GFP_KERNEL | __GFP_RECLAIMABLE);
    KTEST_ASSERT_TRUE(t, objs[i] && kobjs[i]);
    void *both[] = {objs[i], kobjs[i]};
    for (void *o : both) {
      page *p = virt_to_page(ms(), o);
      if (get_pfnblock_migratetype(page_zone(ms(), p), page_to_pfn(ms(), p)) != MIGRATE_RECLAIMABLE) wrong++;
    }
  }
  KTEST_EXPECT_EQ(t, wrong, 0u);
  for (unsigned i = 0; i < N; i++) {
    kmem_cache_free(s, objs[i]);
    kfree(*system_slab, kobjs[i]);
  }
  KTEST_EXPECT_EQ(t, kmem_cache_destroy(s), 0);
}

// Sets min_free_kbytes so that every zone's low watermark lies above its
// free pages (no request passes the fast path) while the zone with the most
// free memory for its size keeps min at 9/10 of them (atomic requests still
// succeed there); or, with `starve`, so that min lies above them everywhere.
void set_watermarks_over_free(bool starve) {
  unsigned long lowmem = 0, best_free = 0, best_managed = 1;
  for_each_online_pgdat(ms(), pgdat) for_each_zone_of(pgdat, z) {
    if (!managed_zone(z) || z->idx > ZONE_NORMAL) continue;
    lowmem += z->managed_pages;
    unsigned long free = unsigned(zone_page_state_snapshot(z, NR_FREE_PAGES));
    if (free * best_managed > best_free * z->managed_pages) best_free = free, best_managed = z->managed_pages;
  }
  // A zone's min is pages_min * managed / lowmem.
  unsigned long pages_min = best_free * 9 / 10 * lowmem / best_managed;
  if (starve) pages_min = pages_min * 2 + 1024;
  ms().user_min_free_kbytes = int(pages_min * (PAGE_SIZE >> 10));
  init_per_zone_wmark_min(ms());
}

void restore_watermarks(int user_min_free_kbytes) {
  ms().user_min_free_kbytes = user_min_free_kbytes;
  init_per_zone_wmark_min(ms());
}

unsigned long reserved_highatomic() {
  unsigned long n = 0;
  for_each_online_pgdat(ms(), pgdat) for_each_zone_of(pgdat, z) n += z->nr_reserved_highatomic;
  return n;
}

// A high-order GFP_ATOMIC request that had to go below the low watermark
// reserves its pageblock; pressure from requests that may reclaim gives the
// whole reserve back before they fail.
void atomic_high_order_reserves_a_pageblock(ktest *t) {
  const int saved = ms().user_min_free_kbytes;
  drain_all_pages(ms());
  // Earlier suites may have left a reserve (at its cap): pressure first.
  set_watermarks_over_free(true);
  page *q = alloc_pages(ms(), GFP_KERNEL | __GFP_NOWARN, 0);
  restore_watermarks(saved);
  if (q) __free_pages(ms(), q, 0);
  const unsigned long before = reserved_highatomic();
  KTEST_EXPECT_EQ(t, before, 0ul);
  set_watermarks_over_free(false);
  page *p = alloc_pages(ms(), GFP_ATOMIC | __GFP_NOWARN, 2);
  restore_watermarks(saved);
  KTEST_ASSERT_TRUE(t, p != nullptr);
  zone *z = page_zone(ms(), p);
  KTEST_EXPECT_EQ(t, get_pfnblock_migratetype(z, page_to_pfn(ms(), p)), int(MIGRATE_HIGHATOMIC));
  KTEST_EXPECT_EQ(t, reserved_highatomic(), before + pageblock_nr_pages);
  __free_pages(ms(), p, 2);

  set_watermarks_over_free(true);
  q = alloc_pages(ms(), GFP_KERNEL | __GFP_NOWARN, 0);
  restore_watermarks(saved);
  KTEST_EXPECT_TRUE(t, q == nullptr);
  if (q) __free_pages(ms(), q, 0);
  KTEST_EXPECT_EQ(t, reserved_highatomic(), 0ul);
}

// Captures a report into a static buffer (the kernel stack is small).
char *capture(void (*show)(const mem_system &, seq_out &)) {
  static char text[32768];
  static seq_buf out;
  out = {text, sizeof(text), 0};
  seq_out so = seq_buf_out(out);
  show(ms(), so);
  return text;
}

u64 number(ktest *t, const char *word) {
  u64 v = 0;
  if (parse_u64(word, &v)) ktest_fail(t, __FILE__, __LINE__, "\"%s\" is not a number", word);
  return v;
}

// Whether text has a line that starts with `line`.
bool has_line(const char *text, const char *line) {
  for (const char *l = text; *l;) {
    if (strncmp(l, line, strlen(line)) == 0) return true;
    const char *nl = strchr(l, '\n');
    if (!nl) break;
    l = nl + 1;
  }
  return false;
}

// "0," or "DMA32,": the word without its comma.
char *strip_comma(char *w) {
  size_t n = strlen(w);
  if (n && w[n - 1] == ',') w[n - 1] = '\0';
  return w;
}

int zone_index(const char *name) {
  for (int i = 0; i < int(MAX_NR_ZONES); i++)
    if (strcmp(name, zone_names[i]) == 0) return i;
  return -1;
}

// Calls fn(nid, zone index, words after the zone) for every "Node N, zone
// NAME ..." line of text (modified) that has `words` words in all.
template <class Fn>
void for_each_zone_line(ktest *t, char *text, int words, Fn &&fn) {
  for (char *line = text; *line;) {
    char *nl = strchr(line, '\n');
    if (!nl) break;
    *nl = '\0';
    char *w[24];
    if (strncmp(line, "Node ", 5) == 0 && split_words(line, w, 24) == words) {
      int nid = int(number(t, strip_comma(w[1])));
      int idx = zone_index(strip_comma(w[3]));
      if (nid < 0 || nid >= int(MAX_NUMNODES) || idx < 0) ktest_fail(t, __FILE__, __LINE__, "bad zone line");
      else fn(nid, idx, w + 4);
    }
    line = nl + 1;
  }
}

// pagetypeinfo opens with Linux's header lines, and its per-type counts of
// each zone add up to the zone's nr_free, order by order; extfrag's indices
// say -1.000 exactly where a block of the order is free, and unusable free
// space is 0.000 at order 0 wherever anything is free.
void pagetypeinfo_and_extfrag_add_up(ktest *t) {
  static unsigned long sums[MAX_NUMNODES][MAX_NR_ZONES][NR_PAGE_ORDERS];
  memset(sums, 0, sizeof(sums));
  drain_all_pages(ms());
  char *text = capture(show_pagetypeinfo);
  KTEST_EXPECT_EQ(t, strncmp(text, "Page block order: 9\nPages per block:  512\n\n", 42), 0);
  KTEST_EXPECT_TRUE(t, has_line(text, "Free pages count per migrate type at order       0      1      2 "));
  KTEST_EXPECT_TRUE(t, has_line(text, "Number of blocks type     Unmovable      Movable  Reclaimable   HighAtomic      Isolate "));
  unsigned rows = 0;
  // "Node    0, zone    DMA32, type    Unmovable" and 11 counts: 17 words.
  for_each_zone_line(t, text, 17, [&](int nid, int idx, char **w) {
    rows++;
    for (unsigned o = 0; o < NR_PAGE_ORDERS; o++) sums[nid][idx][o] += number(t, w[2 + o]);
  });
  unsigned zones = 0;
  for_each_online_pgdat(ms(), pgdat) for_each_zone_of(pgdat, z) {
    if (!populated_zone(z)) continue;
    zones++;
    for (unsigned o = 0; o < NR_PAGE_ORDERS; o++) KTEST_EXPECT_EQ(t, sums[pgdat->node_id][z->idx][o], z->free_area[o].nr_free);
  }
  KTEST_EXPECT_EQ(t, rows, zones * MIGRATE_TYPES);

  // "Node 0, zone    DMA32" and 11 indices: 15 words.
  unsigned lines = 0;
  for_each_zone_line(t, capture(show_extfrag_index), 15, [&](int nid, int idx, char **w) {
    lines++;
    const zone *z = &ms().node_data[nid]->node_zones[idx];
    for (unsigned o = 0; o < NR_PAGE_ORDERS; o++) {
      bool block = false;
      for (unsigned k = o; k < NR_PAGE_ORDERS; k++) block |= z->free_area[k].nr_free != 0;
      KTEST_EXPECT_EQ(t, strcmp(w[o], "-1.000") == 0, block);
    }
  });
  KTEST_EXPECT_EQ(t, lines, zones);
  lines = 0;
  for_each_zone_line(t, capture(show_unusable_index), 15, [&](int nid, int idx, char **w) {
    lines++;
    const zone *z = &ms().node_data[nid]->node_zones[idx];
    KTEST_EXPECT_EQ(t, strcmp(w[0], "0.000") == 0, zone_page_state_snapshot(z, NR_FREE_PAGES) > 0);
  });
  KTEST_EXPECT_EQ(t, lines, zones);
}

}  // namespace

KTEST_SUITE(mobility, KTEST_CASE(boot_pageblocks_were_movable), KTEST_CASE(boot_memory_is_grouped),
            KTEST_CASE(reclaimable_slabs_in_reclaimable_pageblocks), KTEST_CASE(atomic_high_order_reserves_a_pageblock),
            KTEST_CASE(pagetypeinfo_and_extfrag_add_up));
