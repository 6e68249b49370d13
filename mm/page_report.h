// The page allocator's reports, in Linux's /proc formats so that existing
// scripts and habits work: /proc/buddyinfo, /proc/zoneinfo, /proc/meminfo,
// /proc/vmstat.
#pragma once

#include "kernel/seq_out.h"

struct mem_system;
struct vmalloc_system;

void show_buddyinfo(const mem_system &ms, seq_out &out);
struct zone;
// One zone's buddyinfo line (read under its lock), as show_buddyinfo prints it.
void show_buddyinfo_zone(int nid, zone *z, seq_out &out);
void show_zoneinfo(const mem_system &ms, seq_out &out);
// The Vmalloc lines appear only when vs is given: a mem_system without
// vmalloc (host tests of the page allocator alone) has no such memory, and
// this report leaves out what does not exist rather than print made-up zeros.
void show_meminfo(const mem_system &ms, seq_out &out, const vmalloc_system *vs = nullptr);
// /proc/vmstat: "name value" per line, Linux's names in Linux's order, for
// the counters this kernel keeps (zone and node counters summed, pgalloc
// per kind of zone, pgfree, migration and compaction events).
void show_vmstat(const mem_system &ms, seq_out &out);

// ---- fragmentation (mm/frag_report.cpp) ----------------------------------------------------
// /proc/pagetypeinfo: free blocks per migrate type and order, and pageblocks
// per type, of every populated zone.
void show_pagetypeinfo(const mem_system &ms, seq_out &out);
// debugfs extfrag/unusable_index and extfrag/extfrag_index: per zone and
// order, in thousandths printed as "0.123".
void show_unusable_index(const mem_system &ms, seq_out &out);
void show_extfrag_index(const mem_system &ms, seq_out &out);

// Pageblocks of each migrate type in the zone, counted as pagetypeinfo
// counts them. Needs the zone lock.
void count_pageblock_types(const zone *z, unsigned long count[]);

// A zone's free memory as the indices see it (Linux's contig_page_info).
struct contig_page_info {
  unsigned long free_pages;            // free pages in every block
  unsigned long free_blocks_total;     // free blocks of any order
  unsigned long free_blocks_suitable;  // free blocks of suitable_order that the blocks could give
};
void fill_contig_page_info(const zone *z, unsigned suitable_order, contig_page_info *info);
// How much of the free memory cannot serve a request of `order`: 0 (all of
// it can) to 1000 (none; also with nothing free at all).
int unusable_free_index(unsigned order, const contig_page_info &info);
// Why a request of `order` would fail: near 0, too little memory; near 1000,
// fragmentation; -1000 when it would not fail; 0 with nothing free.
int __fragmentation_index(unsigned order, const contig_page_info &info);
int fragmentation_index(const zone *z, unsigned order);
