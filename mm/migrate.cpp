// Page migration for movable pages outside any LRU. See mm/migrate.h.
#include "mm/migrate.h"

#include "arch/arch.h"
#include "kernel/errno.h"
#include "mm/mmzone.h"
#include "mm/page_alloc.h"

int register_movable_ops(mem_system &ms, const movable_operations *ops) {
  for (const movable_operations *&slot : ms.movable_ops)
    if (slot == ops) return 0;
  for (const movable_operations *&slot : ms.movable_ops)
    if (!slot) {
      __atomic_store_n(&slot, ops, __ATOMIC_RELEASE);
      return 0;
    }
  return -ENOSPC;
}

void unregister_movable_ops(mem_system &ms, const movable_operations *ops) {
  for (const movable_operations *&slot : ms.movable_ops)
    if (slot == ops) __atomic_store_n(&slot, static_cast<const movable_operations *>(nullptr), __ATOMIC_RELEASE);
}

void __SetPageMovable(page *p, const movable_operations *ops) {
  p->mapping = const_cast<movable_operations *>(ops);
  set_page_flag(p, PG_movable);
}

void __ClearPageMovable(page *p) { clear_page_flag(p, PG_movable); }

const movable_operations *page_movable_ops(const mem_system &ms, const page *p) {
  // Read without a lock: the page may be freed and reused meanwhile, so its
  // mapping is trusted only if it names a registered owner, whose
  // isolate_page then checks the page under its own lock.
  const void *mapping = __atomic_load_n(&p->mapping, __ATOMIC_RELAXED);
  if (!mapping) return nullptr;
  for (const movable_operations *ops : ms.movable_ops)
    if (ops && ops == mapping) return ops;
  return nullptr;
}

bool isolate_movable_page(mem_system &ms, page *p, migrate_mode mode) {
  if (!PageMovable(p) || PageIsolated(p)) return false;
  const movable_operations *ops = page_movable_ops(ms, p);
  return ops && ops->isolate_page(p, mode);
}

void putback_movable_pages(mem_system &ms, list_head *l) {
  while (!list_empty(l)) {
    page *p = list_first_entry(l, page, lru);
    list_del(&p->lru);
    // mapping stays the owner's while isolated (the locking rules).
    static_cast<const movable_operations *>(p->mapping)->putback_page(p);
    // The isolator's reference, as Linux's put_page: the page is freed if
    // its owner let go meanwhile (__free_pages checks the flags of a page
    // only at its last reference, so a movable page the owner still holds
    // is fine).
    __free_pages(ms, p, 0);
  }
}

// One page: 0 when migrated (src freed), else the owner's error with src
// still isolated and dst given back.
static int migrate_one(mem_system &ms, page *src, new_page_t get_new_page, free_page_t put_new_page, void *priv,
                       migrate_mode mode) {
  const auto *ops = static_cast<const movable_operations *>(src->mapping);
  if (!PageMovable(src)) return -EAGAIN;  // the owner freed it: putback lets it go
  page *dst = get_new_page(src, priv);
  if (!dst) return -ENOMEM;
  int err = ops->migrate_page(dst, src, mode);
  if (err) {
    put_new_page(dst, priv);
    return err;
  }
  // src is neither movable nor isolated now; the owner's reference went to
  // dst, the isolator's is the last.
  __atomic_fetch_sub(&src->_refcount, 1, __ATOMIC_RELAXED);
  __free_pages(ms, src, 0);
  return 0;
}

int migrate_pages(mem_system &ms, list_head *from, new_page_t get_new_page, free_page_t put_new_page, void *priv,
                  migrate_mode mode, migrate_reason, unsigned *nr_succeeded) {
  unsigned succeeded = 0;
  int retry = 1;
  const int passes = mode == MIGRATE_SYNC ? 10 : 3;
  for (int pass = 0; pass < passes && retry; pass++) {
    retry = 0;
    list_head *pos = from->next;
    while (pos != from) {
      page *src = list_entry(pos, page, lru);
      pos = pos->next;
      // Off the list first: a migrated page is freed at once, and its lru
      // goes to a free list.
      list_del(&src->lru);
      int err = migrate_one(ms, src, get_new_page, put_new_page, priv, mode);
      if (err == 0) {
        succeeded++;
        continue;
      }
      list_add_tail(&src->lru, pos);  // back where it was
      if (err == -EAGAIN && PageMovable(src)) {
        retry++;
      } else if (err == -ENOMEM) {
        retry = 0;  // no frame for it: neither for the others
        break;
      }
    }
  }
  int failed = 0;
  for (list_head *pos = from->next; pos != from; pos = pos->next) failed++;
  count_vm_events(ms, PGMIGRATE_SUCCESS, succeeded);
  count_vm_events(ms, PGMIGRATE_FAIL, unsigned(failed));
  if (nr_succeeded) *nr_succeeded = succeeded;
  return failed;
}

pte_t wait_for_migration_entry(const pte_t *slot) {
  pte_t pte;
  while (is_migration_entry(pte = __atomic_load_n(slot, __ATOMIC_ACQUIRE))) cpu_relax();
  return pte;
}

bool migration_entry_wait(const page_table &pt, uintptr_t va) {
  pte_t *slot = pgtable_leaf_slot(pt, va & PAGE_MASK);
  if (!slot) return false;
  pte_t pte = READ_ONCE(*slot);
  if (!is_migration_entry(pte)) return false;
  if (migration_entry_cpu(pte) == (smp_processor_id() & 0xff)) return false;
  wait_for_migration_entry(slot);
  // RISC-V may have cached the invalid entry: drop it before the retry.
  local_flush_tlb_range(va & PAGE_MASK, PAGE_SIZE);
  return true;
}
