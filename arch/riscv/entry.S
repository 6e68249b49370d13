/*
 * Kernel entry from OpenSBI (fw_dynamic): S-mode, MMU off, a0 = hart id,
 * a1 = physical address of the device tree. The image is linked high but runs
 * at its load address until paging is on, so everything here is PC-relative.
 *
 * Basic algorithm:
 *  1. mask interrupts, enable the FPU state, clear BSS (at its physical address);
 *  2. build early_pgd: the low 256 GiB mapped one to one with gigapages (the
 *     C++ boot code reaches the device tree and memblock memory through it)
 *     and the image at KERNEL_LINK_ADDR with 2 MiB leaves through early_pmd;
 *  3. turn on Sv39, jump to the linked (high) address, take the boot stack
 *     and call kernel_main(hartid, dtb_pa). paging_init later replaces the
 *     early table with the real one, which has nothing in the low half.
 */
#define PTE_FLAGS_RWX 0xcf  /* V R W X A D */
#define NR_CPUS_ASM 8        /* NR_CPUS; these three are asserted in kernel/percpu.h */
#define PERCPU_AREA_SIZE 352 /* sizeof(percpu_area) */
#define PERCPU_HARTID 8      /* offsetof(percpu_area, hartid) */
#define EARLY_IMAGE_PMDS 16 /* 32 MiB of image */

  .section .text.entry, "ax"
  .globl _start
_start:
  /*
   * Only the first hart to arrive boots. OpenSBI 1.1's sbi_hsm_hart_start
   * publishes START_PENDING before it stores the start address, so a hart
   * that SBI HSM starts may see the state early and jump to the firmware's
   * old next address, which is here, not secondary_entry. Such a hart finds
   * its per-CPU area by hart id and goes on as the secondary it is.
   */
  lla t0, boot_hart_claimed
  li t1, 1
  amoswap.w.aqrl t1, t1, (t0)
  bnez t1, .Llate_secondary
  csrw sie, zero
  csrw sip, zero
  li t0, (1 << 13)              /* sstatus.FS = initial: gcc may use FP registers */
  csrs sstatus, t0
  mv tp, zero
  mv s0, a0                     /* hart id */
  mv s1, a1                     /* device tree, physical */
  lla s2, _start                /* physical load address */

  /* 1. BSS, still at physical addresses (early_pgd/pmd live there too). */
  lla t0, __bss_start
  lla t1, __bss_end
1:
  bgeu t0, t1, 2f
  sd zero, 0(t0)
  addi t0, t0, 8
  j 1b
2:
  /* 2a. identity gigapages: pgd[i] = PPN(i GiB) | RWX, for i in 0..255 */
  lla t0, early_pgd
  li t1, 0
  li t2, 256
3:
  slli t3, t1, 28               /* (i << 30) >> 12 << 10 */
  ori t3, t3, PTE_FLAGS_RWX
  slli t4, t1, 3
  add t4, t4, t0
  sd t3, 0(t4)
  addi t1, t1, 1
  bltu t1, t2, 3b

  /* 2b. pgd[510] -> early_pmd; early_pmd[1 + j] = load + j * 2 MiB */
  lla t1, early_pmd
  srli t2, t1, 12
  slli t2, t2, 10
  ori t2, t2, 1                 /* V: a pointer to the next level */
  li t3, 4080                  /* 510 * 8 */
  add t3, t3, t0
  sd t2, 0(t3)
  li t2, 0
  li t5, EARLY_IMAGE_PMDS
4:
  slli t3, t2, 21
  add t3, t3, s2
  srli t3, t3, 12
  slli t3, t3, 10
  ori t3, t3, PTE_FLAGS_RWX
  addi t4, t2, 1
  slli t4, t4, 3
  add t4, t4, t1
  sd t3, 0(t4)
  addi t2, t2, 1
  bltu t2, t5, 4b

  /* kernel_va_pa_offset = link address - load address */
  li t1, 0xffffffff80200000
  sub t1, t1, s2
  lla t2, kernel_va_pa_offset
  sd t1, 0(t2)
  lla t2, kernel_load_pa
  sd s2, 0(t2)

  /* 3. Sv39 on, then continue at the linked address. */
  srli t1, t0, 12
  li t2, (8 << 60)
  or t1, t1, t2
  sfence.vma
  csrw satp, t1
  sfence.vma
  lla t0, .Lhigh_addr
  ld t0, 0(t0)
  jr t0

  .balign 8
