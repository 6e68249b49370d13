// The slab and vmalloc checkers against deliberate damage: each test builds
// a healthy state, asserts the checkers pass it, breaks ONE invariant, asserts
// that the report names what broke (and where), then repairs the damage and
// asserts the report is empty again. A checker that missed a kind of damage,
// or that kept complaining about a repaired state, fails here.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "mm/check.h"
#include "mm/slab_internal.h"
#include "mm/vmalloc.h"
#include "proptest/check_damage.h"
#include "proptest/vmalloc_fixture.h"

namespace {

using damage::expect_finds;
using damage::hex;

// ---- vmalloc ----------------------------------------------------------------------------

struct CheckDamageVmalloc : ::testing::Test {
  vmalloc_fixture f;
  uintptr_t area = 0;  // a 4-page vmalloc area
  vmap_area *va = nullptr;
  vm_struct *vm = nullptr;

  void SetUp() override {
    ASSERT_EQ(f.build(layout_kind::single_zone), 0);
    void *p = vmalloc(*f.vs, 4 * PAGE_SIZE);
    ASSERT_NE(p, nullptr);
    area = reinterpret_cast<uintptr_t>(p);
    va = vmap_find_busy(&f.vs->space, area);
    ASSERT_NE(va, nullptr);
    vm = va->vm;
    ASSERT_NE(vm, nullptr);
    ASSERT_EQ(f.check(), "");
  }
  void TearDown() override {
    EXPECT_EQ(f.check(), "") << "after the repair";
    vfree(*f.vs, reinterpret_cast<void *>(area));
    EXPECT_EQ(f.check(), "");
  }

