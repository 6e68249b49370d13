// Call stacks on the host, for the same callers as the kernel's
// (arch/riscv/include/asm/stacktrace.h): fault injection's caller filter
// and dump_stack().
#pragma once

#include "kernel/types.h"

// Collects up to max return addresses, innermost first, starting with the
// caller of save_stack_trace; returns how many.
size_t save_stack_trace(uintptr_t *pcs, size_t max);

// The address range [*start, *end) of the function that contains fn, so a
// test can name a caller for fault injection's filter by its address. Needs
// the function in the dynamic symbol table (the test binaries link with
// -rdynamic). Returns false when it cannot tell.
bool host_function_range(const void *fn, uintptr_t *start, uintptr_t *end);
