// Helpers the memory-management ktest suites share.
#pragma once

#include "kernel/ktest.h"
#include "kernel/types.h"

// What the page allocator has free, with the slab caches emptied of free
// slabs and every per-CPU list drained: a value that an allocation which
// was fully given back must leave unchanged.
struct free_state {
  unsigned long free_pages, slab_unreclaimable, slab_reclaimable;
};

free_state settle();
void expect_same_free_state(ktest *t, const free_state &before, const free_state &after);

// Runs fn(arg) on cpu in process context (its idle loop) and waits for it.
// False if the work could not be queued there.
bool run_on(unsigned cpu, void (*fn)(void *), void *arg);

// True when reading addr faults (a load page fault at exactly addr), taken
// through probe_read_u64 so that the test goes on.
bool read_faults(const void *addr);
// Where needle first occurs in s, or nullptr (the kernel has no strstr).
const char *find(const char *s, const char *needle);
// Whether /proc/vmallocinfo (show_vmallocinfo on system_vmalloc) lists the
// vmalloc area at addr with its range (the guard page included), its pages
// and "caller+0x" as its caller, all on one line.
bool vmallocinfo_lists(const void *addr, unsigned pages, const char *caller);
