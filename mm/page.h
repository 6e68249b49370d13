// struct page: one per physical page frame, in each node's mem_map.
//
// Its size is a budget: 64 bytes (static_assert below), so mem_map costs
// 1/64 of memory, as in Linux. The 40 bytes after `flags` are a union whose
// meaning depends on who owns the page:
//
//   owner            fields used                     invariant
//   buddy free list  lru, private_ = order           PG_buddy set; head of a free
//                                                    block of 2^order pages
//   per-CPU list     lru, private_ = order           PG_pcp set; refcount 0
//   allocated        (the owner's), alloc_order      head: refcount >= 1; other
//                                                    pages of the block: refcount 0
//                                                    (alloc_order is 0 on every
//                                                    page but an allocation's head)
//   compound tail    compound_head = head | 1        PG_tail-like: bit 0 of
//                                                    compound_head
//   slab (issue 4)   slab_cache, freelist, inuse...  PG_slab; slab_frozen and
//                    slab_remote after alloc_order
//   movable          mapping = movable_operations,   PG_movable; order 0; while
//                    index = the owner's key         PG_isolated one more reference
//                                                    (mm/migrate.h)
//
// The top bits of flags hold the page's node and zone, so that a page always
// finds its zone (page_zone) without a search.
#pragma once

#include "kernel/list.h"
#include "kernel/types.h"
#include "mm/zone_type.h"

enum pageflags : unsigned {
  PG_reserved,  // never given to the page allocator (firmware, kernel image, holes)
  PG_buddy,     // free, on a buddy free list; private_ holds the order
  PG_pcp,       // free, on a per-CPU list; private_ holds the order
  PG_head,      // first page of a compound page
  PG_slab,      // owned by the slab allocator
  PG_pgtable,   // a page-table page
  PG_poisoned,  // hardware-poisoned: never allocate
  PG_highmem,   // outside the direct map
  PG_large_kmalloc,  // head of a kmalloc too large for the slab caches (free with kfree)
  PG_movable,   // an order-0 page its owner lets compaction move: mapping holds its
                // movable_operations (mm/migrate.h; Linux 6.17's PG_movable_ops)
  PG_isolated,  // a movable page taken out for migration, with the taker's reference
  NR_PAGEFLAGS,
};

constexpr unsigned ZONES_SHIFT = 3;   // zone index bits
constexpr unsigned NODES_SHIFT = 3;   // node id bits (MAX_NUMNODES = 8)
constexpr unsigned ZONES_PGSHIFT = 64 - ZONES_SHIFT;
constexpr unsigned NODES_PGSHIFT = ZONES_PGSHIFT - NODES_SHIFT;
constexpr u64 ZONES_MASK = (u64(1) << ZONES_SHIFT) - 1;
constexpr u64 NODES_MASK = (u64(1) << NODES_SHIFT) - 1;
constexpr u64 PAGEFLAGS_MASK = (u64(1) << NR_PAGEFLAGS) - 1;

struct kmem_cache;

struct page {
  unsigned long flags;  // 0: PG_* bits, node and zone in the top bits
  union {               // 8..47
    struct {            // page allocator and page owners
      list_head lru;              // 8: buddy or per-CPU list linkage
      void *mapping;              // 24: owner's use
      unsigned long index;        // 32: owner's use
      unsigned long private_;     // 40: buddy/pcp order while free
    };
    struct {                      // tail pages of a compound page
      unsigned long compound_head;  // 8: head page address | 1
      u8 compound_order;            // 16: in the first tail page
    };
    struct {                      // slab pages (mm/slab), head page
      list_head slab_list;        // 8: on a kmem_cache_node list
      kmem_cache *slab_cache;     // 24
      void *freelist;             // 32: first free object (raw)
      u32 inuse;                  // 40: objects not on the freelist
      u32 lost;                   // 44: of those, abandoned behind a corrupted link
    };
  };
  s32 _mapcount;  // 48: -1 when not mapped into user space
  s32 _refcount;  // 52: atomic; 0 when free
  u8 alloc_order; // 56: order the block was allocated with (head only)
  u8 slab_frozen; // 57: slab head: 1 + the CPU that owns it, 0 if on its node's lists (mm/slab.h)
  u16 slab_remote;     // 58: slab head: other CPUs freed objects since its owner last looked (atomic)
  u32 slab_inflight;   // 60: slab head: remote frees between their look at slab_frozen and their last access (atomic)
};

