#include "kernel/poweroff.h"

#include "kernel/printk.h"
#include "sbi/sbi.h"

static volatile u32 *exit_reg;
static u32 exit_pass_value;
static bool exit_takes_fail_code;
constexpr u32 SIFIVE_TEST_FAIL = 0x3333;

void poweroff_set_device(volatile u32 *reg, u32 pass_value, bool takes_fail_code) {
  exit_reg = reg;
  exit_pass_value = pass_value;
  exit_takes_fail_code = takes_fail_code;
}

void machine_power_off(int status) {
  if (status != POWEROFF_OK) pr_emerg("Powering off with status %d\n", status);
  if (exit_reg && (status == POWEROFF_OK || exit_takes_fail_code))
    *exit_reg = status == POWEROFF_OK ? exit_pass_value : (u32(status) << 16) | SIFIVE_TEST_FAIL;
  if (status != POWEROFF_OK && !exit_takes_fail_code)
    pr_emerg("poweroff: no device to report status %d; the host will see a clean exit\n", status);
  long err = sbi::system_reset(sbi::RESET_TYPE_SHUTDOWN, status == POWEROFF_OK
                                                            ? sbi::RESET_REASON_NONE
                                                            : sbi::RESET_REASON_SYSTEM_FAILURE);
  pr_emerg("poweroff: SBI system reset failed (%s); halting\n", sbi::strerror(err));
  for (;;) asm volatile("wfi");
}
