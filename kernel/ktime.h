// Time since the machine started, and the periodic tick.
//
// Each online CPU takes a timer interrupt HZ times a second (SBI TIME); the
// interrupt only counts (percpu_area::ticks), and the CPU's idle loop runs
// the periodic work it asks for (kernel/smp.cpp). A benchmark that counts
// instructions stops its CPU's tick so that no interrupt lands in the count.
#pragma once

#include "kernel/types.h"

constexpr unsigned HZ = 100;

u64 ktime_get_ns();
// Milliseconds since the machine started: kcompactd's clock (proactive
// compaction checks every HPAGE_FRAG_CHECK_INTERVAL_MSEC).
inline u64 ktime_get_ms() { return ktime_get_ns() / 1'000'000; }
// Programs this CPU's next tick (from its timer interrupt, or to start it).
void tick_start();
// No more ticks on this CPU until tick_start().
void tick_stop();
// The timer interrupt.
void timer_interrupt();
