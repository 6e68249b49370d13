// Frame-pointer backtraces. The kernel is built with -fno-omit-frame-pointer,
// so s0 (fp) of every frame points just above its saved ra (fp - 8) and its
// caller's fp (fp - 16).
#pragma once

#include "kernel/types.h"

// Prints "[<pc>] where" lines, starting at pc and following fp's chain while
// it stays inside a known kernel stack.
void print_backtrace(uintptr_t pc, uintptr_t fp);
// Collects up to max return addresses from the current frame; returns how many.
size_t save_stack_trace(uintptr_t *pcs, size_t max);