  uintptr_t page_va(unsigned i) const { return area + uintptr_t(i) * PAGE_SIZE; }
  pt_walk_result walk(uintptr_t a) const {
    pt_walk_result w{};
    EXPECT_TRUE(pgtable_walk(*f.vs->pt, a, &w));
    return w;
  }
  int map(uintptr_t a, phys_addr_t pa, unsigned prot, u64 size = PAGE_SIZE, unsigned level = 0) {
    return pgtable_map(f.vs->pt, a, pa, size, prot, level, f.vs->pt_ops);
  }
  int unmap(uintptr_t a, u64 size = PAGE_SIZE) { return pgtable_unmap(f.vs->pt, a, size, f.vs->pt_ops); }
};

// A busy area that lost its vm_struct is named; its pages then count as
// mapped outside every area, and the frame total no longer adds up.
TEST_F(CheckDamageVmalloc, AreaWithoutVmStruct) {
  va->vm = nullptr;
  expect_finds(f.check(), {"busy area " + hex(area) + "-" + hex(va->va_end) + " has no vm_struct",
                           "is mapped outside every area", "vmalloc_pages is 4, the areas hold 0"});
  va->vm = vm;
}

// Each field of vm_struct that must agree with the area's range is checked.
TEST_F(CheckDamageVmalloc, VmStructMismatch) {
  const std::string what = "area " + hex(area) + ": vm_struct";
  vmap_area other{};
  vm->va = &other;
  expect_finds(f.check(), {what});
  vm->va = va;
  vm->addr = reinterpret_cast<void *>(area + PAGE_SIZE);
  expect_finds(f.check(), {what});
  vm->addr = reinterpret_cast<void *>(area);
  vm->size += PAGE_SIZE;
  expect_finds(f.check(), {what});
  vm->size -= PAGE_SIZE;
  vm->nr_pages--;
  expect_finds(f.check(), {what, "vmalloc_pages is 4, the areas hold 3"});
  vm->nr_pages++;
}

// A page of an area that is not mapped is named by its index.
TEST_F(CheckDamageVmalloc, PageNotMapped) {
  pt_walk_result w = walk(page_va(2));
  ASSERT_EQ(unmap(page_va(2)), 0);
  expect_finds(f.check(), {"page 2 of area " + hex(area) + " is not mapped"});
  ASSERT_EQ(map(page_va(2), w.pa, PROT_READ | PROT_WRITE | PROT_GLOBAL), 0);
}

// A vmalloc page must be read/write and nothing else.
TEST_F(CheckDamageVmalloc, WrongProt) {
  pt_walk_result w = walk(page_va(1));
  ASSERT_EQ(unmap(page_va(1)), 0);
  ASSERT_EQ(map(page_va(1), w.pa, PROT_READ | PROT_EXEC | PROT_GLOBAL), 0);
  expect_finds(f.check(), {"page 1 of area " + hex(area) + " has prot", "not R/W only"});
  ASSERT_EQ(unmap(page_va(1)), 0);
  ASSERT_EQ(map(page_va(1), w.pa, PROT_READ | PROT_WRITE | PROT_GLOBAL), 0);
}

// A vmalloc page that maps a frame the page allocator considers free (the
// area would share memory with the next allocation) is named with the frame.
TEST_F(CheckDamageVmalloc, MapsFreeFrame) {
  page *spare = alloc_pages(*f.slab.mm.ms, GFP_KERNEL, 0);
  ASSERT_NE(spare, nullptr);
  const phys_addr_t free_pa = page_to_phys(*f.slab.mm.ms, spare);
  __free_pages(*f.slab.mm.ms, spare, 0);
  pt_walk_result w = walk(page_va(0));
  ASSERT_EQ(unmap(page_va(0)), 0);
  ASSERT_EQ(map(page_va(0), free_pa, PROT_READ | PROT_WRITE | PROT_GLOBAL), 0);
  expect_finds(f.check(), {"page 0 of area " + hex(area) + " maps " + hex(free_pa) + ", which is not an allocated frame"});
  ASSERT_EQ(unmap(page_va(0)), 0);
  ASSERT_EQ(map(page_va(0), w.pa, PROT_READ | PROT_WRITE | PROT_GLOBAL), 0);
}

// The frame behind a vmalloc page must be allocated and this area's page:
// each mark of a free, slab or reserved page, a missing reference, another
// owner or another index is named with the frame.
TEST_F(CheckDamageVmalloc, FrameNotThisAreasPage) {
  mem_system &ms = *f.slab.mm.ms;
  const phys_addr_t pa = walk(page_va(1)).pa;
  page *frame = pfn_to_page(ms, PHYS_PFN(pa));
  ASSERT_NE(frame, nullptr);
  const std::string not_allocated = "page 1 of area " + hex(area) + " maps " + hex(pa) + ", which is not an allocated frame";
  for (pageflags flag : {PG_buddy, PG_pcp, PG_slab, PG_reserved}) {
    set_page_flag(frame, flag);
    expect_finds(f.check(), {not_allocated});
    clear_page_flag(frame, flag);
  }
  set_page_count(frame, 0);
  expect_finds(f.check(), {not_allocated});
  set_page_count(frame, 1);
  const std::string owned = "page 1 of area " + hex(area) + " maps " + hex(pa) + ", which is owned by ";
  frame->index = 2;
  expect_finds(f.check(), {owned});
  frame->index = 1;
  void *mapping = frame->mapping;
  frame->mapping = nullptr;
  expect_finds(f.check(), {owned});
  frame->mapping = mapping;
}

// A movable area is a vmalloc allocation (VM_ALLOC), and the movable page
// count is the movable areas' pages.
TEST_F(CheckDamageVmalloc, MovableFlagsAndCount) {
  const unsigned long flags = vm->flags;
  vm->flags = (flags & ~VM_ALLOC) | VM_MOVABLE;
  expect_finds(f.check(), {"area " + hex(area) + " is VM_MOVABLE but not VM_ALLOC"});
  vm->flags = flags;
  f.vs->movable_pages++;
  expect_finds(f.check(), {"vmalloc: movable_pages is 1, the movable areas hold 0"});
  f.vs->movable_pages--;
}

// A mapped guard page would let an overrun go unnoticed: it is named, and
// its leaf is outside every area's pages.
TEST_F(CheckDamageVmalloc, GuardMapped) {
  const uintptr_t guard = va->va_end - PAGE_SIZE;
  ASSERT_EQ(guard, page_va(4));
  ASSERT_EQ(map(guard, walk(page_va(0)).pa, PROT_READ | PROT_WRITE | PROT_GLOBAL), 0);
  expect_finds(f.check(), {"the guard page of area " + hex(area) + " is mapped",
                           hex(guard) + " (4096 bytes) is mapped outside every area"});
  ASSERT_EQ(unmap(guard), 0);
}

// A mapped page right below an area would let a stack that runs off the
// area's bottom (kernel/thread_stack.h) write on unnoticed: it is named,
// even outside the vmalloc range (the fixture's area is the first one).
TEST_F(CheckDamageVmalloc, PageBelowMapped) {
  ASSERT_EQ(area, f.vs->space.start);
  const uintptr_t below = area - PAGE_SIZE;
  ASSERT_EQ(map(below, walk(page_va(0)).pa, PROT_READ | PROT_GLOBAL), 0);
  expect_finds(f.check(), {"the page below area " + hex(area) + " is mapped"});
  ASSERT_EQ(unmap(below), 0);
}

// A leaf in the vmalloc range where no area is, is named; a leaf outside the
// vmalloc range is not vmalloc's business.
TEST_F(CheckDamageVmalloc, StrayLeaf) {
  const uintptr_t stray = f.vs->space.end - 16 * PAGE_SIZE;
  ASSERT_EQ(vmap_find_busy(&f.vs->space, stray), nullptr);
  const phys_addr_t pa = walk(page_va(0)).pa;
  ASSERT_EQ(map(stray, pa, PROT_READ | PROT_WRITE | PROT_GLOBAL), 0);
  expect_finds(f.check(), {hex(stray) + " (4096 bytes) is mapped outside every area"});
  ASSERT_EQ(unmap(stray), 0);
  const uintptr_t outside = f.vs->space.start - 16 * PAGE_SIZE;
  ASSERT_EQ(map(outside, pa, PROT_READ | PROT_GLOBAL), 0);
  EXPECT_EQ(f.check(), "");
  ASSERT_EQ(unmap(outside), 0);
}

// The frame total and the vmap_space's own counters are checked.
TEST_F(CheckDamageVmalloc, Counters) {
  f.vs->vmalloc_pages++;
  expect_finds(f.check(), {"vmalloc_pages is 5, the areas hold 4"});
  f.vs->vmalloc_pages--;
  f.vs->space.nr_busy++;
  expect_finds(f.check(), {"vmalloc: vmap space: nr_free or nr_busy does not match the trees"});
  f.vs->space.nr_busy--;
}

// A page mapped by a huge leaf instead of its own 4 KiB leaf is named (an
// area's pages are unmapped one by one, which a huge leaf would not allow).
TEST(CheckDamageVmallocHuge, LeafInsideArea) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  const unsigned long huge = PAGE_SIZE << 9;
  void *p = __vmalloc_node(*f.vs, huge, huge, GFP_KERNEL, NUMA_NO_NODE, nullptr);
  ASSERT_NE(p, nullptr);
  const uintptr_t a = reinterpret_cast<uintptr_t>(p);
  ASSERT_EQ(a % huge, 0u);
  ASSERT_EQ(f.check(), "");
  // The area's own frames stay allocated (vfree gives them back); the huge
  // leaf maps a block of its own.
  std::vector<phys_addr_t> frames;
  for (unsigned i = 0; i < 512; i++) {
    pt_walk_result w{};
    ASSERT_TRUE(pgtable_walk(*f.vs->pt, a + i * PAGE_SIZE, &w));
    frames.push_back(w.pa);
  }
  page *block = alloc_pages(*f.slab.mm.ms, GFP_KERNEL | __GFP_COMP, 9);
  ASSERT_NE(block, nullptr);
  ASSERT_EQ(pgtable_unmap(f.vs->pt, a, huge, f.vs->pt_ops), 0);
  ASSERT_EQ(pgtable_map(f.vs->pt, a, page_to_phys(*f.slab.mm.ms, block), huge, PROT_READ | PROT_WRITE | PROT_GLOBAL, 1,
                        f.vs->pt_ops),
            0);
  pt_walk_result w{};
  ASSERT_TRUE(pgtable_walk(*f.vs->pt, a, &w));
  ASSERT_EQ(w.level, 1u);
  // Only the first pages: the report's buffer fills up long before page 511.
  expect_finds(f.check(), {"page 0 of area " + hex(a) + " is mapped by a level-1 leaf",
                           "page 1 of area " + hex(a) + " is mapped by a level-1 leaf"});
  ASSERT_EQ(pgtable_unmap(f.vs->pt, a, huge, f.vs->pt_ops), 0);
  for (unsigned i = 0; i < 512; i++)
    ASSERT_EQ(pgtable_map(f.vs->pt, a + i * PAGE_SIZE, frames[i], PAGE_SIZE, PROT_READ | PROT_WRITE | PROT_GLOBAL, 0,
                          f.vs->pt_ops),
              0);
  __free_pages(*f.slab.mm.ms, block, 9);
  EXPECT_EQ(f.check(), "");
  vfree(*f.vs, p);
  EXPECT_EQ(f.check(), "");
}

