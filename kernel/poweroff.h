// Powering the machine off with a status the host sees. QEMU's virt machine
// has a "sifive,test" device (also reached through "syscon-poweroff"): writing
// 0x5555 exits QEMU with status 0, (code << 16) | 0x3333 exits with code.
// Without it the SBI SRST extension shuts down, but then QEMU exits 0 whatever
// the reason, so a failure is also printed as such before that fallback.
#pragma once

#include "kernel/types.h"

enum poweroff_status : int {
  POWEROFF_OK = 0,
  POWEROFF_PANIC = 1,
  POWEROFF_TEST_FAILED = 2,
};

// Where the exit register is: reg is a mapped address (the identity address
// before paging, an ioremap()ed one after). pass_value is what syscon-poweroff
// names (0x5555 on QEMU virt).
// takes_fail_code says the register also takes the SiFive test finisher's
// (code << 16) | 0x3333, so that a failure reaches the host as a status.
void poweroff_set_device(volatile u32 *reg, u32 pass_value, bool takes_fail_code);

__noreturn void machine_power_off(int status);
