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
/* offsetof(percpu_area, ...), asserted in kernel/percpu.h */
#define PERCPU_STACK 24
#define PERCPU_TRAP_T0 32
#define PERCPU_TRAP_SP 40
#define NR_CPUS_MASK 7
/* log2(OVERFLOW_STACK_SIZE), asserted in arch/riscv/trap.cpp */
#define OVERFLOW_STACK_SHIFT 12

/* x1 and x3..x31 into the frame at sp (x2, sp, is the caller's to store). */
.macro SAVE_GPRS
  sd x1, 8(sp)
  .irp n, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
  sd x\n, (8 * \n)(sp)
  .endr
.endm

/* sepc, sstatus, stval and scause into the frame at sp (uses t0). */
.macro SAVE_CSRS
  csrr t0, sepc
  sd t0, 0(sp)
  csrr t0, sstatus
  sd t0, PT_STATUS(sp)
  csrr t0, stval
  sd t0, PT_BADADDR(sp)
  csrr t0, scause
  sd t0, PT_CAUSE(sp)
.endm

  .text
  .balign 4
  .globl trap_entry
trap_entry:
  /*
   * Kernel stack overflow (Linux's VMAP_STACK): a stack is a vmalloc area
   * with an unmapped guard page below it, so running off its bottom faults,
   * and the fault lands here with sp in the guard page. Pushing the frame
   * there would fault again, forever. So before any store to the stack:
   * if sp leaves no room for a frame above the stack's base, go to this
   * CPU's overflow stack instead. The check needs a register: tp is swapped
   * with sscratch (this CPU's area) and t0 parked in the area. A base of 0
   * (CPU 0 on boot_stack, before it has a vmalloc stack) never matches.
   */
  csrrw tp, sscratch, tp
  sd t0, PERCPU_TRAP_T0(tp)
  ld t0, PERCPU_STACK(tp)
  addi t0, t0, PT_SIZE
  bltu sp, t0, .Lstack_overflow
  ld t0, PERCPU_TRAP_T0(tp)
  csrrw tp, sscratch, tp

  addi sp, sp, -PT_SIZE
  SAVE_GPRS
  addi t0, sp, PT_SIZE
  sd t0, 16(sp)
  SAVE_CSRS
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
 * The overflow: tp is this CPU's area, the interrupted tp in sscratch and
 * its t0 in the area. The frame goes on this CPU's overflow stack
 * (overflow_stack[cpu], arch/riscv/trap.cpp) with every register as it was,
 * sp included, and handle_kernel_stack_overflow reports and panics: it
 * never returns, so nothing is restored.
 */
.Lstack_overflow:
  sd sp, PERCPU_TRAP_SP(tp)
  lwu t0, 0(tp)                 /* this CPU's number */
  andi t0, t0, NR_CPUS_MASK
  addi t0, t0, 1
  slli t0, t0, OVERFLOW_STACK_SHIFT
  la sp, overflow_stack
  add sp, sp, t0                /* the top of overflow_stack[cpu] */
  ld t0, PERCPU_TRAP_T0(tp)
  csrrw tp, sscratch, tp        /* the interrupted tp back; sscratch: the area */
  addi sp, sp, -PT_SIZE
  SAVE_GPRS
  csrr t0, sscratch
  ld t0, PERCPU_TRAP_SP(t0)
  sd t0, 16(sp)
  SAVE_CSRS
  csrr tp, sscratch
  mv a0, sp
  mv fp, zero                   /* the handler's own backtrace ends here */
  call handle_kernel_stack_overflow
1:
  wfi
  j 1b
  /* Sized, so that kallsyms names a fault inside trap_entry itself. */
  .type trap_entry, @function
  .size trap_entry, . - trap_entry

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
