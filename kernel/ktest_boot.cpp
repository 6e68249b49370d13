// In-kernel tests of the boot layer: what the firmware handed over, the
// command line, printk as cross-compiled, and memblock's live state.
#include <asm/sections.h>

#include "arch/arch.h"
#include "kernel/boot.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/kallsyms.h"
#include "kernel/ktest.h"
#include "kernel/printk.h"
#include "kernel/string.h"

// ---- boot -------------------------------------------------------------------

static unsigned char never_written_bss[512];

struct ctor_probe {
  int value;
  ctor_probe() : value(0x5a5a) {}
};
static ctor_probe global_ctor_probe;

static void bss_is_zero(ktest *t) {
  for (unsigned char b : never_written_bss) KTEST_EXPECT_EQ(t, b, 0);
}

static void global_constructors_ran(ktest *t) { KTEST_EXPECT_EQ(t, global_ctor_probe.value, 0x5a5a); }

static void boot_hart_is_listed(ktest *t) {
  bool found = false;
  for (u32 i = 0; i < boot_params.nr_cpus; i++)
    if (boot_params.cpus[i].hartid == boot_hartid && boot_params.cpus[i].enabled) found = true;
  KTEST_EXPECT_TRUE(t, found);
}

static void memory_matches_device_tree(ktest *t) {
  u64 total = 0;
  for (u32 i = 0; i < boot_params.nr_memory; i++) total += boot_params.memory[i].size;
  KTEST_EXPECT_TRUE(t, boot_params.nr_memory > 0);
  KTEST_EXPECT_EQ(t, memblock_phys_mem_size(boot_memblock), total);
}

static void image_and_dtb_reserved(ktest *t) {
  u64 image_size = kaddr(_end) - kaddr(_start_image);
  KTEST_EXPECT_TRUE(t, memblock_is_reserved(boot_memblock, kernel_load_pa));
  KTEST_EXPECT_TRUE(t, memblock_is_reserved(boot_memblock, kernel_load_pa + image_size - 1));
  KTEST_EXPECT_TRUE(t, memblock_is_reserved(boot_memblock, boot_dtb_pa));
  KTEST_EXPECT_TRUE(t, memblock_is_reserved(boot_memblock, boot_dtb_pa + boot_dtb_size - 1));
}

static void firmware_memory_reserved(ktest *t) {
  // OpenSBI protects itself with PMP and says so in /reserved-memory.
  bool any = false;
  for (u32 i = 0; i < boot_params.nr_reserved; i++) {
    const boot_resv_range &r = boot_params.reserved[i];
    if (r.base > kernel_load_pa || r.base + r.size <= r.base) continue;
    any = true;
    KTEST_EXPECT_TRUE(t, memblock_is_reserved(boot_memblock, r.base));
  }
  if (!any) ktest_skip(t, "the firmware reserved nothing below the kernel");
}

KTEST_SUITE(boot, KTEST_CASE(bss_is_zero), KTEST_CASE(global_constructors_ran),
            KTEST_CASE(boot_hart_is_listed), KTEST_CASE(memory_matches_device_tree),
            KTEST_CASE(image_and_dtb_reserved), KTEST_CASE(firmware_memory_reserved));

// ---- cmdline ----------------------------------------------------------------

static int seen_flag, seen_count;
static char seen_value[32];
static int problems[3];

static int set_flag(const char *val) {
  seen_flag += val == nullptr;
  return val ? -EINVAL : 0;
}
static int set_value(const char *val) {
  seen_count++;
  return val && strscpy(seen_value, val, sizeof(seen_value)) >= 0 ? 0 : -EINVAL;
}
static const kernel_param test_params[] = {
    {"flag", set_flag, ""},
    {"value", set_value, ""},
};
static void count_problem(param_problem p, const char *, const char *) { problems[int(p)]++; }

static void reset_cmdline_state() {
  seen_flag = seen_count = 0;
  seen_value[0] = '\0';
  problems[0] = problems[1] = problems[2] = 0;
}

static void words_and_values(ktest *t) {
  reset_cmdline_state();
  char line[] = "  flag value=abc  ";
  KTEST_EXPECT_EQ(t, parse_args(line, test_params, 2, count_problem), 0);
  KTEST_EXPECT_EQ(t, seen_flag, 1);
  KTEST_EXPECT_STREQ(t, seen_value, "abc");
}

static void quoted_value_keeps_spaces(ktest *t) {
  reset_cmdline_state();
  char line[] = "value=\"a b c\" flag";
  KTEST_EXPECT_EQ(t, parse_args(line, test_params, 2, count_problem), 0);
  KTEST_EXPECT_STREQ(t, seen_value, "a b c");
  KTEST_EXPECT_EQ(t, seen_flag, 1);
}

