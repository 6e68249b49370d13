// In-kernel tests of what only the live machine shows: the kernel page table
// the MMU is really using, and traps taken for real.
#include <asm/csr.h>
#include <asm/memlayout.h>
#include <asm/mmu.h>
#include <asm/sections.h>
#include <asm/stacktrace.h>
#include <asm/traps.h>

#include "arch/arch.h"
#include "kernel/boot.h"
#include "kernel/errno.h"
#include "kernel/ktest.h"
#include "kernel/string.h"

extern "C" char ktest_ret_insn[];  // a `ret` in kernel text
asm(".text\n.globl ktest_ret_insn\nktest_ret_insn:\n ret\n");

static const char rodata_object[16] = "read only";
static u32 data_ret_insn = 0x00008067;  // `ret`, but in writable data
static char bss_object[64];
static const char *never_touched_bss() { return bss_object; }

static bool walk(uintptr_t va, pt_walk_result *w) { return pgtable_walk(kernel_page_table, va, w); }

// ---- paging -------------------------------------------------------------------

static void satp_points_at_kernel_table(ktest *t) {
  KTEST_EXPECT_EQ(t, csr_read(satp), make_satp(kernel_page_table.root));
}

static void low_half_is_empty(ktest *t) {
  pgtable_for_each_leaf(kernel_page_table, [&](uintptr_t va, u64, const pt_walk_result &) {
    KTEST_EXPECT_TRUE(t, va >= USER_END);
    return true;
  });
  u64 v;
  KTEST_EXPECT_EQ(t, probe_read_u64(nullptr, &v), -EFAULT);
  KTEST_EXPECT_EQ(t, this_cpu_probe_fault().cause, u64(EXC_LOAD_PAGE_FAULT));
  KTEST_EXPECT_EQ(t, this_cpu_probe_fault().badaddr, 0u);
  // The boot table's one-to-one mapping of RAM is gone too.
  KTEST_EXPECT_EQ(t, probe_read_u64(reinterpret_cast<void *>(kernel_load_pa), &v), -EFAULT);
}

static void no_leaf_is_writable_and_executable(ktest *t) {
  unsigned long leaves = 0;
  pgtable_for_each_leaf(kernel_page_table, [&](uintptr_t va, u64, const pt_walk_result &w) {
    leaves++;
    if ((w.pte & PTE_W) && (w.pte & PTE_X)) ktest_fail(t, __FILE__, __LINE__, "W+X leaf at %#lx", va);
    if (w.pte & PTE_U) ktest_fail(t, __FILE__, __LINE__, "user leaf at %#lx", va);
    return true;
  });
  KTEST_EXPECT_TRUE(t, leaves > 0);
}

static void expect_section(ktest *t, const char *start, const char *end, unsigned prot) {
  for (uintptr_t va = kaddr(start); va < kaddr(end); va += PAGE_SIZE) {
    pt_walk_result w;
    if (!walk(va, &w)) {
      ktest_fail(t, __FILE__, __LINE__, "%#lx not mapped", va);
      return;
    }
    if ((w.prot & (PROT_READ | PROT_WRITE | PROT_EXEC)) != prot) {
      ktest_fail(t, __FILE__, __LINE__, "%#lx has prot %#x, want %#x", va, w.prot, prot);
      return;
    }
    KTEST_EXPECT_EQ(t, w.pa, va - kernel_va_pa_offset);
  }
}

static void image_sections_are_w_xor_x(ktest *t) {
  expect_section(t, _stext, _etext, PROT_READ | PROT_EXEC);
  expect_section(t, _srodata, _erodata, PROT_READ);
  expect_section(t, _sdata, _end, PROT_READ | PROT_WRITE);
}

static void rodata_write_faults(ktest *t) {
  KTEST_EXPECT_EQ(t, probe_write_u8(const_cast<char *>(&rodata_object[0]), 'X'), -EFAULT);
  KTEST_EXPECT_EQ(t, this_cpu_probe_fault().cause, u64(EXC_STORE_PAGE_FAULT));
  KTEST_EXPECT_EQ(t, rodata_object[0], 'r');
}

