// The allocator calls without an allocator argument (kmalloc(size, gfp),
// vmalloc(size), ...) are the kernel's API: they must act on the system
// instance exactly as the explicit forms do, and leave nothing behind.
#include <gtest/gtest.h>

#include <climits>
#include <cstring>
#include <vector>

#include "mm/slab_internal.h"
#include "mm/vmalloc.h"
#include "proptest/vmalloc_fixture.h"

namespace {

// Every form through system_slab: objects come from the system instance's
// caches, zeroing and resizing keep their promises, and once all is freed
// the page allocator is as it was.
TEST(KmallocEdge, SystemInstanceForms) {
  slab_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  ASSERT_EQ(system_slab, f.sa.get());
  const slabt::page_state before = slabt::settle(f);

  auto *p = static_cast<u8 *>(kmalloc(100, GFP_KERNEL));
  ASSERT_NE(p, nullptr);
  page *slab = addr_to_slab(*f.mm.ms, p);
  ASSERT_NE(slab, nullptr);
  EXPECT_EQ(slab->slab_cache->sa, f.sa.get());
  EXPECT_EQ(ksize(p), ksize(*f.sa, p));
  EXPECT_GE(ksize(p), 100u);
  memset(p, 0x5a, 100);

  auto *z = static_cast<u8 *>(kzalloc(200, GFP_KERNEL));
  ASSERT_NE(z, nullptr);
  EXPECT_TRUE(slabt::bytes_are(z, 200, 0));
  auto *c = static_cast<u8 *>(kcalloc(5, 24, GFP_KERNEL));
  ASSERT_NE(c, nullptr);
  EXPECT_TRUE(slabt::bytes_are(c, 5 * 24, 0));
  void *a = kmalloc_array(3, 40, GFP_KERNEL);
  ASSERT_NE(a, nullptr);
  EXPECT_GE(ksize(a), 120u);
  EXPECT_EQ(kmalloc_array(SIZE_MAX / 2, 4, GFP_KERNEL | __GFP_NOWARN), nullptr);

  auto *r = static_cast<u8 *>(krealloc(p, 3000, GFP_KERNEL));
  ASSERT_NE(r, nullptr);
  EXPECT_GE(ksize(r), 3000u);
  EXPECT_TRUE(slabt::bytes_are(r, 100, 0x5a));
  EXPECT_EQ(f.check(), "");

  kfree(r);
  kfree_sensitive(z);
  kfree(c);
  kfree(a);
  kfree(nullptr);
  EXPECT_EQ(f.sa->errors, 0u);
  EXPECT_EQ(f.check(), "");
  EXPECT_EQ(slabt::settle(f), before);
}

// vmalloc, vzalloc and vfree through system_vmalloc: areas of the system
// instance, counted in its totals, zeroed when asked, and all given back.
TEST(VmallocEdge, SystemInstanceForms) {
  vmalloc_fixture f;
  ASSERT_EQ(f.build(layout_kind::single_zone), 0);
  ASSERT_EQ(system_vmalloc, f.vs.get());
  const unsigned long used = vmalloc_used_pages(*f.vs);

  void *v = vmalloc(3 * PAGE_SIZE + 1);
  ASSERT_NE(v, nullptr);
  EXPECT_TRUE(is_vmalloc_addr(*f.vs, v));
  EXPECT_EQ(vmalloc_used_pages(*f.vs), used + 4);
  void *z = vzalloc(2 * PAGE_SIZE);
  ASSERT_NE(z, nullptr);
  EXPECT_EQ(vmalloc_used_pages(*f.vs), used + 6);
  std::vector<u8> bytes(2 * PAGE_SIZE, 0xff);
  ASSERT_TRUE(f.vread(reinterpret_cast<uintptr_t>(z), bytes.data(), bytes.size()));
  EXPECT_TRUE(slabt::bytes_are(bytes.data(), bytes.size(), 0));
  EXPECT_EQ(f.check(), "");

  vfree(v);
  vfree(z);
  vfree(nullptr);
  EXPECT_EQ(vmalloc_used_pages(*f.vs), used);
  EXPECT_EQ(vmalloc_to_page(*f.vs, v), nullptr);
  EXPECT_EQ(f.vs->errors, 0u);
  EXPECT_EQ(f.check(), "");
}

}  // namespace
