// The `memmap` picture (mm/memmap_report.h). A row covers MEMMAP_ROW_CELLS
// cells of at least 64 pages, so it spans at least 4096 pages and starts at
// a multiple of its span: every free buddy block (naturally aligned, at most
// MAX_PAGE_ORDER) lies inside one row, and a walk from the row's start meets
// its head before any of its tail pages.
#include "mm/memmap_report.h"

#include "kernel/errno.h"
#include "kernel/spinlock.h"
#include "kernel/string.h"
#include "mm/mmzone.h"
#include "mm/page.h"
#include "mm/page_alloc.h"
#include "mm/page_report.h"

constexpr unsigned long MEMMAP_SMALL_CELL_PAGES = 64;
static_assert(MEMMAP_SMALL_CELL_PAGES * MEMMAP_ROW_CELLS >= (1ul << MAX_PAGE_ORDER),
              "a free block never spans two rows");

unsigned long memmap_cell_pages(const zone *z) {
  return z->spanned_pages < MEMMAP_ROW_CELLS * pageblock_nr_pages ? MEMMAP_SMALL_CELL_PAGES : pageblock_nr_pages;
}

// Per migrate type: full, partly free, free.
static const char memmap_chars[MIGRATE_TYPES][3] = {
    {'U', 'u', '_'}, {'M', 'm', '.'}, {'R', 'r', ','}, {'H', 'h', '^'}, {'I', 'i', '~'},
};
// ANSI foreground per migrate type: red, green, yellow, magenta, blue.
static const char *const memmap_colors[MIGRATE_TYPES] = {"31", "32", "33", "35", "34"};

char memmap_cell_char(int mt, unsigned long nr_free, unsigned long present) {
  if (present == 0) return ' ';
  if (mt < 0 || mt >= int(MIGRATE_TYPES)) return '?';  // bits no type has: say so, do not guess
  return memmap_chars[mt][nr_free == 0 ? 0 : nr_free < present ? 1 : 2];
}

struct memmap_cell {
  char c;
  signed char mt;
};

// Reads one row's cells under the zone lock: free pages are those of buddy
// blocks (PageBuddy heads with their order in private_), stable under it.
static void memmap_read_row(const mem_system &ms, zone *z, unsigned long row_start, unsigned long cell_pages,
                            memmap_cell cells[MEMMAP_ROW_CELLS]) {
  unsigned long zstart = z->zone_start_pfn, zend = zone_end_pfn(z);
  spin_lock_irqsave_guard g(z->lock);
  unsigned long free_until = 0;  // end of the free block last seen
  for (unsigned i = 0; i < MEMMAP_ROW_CELLS; i++) {
    unsigned long cstart = row_start + i * cell_pages, cend = cstart + cell_pages;
    unsigned long present = 0, nr_free = 0;
    int mt = -1;
    for (unsigned long pfn = cstart < zstart ? zstart : cstart; pfn < cend && pfn < zend; pfn++) {
      const page *p = pfn_to_page(ms, pfn);
      if (!p) continue;  // a hole in the zone's span
      if (mt < 0) mt = get_pfnblock_migratetype(z, pfn);
      present++;
      if (pfn < free_until) {
        nr_free++;
      } else if (PageBuddy(p)) {
        free_until = pfn + (1ul << p->private_);
        nr_free++;
      }
    }
    cells[i] = {memmap_cell_char(mt, nr_free, present), static_cast<signed char>(mt)};
  }
}

static void memmap_legend(seq_out &out) {
  seq_puts(out, "  full: U Unmovable, M Movable, R Reclaimable, H HighAtomic, I Isolate; "
                "lower case: partly free; free: _ U, . M, , R, ^ H, ~ I; blank: no memory\n");
}

static void memmap_zone(const mem_system &ms, int nid, zone *z, seq_out &out, bool color) {
  unsigned long cell_pages = memmap_cell_pages(z);
  unsigned long row_pages = cell_pages * MEMMAP_ROW_CELLS;
  seq_printf(out, "Node %d, zone %8s pfn %#lx-%#lx, %lu pages a cell\n", nid, z->name, z->zone_start_pfn,
             zone_end_pfn(z), cell_pages);
  for (unsigned long row = z->zone_start_pfn / row_pages * row_pages; row < zone_end_pfn(z); row += row_pages) {
    memmap_cell cells[MEMMAP_ROW_CELLS];
    memmap_read_row(ms, z, row, cell_pages, cells);
    // Printed after the lock is dropped: a colour escape per cell would not
    // fit seq_printf's line, so the row is put together here.
    char line[MEMMAP_ROW_CELLS * 8 + 32];
    size_t n = 0;
    int shown = -1;  // colour in effect
    for (const memmap_cell &c : cells) {
      if (color && c.mt != shown && c.mt >= 0 && c.mt < int(MIGRATE_TYPES)) {
        line[n++] = '\033', line[n++] = '[';
        for (const char *s = memmap_colors[int(c.mt)]; *s; s++) line[n++] = *s;
        line[n++] = 'm';
        shown = c.mt;
      }
      line[n++] = c.c;
    }
    if (color && shown >= 0) line[n++] = '\033', line[n++] = '[', line[n++] = '0', line[n++] = 'm';
    line[n] = '\0';
    seq_printf(out, "  %#10lx ", row);
    seq_puts(out, line);
    seq_puts(out, "\n");
  }
  memmap_legend(out);
  show_buddyinfo_zone(nid, z, out);
}

int show_memmap(const mem_system &ms, seq_out &out, int nid, const char *zone_name, bool color) {
  if (nid >= int(MAX_NUMNODES) || (nid >= 0 && !ms.node_data[nid])) return -ENXIO;
  bool found = false;
  // Checked before drawing anything, so a bad name prints nothing.
  for (int pass = 0; pass < 2 && (pass == 0 || found); pass++)
    for_each_online_pgdat(ms, pgdat) {
      if (nid >= 0 && pgdat->node_id != nid) continue;
      for_each_zone_of(pgdat, z) {
        if (!populated_zone(z) || (zone_name && strcmp(z->name, zone_name) != 0)) continue;
        if (pass == 0) found = true;
        else memmap_zone(ms, pgdat->node_id, z, out, color);
      }
    }
  return found ? 0 : -ENOENT;
}