static void data_exec_faults_text_exec_works(ktest *t) {
  KTEST_EXPECT_EQ(t, probe_exec(ktest_ret_insn), 0);
  KTEST_EXPECT_EQ(t, probe_exec(&data_ret_insn), -EFAULT);
  KTEST_EXPECT_EQ(t, this_cpu_probe_fault().cause, u64(EXC_INST_PAGE_FAULT));
  KTEST_EXPECT_EQ(t, this_cpu_probe_fault().badaddr, kaddr(&data_ret_insn));
}

static void direct_map_translates_ram(ktest *t) {
  unsigned long checked = 0;
  for_each_mem_range(boot_memblock, [&](phys_addr_t start, phys_addr_t end, int) {
    // First, last and a spread of pages in between; no-map holes are skipped.
    for (int i = 0; i <= 64; i++) {
      phys_addr_t pa = ALIGN_DOWN(start + (end - start - 1) / 64 * i, PAGE_SIZE);
      uintptr_t va = reinterpret_cast<uintptr_t>(phys_to_virt(pa));
      if (!direct_map_covers(va)) continue;
      pt_walk_result w;
      if (!walk(va, &w)) {
        ktest_fail(t, __FILE__, __LINE__, "direct map of %#lx not mapped", pa);
        continue;
      }
      KTEST_EXPECT_EQ(t, w.pa, pa);
      KTEST_EXPECT_FALSE(t, w.prot & PROT_EXEC);
      checked++;
    }
  });
  KTEST_EXPECT_TRUE(t, checked > 0);
}

static void direct_map_aliases_the_image(ktest *t) {
  static volatile u64 cell;
  cell = 0xfeedfacecafebeefull;
  const volatile u64 *alias = static_cast<const volatile u64 *>(phys_to_virt(virt_to_phys(const_cast<u64 *>(&cell))));
  KTEST_EXPECT_EQ(t, *alias, 0xfeedfacecafebeefull);
  // The image's frames are read-only in the direct map: no writable alias of text.
  void *text_alias = phys_to_virt(virt_to_phys(_stext));
  KTEST_EXPECT_EQ(t, probe_write_u8(text_alias, 0), -EFAULT);
}

static void no_map_reservations_unmapped(ktest *t) {
  bool any = false;
  for (u32 i = 0; i < boot_params.nr_reserved; i++) {
    const boot_resv_range &r = boot_params.reserved[i];
    if (!r.no_map || r.base < phys_ram_base) continue;
    any = true;
    pt_walk_result w;
    KTEST_EXPECT_FALSE(t, walk(reinterpret_cast<uintptr_t>(phys_to_virt(r.base)), &w));
  }
  if (!any) ktest_skip(t, "no no-map reservation");
}

static void largest_leaves_used(ktest *t) {
  // A 1 GiB (or 2 MiB) aligned run of RAM away from the image and holes must
  // be one leaf of that size.
  for_each_mem_range(boot_memblock, [&](phys_addr_t start, phys_addr_t end, int) {
    for (unsigned level = 2; level >= 1; level--) {
      u64 size = sv39_level_size(level);
      phys_addr_t img_end = ALIGN_UP(kernel_load_pa + (kaddr(_end) - kaddr(_start_image)), size);
      for (phys_addr_t pa = ALIGN_UP(start, size); pa + size <= end; pa += size) {
        if (pa < img_end && pa + size > ALIGN_DOWN(kernel_load_pa, size)) continue;
        uintptr_t va = reinterpret_cast<uintptr_t>(phys_to_virt(pa));
        if (!direct_map_covers(va) || !direct_map_covers(va + size - 1)) continue;
        pt_walk_result w;
        KTEST_EXPECT_TRUE(t, walk(va, &w) && w.level == level);
        return;  // one per range and level is proof enough
      }
    }
  });
}

KTEST_SUITE(paging, KTEST_CASE(satp_points_at_kernel_table), KTEST_CASE(low_half_is_empty),
            KTEST_CASE(no_leaf_is_writable_and_executable), KTEST_CASE(image_sections_are_w_xor_x),
            KTEST_CASE(rodata_write_faults), KTEST_CASE(data_exec_faults_text_exec_works),
            KTEST_CASE(direct_map_translates_ram), KTEST_CASE(direct_map_aliases_the_image),
            KTEST_CASE(no_map_reservations_unmapped), KTEST_CASE(largest_leaves_used));

