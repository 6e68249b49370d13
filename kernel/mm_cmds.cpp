// Monitor commands for the page and slab allocators and vmalloc: their
// /proc-style reports, a drain of the per-CPU lists (to see the buddy
// lists without pcp caching), and compaction on demand.
#include "kernel/monitor.h"
#include "kernel/printk.h"
#include "kernel/seq_out.h"
#include "kernel/cmdline.h"
#include "kernel/errno.h"
#include "kernel/string.h"
#include "mm/compaction.h"
#include "mm/memmap_report.h"
#include "mm/page_alloc.h"
#include "mm/page_report.h"
#include "mm/slab.h"
#include "mm/slab_report.h"
#include "mm/vmalloc.h"

// Returns the kernel's mem_system, or nullptr after saying why cmd cannot run.
static mem_system *need_system_mem(const char *cmd) {
  if (!system_mem) printk("%s: the page allocator is not set up (no system_mem)\n", cmd);
  return system_mem;
}

// Runs one report on the kernel's memory. Returns 0, or 1 without memory.
static int run_report(const char *cmd, void (*show)(const mem_system &, seq_out &)) {
  mem_system *ms = need_system_mem(cmd);
  if (!ms) return 1;
  seq_out out = console_seq_out();
  show(*ms, out);
  return 0;
}

static int cmd_buddyinfo(int, char **) { return run_report("buddyinfo", show_buddyinfo); }
MONITOR_COMMAND(buddyinfo_cmd, "buddyinfo", "",
                "free blocks per order of each zone (/proc/buddyinfo)", cmd_buddyinfo);

static int cmd_zoneinfo(int, char **) { return run_report("zoneinfo", show_zoneinfo); }
MONITOR_COMMAND(zoneinfo_cmd, "zoneinfo", "",
                "watermarks, sizes and pagesets of each zone (/proc/zoneinfo)", cmd_zoneinfo);

static int cmd_pagetypeinfo(int, char **) { return run_report("pagetypeinfo", show_pagetypeinfo); }
MONITOR_COMMAND(pagetypeinfo_cmd, "pagetypeinfo", "",
                "free blocks per migrate type and pageblocks per type (/proc/pagetypeinfo)", cmd_pagetypeinfo);

// Both of debugfs's extfrag files, each under its name.
static void show_extfrag(const mem_system &ms, seq_out &out) {
  seq_puts(out, "extfrag/unusable_index:\n");
  show_unusable_index(ms, out);
  seq_puts(out, "extfrag/extfrag_index:\n");
  show_extfrag_index(ms, out);
}
static int cmd_extfrag(int, char **) { return run_report("extfrag", show_extfrag); }
MONITOR_COMMAND(extfrag_cmd, "extfrag", "",
                "unusable free space and fragmentation index per order (debugfs extfrag/)", cmd_extfrag);

static int cmd_meminfo(int, char **) {
  mem_system *ms = need_system_mem("meminfo");
  if (!ms) return 1;
  seq_out out = console_seq_out();
  show_meminfo(*ms, out, system_vmalloc);  // no Vmalloc lines before vmalloc is set up
  return 0;
}
MONITOR_COMMAND(meminfo_cmd, "meminfo", "", "memory totals (/proc/meminfo)", cmd_meminfo);

// After mm/'s counters, the arch's: Linux's nr_tlb_remote_flush
// (CONFIG_DEBUG_TLBFLUSH), the TLB shootdowns sent to other harts, which
// vmalloc's lazy purge exists to make rare.
static int cmd_vmstat(int, char **) {
  if (int err = run_report("vmstat", show_vmstat)) return err;
  printk("nr_tlb_remote_flush %lu\n", __atomic_load_n(&nr_remote_tlb_flushes, __ATOMIC_RELAXED));
  return 0;
}
MONITOR_COMMAND(vmstat_cmd, "vmstat", "", "counters and events, one \"name value\" a line (/proc/vmstat)", cmd_vmstat);

// Free blocks of pageblock order (what a huge page or a contiguous range
// needs) over every zone: what compaction is for.
static unsigned long free_pageblock_blocks(const mem_system &ms) {
  unsigned long n = 0;
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) n += READ_ONCE(z->free_area[pageblock_order].nr_free);
  return n;
}

