// Sv39 page-table entries (RISC-V privileged spec, "Sv39"). Three levels of
// 512 eight-byte entries; a leaf at level 2, 1 or 0 maps 1 GiB, 2 MiB or 4 KiB.
// An entry with V set and R=W=X=0 points to the next level. The host build
// uses this same encoding: it simulates the MMU by walking these tables.
#pragma once

#include "kernel/types.h"

using pte_t = u64;

constexpr pte_t PTE_V = 1u << 0;  // valid
constexpr pte_t PTE_R = 1u << 1;  // readable
constexpr pte_t PTE_W = 1u << 2;  // writable
constexpr pte_t PTE_X = 1u << 3;  // executable
constexpr pte_t PTE_U = 1u << 4;  // user accessible
constexpr pte_t PTE_G = 1u << 5;  // global (in every address space)
constexpr pte_t PTE_A = 1u << 6;  // accessed
constexpr pte_t PTE_D = 1u << 7;  // dirty
constexpr pte_t PTE_LEAF_MASK = PTE_R | PTE_W | PTE_X;
constexpr unsigned PTE_PPN_SHIFT = 10;
constexpr pte_t PTE_PPN_MASK = ((u64(1) << 44) - 1) << PTE_PPN_SHIFT;

constexpr unsigned SV39_LEVELS = 3;
constexpr unsigned PTRS_PER_TABLE = 512;
constexpr unsigned SV39_VA_BITS = 39;
constexpr u64 SATP_MODE_SV39 = u64(8) << 60;

// Bytes mapped by one entry at a level: 4 KiB, 2 MiB, 1 GiB.
constexpr u64 sv39_level_size(unsigned level) { return u64(1) << (12 + 9 * level); }
constexpr unsigned sv39_index(uintptr_t va, unsigned level) {
  return (va >> (12 + 9 * level)) & (PTRS_PER_TABLE - 1);
}
// Sv39 addresses are sign-extended from bit 38.
constexpr bool sv39_canonical(uintptr_t va) {
  u64 top = va >> 38;
  return top == 0 || top == (u64(1) << 26) - 1;
}
constexpr phys_addr_t pte_to_phys(pte_t pte) { return ((pte & PTE_PPN_MASK) >> PTE_PPN_SHIFT) << 12; }
constexpr pte_t phys_to_pte(phys_addr_t pa) { return ((pa >> 12) << PTE_PPN_SHIFT) & PTE_PPN_MASK; }
constexpr bool pte_present(pte_t pte) { return pte & PTE_V; }
constexpr bool pte_leaf(pte_t pte) { return (pte & PTE_V) && (pte & PTE_LEAF_MASK); }
constexpr bool pte_table(pte_t pte) { return (pte & PTE_V) && !(pte & PTE_LEAF_MASK); }
constexpr u64 make_satp(phys_addr_t root) { return SATP_MODE_SV39 | (root >> 12); }
