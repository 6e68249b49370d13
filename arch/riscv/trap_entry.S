/*
 * Every trap lands here (stvec, direct mode), on every hart. The kernel has no user mode
 * yet, so the trap frame (struct pt_regs, asm/ptrace.h) goes on the current
 * stack: epc at offset 0, then x1..x31 at 8*i, then sstatus, stval, scause.
 * handle_trap may change the saved registers (a fault fixup rewrites epc
 * and a0), and they are restored from the frame on the way out.
 */
#define PT_SIZE 288
#define PT_STATUS 256
#define PT_BADADDR 264
#define PT_CAUSE 272

  .text
  .balign 4
  .globl trap_entry
trap_entry:
  addi sp, sp, -PT_SIZE
  sd x1, 8(sp)
  sd x3, 24(sp)
  sd x4, 32(sp)
  sd x5, 40(sp)
  sd x6, 48(sp)
  sd x7, 56(sp)
  sd x8, 64(sp)
  sd x9, 72(sp)
  sd x10, 80(sp)
  sd x11, 88(sp)
  sd x12, 96(sp)
  sd x13, 104(sp)
  sd x14, 112(sp)
  sd x15, 120(sp)
  sd x16, 128(sp)
  sd x17, 136(sp)
  sd x18, 144(sp)
  sd x19, 152(sp)
  sd x20, 160(sp)
  sd x21, 168(sp)
  sd x22, 176(sp)
  sd x23, 184(sp)
  sd x24, 192(sp)
  sd x25, 200(sp)
  sd x26, 208(sp)
  sd x27, 216(sp)
  sd x28, 224(sp)
  sd x29, 232(sp)
  sd x30, 240(sp)
  sd x31, 248(sp)
  addi t0, sp, PT_SIZE
  sd t0, 16(sp)
  csrr t0, sepc
  sd t0, 0(sp)
  csrr t0, sstatus
  sd t0, PT_STATUS(sp)
  csrr t0, stval
  sd t0, PT_BADADDR(sp)
  csrr t0, scause
  sd t0, PT_CAUSE(sp)
  /* sscratch holds this CPU's per-CPU area: C code finds its CPU through tp
     even if the interrupted code had tp in another use. The saved tp is what
     the way out restores. */
  csrr tp, sscratch

  mv a0, sp
  call handle_trap

  ld t0, 0(sp)
  csrw sepc, t0
  ld t0, PT_STATUS(sp)
  csrw sstatus, t0
  ld x1, 8(sp)
  ld x3, 24(sp)
  ld x4, 32(sp)
  ld x5, 40(sp)
  ld x6, 48(sp)
  ld x7, 56(sp)
  ld x8, 64(sp)
  ld x9, 72(sp)
  ld x10, 80(sp)
  ld x11, 88(sp)
  ld x12, 96(sp)
  ld x13, 104(sp)
  ld x14, 112(sp)
  ld x15, 120(sp)
  ld x16, 128(sp)
  ld x17, 136(sp)
  ld x18, 144(sp)
  ld x19, 152(sp)
  ld x20, 160(sp)
  ld x21, 168(sp)
  ld x22, 176(sp)
  ld x23, 184(sp)
  ld x24, 192(sp)
  ld x25, 200(sp)
  ld x26, 208(sp)
  ld x27, 216(sp)
  ld x28, 224(sp)
  ld x29, 232(sp)
  ld x30, 240(sp)
  ld x31, 248(sp)
  addi sp, sp, PT_SIZE
  sret

/*
 * Probed accesses: a load or store that may fault without it being a bug
 * (tests that check what is mapped, the monitor's peek). If it faults,
 * handle_trap finds the instruction's address in __ex_table and resumes at
 * the fixup, which returns -EFAULT (-14).
 *   long probe_read_u64(const void *addr, u64 *val)   0 or -EFAULT
 *   long probe_write_u8(void *addr, u8 val)           0 or -EFAULT
 *   long probe_exec(const void *addr)                 0 or -EFAULT (jumps to addr,
 *                                                      which must hold a `ret`)
 */
  .globl probe_read_u64
probe_read_u64:
.Lprobe_load:
  ld t0, 0(a0)
  sd t0, 0(a1)
  li a0, 0
  ret

  .globl probe_write_u8
probe_write_u8:
.Lprobe_store:
  sb a1, 0(a0)
  li a0, 0
  ret

  .globl probe_exec
probe_exec:
  addi sp, sp, -16
  sd ra, 8(sp)
  jalr a0
  .globl probe_exec_ret
probe_exec_ret:
  ld ra, 8(sp)
  addi sp, sp, 16
  li a0, 0
  ret

.Lprobe_fault:
  li a0, -14
  ret

  .globl probe_exec_fault
probe_exec_fault:
  /* An instruction fault lands with ra still pointing after the jalr. */
  ld ra, 8(sp)
  addi sp, sp, 16
  li a0, -14
  ret

  .section .ex_table, "a"
  .balign 8
  .quad .Lprobe_load, .Lprobe_fault
  .quad .Lprobe_store, .Lprobe_fault
