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
// Runs the calling thread as CPU `cpu` (smp_processor_id()).
void host_set_cpu(unsigned cpu);
