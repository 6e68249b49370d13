// The time CSR and the tick, through SBI TIME (kernel/ktime.h).
#include "kernel/ktime.h"

#include <asm/csr.h>

#include "kernel/boot.h"
#include "kernel/percpu.h"
#include "sbi/sbi.h"

// QEMU virt's timebase when the device tree does not say.
constexpr u64 DEFAULT_TIMEBASE_HZ = 10'000'000;

static u64 timebase_hz() {
  return boot_params.timebase_frequency ? boot_params.timebase_frequency : DEFAULT_TIMEBASE_HZ;
}

u64 ktime_get_ns() {
  u64 t = csr_read(time), hz = timebase_hz();
  return t / hz * 1'000'000'000 + t % hz * 1'000'000'000 / hz;
}

void tick_start() { sbi::set_timer(csr_read(time) + timebase_hz() / HZ); }

// The SBI has no "cancel": a deadline that never comes clears the pending
// interrupt and keeps it clear.
void tick_stop() { sbi::set_timer(~u64(0)); }

void timer_interrupt() {
  percpu_area &me = this_cpu_area();
  me.nr_timer_irqs++;
  me.ticks++;
  tick_start();
}
