// KASAN for the page allocator: the content of a block is poisoned while the
// block is free (on the buddy lists or a per-CPU list) and unpoisoned when it
// is handed out, so that a checker of memory accesses can report a use after
// free. Only the host's AddressSanitizer build has such a checker (arch
// kasan_poison); elsewhere these compile to nothing.
//
// They take the zone rather than the mem_system: the address then comes from
// inline arithmetic that the compiler drops with the empty arch hooks,
// instead of a call to page_to_pfn on the allocation fast path.
#pragma once

#include "arch/arch.h"
#include "mm/page_alloc_internal.h"

// The direct map reaches highmem too on the host, the only place a highmem
// zone exists; on the kernel the hooks ignore the address.
inline void *kasan_page_address(const zone *z, const page *p) {
  return phys_to_virt(PFN_PHYS(zone_page_to_pfn(z, p)));
}

inline void kasan_poison_pages(const zone *z, const page *p, unsigned order) {
  kasan_poison(kasan_page_address(z, p), PAGE_SIZE << order);
}

inline void kasan_unpoison_pages(const zone *z, const page *p, unsigned order) {
  kasan_unpoison(kasan_page_address(z, p), PAGE_SIZE << order);
}