// ---- slab ---------------------------------------------------------------------------------

struct CheckDamageSlab : one_cache_test<64> {
  void SetUp() override {
    one_cache_test::SetUp();
    ASSERT_EQ(f.check(), "");
  }
  void TearDown() override {
    EXPECT_EQ(f.check(), "") << "after the repair";
    kmem_cache_shrink(s);
    EXPECT_EQ(kmem_cache_destroy(s), 0);
    EXPECT_EQ(f.check(), "");
    one_cache_test::TearDown();
  }

  // CPU 0 gives its slabs back to the node.
  void flush_cpu0() const {
    unsigned long flags = local_lock_irqsave();
    flush_cpu_slabs(s, 0);
    local_unlock_irqrestore(flags);
  }
  // The first slab on node 0's partial list, once CPU 0 has given its
  // slabs back to the node.
  page *partial_slab() const {
    flush_cpu0();
    if (list_empty(&s->node[0].partial)) return nullptr;
    return list_entry(s->node[0].partial.next, page, slab_list);
  }
};

// Each geometry field the allocator relies on is range-checked, on a cache
// with no slab (so nothing but the field is wrong).
TEST_F(CheckDamageSlab, Geometry) {
  const std::string name = "slab edge: ";
  const kmem_cache saved = *s;
  const std::string size = std::to_string(s->size);
  s->objects = 0;
  expect_finds(f.check(), {name + "0 objects per slab"});
  s->objects = saved.objects;
  s->align = 24;
  expect_finds(f.check(), {name + "size " + size + " is not a multiple of a power-of-two alignment 24"});
  s->align = saved.align;
  s->red_zone = s->size;
  expect_finds(f.check(), {name + "slot of " + size + " bytes cannot hold object " + std::to_string(s->object_size) +
                           " + red zone " + size});
  s->red_zone = saved.red_zone;
  s->offset = s->size;
  expect_finds(f.check(), {"and the link at " + size});
  s->offset = saved.offset;
  const unsigned too_many = (unsigned(PAGE_SIZE) << s->order) / s->size + 1;
  s->objects = too_many;
  expect_finds(f.check(), {std::to_string(too_many) + " objects of " + size + " bytes overflow a slab of " +
                           std::to_string(PAGE_SIZE << s->order)});
  s->objects = 4096;  // as many as the checker can follow: only the bitmaps no longer fit
  const std::string at_most = f.check();
  expect_finds(at_most, {"bitmaps at offset"});
  EXPECT_EQ(at_most.find("objects per slab"), std::string::npos) << at_most;
  s->objects = 4097;
  expect_finds(f.check(), {name + "4097 objects per slab (1..4096)"});
  s->objects = saved.objects;
  s->cpu_partial_slabs = 64;
  EXPECT_EQ(f.check(), "");
  s->cpu_partial_slabs = 65;
  expect_finds(f.check(), {"cpu_partial_slabs 65 out of range (1..64)"});
  s->cpu_partial_slabs = 0;
  expect_finds(f.check(), {"cpu_partial_slabs 0 out of range"});
  s->cpu_partial_slabs = saved.cpu_partial_slabs;
  // Bitmaps beside the objects end within the slab: to its last byte, not one further.
  const unsigned bitmaps = unsigned(NR_SLAB_BITMAPS * 8 * bitmap_words(s));
  ASSERT_NE(s->bitmap_offset, 0u);
  s->bitmap_offset = unsigned(PAGE_SIZE << s->order) - bitmaps;
  EXPECT_EQ(f.check(), "");
  s->bitmap_offset++;
  expect_finds(f.check(), {name + "bitmaps at offset " + std::to_string(s->bitmap_offset) + " do not fit beside " +
                           std::to_string(s->objects) + " objects"});
  s->bitmap_offset = saved.bitmap_offset;
  s->bitmap_words++;
  expect_finds(f.check(), {name + "bitmap_words " + std::to_string(s->bitmap_words) + " for " +
                           std::to_string(s->objects) + " objects"});
  s->bitmap_words = saved.bitmap_words;
  s->slab_mask = saved.slab_mask >> 1;
  expect_finds(f.check(), {"slab mask "});
  s->slab_mask = saved.slab_mask;
  s->reciprocal_size = saved.reciprocal_size - 1;
  expect_finds(f.check(), {"do not match " + std::to_string(PAGE_SIZE << s->order) + "-byte slabs of " + size +
                           "-byte objects"});
  s->reciprocal_size = saved.reciprocal_size;
}

