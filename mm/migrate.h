// Page migration: moving the contents of an in-use page to another frame
// behind its owner's back (Linux's mm/migrate.c, for pages outside any LRU:
// the movable_operations interface of zsmalloc and the balloon driver).
//
// A page is movable when its owner says so (__SetPageMovable): PG_movable,
// and its mapping holding the owner's movable_operations, which must be
// registered with the mem_system (register_movable_ops), so that a scanner
// reading a page it does not own never calls through a stale pointer.
// index is the owner's: vmalloc keeps the page's virtual address there.
//
// Moving one page, as compaction and alloc_contig_range do it:
//  1. isolate_movable_page: the owner's isolate_page checks, under its own
//     lock, that the page is still its and movable, and marks it PG_isolated
//     with one more reference (the isolator's). The page sits on the
//     isolator's list through its lru.
//  2. migrate_pages: for each isolated page, a new frame from the caller's
//     get_new_page; the owner's migrate_page(dst, src) moves the contents
//     and its own references to dst, which becomes movable and the owner's,
//     and leaves src neither movable nor isolated; src's two references are
//     dropped and it is freed. On failure, putback_page ends the isolation,
//     the isolator's reference is dropped, and dst goes back through
//     put_new_page.
//
// Locking rules (stated here, relied on by every owner):
//  - PG_movable, PG_isolated and mapping of a movable page change only under
//    its owner's lock (vmalloc: vmalloc_system::pt_lock), never the zone lock;
//    isolate_page, migrate_page and putback_page take that lock themselves.
//  - An owner that frees a movable page clears PG_movable under its lock
//    first (__ClearPageMovable) and then drops its reference. If the page is
//    isolated, the isolator's reference keeps it allocated; migrate_page
//    then fails (the page is no longer movable) and putback frees it.
//  - mapping stays the owner's movable_operations while the page is
//    isolated, movable or not, so that putback can always find the owner.
//  - migrate_page may sleep or wait for other CPUs (a TLB shootdown): the
//    caller holds no spinlock, and migration never runs in an interrupt.
#pragma once

#include "kernel/list.h"
#include "kernel/types.h"
#include "mm/page.h"
#include "mm/pgtable.h"

struct mem_system;

enum migrate_mode {
  MIGRATE_ASYNC,        // never wait: kcompactd and the first direct compaction
  MIGRATE_SYNC_LIGHT,   // may wait a little (direct compaction's later tries)
  MIGRATE_SYNC,         // may wait (alloc_contig_range, compact_memory)
};

enum migrate_reason {
  MR_COMPACTION,
  MR_CONTIG_RANGE,
  MR_TYPES,
};

struct movable_operations {
  // Whether the page was still movable and is now isolated (PG_isolated set,
  // one more reference taken). Must check everything it relies on: the
  // caller read the page without any lock.
  bool (*isolate_page)(page *p, migrate_mode mode);
  // Moves src's contents and the owner's use of it to dst (a fresh order-0
  // page with one reference). 0 on success; -EAGAIN when src is no longer
  // movable (freed meanwhile) or could not be moved now; nothing changed
  // then.
  int (*migrate_page)(page *dst, page *src, migrate_mode mode);
  // Ends the isolation of a page that was not migrated.
  void (*putback_page)(page *p);
};

// Registers ops as an owner of movable pages of ms. Returns 0, or -ENOSPC
// when the table is full.
int register_movable_ops(mem_system &ms, const movable_operations *ops);
void unregister_movable_ops(mem_system &ms, const movable_operations *ops);

// The owner marks an order-0 page it holds (refcount 1) movable, and back.
// Under the owner's lock.
void __SetPageMovable(page *p, const movable_operations *ops);
void __ClearPageMovable(page *p);
// The page's movable_operations, or nullptr when it is not movable or its
// mapping is no registered owner.
const movable_operations *page_movable_ops(const mem_system &ms, const page *p);

// Step 1 for one page read without any lock. True when it is now isolated
// (and the caller holds the isolator's reference).
bool isolate_movable_page(mem_system &ms, page *p, migrate_mode mode);
// Ends the isolation of every page on the list (through its lru) and drops
// the isolator's references.
void putback_movable_pages(mem_system &ms, list_head *l);

// A new frame for src, or nullptr; and where an unused one goes back.
using new_page_t = page *(*)(page *src, void *priv);
using free_page_t = void (*)(page *dst, void *priv);

// Step 2 for every page on `from` (isolated pages, through their lru).
// Migrated pages leave the list and are freed; pages that fail are tried
// again up to 3 times (10 with MIGRATE_SYNC), then stay on the list, still
// isolated, for the caller to put back. Returns the number of pages not
// migrated; *nr_succeeded (if not null) gets the number that were. Counts
// pgmigrate_success and pgmigrate_fail.
int migrate_pages(mem_system &ms, list_head *from, new_page_t get_new_page, free_page_t put_new_page, void *priv,
                  migrate_mode mode, migrate_reason reason, unsigned *nr_succeeded);

// Spins while *slot holds a migration entry; returns the entry that
// replaced it (acquire: the migrated contents are visible). For those who
// found the entry themselves and may wait (vfree, vmalloc_to_page).
pte_t wait_for_migration_entry(const pte_t *slot);

// For a hart that faulted on va: waits while the kernel table maps va with a
// migration entry (asm/sv39.h), then returns true so that the access is
// retried (Linux's migration_entry_wait). False when va holds no migration
// entry (the fault is someone else's business), or when the entry is this
// CPU's own: the migrating CPU copies through the direct map and never
// touches the page through its virtual address, so such a touch is a bug
// (an interrupt handler touching movable memory) that waiting would turn
// into a hang.
bool migration_entry_wait(const page_table &pt, uintptr_t va);
