// A picture of physical memory (the monitor's `memmap`): each zone as rows
// of characters, one per cell of memmap_cell_pages(z) pages, saying whether
// the cell is full, partly free or free (buddy pages; pages on per-CPU lists
// count as in use, as buddyinfo counts them) and its pageblock's migrate
// type, then a legend and the zone's buddyinfo line.
//
// Each row (MEMMAP_ROW_CELLS cells) is read under the zone's lock and
// printed after it is dropped: a row is consistent, the picture as a whole
// is not, and a running allocator meanwhile does no harm.
#pragma once

#include "kernel/seq_out.h"

struct mem_system;
struct zone;

constexpr unsigned MEMMAP_ROW_CELLS = 64;

// A pageblock per cell, or 64 pages in a zone of fewer than
// MEMMAP_ROW_CELLS pageblocks (a small machine would draw a few cells).
unsigned long memmap_cell_pages(const zone *z);
// The character of a cell whose present pages are `present`, `nr_free` of
// them free, in a pageblock of type mt: upper case full, lower case partly
// free, punctuation free, ' ' no memory. Colour is added apart from it.
char memmap_cell_char(int mt, unsigned long nr_free, unsigned long present);

// Draws node nid's zone named zone_name; nid < 0 means every node and a
// null zone_name every populated zone. Returns 0, or prints nothing and
// returns -ENXIO for a node that is not online, -ENOENT for a zone name no
// selected node has populated. color adds ANSI colours per migrate type.
int show_memmap(const mem_system &ms, seq_out &out, int nid, const char *zone_name, bool color);
