// The page allocator's reports, in Linux's /proc formats so that existing
// scripts and habits work: /proc/buddyinfo, /proc/zoneinfo, /proc/meminfo.
#pragma once

#include "kernel/seq_out.h"

struct mem_system;
struct vmalloc_system;

void show_buddyinfo(const mem_system &ms, seq_out &out);
void show_zoneinfo(const mem_system &ms, seq_out &out);
// The Vmalloc lines appear only when vs is given: a mem_system without
// vmalloc (host tests of the page allocator alone) has no such memory, and
// this report leaves out what does not exist rather than print made-up zeros.
void show_meminfo(const mem_system &ms, seq_out &out, const vmalloc_system *vs = nullptr);
