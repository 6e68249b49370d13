// What the checker's files share (mm/check*.cpp), and nothing else needs.
#pragma once

#include "mm/check.h"

struct mem_system;
struct zone;

// The pageblock bitmap of a zone and its highatomic reserve
// (mm/check_mobility.cpp); the caller holds the zone's lock. Returns whether
// the bitmap is there to read, so that the list walks can check the types
// of the blocks they meet.
bool check_zone_pageblocks(const mem_system &ms, const zone *z, int nid, check_report &r);

// The per-CPU counter deltas of a zone and their thresholds, and its
// percpu_drift_mark (mm/check_vmstat.cpp); the caller holds the zone's lock.
void check_zone_vmstat(const mem_system &ms, const zone *z, int nid, check_report &r);
// The same for a node's deltas (its threshold: its zones' largest).
void check_node_vmstat(const mem_system &ms, const struct pglist_data *pgdat, check_report &r);
