// NUMA node numbering shared by the device-tree parser, memblock and the
// page allocator. Nodes are numbered densely from 0 by the device tree's
// numa-node-id; distances follow Linux (10 to itself, 20 by default).
#pragma once

#include "kernel/types.h"

constexpr unsigned MAX_NUMNODES = 8;
constexpr int NUMA_NO_NODE = -1;
constexpr u8 LOCAL_DISTANCE = 10;
constexpr u8 REMOTE_DISTANCE = 20;