static void unknown_and_bad_values_reported(ktest *t) {
  reset_cmdline_state();
  char line[] = "bogus flag=1 value \"open";
  KTEST_EXPECT_EQ(t, parse_args(line, test_params, 2, count_problem), 4);
  KTEST_EXPECT_EQ(t, problems[int(param_problem::unknown)], 1);
  KTEST_EXPECT_EQ(t, problems[int(param_problem::bad_value)], 2);
  KTEST_EXPECT_EQ(t, problems[int(param_problem::bad_quoting)], 1);
}

static void sizes_parse(ktest *t) {
  u64 v = 0;
  KTEST_EXPECT_EQ(t, parse_size("512M", &v), 0);
  KTEST_EXPECT_EQ(t, v, 512 * SZ_1M);
  KTEST_EXPECT_EQ(t, parse_size("0x10k", &v), 0);
  KTEST_EXPECT_EQ(t, v, 16 * 1024u);
  KTEST_EXPECT_EQ(t, parse_size("12Q", &v), -EINVAL);
  KTEST_EXPECT_EQ(t, parse_size("99999999999999999999", &v), -EINVAL);
}

KTEST_SUITE(cmdline, KTEST_CASE(words_and_values), KTEST_CASE(quoted_value_keeps_spaces),
            KTEST_CASE(unknown_and_bad_values_reported), KTEST_CASE(sizes_parse));

// ---- printk (as cross-compiled) ---------------------------------------------

static void formats_as_specified(ktest *t) {
  char buf[64];
  ksnprintf(buf, sizeof(buf), "%08lx|%-5d|%5s|%c|%llu", 0xdeadul, -42, "ab", 'z', 18446744073709551615ull);
  KTEST_EXPECT_STREQ(t, buf, "0000dead|-42  |   ab|z|18446744073709551615");
  ksnprintf(buf, sizeof(buf), "%p", reinterpret_cast<void *>(0xffffffff80200000ul));
  KTEST_EXPECT_STREQ(t, buf, "0xffffffff80200000");
}

static void truncates_and_counts(ktest *t) {
  char buf[8];
  KTEST_EXPECT_EQ(t, ksnprintf(buf, sizeof(buf), "%s", "0123456789"), 10);
  KTEST_EXPECT_STREQ(t, buf, "0123456");
  KTEST_EXPECT_EQ(t, scnprintf(buf, sizeof(buf), "%s", "0123456789"), 7);
}

static void message_reaches_log_buffer(ktest *t) {
  static char log[4096];
  printk(KERN_DEBUG "ktest marker %x\n", 0xc0ffee);
  size_t n = log_buf_copy(log, sizeof(log));
  bool found = false;
  for (size_t i = 0; i + 19 <= n && !found; i++) found = memcmp(log + i, "ktest marker c0ffee", 19) == 0;
  KTEST_EXPECT_TRUE(t, found);
}

KTEST_SUITE(printk, KTEST_CASE(formats_as_specified), KTEST_CASE(truncates_and_counts),
            KTEST_CASE(message_reaches_log_buffer));

// ---- memblock (live) --------------------------------------------------------

static void live_state_is_consistent(ktest *t) {
  static char report[1024];
  int violations = memblock_check(boot_memblock, report, sizeof(report));
  if (violations) ktest_fail(t, __FILE__, __LINE__, "memblock_check: %s", report);
}

static void free_and_reserved_tile_memory(ktest *t) {
  // Every byte of memory is either free or reserved, never both.
  u64 free = 0, reserved_in_memory = 0;
  for_each_free_mem_range(boot_memblock, NUMA_NO_NODE, [&](phys_addr_t s, phys_addr_t e, int) {
    free += e - s;
    KTEST_EXPECT_FALSE(t, memblock_is_reserved(boot_memblock, s));
    KTEST_EXPECT_FALSE(t, memblock_is_reserved(boot_memblock, e - 1));
  });
  for_each_reserved_mem_range(boot_memblock, [&](phys_addr_t s, phys_addr_t e, int) {
    for_each_mem_range(boot_memblock, [&](phys_addr_t ms, phys_addr_t me, int) {
      phys_addr_t lo = s > ms ? s : ms, hi = e < me ? e : me;
      if (lo < hi) reserved_in_memory += hi - lo;
    });
  });
  KTEST_EXPECT_EQ(t, free + reserved_in_memory, memblock_phys_mem_size(boot_memblock));
}

static void alloc_free_round_trip(ktest *t) {
  // The page allocator owns memory after boot: work on a copy of memblock,
  // and never touch what it hands out.
  static memblock copy;
  copy = boot_memblock;
  u64 before = memblock_reserved_size(copy);
  phys_addr_t pa = memblock_phys_alloc(copy, 3 * PAGE_SIZE, SZ_64K);
  KTEST_ASSERT_TRUE(t, pa != 0);
  KTEST_EXPECT_TRUE(t, IS_ALIGNED(pa, SZ_64K));
  KTEST_EXPECT_TRUE(t, memblock_is_memory(copy, pa));
  KTEST_EXPECT_FALSE(t, memblock_is_reserved(boot_memblock, pa));
  KTEST_EXPECT_EQ(t, memblock_reserved_size(copy), before + 3 * PAGE_SIZE);
  KTEST_EXPECT_EQ(t, memblock_phys_free(copy, pa, 3 * PAGE_SIZE), 0);
  KTEST_EXPECT_EQ(t, memblock_reserved_size(copy), before);
}