// Damage to a CPU's slabs: a current slab frozen to another CPU, a partial
// list whose count is wrong or that holds the current slab, too many partial
// slabs, a node count that misses the CPU's slabs, remote bits where they
// cannot be.
TEST_F(CheckDamageSlab, CpuSlabs) {
  void *obj = kmem_cache_alloc(s, GFP_KERNEL);
  ASSERT_NE(obj, nullptr);
  kmem_cache_cpu &c = s->cpu_slab[0];
  page *slab = c.slab;
  ASSERT_NE(slab, nullptr);
  ASSERT_EQ(addr_to_slab(*f.sa->ms, obj), slab);
  const std::string base = slabt::addr_str(slab_base(*f.sa->ms, slab));
  ASSERT_EQ(f.check(), "");

  slab->slab_frozen = 3;
  expect_finds(f.check(), {"slab " + base + " is CPU 0's but frozen to 2"});
  slab->slab_frozen = 1;
  slab->slab_inflight = 2;
  expect_finds(f.check(), {"slab " + base + ": 2 remote frees in flight with every CPU held"});
  slab->slab_inflight = 0;

  c.nr_partial = 1;
  expect_finds(f.check(), {"cpu 0: nr_partial 1, its partial list holds 0"});
  c.nr_partial = 0;
  list_add(&slab->slab_list, &c.partial);
  c.nr_partial = 1;
  expect_finds(f.check(), {"cpu 0: its current slab is on its partial list too"});
  list_del(&slab->slab_list);
  c.nr_partial = 0;

  const unsigned cap = s->cpu_partial_slabs;
  c.slab = nullptr;
  list_add(&slab->slab_list, &c.partial);
  c.nr_partial = 1;
  s->cpu_partial_slabs = 1;
  ASSERT_EQ(f.check(), "");
  s->cpu_partial_slabs = cap;
  list_del(&slab->slab_list);
  c.nr_partial = 0;
  c.slab = slab;

  s->node[0].nr_slabs++;
  expect_finds(f.check(), {"slab edge: node 0: nr_slabs 2, but its lists hold 0 and CPUs own 1"});
  s->node[0].nr_slabs--;
  s->node[0].total_objects++;
  EXPECT_EQ(f.check(), "1 violations:\nslab edge: node 0: total_objects " + std::to_string(s->objects + 1) +
                           " for 1 slabs of " + std::to_string(s->objects) + "\n");
  s->node[0].total_objects--;

  // A remote bit of an object nobody holds; then, with the slab given back
  // to the node, a remote bit on an unfrozen slab.
  const long i = slab_obj_index(*f.sa->ms, s, slab, obj);
  u64 *remote = remote_map(*f.sa->ms, s, slab);
  const long j = slab_obj_index(*f.sa->ms, s, slab, slab->freelist);
  remote[j / 64] |= u64(1) << (j % 64);
  expect_finds(f.check(), {"slab " + base + ": object " + std::to_string(j) +
                           " is marked freed by another CPU but not allocated"});
  remote[j / 64] &= ~(u64(1) << (j % 64));
  ASSERT_EQ(partial_slab(), slab);
  remote[i / 64] |= u64(1) << (i % 64);
  expect_finds(f.check(), {"slab " + base + " is on node 0's lists with 1 objects freed by another CPU not taken back"});
  remote[i / 64] &= ~(u64(1) << (i % 64));
  slab->slab_frozen = 2;
  expect_finds(f.check(), {"slab " + base + " is on node 0's lists but frozen to CPU 1"});
  slab->slab_frozen = 0;
  ASSERT_EQ(f.check(), "");
  kmem_cache_free(s, obj);
}