// ---- traps --------------------------------------------------------------------

static void probes_count_only_faults(ktest *t) {
  unsigned long before = this_cpu_probe_fault().count;
  u64 v;
  KTEST_EXPECT_EQ(t, probe_read_u64(&data_ret_insn, &v), 0);
  KTEST_EXPECT_EQ(t, this_cpu_probe_fault().count, before);
  // vmalloc fills its range from the bottom: the last page is unmapped
  // unless the whole 64 GiB is in use.
  constexpr uintptr_t unmapped = VMALLOC_END_ADDR - PAGE_SIZE;
  KTEST_EXPECT_EQ(t, probe_read_u64(reinterpret_cast<void *>(unmapped), &v), -EFAULT);
  KTEST_EXPECT_EQ(t, this_cpu_probe_fault().count, before + 1);
  KTEST_EXPECT_EQ(t, this_cpu_probe_fault().badaddr, unmapped);
}

static void addresses_classified(ktest *t) {
  char buf[CLASSIFY_ADDRESS_LEN];
  struct {
    uintptr_t addr;
    const char *want;
  } cases[] = {
      {0, "NULL page"},
      {0x10000, "user half (nothing is mapped there)"},
      {0x0000800000000000ul, "non-canonical address"},
      {kaddr(ktest_ret_insn), "kernel text"},
      {kaddr(rodata_object), "kernel rodata"},
      {kaddr(&data_ret_insn), "kernel data"},
      {kaddr(never_touched_bss()), "kernel bss"},
      {VMALLOC_END_ADDR - PAGE_SIZE, "vmalloc range outside any area"},  // see guard_pages_fault
      {reinterpret_cast<uintptr_t>(phys_to_virt(kernel_load_pa)), "direct map (RAM)"},
      {DIRECT_MAP_END - PAGE_SIZE, "direct map, beyond RAM"},
  };
  for (auto &c : cases) {
    classify_address(c.addr, buf, sizeof(buf));
    KTEST_EXPECT_STREQ(t, buf, c.want);
  }
}

static void causes_named(ktest *t) {
  KTEST_EXPECT_STREQ(t, scause_name(EXC_LOAD_PAGE_FAULT), "load page fault");
  KTEST_EXPECT_STREQ(t, scause_name(EXC_STORE_PAGE_FAULT), "store/AMO page fault");
  KTEST_EXPECT_STREQ(t, scause_name(EXC_ILLEGAL_INST), "illegal instruction");
  KTEST_EXPECT_STREQ(t, scause_name(CAUSE_INTERRUPT | 5), "supervisor timer interrupt");
}

static __attribute__((noinline)) size_t trace_leaf(uintptr_t *pcs, size_t max) {
  size_t n = save_stack_trace(pcs, max);
  asm volatile("" ::: "memory");  // not a tail call
  return n;
}
static __attribute__((noinline)) size_t trace_middle(uintptr_t *pcs, size_t max) {
  size_t n = trace_leaf(pcs, max);
  asm volatile("" ::: "memory");
  return n;
}

static void backtrace_follows_frames(ktest *t) {
  uintptr_t pcs[16];
  size_t n = trace_middle(pcs, ARRAY_SIZE(pcs));
  KTEST_ASSERT_TRUE(t, n >= 3);
  // The first return address lies in trace_leaf, the next in trace_middle.
  KTEST_EXPECT_TRUE(t, pcs[0] > kaddr(reinterpret_cast<void *>(trace_leaf)) &&
                           pcs[0] < kaddr(reinterpret_cast<void *>(trace_leaf)) + 128);
  KTEST_EXPECT_TRUE(t, pcs[1] > kaddr(reinterpret_cast<void *>(trace_middle)) &&
                           pcs[1] < kaddr(reinterpret_cast<void *>(trace_middle)) + 128);
  for (size_t i = 0; i < n; i++) KTEST_EXPECT_TRUE(t, in_kernel_text(pcs[i]));
}

KTEST_SUITE(traps, KTEST_CASE(probes_count_only_faults), KTEST_CASE(addresses_classified),
            KTEST_CASE(causes_named), KTEST_CASE(backtrace_follows_frames));