KTEST_SUITE(memblock, KTEST_CASE(live_state_is_consistent), KTEST_CASE(free_and_reserved_tile_memory),
            KTEST_CASE(alloc_free_round_trip));

// ---- fdt (the blob the firmware passed) -------------------------------------

static boot_info reparsed;
static u8 blob_copy[64 * 1024];

static void reparse_gives_same_result(ktest *t) {
  const void *blob = phys_to_virt(boot_dtb_copy_pa);
  KTEST_ASSERT_TRUE(t, fdt_parse(blob, boot_dtb_size, &reparsed, nullptr) == fdt_error::ok);
  KTEST_EXPECT_EQ(t, reparsed.nr_memory, boot_params.nr_memory);
  KTEST_EXPECT_EQ(t, reparsed.nr_reserved, boot_params.nr_reserved);
  KTEST_EXPECT_EQ(t, reparsed.nr_cpus, boot_params.nr_cpus);
  KTEST_EXPECT_EQ(t, memcmp(reparsed.memory, boot_params.memory, sizeof(reparsed.memory)), 0);
  KTEST_EXPECT_STREQ(t, reparsed.bootargs, boot_params.bootargs);
}

static void truncated_blob_is_refused(ktest *t) {
  if (boot_dtb_size > sizeof(blob_copy)) return ktest_skip(t, "device tree larger than the test buffer");
  memcpy(blob_copy, phys_to_virt(boot_dtb_copy_pa), boot_dtb_size);
  fdt_diag diag;
  KTEST_EXPECT_TRUE(t, fdt_parse(blob_copy, boot_dtb_size - 1, &reparsed, &diag) != fdt_error::ok);
  KTEST_EXPECT_LT(t, diag.offset, boot_dtb_size);
  blob_copy[0] ^= 0xff;  // bad magic
  KTEST_EXPECT_TRUE(t, fdt_parse(blob_copy, boot_dtb_size, &reparsed, &diag) == fdt_error::bad_magic);
}

static void cpus_and_nodes_consistent(ktest *t) {
  KTEST_EXPECT_TRUE(t, boot_params.nr_cpus > 0);
  KTEST_EXPECT_TRUE(t, boot_params.nr_nodes >= 1 && boot_params.nr_nodes <= MAX_NUMNODES);
  for (u32 i = 0; i < boot_params.nr_cpus; i++) KTEST_EXPECT_LT(t, boot_params.cpus[i].nid, boot_params.nr_nodes);
  for (u32 i = 0; i < boot_params.nr_memory; i++) KTEST_EXPECT_LT(t, boot_params.memory[i].nid, boot_params.nr_nodes);
  for (u32 a = 0; a < boot_params.nr_nodes; a++) {
    KTEST_EXPECT_EQ(t, boot_params.distance[a][a], LOCAL_DISTANCE);
    for (u32 b = 0; b < boot_params.nr_nodes; b++)
      if (a != b) KTEST_EXPECT_TRUE(t, boot_params.distance[a][b] > LOCAL_DISTANCE);
  }
}

KTEST_SUITE(fdt, KTEST_CASE(reparse_gives_same_result), KTEST_CASE(truncated_blob_is_refused),
            KTEST_CASE(cpus_and_nodes_consistent));

// ---- kallsyms ---------------------------------------------------------------

extern "C" void kernel_main(unsigned long, phys_addr_t);

static void names_functions(ktest *t) {
  const char *name;
  uintptr_t off, size;
  uintptr_t fn = reinterpret_cast<uintptr_t>(&ktest_run);
  KTEST_ASSERT_TRUE(t, kallsyms_lookup(fn + 4, &name, &off, &size));
  KTEST_EXPECT_STREQ(t, name, "ktest_run");
  KTEST_EXPECT_EQ(t, off, 4u);
  KTEST_EXPECT_TRUE(t, size > 4);
  KTEST_EXPECT_EQ(t, kallsyms_lookup_name("kernel_main"), reinterpret_cast<uintptr_t>(&kernel_main));
  char buf[64];
  sprint_symbol(buf, sizeof(buf), fn);
  KTEST_EXPECT_EQ(t, strncmp(buf, "ktest_run+0x0/0x", 16), 0);
}

static void data_is_not_a_function(ktest *t) {
  const char *name;
  uintptr_t off, size;
  KTEST_EXPECT_FALSE(t, kallsyms_lookup(kaddr(never_written_bss), &name, &off, &size));
  KTEST_EXPECT_FALSE(t, kallsyms_lookup(0, &name, &off, &size));
}

KTEST_SUITE(kallsyms, KTEST_CASE(names_functions), KTEST_CASE(data_is_not_a_function));
