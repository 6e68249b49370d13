// Slab debugging: Linux's reports for bad frees and damaged objects, and the
// poison and red-zone bytes of SLAB_POISON / SLAB_RED_ZONE caches.
#include "kernel/printk.h"
#include "kernel/string.h"
#include "mm/slab_internal.h"

void slab_err(slab_allocator &sa, const kmem_cache *s, const void *obj, bool refused, const char *fmt, ...) {
  __atomic_fetch_add(&sa.errors, 1ul, __ATOMIC_RELAXED);
  if (refused) __atomic_fetch_add(&sa.bad_frees, 1ul, __ATOMIC_RELAXED);
  char what[256];
  va_list ap;
  va_start(ap, fmt);
  vscnprintf(what, sizeof(what), fmt, ap);
  va_end(ap);
  pr_err("=============================================================================\n");
  pr_err("BUG %s (Not tainted): %s\n", s ? s->name : "kmalloc", what);
  pr_err("-----------------------------------------------------------------------------\n");
  if (s)
    pr_err("Object %p in cache %s: object size %u, slot %u, cpu %u\n", obj, s->name, s->object_size, s->size,
           smp_processor_id());
  else
    pr_err("Object %p: cpu %u\n", obj, smp_processor_id());
  if (refused) pr_err("FIX %s: operation refused, cache state unchanged\n", s ? s->name : "kmalloc");
}

void init_object_free(const kmem_cache *s, void *obj) {
  u8 *p = static_cast<u8 *>(obj);
  if (s->flags & SLAB_POISON) {
    memset(p, POISON_FREE, s->object_size - 1);
    p[s->object_size - 1] = POISON_END;
  }
  if (s->flags & SLAB_RED_ZONE) memset(p + s->object_size, SLUB_RED_INACTIVE, s->red_zone);
}

// The first byte in [from, from + n) that is not `value`, or nullptr.
static const u8 *first_mismatch(const u8 *from, size_t n, u8 value) {
  for (size_t i = 0; i < n; i++)
    if (from[i] != value) return from + i;
  return nullptr;
}

void check_object_on_alloc(kmem_cache *s, void *obj) {
  const u8 *p = static_cast<const u8 *>(obj);
  const u8 *bad = first_mismatch(p, s->object_size - 1, POISON_FREE);
  if (!bad && p[s->object_size - 1] != POISON_END) bad = p + s->object_size - 1;
  if (bad)
    slab_err(*s->sa, s, obj, false, "Poison overwritten: byte at offset %lu is 0x%02x (use after free)",
             static_cast<unsigned long>(bad - p), *bad);
}

void set_redzone_active(const kmem_cache *s, void *obj) {
  memset(static_cast<u8 *>(obj) + s->object_size, SLUB_RED_ACTIVE, s->red_zone);
}

bool check_redzone_on_free(kmem_cache *s, void *obj) {
  u8 *zone = static_cast<u8 *>(obj) + s->object_size;
  const u8 *bad = first_mismatch(zone, s->red_zone, SLUB_RED_ACTIVE);
  if (!bad) return true;
  slab_err(*s->sa, s, obj, false, "Right Redzone overwritten: byte at offset %u is 0x%02x (write past the object's end)",
           s->object_size + unsigned(bad - zone), *bad);
  return false;
}
