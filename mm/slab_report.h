// The slab allocator's report, in Linux's /proc/slabinfo format (version
// 2.1, the one slabtop and other tools parse).
#pragma once

#include "kernel/seq_out.h"

struct slab_allocator;

void show_slabinfo(slab_allocator &sa, seq_out &out);
