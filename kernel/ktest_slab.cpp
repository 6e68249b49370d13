// In-kernel tests of the slab allocator and kmalloc on the kernel's own
// instance (system_slab), over the machine's real memory and page table.
#include <asm/mmu.h>

#include "arch/arch.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/ktest.h"
#include "kernel/ktest_mm.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "mm/page_alloc.h"
#include "mm/slab.h"
#include "mm/slab_report.h"

namespace {

slab_allocator &sa() { return *system_slab; }
mem_system &ms() { return *system_slab->ms; }

bool is_power_of_2(size_t n) { return n && !(n & (n - 1)); }

// The page holding the first byte of the allocation that va is part of.
page *head_page(const void *va) { return compound_head(virt_to_page(ms(), va)); }

// Checks one kmalloc'ed block of `size` bytes: usable size, alignment, the
// kind of memory behind it, the zone, and that the MMU maps it onto
// physically contiguous frames.
void expect_good_block(ktest *t, const u8 *p, size_t size, gfp_t gfp) {
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  size_t usable = ksize(sa(), p);
  KTEST_EXPECT_GE(t, usable, size);
  // Linux guarantees natural alignment for power-of-two sizes, 8 otherwise.
  size_t want_align = is_power_of_2(size) ? size : 8;
  if (a % want_align) ktest_fail(t, __FILE__, __LINE__, "kmalloc(%zu) = %p: not %zu-aligned", size, p, want_align);
  page *head = head_page(p);
  if (size <= KMALLOC_MAX_CACHE_SIZE) {
    kmalloc_cache_type type = (gfp & __GFP_DMA32)         ? KMALLOC_DMA32
                              : (gfp & __GFP_RECLAIMABLE) ? KMALLOC_RECLAIM
                                                          : KMALLOC_NORMAL;
    KTEST_EXPECT_TRUE(t, PageSlab(head));
    KTEST_EXPECT_TRUE(t, head->slab_cache == sa().kmalloc_caches[type][kmalloc_index(size)]);
  } else {
    KTEST_EXPECT_TRUE(t, PageLargeKmalloc(head));
    KTEST_EXPECT_EQ(t, page_address(ms(), head), static_cast<const void *>(p));
  }
  // Every page of the block, through the live page table: where the MMU
  // sends each page boundary inside it is where the direct map says, and
  // each page is of the same allocation, in a zone the flags allow.
  phys_addr_t pa = virt_to_phys(p);
  for (size_t off = 0; off < usable; off = (off | (PAGE_SIZE - 1)) + 1) {
    pt_walk_result w;
    if (!pgtable_walk(kernel_page_table, a + off, &w)) {
      ktest_fail(t, __FILE__, __LINE__, "%p + %zu is not mapped", p, off);
      return;
    }
    if (w.pa != pa + off)
      ktest_fail(t, __FILE__, __LINE__, "%p + %zu maps to %#lx, not %#lx: not contiguous", p, off, w.pa, pa + off);
    KTEST_EXPECT_TRUE(t, head_page(p + off) == head);
    KTEST_EXPECT_LE(t, int(page_zonenum(virt_to_page(ms(), p + off))), int(gfp_zone(gfp)));
  }
}

// Sizes worth asking for: every kmalloc class, one byte above the class
// below it, and large sizes up to KMALLOC_MAX_SIZE.
constexpr size_t LARGE_SIZES[] = {KMALLOC_MAX_CACHE_SIZE + 1, 3 * PAGE_SIZE + 5, 16 * 1024, 64 * 1024 + 1,
                                  1024 * 1024, KMALLOC_MAX_SIZE};
constexpr unsigned NR_TEST_SIZES = 2 * NR_KMALLOC_SIZES + ARRAY_SIZE(LARGE_SIZES);

unsigned test_sizes(size_t *out) {
  unsigned n = 0;
  for (unsigned i = 0; i < NR_KMALLOC_SIZES; i++) {
    out[n++] = (i ? kmalloc_sizes[i - 1] : 0) + 1;
    out[n++] = kmalloc_sizes[i];
  }
  for (size_t s : LARGE_SIZES) out[n++] = s;
  return n;
}

// Every test size at once with gfp: each block is good, and each keeps its
// own fill while all the others are written (no two overlap). Everything is
// given back: the free page count returns to its value before.
void kmalloc_every_size(ktest *t, gfp_t gfp) {
  size_t sizes[NR_TEST_SIZES];
  u8 *held[NR_TEST_SIZES] = {};
  unsigned n = test_sizes(sizes);
  free_state before = settle();
  for (unsigned i = 0; i < n; i++) {
    held[i] = static_cast<u8 *>(kmalloc(sa(), sizes[i], gfp));
    if (!held[i]) {
      ktest_fail(t, __FILE__, __LINE__, "kmalloc(%zu, %#x) failed", sizes[i], gfp);
      continue;
    }
    expect_good_block(t, held[i], sizes[i], gfp);
    memset(held[i], int(i + 1), sizes[i]);
  }
  for (unsigned i = 0; i < n; i++) {
    if (!held[i]) continue;
    size_t bad = 0;
    for (size_t k = 0; k < sizes[i]; k++) bad += held[i][k] != u8(i + 1);
    if (bad) ktest_fail(t, __FILE__, __LINE__, "kmalloc(%zu) = %p: %zu bytes changed", sizes[i], held[i], bad);
    kfree(sa(), held[i]);
  }
  expect_same_free_state(t, before, settle());
}

void kmalloc_sizes_normal(ktest *t) { kmalloc_every_size(t, GFP_KERNEL); }

void kmalloc_sizes_dma32(ktest *t) { kmalloc_every_size(t, GFP_KERNEL | __GFP_DMA32); }

void kmalloc_sizes_reclaimable(ktest *t) { kmalloc_every_size(t, GFP_KERNEL | __GFP_RECLAIMABLE); }

void kmalloc_edge_cases(ktest *t) {
  unsigned long errors = sa().errors;
  KTEST_EXPECT_TRUE(t, kmalloc(sa(), 0, GFP_KERNEL) == ZERO_SIZE_PTR);
  kfree(sa(), nullptr);
  kfree(sa(), ZERO_SIZE_PTR);
  KTEST_EXPECT_EQ(t, ksize(sa(), nullptr), 0u);
  KTEST_EXPECT_EQ(t, sa().errors, errors);
  KTEST_EXPECT_TRUE(t, kmalloc(sa(), KMALLOC_MAX_SIZE + 1, GFP_KERNEL | __GFP_NOWARN) == nullptr);
  KTEST_EXPECT_TRUE(t, kmalloc_array(sa(), ~size_t(0) / 2, 4, GFP_KERNEL | __GFP_NOWARN) == nullptr);
  // kzalloc of a slot that was just dirtied reads zero.
  u8 *p = static_cast<u8 *>(kmalloc(sa(), 100, GFP_KERNEL));
  KTEST_ASSERT_TRUE(t, p != nullptr);
  memset(p, 0xee, 100);
  kfree(sa(), p);
  u8 *z = static_cast<u8 *>(kzalloc(sa(), 100, GFP_KERNEL));
  KTEST_ASSERT_TRUE(t, z != nullptr);
  unsigned nonzero = 0;
  for (unsigned i = 0; i < 100; i++) nonzero += z[i] != 0;
  KTEST_EXPECT_EQ(t, nonzero, 0u);
  // krealloc keeps the contents across classes and into a large kmalloc.
  for (unsigned i = 0; i < 100; i++) z[i] = u8(i);
  u8 *r = static_cast<u8 *>(krealloc(sa(), z, 3000, GFP_KERNEL));
  KTEST_ASSERT_TRUE(t, r != nullptr);
  r = static_cast<u8 *>(krealloc(sa(), r, 5 * PAGE_SIZE, GFP_KERNEL));
  KTEST_ASSERT_TRUE(t, r != nullptr);
  unsigned wrong = 0;
  for (unsigned i = 0; i < 100; i++) wrong += r[i] != u8(i);
  KTEST_EXPECT_EQ(t, wrong, 0u);
  kfree(sa(), r);
  KTEST_EXPECT_EQ(t, sa().errors, errors);
}

// ---- a cache of our own ---------------------------------------------------------

struct test_object {
  u64 magic;
  u8 payload[184];
};
constexpr u64 CTOR_MAGIC = 0x6b746573745f6f62ul;

unsigned ctor_calls;
void test_ctor(void *obj) {
  static_cast<test_object *>(obj)->magic = CTOR_MAGIC;
  ctor_calls++;
}

// More objects than three slabs hold, so that slabs fill, go partial and
// empty again.
constexpr unsigned MAX_HELD = 256;

void custom_cache_round_trip(ktest *t) {
  static void *held[MAX_HELD];
  free_state before = settle();
  ctor_calls = 0;
  kmem_cache *s = kmem_cache_create(sa(), "ktest_object", sizeof(test_object), 0, SLAB_HWCACHE_ALIGN, test_ctor);
  KTEST_ASSERT_TRUE(t, s != nullptr);
  KTEST_EXPECT_EQ(t, s->object_size, unsigned(sizeof(test_object)));
  KTEST_EXPECT_EQ(t, s->align, 64u);  // Linux: a cache line for objects above half a line
  unsigned n = 3 * s->objects + 5 < MAX_HELD ? 3 * s->objects + 5 : MAX_HELD;
  unsigned got = 0;
  for (; got < n; got++) {
    test_object *o = static_cast<test_object *>(kmem_cache_alloc(s, GFP_KERNEL));
    if (!o) break;
    held[got] = o;
    KTEST_EXPECT_EQ(t, o->magic, CTOR_MAGIC);
    KTEST_EXPECT_EQ(t, reinterpret_cast<uintptr_t>(o) % 64, 0u);
    page *slab = head_page(o);
    KTEST_EXPECT_TRUE(t, PageSlab(slab) && slab->slab_cache == s);
    memset(o->payload, int(got), sizeof(o->payload));
  }
  KTEST_EXPECT_EQ(t, got, n);
  // Constructors run once per slot, when its slab is made.
  KTEST_EXPECT_EQ(t, ctor_calls % s->objects, 0u);
  KTEST_EXPECT_GE(t, ctor_calls, n);
  unsigned damaged = 0;
  for (unsigned i = 0; i < got; i++) {
    const test_object *o = static_cast<const test_object *>(held[i]);
    for (u8 b : o->payload) damaged += b != u8(i);
  }
  KTEST_EXPECT_EQ(t, damaged, 0u);
  // A cache with live objects is not destroyed.
  KTEST_EXPECT_EQ(t, kmem_cache_destroy(s), -EBUSY);
  for (unsigned i = 0; i < got; i++) kmem_cache_free(s, held[i]);
  KTEST_EXPECT_GE(t, kmem_cache_shrink(s), 1ul << s->order);
  KTEST_EXPECT_EQ(t, kmem_cache_destroy(s), 0);
  expect_same_free_state(t, before, settle());
}

// ---- bad frees --------------------------------------------------------------------

void double_kfree_is_refused(ktest *t) {
  u8 *p = static_cast<u8 *>(kmalloc(sa(), 64, GFP_KERNEL));
  KTEST_ASSERT_TRUE(t, p != nullptr);
  kfree(sa(), p);
  unsigned long bad = sa().bad_frees;
  kfree(sa(), p);
  KTEST_EXPECT_EQ(t, sa().bad_frees, bad + 1);
  // A pointer into the middle of a live object is refused too.
  u8 *q = static_cast<u8 *>(kmalloc(sa(), 64, GFP_KERNEL));
  KTEST_ASSERT_TRUE(t, q != nullptr);
  kfree(sa(), q + 8);
  KTEST_EXPECT_EQ(t, sa().bad_frees, bad + 2);
  kfree(sa(), q);
  KTEST_EXPECT_EQ(t, sa().bad_frees, bad + 2);
  // The cache still serves: distinct objects that keep what is written (a
  // double free that got through would hand p out twice).
  constexpr unsigned N = 40;
  u8 *objs[N];
  for (unsigned i = 0; i < N; i++) {
    objs[i] = static_cast<u8 *>(kmalloc(sa(), 64, GFP_KERNEL));
    KTEST_ASSERT_TRUE(t, objs[i] != nullptr);
    for (unsigned j = 0; j < i; j++) KTEST_EXPECT_TRUE(t, objs[j] != objs[i]);
    memset(objs[i], int(i + 1), 64);
  }
  for (unsigned i = 0; i < N; i++) {
    unsigned wrong = 0;
    for (unsigned k = 0; k < 64; k++) wrong += objs[i][k] != u8(i + 1);
    KTEST_EXPECT_EQ(t, wrong, 0u);
    kfree(sa(), objs[i]);
  }
  KTEST_EXPECT_EQ(t, sa().bad_frees, bad + 2);
}

// ---- slabinfo ----------------------------------------------------------------------


// Splits line (modified) into space-separated words; returns how many.
unsigned split_words(char *line, char **words, unsigned max) {
  unsigned n = 0;
  for (char *c = line; *c && n < max;) {
    while (*c == ' ') *c++ = '\0';
    if (!*c) break;
    words[n++] = c;
    while (*c && *c != ' ') c++;
  }
  return n;
}

u64 number(ktest *t, const char *word) {
  u64 v = 0;
  if (parse_u64(word, &v)) ktest_fail(t, __FILE__, __LINE__, "\"%s\" is not a number", word);
  return v;
}

// The slabinfo row of a cache whose objects we hold says so: active_objs
// counts exactly the objects held (not the free ones of the CPU's slabs),
// and the rest of the row is the cache's geometry and its slabs.
void slabinfo_counts_held_objects(ktest *t) {
  static char text[16384];
  static seq_buf out;
  static void *held[MAX_HELD];
  kmem_cache *s = kmem_cache_create(sa(), "ktest_slabinfo", 100, 0, 0, nullptr);
  KTEST_ASSERT_TRUE(t, s != nullptr);
  unsigned n = 2 * s->objects + 3 < MAX_HELD ? 2 * s->objects + 3 : MAX_HELD;
  for (unsigned i = 0; i < n; i++) {
    held[i] = kmem_cache_alloc(s, GFP_KERNEL);
    KTEST_ASSERT_TRUE(t, held[i] != nullptr);
  }
  // A few of the first slab's back: a free into that full slab makes it this
  // CPU's, and the slab still holds objects.
  unsigned freed = 5;
  for (unsigned i = 0; i < freed; i++) kmem_cache_free(s, held[i]);
  out = {text, sizeof(text), 0};
  seq_out so = seq_buf_out(out);
  show_slabinfo(sa(), so);
  static const char head[] = "slabinfo - version: 2.1\n# name ";
  KTEST_EXPECT_EQ(t, strncmp(out.data, head, sizeof(head) - 1), 0);
  unsigned long slabs = 0, total = 0;
  for (const kmem_cache_node &nd : s->node) {
    slabs += nd.nr_slabs;
    total += nd.total_objects;
  }
  bool found = false;
  for (char *line = out.data; *line;) {
    char *nl = strchr(line, '\n');
    if (!nl) break;
    *nl = '\0';
    char *w[20];
    if (strncmp(line, "ktest_slabinfo ", 15) == 0 && split_words(line, w, 20) == 16) {
      found = true;
      KTEST_EXPECT_EQ(t, number(t, w[1]), u64(n - freed));  // active_objs
      KTEST_EXPECT_EQ(t, number(t, w[2]), u64(total));      // num_objs
      KTEST_EXPECT_EQ(t, number(t, w[3]), u64(s->size));    // objsize: the stride, as Linux
      KTEST_EXPECT_EQ(t, number(t, w[4]), u64(s->objects));
      KTEST_EXPECT_EQ(t, number(t, w[5]), u64(1) << s->order);
      KTEST_EXPECT_STREQ(t, w[7], "tunables");
      KTEST_EXPECT_EQ(t, number(t, w[8]), 0u);  // SLUB has no tunables
      KTEST_EXPECT_EQ(t, number(t, w[9]), 0u);
      KTEST_EXPECT_STREQ(t, w[12], "slabdata");
      KTEST_EXPECT_EQ(t, number(t, w[13]), u64(slabs));  // none free: every slab has held objects
      KTEST_EXPECT_EQ(t, number(t, w[14]), u64(slabs));
      KTEST_EXPECT_EQ(t, number(t, w[15]), 0u);
    }
    line = nl + 1;
  }
  KTEST_EXPECT_TRUE(t, found);
  for (unsigned i = freed; i < n; i++) kmem_cache_free(s, held[i]);
  KTEST_EXPECT_EQ(t, kmem_cache_destroy(s), 0);
}

}  // namespace

KTEST_SUITE(slab, KTEST_CASE(kmalloc_sizes_normal), KTEST_CASE(kmalloc_sizes_dma32),
            KTEST_CASE(kmalloc_sizes_reclaimable), KTEST_CASE(kmalloc_edge_cases),
            KTEST_CASE(custom_cache_round_trip), KTEST_CASE(double_kfree_is_refused),
            KTEST_CASE(slabinfo_counts_held_objects));