// Damage to a slab's freelist: a head that is no object of the slab, and a
// link that loops back.
TEST_F(CheckDamageSlab, Freelist) {
  void *obj = kmem_cache_alloc(s, GFP_KERNEL);
  ASSERT_NE(obj, nullptr);
  page *slab = partial_slab();
  ASSERT_NE(slab, nullptr);
  void *head = slab->freelist;
  ASSERT_NE(head, nullptr);
  const std::string base = slabt::addr_str(slab_base(*f.sa->ms, slab));

  slab->freelist = static_cast<u8 *>(head) + 1;
  expect_finds(f.check(), {"slab " + base + ": freelist entry 0 (", "is not an object of the slab"});
  slab->freelist = head;

  unsigned long *link = freelist_slot(s, head);
  const unsigned long saved = *link;
  *link = freelist_encode(s, head, head);  // keyed by the object, as slab.cpp stores it
  expect_finds(f.check(), {"slab " + base + ": freelist loops back to object " + slabt::addr_str(head)});
  *link = saved;
  ASSERT_EQ(f.check(), "");
  kmem_cache_free(s, obj);
}

// A slab page that is not this cache's, a slab on the wrong list, counters
// that disagree with the pages: each is named.
TEST_F(CheckDamageSlab, Pages) {
  void *obj = kmem_cache_alloc(s, GFP_KERNEL);
  ASSERT_NE(obj, nullptr);
  page *slab = partial_slab();
  ASSERT_NE(slab, nullptr);
  const std::string base = slabt::addr_str(slab_base(*f.sa->ms, slab));

  slab->slab_cache = f.sa->kmalloc_caches[KMALLOC_NORMAL][kmalloc_index(64)];
  expect_finds(f.check(), {"page of slab " + base + " is not PG_slab of this cache"});
  slab->slab_cache = s;

  const u8 order = slab->alloc_order;
  slab->alloc_order = u8(s->order + 1);
  expect_finds(f.check(), {"slab " + base + " is not one allocation of order " + std::to_string(s->order)});
  slab->alloc_order = order;

  const unsigned inuse = slab->inuse;
  slab->inuse = s->objects + 1;
  expect_finds(f.check(), {"slab " + base + ": ", "but inuse is " + std::to_string(s->objects + 1)});
  slab->inuse = inuse;

  kmem_cache_node &n = s->node[0];
  list_del(&slab->slab_list);
  list_add(&slab->slab_list, &n.full);
  n.nr_partial--, n.nr_full++;
  expect_finds(f.check(), {"slab " + base + " (inuse " + std::to_string(inuse) + ", freelist non-empty) is on the full list"});
  list_del(&slab->slab_list);
  list_add(&slab->slab_list, &n.partial);
  n.nr_partial++, n.nr_full--;
  ASSERT_EQ(f.check(), "");
  kmem_cache_free(s, obj);
}