.Lhigh_addr:
  .quad .Lhigh

.Lhigh:
  la t0, trap_entry
  csrw stvec, t0
  la sp, boot_stack_top
  la tp, cpu_areas              /* CPU 0's per-CPU area, from the first C code on */
  csrw sscratch, tp
  mv a0, s0                     /* before fp: fp is s0 */
  mv a1, s1
  mv fp, zero                   /* ends the frame-pointer chain for backtraces */
  mv ra, zero
  call kernel_main
5:
  wfi
  j 5b

/* a0 = hart id. Search cpu_areas[1..] (at their physical address) for it. */
.Llate_secondary:
  fence rw, rw
  lla t0, cpu_areas
  li t2, 1
  li t3, NR_CPUS_ASM
  li t4, PERCPU_AREA_SIZE
  add t0, t0, t4
6:
  bgeu t2, t3, 8f               /* not ours to run: park */
  ld t5, PERCPU_HARTID(t0)
  beq t5, a0, 7f
  add t0, t0, t4
  addi t2, t2, 1
  j 6b
7:
  lla t5, kernel_va_pa_offset
  ld t5, 0(t5)
  add a1, t0, t5                /* the area's linked address, as hart_start passes it */
  j secondary_entry
8:
  wfi
  j 8b
  .type _start, @function
  .size _start, . - _start

  .section .data
  .balign 4
boot_hart_claimed:
  .word 0

  .section .text.entry, "ax"

/*
 * Where SBI HSM starts a secondary hart (kernel/smp.cpp, arch/riscv/smpboot.cpp):
 * S-mode, MMU off, a0 = hart id, a1 = the virtual address of its per-CPU
 * area, whose stack_top the boot CPU has filled in. early_pgd still maps the
 * low half one to one and the image high, enough to jump to the linked
 * address; there the hart switches to the kernel's table (kernel_satp),
 * which maps the direct map where its stack lives.
 */
#define PERCPU_STACK_TOP 16     /* offsetof(percpu_area, stack_top), asserted in kernel/percpu.h */
  .globl secondary_entry
secondary_entry:
  csrw sie, zero
  csrw sip, zero
  li t0, (1 << 13)
  csrs sstatus, t0
  mv s0, a0
  mv s1, a1
  lla t0, early_pgd
  srli t0, t0, 12
  li t1, (8 << 60)
  or t0, t0, t1
  sfence.vma
  csrw satp, t0
  sfence.vma
  lla t0, .Lsecondary_high_addr
  ld t0, 0(t0)
  jr t0

  .balign 8
.Lsecondary_high_addr:
  .quad .Lsecondary_high

.Lsecondary_high:
  la t0, kernel_satp
  ld t0, 0(t0)
  csrw satp, t0
  sfence.vma
  la t0, trap_entry
  csrw stvec, t0
  mv tp, s1
  csrw sscratch, tp
  ld sp, PERCPU_STACK_TOP(tp)
  mv a0, s0                     /* before fp: fp is s0 */
  mv fp, zero
  mv ra, zero
  call secondary_start_kernel
6:
  wfi
  j 6b
  .type secondary_entry, @function
  .size secondary_entry, . - secondary_entry

/*
 * arch_call_on_stack(top, fn): fn on a new stack (kernel/smp.h). ra and fp
 * are zero, so fn's frame ends every backtrace, as kernel_main's does.
 */
  .text
  .globl arch_call_on_stack
arch_call_on_stack:
  mv sp, a0
  mv fp, zero
  mv ra, zero
  jr a1
  .type arch_call_on_stack, @function
  .size arch_call_on_stack, . - arch_call_on_stack

  .section .bss.boot, "aw", @nobits
  .balign 4096
  .globl early_pgd
early_pgd:
  .skip 4096
early_pmd:
  .skip 4096
  .globl boot_stack
boot_stack:
  .skip 16384
  .globl boot_stack_top
boot_stack_top:
