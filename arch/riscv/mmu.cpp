// The kernel page table: built once at boot from memblock memory, then the
// only table any hart uses. See asm/memlayout.h for the address map.
#include <asm/csr.h>
#include <asm/memlayout.h>
#include <asm/mmu.h>
#include <asm/sections.h>

#include "arch/arch.h"
#include "kernel/fdt.h"
#include "kernel/panic.h"
#include "kernel/printk.h"
#include "kernel/string.h"
#include "mm/memblock.h"

uintptr_t va_pa_offset;         // 0 while the boot table maps RAM one to one
uintptr_t kernel_va_pa_offset;  // set by entry.S
phys_addr_t kernel_load_pa;     // set by entry.S
phys_addr_t phys_ram_base;
page_table kernel_page_table;
// satp for kernel_page_table: secondary harts load it in entry.S.
extern "C" {
u64 kernel_satp;
}

static memblock *boot_mb;
static uintptr_t fixmap_next = FIXADDR_START;

// The direct map's pieces, kept so that faults and checks can tell RAM from holes.
struct dm_piece {
  phys_addr_t start, end;
};
static dm_piece dm_pieces[FDT_MAX_MEMORY_RANGES + FDT_MAX_RESERVED + 4];
static size_t nr_dm_pieces;

static phys_addr_t boot_alloc_table(void *) { return memblock_phys_alloc(*boot_mb, PAGE_SIZE, PAGE_SIZE); }
static void boot_free_table(void *, phys_addr_t pa) { memblock_phys_free(*boot_mb, pa, PAGE_SIZE); }
const pt_alloc_ops boot_pt_alloc_ops = {boot_alloc_table, boot_free_table, nullptr};

static void map_or_panic(uintptr_t va, phys_addr_t pa, u64 size, unsigned prot, unsigned max_level,
                         const char *what) {
  int err = pgtable_map(&kernel_page_table, va, pa, size, prot, max_level, boot_pt_alloc_ops);
  if (err) panic("paging_init: cannot map %s [%#lx-%#lx] at %#lx: error %d", what, pa, pa + size - 1, va, err);
}

static void map_image_part(const char *start, const char *end, unsigned prot, const char *what) {
  uintptr_t va = kaddr(start);
  u64 size = ALIGN_UP(kaddr(end), PAGE_SIZE) - va;
  if (size) map_or_panic(va, va - kernel_va_pa_offset, size, prot | PROT_GLOBAL, 1, what);
}

// Cuts [start, end) out of every piece that it overlaps.
static void dm_subtract(phys_addr_t start, phys_addr_t end) {
  for (size_t i = 0; i < nr_dm_pieces; i++) {
    dm_piece &p = dm_pieces[i];
    if (end <= p.start || start >= p.end) continue;
    if (start > p.start && end < p.end) {  // a hole inside: split in two
      if (nr_dm_pieces == ARRAY_SIZE(dm_pieces)) panic("paging_init: too many direct-map pieces");
      dm_pieces[nr_dm_pieces++] = {end, p.end};
      p.end = start;
    } else if (start <= p.start && end >= p.end) {
      p.end = p.start;  // swallowed whole; left empty
    } else if (start <= p.start) {
      p.start = end;
    } else {
      p.end = start;
    }
  }
}

// The direct map: all memory except no-map reservations; the kernel image's
// own frames appear there read-only, so no writable alias of its text exists.
static void map_direct_map(const memblock &mb, const boot_info &bi) {
  for_each_mem_range(mb, [](phys_addr_t start, phys_addr_t end, int) {
    if (nr_dm_pieces < ARRAY_SIZE(dm_pieces)) dm_pieces[nr_dm_pieces++] = {start, end};
  });
  for (size_t i = 0; i < bi.nr_reserved; i++) {
    const boot_resv_range &r = bi.reserved[i];
    if (r.no_map) dm_subtract(ALIGN_DOWN(r.base, PAGE_SIZE), ALIGN_UP(r.base + r.size, PAGE_SIZE));
  }
  phys_addr_t img_start = kernel_load_pa;
  phys_addr_t img_end = ALIGN_UP(kernel_load_pa + (kaddr(_end) - kaddr(_start_image)), PAGE_SIZE);
  for (size_t i = 0; i < nr_dm_pieces; i++) {
    phys_addr_t start = ALIGN_UP(dm_pieces[i].start, PAGE_SIZE);
    phys_addr_t end = ALIGN_DOWN(dm_pieces[i].end, PAGE_SIZE);
    dm_pieces[i] = {start, end > start ? end : start};
    for (phys_addr_t a = start; a < end;) {
      // Walk the piece in up to three runs: before, inside and after the image.
      phys_addr_t run_end = a < img_start ? (end < img_start ? end : img_start)
                            : a < img_end ? (end < img_end ? end : img_end)
                                          : end;
      unsigned prot = PROT_READ | PROT_GLOBAL | (a >= img_start && a < img_end ? 0u : unsigned(PROT_WRITE));
      map_or_panic(a - phys_ram_base + PAGE_OFFSET, a, run_end - a, prot, 2, "direct map");
      a = run_end;
    }
  }
}

void paging_init(memblock &mb, const boot_info &bi) {
  boot_mb = &mb;
  phys_addr_t ram_start = memblock_start_of_DRAM(mb);
  phys_addr_t ram_end = memblock_end_of_DRAM(mb);
  phys_ram_base = ALIGN_DOWN(ram_start, SZ_1G);
  if (ram_end - phys_ram_base > DIRECT_MAP_SIZE) {
    pr_warn("paging_init: RAM above %#lx does not fit the direct map; ignoring it\n",
            phys_ram_base + DIRECT_MAP_SIZE);
    memblock_remove(mb, phys_ram_base + DIRECT_MAP_SIZE, ram_end - phys_ram_base - DIRECT_MAP_SIZE);
  }
  if (int err = pgtable_init(&kernel_page_table, boot_pt_alloc_ops))
    panic("paging_init: no memory for the kernel page table (%d)", err);

  map_image_part(_stext, _etext, PROT_READ | PROT_EXEC, "kernel text");
  map_image_part(_srodata, _erodata, PROT_READ, "kernel rodata");
  map_image_part(_sdata, _end, PROT_READ | PROT_WRITE, "kernel data and bss");
  map_direct_map(mb, bi);

  // From here on the boot table and its one-to-one low half are gone.
  kernel_satp = make_satp(kernel_page_table.root);
  csr_write(satp, kernel_satp);
  local_flush_tlb_all();
  va_pa_offset = PAGE_OFFSET - phys_ram_base;
}

void *ioremap(phys_addr_t pa, u64 size) {
  phys_addr_t start = ALIGN_DOWN(pa, PAGE_SIZE);
  u64 len = ALIGN_UP(pa + size, PAGE_SIZE) - start;
  if (size == 0 || len > FIXADDR_END - fixmap_next) {
    pr_err("ioremap: no room for [%#lx-%#lx] in the fixmap window\n", pa, pa + size - 1);
    return nullptr;
  }
  int err = pgtable_map(&kernel_page_table, fixmap_next, start, len, PROT_READ | PROT_WRITE | PROT_GLOBAL,
                        0, boot_pt_alloc_ops);
  if (err) {
    pr_err("ioremap: cannot map [%#lx-%#lx]: error %d\n", pa, pa + size - 1, err);
    return nullptr;
  }
  void *va = reinterpret_cast<void *>(fixmap_next + (pa - start));
  fixmap_next += len;
  return va;
}

bool direct_map_covers(uintptr_t va) {
  if (va < PAGE_OFFSET || va >= DIRECT_MAP_END) return false;
  phys_addr_t pa = va - PAGE_OFFSET + phys_ram_base;
  for (size_t i = 0; i < nr_dm_pieces; i++)
    if (pa >= dm_pieces[i].start && pa < dm_pieces[i].end) return true;
  return false;
}

// end is exclusive; 0 stands for the top of the address space.
static void print_range(const char *name, uintptr_t start, uintptr_t end) {
  u64 size = end - start;
  if (end == 0) end = ~uintptr_t(0);
  if (size >= SZ_1G) pr_notice("%14s : 0x%016lx - 0x%016lx   (%4lu GB)\n", name, start, end, size >> 30);
  else if (size >= SZ_1M) pr_notice("%14s : 0x%016lx - 0x%016lx   (%4lu MB)\n", name, start, end, size >> 20);
  else pr_notice("%14s : 0x%016lx - 0x%016lx   (%4lu kB)\n", name, start, end, size >> 10);
}

void print_vm_layout() {
  phys_addr_t top = 0;
  for (size_t i = 0; i < nr_dm_pieces; i++)
    if (dm_pieces[i].end > top) top = dm_pieces[i].end;
  pr_notice("Virtual kernel memory layout:\n");
  print_range("fixmap", FIXADDR_START, FIXADDR_END);
  print_range("vmemmap", VMEMMAP_START, VMEMMAP_END);
  print_range("vmalloc", VMALLOC_START_ADDR, VMALLOC_END_ADDR);
  print_range("lowmem", PAGE_OFFSET, PAGE_OFFSET + (top - phys_ram_base));
  print_range("modules", MODULES_START, MODULES_END);
  print_range("kernel", KERNEL_VIRT_BASE, 0);
  print_range(".text", kaddr(_stext), kaddr(_etext));
  print_range(".rodata", kaddr(_srodata), kaddr(_erodata));
  print_range(".data", kaddr(_sdata), kaddr(_edata));
  print_range(".bss", kaddr(__bss_start), kaddr(__bss_end));
}

static const char *level_name(unsigned level) { return level == 2 ? "PUD" : level == 1 ? "PMD" : "PTE"; }

void ptdump_kernel() {
  struct run {
    uintptr_t start, end;
    unsigned prot, level;
    phys_addr_t pa_next;
  } cur = {0, 0, 0, 0, 0};
  auto flush = [](const run &r) {
    if (r.start == r.end) return;
    u64 size = r.end - r.start;
    printk("0x%016lx-0x%016lx %8lu%c %s  %c%c%c%c\n", r.start, r.end,
           size >= SZ_1G ? size >> 30 : size >= SZ_1M ? size >> 20 : size >> 10,
           size >= SZ_1G ? 'G' : size >= SZ_1M ? 'M' : 'K', level_name(r.level),
           r.prot & PROT_READ ? 'R' : '-', r.prot & PROT_WRITE ? 'W' : '-',
           r.prot & PROT_EXEC ? 'X' : '-', r.prot & PROT_GLOBAL ? 'G' : '-');
  };
  printk("---[ Kernel page table: start end size level RWXG ]---\n");
  pgtable_for_each_leaf(kernel_page_table, [&](uintptr_t va, u64 size, const pt_walk_result &w) {
    if (va == cur.end && w.prot == cur.prot && w.level == cur.level && w.pa == cur.pa_next) {
      cur.end += size;
    } else {
      flush(cur);
      cur = {va, va + size, w.prot, w.level, w.pa};
    }
    cur.pa_next = w.pa + size;
    return true;
  });
  flush(cur);
}
