// Calls into the SBI firmware (OpenSBI), per the RISC-V SBI specification:
// a7 = extension id, a6 = function id, arguments in a0..a5; the firmware
// returns an error code in a0 and a value in a1. The legacy console
// extensions return their result in a0 alone.
#pragma once

#include "kernel/types.h"

namespace sbi {

constexpr long EXT_LEGACY_PUTCHAR = 0x01;
constexpr long EXT_LEGACY_GETCHAR = 0x02;
constexpr long EXT_BASE = 0x10;
constexpr long EXT_TIME = 0x54494D45;
constexpr long EXT_IPI = 0x735049;
constexpr long EXT_RFENCE = 0x52464E43;
constexpr long EXT_HSM = 0x48534D;
constexpr long EXT_SRST = 0x53525354;

constexpr long SUCCESS = 0;
constexpr long ERR_FAILED = -1;
constexpr long ERR_NOT_SUPPORTED = -2;
constexpr long ERR_INVALID_PARAM = -3;

struct ret {
  long error;
  long value;
};

ret call(long ext, long fid, unsigned long a0 = 0, unsigned long a1 = 0, unsigned long a2 = 0,
         unsigned long a3 = 0, unsigned long a4 = 0, unsigned long a5 = 0);

void console_putchar(char c);
int console_getchar();  // -1 when no character is waiting

long spec_version();            // BASE: (major << 24) | minor
long impl_id();                 // BASE: 1 is OpenSBI
long impl_version();
bool probe_extension(long ext);

// HSM: start a stopped hart at the physical address start_pa, in S-mode with
// the MMU off, a0 = its hart id and a1 = opaque. Returns the SBI error.
long hart_start(unsigned long hartid, phys_addr_t start_pa, unsigned long opaque);
// The hart's HSM state (HART_STARTED, ...), or a negative SBI error.
long hart_get_status(unsigned long hartid);
constexpr long HART_STARTED = 0;
constexpr long HART_STOPPED = 1;
constexpr long HART_START_PENDING = 2;
constexpr long HART_STOP_PENDING = 3;
constexpr long HART_SUSPENDED = 4;

// IPI: raises the supervisor software interrupt on the harts of the mask
// (bit i is hart hart_mask_base + i). Returns the SBI error.
long send_ipi(unsigned long hart_mask, unsigned long hart_mask_base);

// RFENCE: sfence.vma for [start, start + size) on the harts of the mask,
// done when the call returns. size ~0ul flushes everything.
long remote_sfence_vma(unsigned long hart_mask, unsigned long hart_mask_base, unsigned long start,
                       unsigned long size);

// TIME: the supervisor timer interrupt becomes pending when the time CSR
// reaches stime_value (and stays clear until then).
long set_timer(u64 stime_value);

// SRST: does not return on success; returns the error otherwise.
long system_reset(u32 type, u32 reason);
constexpr u32 RESET_TYPE_SHUTDOWN = 0;
constexpr u32 RESET_REASON_NONE = 0;
constexpr u32 RESET_REASON_SYSTEM_FAILURE = 1;

const char *strerror(long err);

}  // namespace sbi
