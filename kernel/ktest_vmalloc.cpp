// In-kernel tests of vmalloc on the kernel's own instance (system_vmalloc):
// areas mapped in kernel_page_table and reached through the real MMU, so a
// wrong entry shows up as wrong bytes or a fault, not just a wrong number.
// Faults are taken with the trap code's probes, which report instead of
// dying.
#include <asm/csr.h>
#include <asm/memlayout.h>
#include <asm/mmu.h>
#include <asm/traps.h>

#include "arch/arch.h"
#include "kernel/errno.h"
#include "kernel/ktest.h"
#include "kernel/ktest_mm.h"
#include "kernel/printk.h"
#include "kernel/seq_out.h"
#include "kernel/smp.h"
#include "kernel/string.h"
#include "mm/page_alloc.h"
#include "mm/slab.h"
#include "mm/vmalloc.h"

namespace {

vmalloc_system &vs() { return *system_vmalloc; }
mem_system &ms() { return *system_vmalloc->ms; }

uintptr_t uaddr(const void *p) { return reinterpret_cast<uintptr_t>(p); }
unsigned long pages_of(size_t size) { return (size + PAGE_SIZE - 1) / PAGE_SIZE; }

unsigned long settled_free_pages() { return settle().free_pages; }

bool frame_in_use(const page *p) { return page_ref_count(p) >= 1 && !PageBuddy(p) && !PagePcp(p); }

// Checks every page of the area at a (size bytes) against the live table:
// vmalloc_to_page is the frame pgtable_walk finds, mapped by a 4 KiB leaf,
// readable, writable, global, never executable or user; the frame is in use.
// Stores each frame's pfn in pfns[]; returns how many it stored.
unsigned expect_mapped(ktest *t, const u8 *a, size_t size, unsigned long *pfns) {
  unsigned n = 0;
  for (unsigned long off = 0; off < size; off += PAGE_SIZE) {
    pt_walk_result w;
    if (!pgtable_walk(kernel_page_table, uaddr(a) + off, &w)) {
      ktest_fail(t, __FILE__, __LINE__, "%p + %#lx is not mapped", a, off);
      continue;
    }
    page *p = vmalloc_to_page(vs(), a + off);
    KTEST_EXPECT_TRUE(t, p == pfn_to_page(ms(), PHYS_PFN(w.pa)));
    KTEST_EXPECT_EQ(t, w.level, 0u);
    KTEST_EXPECT_EQ(t, w.pte & (PTE_R | PTE_W | PTE_X | PTE_U | PTE_G), PTE_R | PTE_W | PTE_G);
    if (p) {
      KTEST_EXPECT_TRUE(t, frame_in_use(p));
      pfns[n++] = page_to_pfn(ms(), p);
    }
  }
  return n;
}

// Sizes from one byte to 1 MiB, page multiples and not.
constexpr size_t SIZES[] = {1, PAGE_SIZE, PAGE_SIZE + 1, 3 * PAGE_SIZE - 8, 16 * PAGE_SIZE, 64 * 1024 + 1, SZ_1M};
constexpr unsigned NR_SIZES = ARRAY_SIZE(SIZES);
constexpr unsigned MAX_FRAMES = 1 + 1 + 2 + 3 + 16 + 17 + 256;

u8 fill_of(unsigned i) { return u8(0x31 + 7 * i); }

// Every size at once: page-aligned areas inside the range, each page mapped
// to a frame of its own (no frame twice across all areas), bytes written
// through the area read back through it and through the frame's direct map
// (so the MMU really goes where the table says), and VmallocUsed grows by
// exactly the pages taken. Then vfree: the frames go back at once; after
// vm_unmap_aliases (the lazy purge) the areas fault, their table pages are
// back too, and the free page count returns (less at most the slab page of
// a vmap_area node that stays in the free tree).
void vmalloc_sizes_round_trip(ktest *t) {
  static unsigned long pfns[MAX_FRAMES];
  u8 *held[NR_SIZES] = {};
  unsigned long free_before = settled_free_pages();
  unsigned long tables_before = pgtable_count_tables(kernel_page_table);
  unsigned long used_before = vmalloc_used_pages(vs());
  unsigned nr_pfns = 0, expect_pages = 0;
  for (unsigned i = 0; i < NR_SIZES; i++) {
    held[i] = static_cast<u8 *>(vmalloc(vs(), SIZES[i]));
    if (!held[i]) {
      ktest_fail(t, __FILE__, __LINE__, "vmalloc(%zu) failed", SIZES[i]);
      continue;
    }
    uintptr_t a = uaddr(held[i]);
    KTEST_EXPECT_EQ(t, a & (PAGE_SIZE - 1), 0u);
    KTEST_EXPECT_TRUE(t, a >= VMALLOC_START_ADDR && a + SIZES[i] <= VMALLOC_END_ADDR);
    KTEST_EXPECT_TRUE(t, is_vmalloc_addr(vs(), held[i]));
    nr_pfns += expect_mapped(t, held[i], SIZES[i], pfns + nr_pfns);
    expect_pages += unsigned(pages_of(SIZES[i]));
    memset(held[i], fill_of(i), SIZES[i]);
  }
  KTEST_EXPECT_EQ(t, nr_pfns, expect_pages);
  KTEST_EXPECT_EQ(t, vmalloc_used_pages(vs()), used_before + expect_pages);
  // No frame is mapped twice: sorted, no two neighbours are equal.
  for (unsigned i = 1; i < nr_pfns; i++)
    for (unsigned j = i; j > 0 && pfns[j - 1] > pfns[j]; j--) {
      unsigned long x = pfns[j];
      pfns[j] = pfns[j - 1];
      pfns[j - 1] = x;
    }
  for (unsigned i = 1; i < nr_pfns; i++)
    if (pfns[i] == pfns[i - 1]) ktest_fail(t, __FILE__, __LINE__, "pfn %#lx is mapped twice", pfns[i]);
  // Every area kept its bytes while the others were written.
  for (unsigned i = 0; i < NR_SIZES; i++) {
    if (!held[i]) continue;
    size_t bad = 0;
    for (size_t k = 0; k < SIZES[i]; k++) bad += held[i][k] != fill_of(i);
    for (unsigned long off = 0; off < SIZES[i]; off += PAGE_SIZE)
      bad += *static_cast<const u8 *>(page_address(ms(), vmalloc_to_page(vs(), held[i] + off))) != fill_of(i);
    if (bad) ktest_fail(t, __FILE__, __LINE__, "vmalloc(%zu) = %p: %zu bytes wrong", SIZES[i], held[i], bad);
  }
  page *first_frames[NR_SIZES] = {};
  for (unsigned i = 0; i < NR_SIZES; i++) {
    if (!held[i]) continue;
    first_frames[i] = vmalloc_to_page(vs(), held[i]);
    vfree(vs(), held[i]);
  }
  for (unsigned i = 0; i < NR_SIZES; i++) {
    if (!held[i]) continue;
    KTEST_EXPECT_TRUE(t, vmalloc_to_page(vs(), held[i]) == nullptr);
    KTEST_EXPECT_FALSE(t, first_frames[i] && frame_in_use(first_frames[i]));
  }
  vm_unmap_aliases(vs());
  for (unsigned i = 0; i < NR_SIZES; i++)
    if (held[i]) KTEST_EXPECT_TRUE(t, read_faults(held[i]));
  KTEST_EXPECT_EQ(t, vmalloc_used_pages(vs()), used_before);
  KTEST_EXPECT_EQ(t, pgtable_count_tables(kernel_page_table), tables_before);
  unsigned long free_after = settled_free_pages();
  KTEST_EXPECT_LE(t, free_after, free_before + 1);
  KTEST_EXPECT_LE(t, free_before, free_after + 1);
}

// The page after each area is its guard: never mapped, so running off the
// end faults, and the fault report names the area and who made it.
void guard_pages_fault(ktest *t) {
  u8 *a[3];
  for (unsigned i = 0; i < 3; i++) {
    a[i] = static_cast<u8 *>(vmalloc(vs(), (i + 1) * PAGE_SIZE));
    KTEST_ASSERT_TRUE(t, a[i] != nullptr);
    memset(a[i], 0x5a, (i + 1) * PAGE_SIZE);
  }
  for (unsigned i = 0; i < 3; i++) {
    const u8 *guard = a[i] + (i + 1) * PAGE_SIZE;
    KTEST_EXPECT_FALSE(t, pgtable_walk(kernel_page_table, uaddr(guard), nullptr));
    KTEST_EXPECT_TRUE(t, read_faults(guard));
    KTEST_EXPECT_TRUE(t, vmalloc_to_page(vs(), guard) == nullptr);
    // The last byte before the guard is fine.
    u64 v;
    KTEST_EXPECT_EQ(t, probe_read_u64(guard - 8, &v), 0);
    KTEST_EXPECT_EQ(t, v, 0x5a5a5a5a5a5a5a5aull);
    char where[CLASSIFY_ADDRESS_LEN], want[64];
    classify_address(uaddr(guard), where, sizeof(where));
    scnprintf(want, sizeof(want), "vmalloc guard page of area 0x%lx ", uaddr(a[i]));
    KTEST_EXPECT_EQ(t, strncmp(where, want, strlen(want)), 0);
    KTEST_EXPECT_TRUE(t, find(where, "guard_pages_fault+0x") != nullptr);
    // Inside the area: the same area and owner, not the guard.
    classify_address(uaddr(a[i]) + PAGE_SIZE / 2, where, sizeof(where));
    scnprintf(want, sizeof(want), " 0x%lx ", uaddr(a[i]));
    KTEST_EXPECT_EQ(t, strncmp(where, "vmalloc area", 12), 0);
    KTEST_EXPECT_TRUE(t, find(where, want) != nullptr);
    KTEST_EXPECT_TRUE(t, find(where, "guard_pages_fault+0x") != nullptr);
  }
  for (u8 *p : a) vfree(vs(), p);
  char where[CLASSIFY_ADDRESS_LEN];
  classify_address(uaddr(a[0]), where, sizeof(where));
  KTEST_EXPECT_STREQ(t, where, "vmalloc range outside any area");
}

// vmalloc_32 takes frames the 32-bit DMA limit reaches; on a machine with
// memory above 4 GiB plain vmalloc prefers ZONE_NORMAL, so the two differ.
void vmalloc_32_frames_below_4g(ktest *t) {
  constexpr size_t SIZE = 32 * PAGE_SIZE;
  u8 *low = static_cast<u8 *>(vmalloc_32(vs(), SIZE));
  u8 *any = static_cast<u8 *>(vmalloc(vs(), SIZE));
  KTEST_ASSERT_TRUE(t, low != nullptr && any != nullptr);
  bool normal = false;
  for_each_online_pgdat(ms(), pgdat) normal |= managed_zone(&pgdat->node_zones[ZONE_NORMAL]);
  for (size_t off = 0; off < SIZE; off += PAGE_SIZE) {
    page *p = vmalloc_to_page(vs(), low + off);
    KTEST_ASSERT_TRUE(t, p != nullptr);
    KTEST_EXPECT_LT(t, page_to_phys(ms(), p), SZ_4G);
    KTEST_EXPECT_LE(t, int(page_zonenum(p)), int(ZONE_DMA32));
    page *q = vmalloc_to_page(vs(), any + off);
    KTEST_ASSERT_TRUE(t, q != nullptr);
    if (normal) KTEST_EXPECT_EQ(t, int(page_zonenum(q)), int(ZONE_NORMAL));
  }
  memset(low, 0x77, SIZE);
  KTEST_EXPECT_EQ(t, low[SIZE - 1], 0x77);
  vfree(vs(), low);
  vfree(vs(), any);
}

// vmap maps pages the caller owns, in the order given, without taking them:
// bytes written through the direct map read back through the area page by
// page and the other way round; vmap pages are not VmallocUsed; vunmap
// unmaps and leaves the pages allocated with their contents.
void vmap_maps_pages_in_order(ktest *t) {
  page *pages[3];
  for (page *&p : pages) {
    p = alloc_pages(ms(), GFP_KERNEL, 0);
    KTEST_ASSERT_TRUE(t, p != nullptr);
  }
  for (unsigned i = 0; i < 3; i++) memset(page_address(ms(), pages[i]), int(0xa0 + i), PAGE_SIZE);
  unsigned long used = vmalloc_used_pages(vs());
  u8 *a = static_cast<u8 *>(vmap(vs(), pages, 3, VM_MAP, PROT_READ | PROT_WRITE));
  KTEST_ASSERT_TRUE(t, a != nullptr);
  KTEST_EXPECT_EQ(t, uaddr(a) & (PAGE_SIZE - 1), 0u);
  KTEST_EXPECT_EQ(t, vmalloc_used_pages(vs()), used);
  for (unsigned i = 0; i < 3; i++) {
    const u8 *pa = a + i * PAGE_SIZE;
    KTEST_EXPECT_TRUE(t, vmalloc_to_page(vs(), pa) == pages[i]);
    KTEST_EXPECT_EQ(t, pa[0], u8(0xa0 + i));
    KTEST_EXPECT_EQ(t, pa[PAGE_SIZE - 1], u8(0xa0 + i));
  }
  KTEST_EXPECT_TRUE(t, read_faults(a + 3 * PAGE_SIZE));
  a[PAGE_SIZE + 5] = 0x3c;
  KTEST_EXPECT_EQ(t, static_cast<const u8 *>(page_address(ms(), pages[1]))[5], 0x3c);
  vunmap(vs(), a);
  vm_unmap_aliases(vs());
  KTEST_EXPECT_TRUE(t, read_faults(a));
  for (unsigned i = 0; i < 3; i++) {
    KTEST_EXPECT_TRUE(t, frame_in_use(pages[i]));
    KTEST_EXPECT_EQ(t, static_cast<const u8 *>(page_address(ms(), pages[i]))[0], u8(0xa0 + i));
    __free_pages(ms(), pages[i], 0);
  }
}

// A vfree that names no live vmalloc area is reported (errors grows by one
// each time) and changes nothing: not the area, its bytes or mapping, not
// the free page count. The same for vunmap of a vmalloc area and vfree of a
// vmap one.
void bad_vfree_is_refused(ktest *t) {
  static u64 not_vmalloc;
  u8 *p = static_cast<u8 *>(vmalloc(vs(), 2 * PAGE_SIZE));
  KTEST_ASSERT_TRUE(t, p != nullptr);
  memset(p, 0x42, 2 * PAGE_SIZE);
  page *frame = alloc_pages(ms(), GFP_KERNEL, 0);
  KTEST_ASSERT_TRUE(t, frame != nullptr);
  u8 *m = static_cast<u8 *>(vmap(vs(), &frame, 1, VM_MAP, PROT_READ | PROT_WRITE));
  KTEST_ASSERT_TRUE(t, m != nullptr);
  unsigned long errors = vs().errors, used = vmalloc_used_pages(vs());
  unsigned long free = nr_free_pages(ms()) + nr_free_pcp_pages(ms());
  const void *bad[] = {&not_vmalloc, p + PAGE_SIZE, p + 8, p + 2 * PAGE_SIZE, m,
                       reinterpret_cast<void *>(VMALLOC_END_ADDR - PAGE_SIZE)};
  for (const void *b : bad) vfree(vs(), b);
  vunmap(vs(), p);
  KTEST_EXPECT_EQ(t, vs().errors, errors + ARRAY_SIZE(bad) + 1);
  KTEST_EXPECT_EQ(t, vmalloc_used_pages(vs()), used);
  KTEST_EXPECT_EQ(t, nr_free_pages(ms()) + nr_free_pcp_pages(ms()), free);
  KTEST_EXPECT_EQ(t, p[0], 0x42);
  KTEST_EXPECT_EQ(t, p[2 * PAGE_SIZE - 1], 0x42);
  KTEST_EXPECT_TRUE(t, vmalloc_to_page(vs(), m) == frame);
  vunmap(vs(), m);
  vfree(vs(), p);
  KTEST_EXPECT_EQ(t, vs().errors, errors + ARRAY_SIZE(bad) + 1);
  // Freed once: the second vfree is a double free, refused as well.
  vfree(vs(), p);
  KTEST_EXPECT_EQ(t, vs().errors, errors + ARRAY_SIZE(bad) + 2);
  __free_pages(ms(), frame, 0);
  vfree(vs(), nullptr);  // a no-op, as kfree(NULL)
  KTEST_EXPECT_EQ(t, vs().errors, errors + ARRAY_SIZE(bad) + 2);
}

// vzalloc reads zero even over frames that were just dirtied and freed
// (the per-CPU lists hand the same frames straight back).
void vzalloc_reads_zero(ktest *t) {
  constexpr size_t SIZE = 8 * PAGE_SIZE;
  u8 *dirty = static_cast<u8 *>(vmalloc(vs(), SIZE));
  KTEST_ASSERT_TRUE(t, dirty != nullptr);
  memset(dirty, 0xee, SIZE);
  vfree(vs(), dirty);
  u8 *z = static_cast<u8 *>(vzalloc(vs(), SIZE));
  KTEST_ASSERT_TRUE(t, z != nullptr);
  size_t nonzero = 0;
  for (size_t i = 0; i < SIZE; i++) nonzero += z[i] != 0;
  KTEST_EXPECT_EQ(t, nonzero, 0u);
  vfree(vs(), z);
}

// /proc/vmallocinfo's line for an area: its range with the guard page, the
// caller by name (the kernel's symbolize hook) and the page count.
void vmallocinfo_names_caller(ktest *t) {
  u8 *p = static_cast<u8 *>(vmalloc(vs(), 3 * PAGE_SIZE));
  KTEST_ASSERT_TRUE(t, p != nullptr);
  KTEST_EXPECT_TRUE(t, vmallocinfo_lists(p, 3, "vmallocinfo_names_caller"));
  vfree(vs(), p);
}

// The lazy purge on the kernel's instance: each vfree adds its range's pages
// (guard included) to vmap_lazy_nr and lists the range as an "unpurged
// vm_area" in vmallocinfo, with no shootdown; a freed range is not handed
// out again while it waits; the vfree that takes vmap_lazy_nr past
// lazy_max_pages() purges everything with one shootdown (when there are
// other CPUs to shoot down), and after vm_unmap_aliases nothing waits.
void lazy_purge_batches_shootdowns(ktest *t) {
  static char text[8192];
  static seq_buf out;
  vm_unmap_aliases(vs());
  KTEST_ASSERT_TRUE(t, __atomic_load_n(&vs().vmap_lazy_nr, __ATOMIC_RELAXED) == 0);
  const unsigned long flushes = __atomic_load_n(&nr_remote_tlb_flushes, __ATOMIC_RELAXED);
  const unsigned long max = lazy_max_pages(vs());
  KTEST_EXPECT_GE(t, max, 32 * SZ_1M / PAGE_SIZE);  // fls(CPUs) >= 1 times 32 MiB: the range is 64 GiB
  u8 *first = static_cast<u8 *>(vmalloc(vs(), 3 * PAGE_SIZE));
  KTEST_ASSERT_TRUE(t, first != nullptr);
  first[0] = 1;
  vfree(vs(), first);
  KTEST_EXPECT_EQ(t, __atomic_load_n(&vs().vmap_lazy_nr, __ATOMIC_RELAXED), 4ul);
  out = {text, sizeof(text), 0};
  seq_out so = seq_buf_out(out);
  show_vmallocinfo(vs(), so);
  char want[80];
  scnprintf(want, sizeof(want), "0x%016lx-0x%016lx   16384 unpurged vm_area\n", uaddr(first),
            uaddr(first) + 4 * PAGE_SIZE);
  KTEST_EXPECT_TRUE(t, find(out.data, want) != nullptr);
  // One-page pairs (2 pages each with the guard) until the purge.
  unsigned long pairs = 0, lazy = 4;
  bool purged = false;
  while (!purged && pairs <= max) {
    u8 *p = static_cast<u8 *>(vmalloc(vs(), PAGE_SIZE));
    KTEST_ASSERT_TRUE(t, p != nullptr);
    if (p == first) ktest_fail(t, __FILE__, __LINE__, "a range waiting for its flush was handed out again");
    p[0] = 2;
    vfree(vs(), p);
    pairs++;
    lazy += 2;
    unsigned long now = __atomic_load_n(&vs().vmap_lazy_nr, __ATOMIC_RELAXED);
    purged = now != lazy;
    if (purged) KTEST_EXPECT_EQ(t, now, 0ul);
    else KTEST_EXPECT_EQ(t, __atomic_load_n(&nr_remote_tlb_flushes, __ATOMIC_RELAXED), flushes);
  }
  KTEST_EXPECT_TRUE(t, purged);
  KTEST_EXPECT_EQ(t, lazy, max + (max & 1 ? 1 : 2));  // the first count past max
  const unsigned long shot = __atomic_load_n(&nr_remote_tlb_flushes, __ATOMIC_RELAXED) - flushes;
  KTEST_EXPECT_EQ(t, shot, num_online_cpus() > 1 ? 1ul : 0ul);
  printk(KERN_INFO "        # %s: %lu vfrees, %lu shootdown(s), lazy_max_pages %lu\n", t->name, pairs + 1, shot,
         max);
  // Not listed any more; vm_unmap_aliases with nothing waiting flushes nothing.
  out = {text, sizeof(text), 0};
  so = seq_buf_out(out);
  show_vmallocinfo(vs(), so);
  KTEST_EXPECT_TRUE(t, find(out.data, "unpurged vm_area") == nullptr);
  vm_unmap_aliases(vs());
  KTEST_EXPECT_EQ(t, __atomic_load_n(&nr_remote_tlb_flushes, __ATOMIC_RELAXED), flushes + shot);
}

}  // namespace

KTEST_SUITE(vmalloc, KTEST_CASE(vmalloc_sizes_round_trip), KTEST_CASE(guard_pages_fault),
            KTEST_CASE(vmalloc_32_frames_below_4g), KTEST_CASE(vmap_maps_pages_in_order),
            KTEST_CASE(bad_vfree_is_refused), KTEST_CASE(vzalloc_reads_zero), KTEST_CASE(vmallocinfo_names_caller),
            KTEST_CASE(lazy_purge_batches_shootdowns));
