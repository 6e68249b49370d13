// `bench vmalloc`: vmalloc/vfree pairs on every online CPU at once, in pairs
// per second (wall clock) and TLB shootdowns per 1000 pairs.
#pragma once

// Runs `pairs` pairs per CPU of each size (1, 4 and 64 pages) and prints a
// line per size. Returns 0, or 1 when an allocation failed.
int bench_vmalloc(unsigned long pairs);