// The partial list holds slabs with objects both in use and free: a full
// slab there is named, and so is an empty one.
TEST_F(CheckDamageSlab, PartialListHoldsOnlyPartlyUsedSlabs) {
  std::vector<void *> objs;
  for (unsigned i = 0; i < s->objects; i++) {
    objs.push_back(kmem_cache_alloc(s, GFP_KERNEL));
    ASSERT_NE(objs.back(), nullptr);
  }
  flush_cpu0();
  kmem_cache_node &n = s->node[0];
  // Onto the partial list from `from` and back, with the counts kept right.
  auto on_partial = [&](list_head *from, unsigned long &nr, const std::string &want) {
    ASSERT_EQ(nr, 1u);
    page *slab = list_first_entry(from, page, slab_list);
    const std::string base = slabt::addr_str(slab_base(*f.sa->ms, slab));
    list_move(&slab->slab_list, &n.partial);
    nr--, n.nr_partial++;
    EXPECT_EQ(f.check(), "1 violations:\nslab edge: slab " + base + " " + want + " is on the partial list\n");
    list_move(&slab->slab_list, from);
    nr++, n.nr_partial--;
    EXPECT_EQ(f.check(), "");
  };
  ASSERT_EQ(n.nr_partial, 0u);
  on_partial(&n.full, n.nr_full, "(inuse " + std::to_string(s->objects) + ", freelist empty)");
  for (void *o : objs) kmem_cache_free(s, o);
  flush_cpu0();
  ASSERT_EQ(n.nr_partial, 0u);
  on_partial(&n.free, n.nr_free, "(inuse 0, freelist non-empty)");
}

// Free slabs beyond min_partial belong to the page allocator: keeping one
// more is named.
TEST_F(CheckDamageSlab, FreeSlabsAboveMinPartial) {
  std::vector<void *> objs;
  for (unsigned i = 0; i < 3 * s->objects; i++) {
    objs.push_back(kmem_cache_alloc(s, GFP_KERNEL));
    ASSERT_NE(objs.back(), nullptr);
  }
  for (void *o : objs) kmem_cache_free(s, o);
  flush_cpu0();
  const unsigned long kept = s->node[0].nr_free;
  ASSERT_GE(kept, 1u);
  ASSERT_EQ(f.check(), "");
  const unsigned min_partial = s->min_partial;
  s->min_partial = unsigned(kept - 1);
  expect_finds(f.check(), {"slab edge: node 0 keeps " + std::to_string(kept) + " free slabs, above min_partial " +
                           std::to_string(kept - 1)});
  s->min_partial = min_partial;
}

// A list whose first entry points back at itself (a cycle that misses the
// head) is cut where an entry does not link back to the one before it, and
// named there once: each slab is looked at once, and nothing is compared
// with what the cut walk counted (the list's counter, the node's slabs, the
// slab pages). On a node's list, on a CPU's partial list, on the cache list.
TEST_F(CheckDamageSlab, ListCycle) {
  // Two slabs full, then one object of each freed: CPU 0 owns both (on its
  // partial list, room made for two) besides its current slab.
  std::vector<void *> objs;
  for (unsigned i = 0; i < 2 * s->objects + 1; i++) {
    objs.push_back(kmem_cache_alloc(s, GFP_KERNEL));
    ASSERT_NE(objs.back(), nullptr);
  }
  const unsigned cap = s->cpu_partial_slabs;
  s->cpu_partial_slabs = 2;
  kmem_cache_free(s, objs[s->objects]);
  kmem_cache_free(s, objs[0]);
  list_head *cpu_partial = &s->cpu_slab[0].partial;
  ASSERT_EQ(s->cpu_slab[0].nr_partial, 2u);
  const std::string cut = " breaks after 1 slabs: the next entry does not link back\n";
  auto cut_once = [&](list_head *head, const std::string &report) {
    list_head *first = head->next, *next = first->next;
    first->next = first;
    EXPECT_EQ(f.check(), "1 violations:\n" + report);
    first->next = next;
    EXPECT_EQ(f.check(), "");
  };
  cut_once(cpu_partial, "slab edge: cpu 0: the partial list" + cut);
  flush_cpu0();  // all three on node 0's partial list
  s->cpu_partial_slabs = cap;
  ASSERT_EQ(s->node[0].nr_partial, 3u);
  cut_once(&s->node[0].partial, "slab edge: node 0: the partial list" + cut);
  // total_objects against nr_slabs needs no walk: it is checked beside a cut list too.
  list_head *first = s->node[0].partial.next, *next = first->next;
  first->next = first;
  s->node[0].total_objects--;
  EXPECT_EQ(f.check(), "2 violations:\nslab edge: node 0: the partial list" + cut + "slab edge: node 0: total_objects " +
                           std::to_string(3 * s->objects - 1) + " for 3 slabs of " + std::to_string(s->objects) + "\n");
  s->node[0].total_objects++;
  first->next = next;
  cut_once(&f.sa->caches, "slab: the cache list breaks after 1 caches: the next entry does not link back\n");
  for (unsigned i = 0; i < objs.size(); i++)
    if (i != 0 && i != s->objects) kmem_cache_free(s, objs[i]);
}

