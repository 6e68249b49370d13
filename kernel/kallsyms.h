// Names for kernel text addresses, so that reports say where, not just a
// number. The table comes from the kernel's first link (scripts/gen-kallsyms.py
// reads its symbols) and is linked into the second; it lives in .rodata,
// after .text, so text addresses are the same in both links (the build
// checks that they are).
#pragma once

#include "kernel/types.h"

// Finds the function containing addr. Returns false when addr is not in a
// known function.
bool kallsyms_lookup(uintptr_t addr, const char **name, uintptr_t *offset, uintptr_t *size);
// Writes "name+0xoff/0xsize" (or the bare address) into buf; returns its length.
int sprint_symbol(char *buf, size_t size, uintptr_t addr);
// The address of a function by its name, or 0.
uintptr_t kallsyms_lookup_name(const char *name);
