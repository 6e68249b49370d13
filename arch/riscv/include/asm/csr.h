// Supervisor CSRs and their bits, as the privileged specification names them.
#pragma once

#include "kernel/types.h"

constexpr u64 SSTATUS_SIE = 1ul << 1;
constexpr u64 SSTATUS_SPIE = 1ul << 5;
constexpr u64 SSTATUS_SPP = 1ul << 8;
constexpr u64 SSTATUS_SUM = 1ul << 18;

constexpr u64 CAUSE_INTERRUPT = 1ul << 63;
// Interrupt codes (scause with the interrupt bit set).
constexpr u64 IRQ_S_SOFT = 1;
constexpr u64 IRQ_S_TIMER = 5;
constexpr u64 IRQ_S_EXT = 9;

// Exception codes (scause with the interrupt bit clear).
enum exc_cause : u64 {
  EXC_INST_MISALIGNED = 0,
  EXC_INST_ACCESS = 1,
  EXC_ILLEGAL_INST = 2,
  EXC_BREAKPOINT = 3,
  EXC_LOAD_MISALIGNED = 4,
  EXC_LOAD_ACCESS = 5,
  EXC_STORE_MISALIGNED = 6,
  EXC_STORE_ACCESS = 7,
  EXC_ECALL_U = 8,
  EXC_ECALL_S = 9,
  EXC_INST_PAGE_FAULT = 12,
  EXC_LOAD_PAGE_FAULT = 13,
  EXC_STORE_PAGE_FAULT = 15,
};

#define csr_read(csr)                              \
  ({                                               \
    unsigned long __v;                             \
    asm volatile("csrr %0, " #csr : "=r"(__v) :: "memory"); \
    __v;                                           \
  })
#define csr_write(csr, val) asm volatile("csrw " #csr ", %0" ::"rK"(val) : "memory")
#define csr_set(csr, val) asm volatile("csrs " #csr ", %0" ::"rK"(val) : "memory")
#define csr_clear(csr, val) asm volatile("csrc " #csr ", %0" ::"rK"(val) : "memory")
