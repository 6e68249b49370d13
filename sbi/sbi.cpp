#include "sbi/sbi.h"

namespace sbi {

ret call(long ext, long fid, unsigned long a0, unsigned long a1, unsigned long a2, unsigned long a3,
         unsigned long a4, unsigned long a5) {
  register unsigned long r0 asm("a0") = a0;
  register unsigned long r1 asm("a1") = a1;
  register unsigned long r2 asm("a2") = a2;
  register unsigned long r3 asm("a3") = a3;
  register unsigned long r4 asm("a4") = a4;
  register unsigned long r5 asm("a5") = a5;
  register unsigned long r6 asm("a6") = fid;
  register unsigned long r7 asm("a7") = ext;
  asm volatile("ecall"
               : "+r"(r0), "+r"(r1)
               : "r"(r2), "r"(r3), "r"(r4), "r"(r5), "r"(r6), "r"(r7)
               : "memory");
  return {long(r0), long(r1)};
}

void console_putchar(char c) { call(EXT_LEGACY_PUTCHAR, 0, u8(c)); }

int console_getchar() {
  long c = call(EXT_LEGACY_GETCHAR, 0).error;  // legacy calls answer in a0
  return c < 0 ? -1 : int(c);
}

long spec_version() { return call(EXT_BASE, 0).value; }
long impl_id() { return call(EXT_BASE, 1).value; }
long impl_version() { return call(EXT_BASE, 2).value; }
bool probe_extension(long ext) { return call(EXT_BASE, 3, ext).value != 0; }

long hart_start(unsigned long hartid, phys_addr_t start_pa, unsigned long opaque) {
  return call(EXT_HSM, 0, hartid, start_pa, opaque).error;
}

long hart_get_status(unsigned long hartid) {
  ret r = call(EXT_HSM, 2, hartid);
  return r.error ? r.error : r.value;
}

long send_ipi(unsigned long hart_mask, unsigned long hart_mask_base) {
  return call(EXT_IPI, 0, hart_mask, hart_mask_base).error;
}

long remote_sfence_vma(unsigned long hart_mask, unsigned long hart_mask_base, unsigned long start,
                       unsigned long size) {
  return call(EXT_RFENCE, 1, hart_mask, hart_mask_base, start, size).error;
}

long set_timer(u64 stime_value) { return call(EXT_TIME, 0, stime_value).error; }

long system_reset(u32 type, u32 reason) { return call(EXT_SRST, 0, type, reason).error; }

const char *strerror(long err) {
  switch (err) {
    case SUCCESS: return "success";
    case ERR_FAILED: return "failed";
    case ERR_NOT_SUPPORTED: return "not supported";
    case ERR_INVALID_PARAM: return "invalid parameter";
    case -4: return "denied";
    case -5: return "invalid address";
    case -6: return "already available";
    case -7: return "already started";
    case -8: return "already stopped";
    default: return "unknown error";
  }
}

}  // namespace sbi