// Linux's `echo 1 > /proc/sys/vm/compact_memory`, and what it did. The
// counts are events, so background compaction on another CPU meanwhile
// adds in.
static int cmd_compact(int, char **) {
  mem_system *ms = need_system_mem("compact");
  if (!ms) return 1;
  unsigned long migrated = vm_event(*ms, PGMIGRATE_SUCCESS), failed = vm_event(*ms, PGMIGRATE_FAIL);
  unsigned long mscanned = vm_event(*ms, COMPACTMIGRATE_SCANNED), fscanned = vm_event(*ms, COMPACTFREE_SCANNED);
  unsigned long before = free_pageblock_blocks(*ms);
  compact_memory(*ms);
  printk("compact: %lu pages migrated (%lu failed), %lu scanned for migration, %lu for free pages; "
         "order-%u free blocks %lu -> %lu\n",
         vm_event(*ms, PGMIGRATE_SUCCESS) - migrated, vm_event(*ms, PGMIGRATE_FAIL) - failed,
         vm_event(*ms, COMPACTMIGRATE_SCANNED) - mscanned, vm_event(*ms, COMPACTFREE_SCANNED) - fscanned,
         unsigned(pageblock_order), before, free_pageblock_blocks(*ms));
  return 0;
}
MONITOR_COMMAND(compact_cmd, "compact", "", "compact every zone in full (/proc/sys/vm/compact_memory)",
                cmd_compact);

static int cmd_slabinfo(int, char **) {
  if (!system_slab) {
    printk("slabinfo: the slab allocator is not set up (no system_slab)\n");
    return 1;
  }
  seq_out out = console_seq_out();
  show_slabinfo(*system_slab, out);
  return 0;
}
MONITOR_COMMAND(slabinfo_cmd, "slabinfo", "", "objects and slabs of each slab cache (/proc/slabinfo)",
                cmd_slabinfo);

static int cmd_vmallocinfo(int, char **) {
  if (!system_vmalloc) {
    printk("vmallocinfo: vmalloc is not set up (no system_vmalloc)\n");
    return 1;
  }
  seq_out out = console_seq_out();
  show_vmallocinfo(*system_vmalloc, out);
  return 0;
}
MONITOR_COMMAND(vmallocinfo_cmd, "vmallocinfo", "", "every vmalloc and vmap area, with its caller (/proc/vmallocinfo)",
                cmd_vmallocinfo);

static int cmd_drain(int, char **) {
  mem_system *ms = need_system_mem("drain");
  if (!ms) return 1;
  unsigned long before = nr_free_pcp_pages(*ms);
  drain_all_pages(*ms);
  // Other CPUs may refill their lists meanwhile: "left" can be above 0.
  unsigned long after = nr_free_pcp_pages(*ms);
  printk("drain: %lu pages from the per-CPU lists back to the buddy lists (%lu left)\n",
         before > after ? before - after : 0, after);
  return 0;
}
MONITOR_COMMAND(drain_cmd, "drain", "",
                "give every per-CPU list's pages back to the buddy lists (drain_all_pages)",
                cmd_drain);

// The console is a serial line: the kernel cannot tell a terminal from a
// pipe or a log file, so whoever starts it says so: scripts/run passes
// console.color=1 when both ends of the console are a terminal. Otherwise
// the picture is plain unless --color asks (an escape in a saved log would
// be noise for scripts/plot and for grep).
static bool console_color;
static int set_console_color(const char *val) { return parse_bool(val, &console_color); }
KERNEL_PARAM(console_color_param, "console.color", set_console_color,
             "1: the console is a terminal, memmap draws in colour by default (scripts/run sets it)");

static int cmd_memmap(int argc, char **argv) {
  mem_system *ms = need_system_mem("memmap");
  if (!ms) return 1;
  bool color = console_color;
  int nid = -1;
  const char *zone_name = nullptr, *node_arg = nullptr;
  for (int i = 1; i < argc; i++) {
    u64 n;
    if (strcmp(argv[i], "--color") == 0) color = true;
    else if (strcmp(argv[i], "--plain") == 0) color = false;
    else if (nid < 0 && !zone_name && parse_u64(argv[i], &n) == 0) {
      nid = n < MAX_NUMNODES ? int(n) : int(MAX_NUMNODES);  // past the last: show_memmap says no such node
      node_arg = argv[i];
    } else if
    (!zone_name && argv[i][0] != '-') zone_name = argv[i];
    else {
      printk("memmap: bad argument '%s' (usage: memmap [--color|--plain] [NODE] [ZONE])\n", argv[i]);
      return 1;
    }
  }
  seq_out out = console_seq_out();
  int err = show_memmap(*ms, out, nid, zone_name, color);
  if (err == -ENXIO) printk("memmap: no node %s with memory\n", node_arg);
  else if (err) printk("memmap: no populated zone '%s'%s\n", zone_name ? zone_name : "", nid >= 0 ? " on that node" : "");
  return err ? 1 : 0;
}
MONITOR_COMMAND(memmap_cmd, "memmap", "[--color|--plain] [NODE] [ZONE]",
                "a picture of each zone: one character per pageblock, free/partly free/full and its type", cmd_memmap);