// Poison overwritten in a free object, on a node's slab and on a CPU's slab
// (a use after free), is named with the object.
TEST(CheckDamageSlabPoison, Overwritten) {
  slab_fixture f;
  slabt::cpu_reset reset;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  host_set_cpu(0);
  kmem_cache *s = kmem_cache_create(*f.sa, "poisoned", 48, 8, SLAB_POISON, nullptr);
  ASSERT_NE(s, nullptr);
  void *obj = kmem_cache_alloc(s, GFP_KERNEL);
  ASSERT_NE(obj, nullptr);
  page *slab = s->cpu_slab[0].slab;  // CPU 0's own slab
  ASSERT_EQ(addr_to_slab(*f.sa->ms, obj), slab);
  u8 *free_obj = static_cast<u8 *>(slab->freelist);
  ASSERT_NE(free_obj, nullptr);
  ASSERT_EQ(f.check(), "");

  // Any byte: the first, the last two (POISON_FREE, then POISON_END).
  for (unsigned i : {0u, 1u, s->object_size - 2, s->object_size - 1}) {
    const u8 saved = free_obj[i];
    free_obj[i] = 0;
    expect_finds(f.check(), {"free object " + slabt::addr_str(free_obj) + " has its poison overwritten"});
    free_obj[i] = saved;
    ASSERT_EQ(f.check(), "");
  }

  kmem_cache_free(s, obj);
  // Freed on this CPU's slab: the freelist's head now.
  u8 *cached = static_cast<u8 *>(slab->freelist);
  ASSERT_EQ(cached, obj);
  const u8 last = cached[s->object_size - 1];
  cached[s->object_size - 1] = POISON_FREE;
  expect_finds(f.check(), {"free object " + slabt::addr_str(cached) + " has its poison overwritten"});
  cached[s->object_size - 1] = last;
  EXPECT_EQ(f.check(), "");
  kmem_cache_shrink(s);
  EXPECT_EQ(kmem_cache_destroy(s), 0);
}

// The slab page counts are compared with the node counters, large kmallocs
// included.
TEST_F(CheckDamageSlab, PageCounters) {
  f.sa->large_pages += 2;
  expect_finds(f.check(), {"slab: NR_SLAB_UNRECLAIMABLE/NR_SLAB_RECLAIMABLE are"});
  f.sa->large_pages -= 2;
}


// The alignment must be a power of two that divides the slot size: 0, and
// 24 and 3 (which do divide 48), are named; 1, 2 and 16 pass.
struct CheckDamageSlabAlign : one_cache_test<48> {};

TEST_F(CheckDamageSlabAlign, PowerOfTwoDividingTheSize) {
  ASSERT_EQ(s->size, 48u);
  ASSERT_EQ(f.check(), "");
  const unsigned align = s->align;
  for (unsigned bad : {0u, 24u, 3u}) {
    s->align = bad;
    EXPECT_EQ(f.check(), "1 violations:\nslab edge: size 48 is not a multiple of a power-of-two alignment " +
                             std::to_string(bad) + "\n");
  }
  for (unsigned good : {1u, 2u, 16u}) {
    s->align = good;
    EXPECT_EQ(f.check(), "") << "alignment " << good;
  }
  s->align = align;
  EXPECT_EQ(kmem_cache_destroy(s), 0);
  EXPECT_EQ(f.check(), "");
}

