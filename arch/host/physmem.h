// Simulated physical memory for host tests.
//
// One large window of this process's address space stands for physical
// addresses 0..HOST_PHYS_WINDOW; only the ranges a test declares as RAM are
// readable and writable, so a stray access to a hole faults at once. Pages are
// allocated by the host kernel only when touched, so a test may declare
// gigabytes of RAM cheaply. host_physmem_reset() unmaps everything.
#pragma once

#include "kernel/types.h"

#include <asm/arch.h>  // HOST_PHYS_WINDOW

// Makes [base, base+size) usable RAM, zero-filled. Page-aligned, inside the
// window. Returns 0 or -EINVAL.
int host_physmem_add(phys_addr_t base, u64 size);
// Forgets every range; their contents are discarded.
void host_physmem_reset();
// Runs the calling thread as CPU `cpu` (smp_processor_id()). A CPU is one
// thread at a time, as a real CPU runs one context: per-CPU data that the
// kernel updates with interrupts masked and no atomics (the vmstat deltas,
// mm/vmstat.h) would lose updates if two running threads shared a number.
// So the thread claims the number (masked to NR_CPUS, as every per-CPU table
// is indexed), gives up the one it had, and keeps the claim until it sets
// another, releases it, or ends. Claiming a number another live thread holds
// aborts with a message naming it. A thread that never sets one runs as CPU 0
// without a claim; tests set one in every thread they start.
void host_set_cpu(unsigned cpu);
// The same, returning false (and changing nothing) instead of aborting.
bool host_try_set_cpu(unsigned cpu);
// Gives up this thread's claim (its number stays, for reading only): for a
// thread that hands its CPU to another and waits for it, such as a test's
// main thread running workers as CPUs 0..N-1.
void host_release_cpu();
