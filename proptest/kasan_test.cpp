// The page allocator's KASAN hooks (mm/kasan.h) under AddressSanitizer: a
// free page's bytes are poisoned, so reading one is a use-after-poison report
// that stops the program, while every byte of an allocated block is usable.
// Built into proptest_asan only; without ASan there is nothing to prove.
#include <gtest/gtest.h>

#include <cstring>

#include "mm/page_alloc.h"
#include "proptest/mm_fixture.h"

namespace {

constexpr const char *USE_AFTER_POISON = "AddressSanitizer: use-after-poison";

// A load the compiler must emit, so that ASan checks it.
unsigned char read_byte(const void *addr, size_t offset) {
  return static_cast<const volatile unsigned char *>(addr)[offset];
}

// Every free block goes one of two ways: small orders through this CPU's
// per-CPU list, the rest (or everything, with pcp_disabled) to the buddy
// lists. Both must poison.
class KasanPages : public testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
#ifndef HOST_ASAN
    GTEST_SKIP() << "not built with AddressSanitizer";
#endif
    ASSERT_EQ(build_single_zone(f), 0);
    f.ms->pcp_disabled = GetParam();
  }

  void *alloc(gfp_t gfp, unsigned order) {
    page *p = alloc_pages(*f.ms, gfp, order);
    return p ? page_address(*f.ms, p) : nullptr;
  }

  mm_fixture f;
};

TEST_P(KasanPages, AllocatedPageIsUsable) {
  for (unsigned order : {0u, 3u, 5u}) {
    SCOPED_TRACE("order " + std::to_string(order));
    void *a = alloc(GFP_KERNEL, order);
    ASSERT_NE(a, nullptr);
    memset(a, 0xa5, PAGE_SIZE << order);
    EXPECT_EQ(read_byte(a, (PAGE_SIZE << order) - 1), 0xa5);
    free_pages(*f.ms, reinterpret_cast<unsigned long>(a), order);
  }
}

// __GFP_ZERO writes the block inside the allocator: it must be unpoisoned first.
TEST_P(KasanPages, ZeroedPageIsUsable) {
  void *a = alloc(GFP_KERNEL | __GFP_ZERO, 1);
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(read_byte(a, 2 * PAGE_SIZE - 1), 0);
  free_pages(*f.ms, reinterpret_cast<unsigned long>(a), 1);
}

TEST_P(KasanPages, ReadAfterFreeIsReported) {
  for (unsigned order : {0u, 4u}) {
    SCOPED_TRACE("order " + std::to_string(order));
    void *a = alloc(GFP_KERNEL, order);
    ASSERT_NE(a, nullptr);
    free_pages(*f.ms, reinterpret_cast<unsigned long>(a), order);
    EXPECT_DEATH(read_byte(a, 0), USE_AFTER_POISON);
    EXPECT_DEATH(read_byte(a, (PAGE_SIZE << order) - 1), USE_AFTER_POISON);
  }
}

TEST_P(KasanPages, WriteAfterFreeIsReported) {
  void *a = alloc(GFP_KERNEL, 0);
  ASSERT_NE(a, nullptr);
  free_pages(*f.ms, reinterpret_cast<unsigned long>(a), 0);
  EXPECT_DEATH(memset(a, 0, 8), USE_AFTER_POISON);
}

// Pages that have been free since mem_system_init were poisoned there: the
// buddy of an allocated order-0 page was split off with it and is still free.
TEST_P(KasanPages, NeverAllocatedPageIsPoisoned) {
  void *a = alloc(GFP_KERNEL, 0);
  ASSERT_NE(a, nullptr);
  void *buddy = reinterpret_cast<void *>(reinterpret_cast<uintptr_t>(a) ^ PAGE_SIZE);
  EXPECT_DEATH(read_byte(buddy, 0), USE_AFTER_POISON);
}

// A freed page handed out again is usable again, whichever list it sat on.
TEST_P(KasanPages, ReallocatedPageIsUsable) {
  void *a = alloc(GFP_KERNEL, 0);
  ASSERT_NE(a, nullptr);
  memset(a, 1, PAGE_SIZE);
  free_pages(*f.ms, reinterpret_cast<unsigned long>(a), 0);
  void *b = alloc(GFP_KERNEL, 0);
  ASSERT_NE(b, nullptr);
  // The per-CPU list is LIFO; the buddy lists may hand out another block.
  if (!GetParam()) {
    EXPECT_EQ(b, a);
  }
  memset(b, 2, PAGE_SIZE);
  EXPECT_EQ(read_byte(b, PAGE_SIZE - 1), 2);
}

INSTANTIATE_TEST_SUITE_P(Kasan, KasanPages, testing::Bool(),
                         [](const testing::TestParamInfo<bool> &i) { return i.param ? "buddy" : "pcp"; });

// ASan's shadow outlives host_physmem_reset's unmapping: RAM mapped again
// must not keep the poison of pages that were free in the last fixture.
TEST(KasanPhysmem, RemappedRamIsUnpoisoned) {
#ifndef HOST_ASAN
  GTEST_SKIP() << "not built with AddressSanitizer";
#endif
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f), 0);
  const phys_addr_t base = f.ram[0].base, size = f.ram[0].size;
  host_physmem_reset();
  ASSERT_EQ(host_physmem_add(base, size), 0);
  const unsigned char *ram = static_cast<const unsigned char *>(phys_to_virt(base));
  unsigned sum = 0;
  for (u64 off = 0; off < size; off += 512) sum += read_byte(ram, off);
  EXPECT_EQ(sum, 0u);
}

}  // namespace
