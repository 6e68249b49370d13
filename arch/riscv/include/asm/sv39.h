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

// ---- migration entries ------------------------------------------------------------
// With V clear the MMU ignores every other bit of an entry, so software may
// keep what it likes there. A migration entry (Linux's swap-type entry of
// the same name) stands in for a leaf while its frame is copied: V clear,
// the RSW bit 8 set, the old frame's PPN where a leaf has it, and the CPU
// that migrates it in bits 54..61. A hart that touches the page takes a
// page fault, and the handler waits for the entry to become a leaf again
// (mm/migrate.h: migration_entry_wait).
constexpr pte_t PTE_SOFT_MIGRATION = 1u << 8;
constexpr unsigned PTE_MIGRATION_CPU_SHIFT = 54;
constexpr pte_t PTE_MIGRATION_CPU_MASK = pte_t(0xff) << PTE_MIGRATION_CPU_SHIFT;
constexpr pte_t make_migration_entry(phys_addr_t old_pa, unsigned cpu) {
  return phys_to_pte(old_pa) | PTE_SOFT_MIGRATION | (pte_t(cpu & 0xff) << PTE_MIGRATION_CPU_SHIFT);
}
constexpr bool is_migration_entry(pte_t pte) { return !(pte & PTE_V) && (pte & PTE_SOFT_MIGRATION); }
constexpr unsigned migration_entry_cpu(pte_t pte) {
  return unsigned((pte & PTE_MIGRATION_CPU_MASK) >> PTE_MIGRATION_CPU_SHIFT);
}
// Nothing but the fields above: what check_pgtable accepts in an invalid entry.
constexpr bool migration_entry_well_formed(pte_t pte) {
  return is_migration_entry(pte) && !(pte & ~(PTE_PPN_MASK | PTE_SOFT_MIGRATION | PTE_MIGRATION_CPU_MASK));
}