static_assert(sizeof(page) == 64, "struct page must stay at 64 bytes");
constexpr unsigned PAGE_STRUCT_SHIFT = 6;  // log2(sizeof(page)): mem_map index from an address difference
static_assert(sizeof(page) == 1u << PAGE_STRUCT_SHIFT);
static_assert(__builtin_offsetof(page, lru) == 8 && __builtin_offsetof(page, private_) == 40);
static_assert(__builtin_offsetof(page, compound_head) == __builtin_offsetof(page, lru),
              "a tail's compound_head overlays lru.next, as in Linux");

// ---- flags ------------------------------------------------------------------------
// Only a page's owner changes its flags, but the zone lock's holder reads
// those of a buddy candidate it does not own (page_is_buddy): so every
// change is one whole-word store.
inline bool test_page_flag(const page *p, pageflags f) { return p->flags & (u64(1) << f); }
inline void set_page_flag(page *p, pageflags f) { WRITE_ONCE(p->flags, p->flags | u64(1) << f); }
inline void clear_page_flag(page *p, pageflags f) { WRITE_ONCE(p->flags, p->flags & ~(u64(1) << f)); }

inline bool PageReserved(const page *p) { return test_page_flag(p, PG_reserved); }
inline bool PageBuddy(const page *p) { return test_page_flag(p, PG_buddy); }
inline bool PagePcp(const page *p) { return test_page_flag(p, PG_pcp); }
inline bool PageHead(const page *p) { return test_page_flag(p, PG_head); }
inline bool PageSlab(const page *p) { return test_page_flag(p, PG_slab); }
inline bool PageHighMem(const page *p) { return test_page_flag(p, PG_highmem); }
inline bool PageLargeKmalloc(const page *p) { return test_page_flag(p, PG_large_kmalloc); }
inline bool PageMovable(const page *p) { return test_page_flag(p, PG_movable); }
inline bool PageIsolated(const page *p) { return test_page_flag(p, PG_isolated); }
inline bool PageTail(const page *p) { return !PageBuddy(p) && !PagePcp(p) && (p->compound_head & 1); }

inline zone_type page_zonenum(const page *p) { return zone_type((p->flags >> ZONES_PGSHIFT) & ZONES_MASK); }
inline int page_to_nid(const page *p) { return int((p->flags >> NODES_PGSHIFT) & NODES_MASK); }
// Zone and node in one number (zone << NODES_SHIFT | node): what the top bits
// of flags hold, and the index of mem_system::free_route.
inline unsigned page_zoneid(const page *p) { return unsigned(p->flags >> NODES_PGSHIFT); }
static_assert(NODES_PGSHIFT + NODES_SHIFT + ZONES_SHIFT == 64, "zone and node fill the top bits");
inline void set_page_links(page *p, zone_type z, int nid) {
  p->flags = (p->flags & PAGEFLAGS_MASK) | (u64(z) << ZONES_PGSHIFT) | (u64(nid) << NODES_PGSHIFT);
}

inline page *compound_head(page *p) {
  return PageTail(p) ? reinterpret_cast<page *>(p->compound_head - 1) : p;
}
inline unsigned compound_order(const page *head) {
  return PageHead(head) ? head[1].compound_order : 0;
}

// ---- reference counts ---------------------------------------------------------------
inline int page_ref_count(const page *p) { return __atomic_load_n(&p->_refcount, __ATOMIC_RELAXED); }
inline void set_page_count(page *p, int v) { WRITE_ONCE(p->_refcount, v); }
inline void get_page(page *p) { __atomic_fetch_add(&compound_head(p)->_refcount, 1, __ATOMIC_RELAXED); }
inline int page_mapcount(const page *p) { return p->_mapcount + 1; }

// Writes "reserved|buddy|..." for the PG_* bits of flags into buf.
int format_page_flags(char *buf, size_t size, unsigned long flags);
