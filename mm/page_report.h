// The page allocator's reports, in Linux's /proc formats so that existing
// scripts and habits work: /proc/buddyinfo, /proc/zoneinfo, /proc/meminfo.
#pragma once

#include "kernel/seq_out.h"

struct mem_system;

void show_buddyinfo(const mem_system &ms, seq_out &out);
void show_zoneinfo(const mem_system &ms, seq_out &out);
void show_meminfo(const mem_system &ms, seq_out &out);