// A slab of order 0 keeps its bitmaps beside its objects, at a nonzero
// offset; a bigger slab of at most 64 objects keeps them in its first tail
// page (offset 0). A cache of 2048-byte objects is such a slab and passes;
// at 64 objects it still may, at 65 it may not; an order-0 slab with offset
// 0 is named.
TEST(CheckDamageSlabBitmaps, InTheFirstTailPage) {
  slab_fixture f;
  slabt::cpu_reset reset;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  kmem_cache *big = kmem_cache_create(*f.sa, "tailmap", 2048, 8, 0, nullptr);
  kmem_cache *small = kmem_cache_create(*f.sa, "besides", 64, 8, 0, nullptr);
  ASSERT_TRUE(big && small);
  ASSERT_GT(big->order, 0u);
  ASSERT_EQ(big->bitmap_offset, 0u);
  ASSERT_EQ(small->order, 0u);
  ASSERT_NE(small->bitmap_offset, 0u);
  void *obj = kmem_cache_alloc(big, GFP_KERNEL);
  ASSERT_NE(obj, nullptr);
  EXPECT_EQ(f.check(), "");
  const unsigned objects = big->objects;
  for (unsigned n : {64u, 65u}) {
    big->objects = n;
    const std::string report = f.check();  // other geometry is wrong too: only the bitmaps' place matters here
    EXPECT_EQ(report.find("slab tailmap: bitmaps at offset 0 do not fit beside " + std::to_string(n) + " objects") !=
                  std::string::npos,
              n > 64)
        << report;
    // One bitmap word holds 64 objects' bits; 65 need two.
    EXPECT_EQ(report.find("slab tailmap: bitmap_words 1 for " + std::to_string(n) + " objects") != std::string::npos,
              n > 64)
        << report;
  }
  big->objects = objects;
  const unsigned offset = small->bitmap_offset;
  small->bitmap_offset = 0;
  expect_finds(f.check(), {"slab besides: bitmaps at offset 0 do not fit beside " + std::to_string(small->objects) +
                           " objects"});
  small->bitmap_offset = offset;
  EXPECT_EQ(f.check(), "");
  kmem_cache_free(big, obj);
  kmem_cache_shrink(big);
  EXPECT_EQ(kmem_cache_destroy(big), 0);
  EXPECT_EQ(kmem_cache_destroy(small), 0);
}

// ---- the edges of the vmalloc range ------------------------------------------------------

// Leaves right below the range and right at its end are the neighbours'
// (vmalloc's leaf scan covers [start, end) only); the first and last page
// inside it, with no area there, are named.
TEST(CheckDamageVmallocRange, LeavesAtTheEdges) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  page *frame = alloc_pages(*f.slab.mm.ms, GFP_KERNEL, 0);
  ASSERT_NE(frame, nullptr);
  const phys_addr_t pa = page_to_phys(*f.slab.mm.ms, frame);
  const uintptr_t start = f.vs->space.start, end = f.vs->space.end;
  auto map = [&](uintptr_t a) { return pgtable_map(f.vs->pt, a, pa, PAGE_SIZE, PROT_READ | PROT_GLOBAL, 0, f.vs->pt_ops); };
  auto unmap = [&](uintptr_t a) { return pgtable_unmap(f.vs->pt, a, PAGE_SIZE, f.vs->pt_ops); };
  ASSERT_EQ(map(start - PAGE_SIZE), 0);
  ASSERT_EQ(map(end), 0);
  EXPECT_EQ(f.check(), "");
  ASSERT_EQ(map(start), 0);
  ASSERT_EQ(map(end - PAGE_SIZE), 0);
  EXPECT_EQ(f.check(), "2 violations:\nvmalloc: " + hex(start) + " (4096 bytes) is mapped outside every area\nvmalloc: " +
                           hex(end - PAGE_SIZE) + " (4096 bytes) is mapped outside every area\n");
  for (uintptr_t a : {start - PAGE_SIZE, start, end - PAGE_SIZE, end}) ASSERT_EQ(unmap(a), 0);
  EXPECT_EQ(f.check(), "");
  __free_pages(*f.slab.mm.ms, frame, 0);
}

// An area at PAGE_SIZE, the lowest one that has a page below it, has that
// page (page 0) checked too.
TEST(CheckDamageVmallocRange, PageBelowAnAreaAtPageSize) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone, PAGE_SIZE, 65 * PAGE_SIZE), 0);
  void *p = vmalloc(*f.vs, PAGE_SIZE);
  ASSERT_EQ(reinterpret_cast<uintptr_t>(p), PAGE_SIZE);
  static char buf[1024];
  auto run = [&] {
    check_report r = make_check_report(buf, sizeof(buf));
    return check_vmalloc(*f.vs, r);
  };
  EXPECT_EQ(run(), 0u) << buf;
  page *frame = alloc_pages(*f.slab.mm.ms, GFP_KERNEL, 0);
  ASSERT_NE(frame, nullptr);
  ASSERT_EQ(pgtable_map(f.vs->pt, 0, page_to_phys(*f.slab.mm.ms, frame), PAGE_SIZE, PROT_READ | PROT_GLOBAL, 0,
                        f.vs->pt_ops),
            0);
  EXPECT_EQ(run(), 1u);
  EXPECT_EQ(std::string(buf), "vmalloc: the page below area 0x1000 is mapped\n");
  ASSERT_EQ(pgtable_unmap(f.vs->pt, 0, PAGE_SIZE, f.vs->pt_ops), 0);
  EXPECT_EQ(run(), 0u) << buf;
  vfree(*f.vs, p);
  __free_pages(*f.slab.mm.ms, frame, 0);
}

}  // namespace
