// "BUG: Bad page state" reports, in Linux's format, for frees that would
// corrupt the allocator. The page is left exactly as it was.
#include "kernel/printk.h"
#include "mm/page_alloc.h"
#include "mm/page_alloc_internal.h"

void bad_page(mem_system &ms, const page *p, unsigned long pfn, const char *reason) {
  __atomic_fetch_add(&ms.bad_pages, 1ul, __ATOMIC_RELAXED);
  pr_alert("BUG: Bad page state in process swapper/%u  pfn:%05lx\n", smp_processor_id(), pfn);
  if (p) {
    char names[128];
    format_page_flags(names, sizeof(names), p->flags);
    pr_alert("page: refcount:%d mapcount:%d mapping:%016lx index:%#lx pfn:%#lx\n", page_ref_count(p),
             page_mapcount(p), reinterpret_cast<unsigned long>(p->mapping), p->index, pfn);
    pr_alert("flags: 0x%lx(%s)\n", p->flags, names);
    zone *z = page_zone(ms, p);
    count_zone_vm_events(z, PGBAD, 1);
  }
  pr_alert("page dumped because: %s\n", reason);
}
