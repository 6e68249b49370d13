// parse_gfp (mm/gfp.cpp), which reads the monitor's GFP flags: Linux's names
// read back what format_gfp writes, and anything else is refused whole.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "mm/page.h"

#include "mm/gfp.h"

namespace {

// The bits gfp.h defines (0x200 and 0x1000 are unused): format_gfp names them all.
constexpr gfp_t named_bits = __GFP_BITS_MASK & ~gfp_t(0x200 | 0x1000);

RC_GTEST_PROP(GfpParse, ReadsBackWhatFormatWrites, ()) {
  gfp_t gfp = *rc::gen::arbitrary<gfp_t>() & named_bits;
  RC_PRE(gfp != 0);
  char buf[512];
  format_gfp(buf, sizeof(buf), gfp);
  RC_PRE(std::string(buf).find("0x") == std::string::npos);
  gfp_t got = 0;
  RC_ASSERT(parse_gfp(buf, &got) == nullptr);
  RC_ASSERT(got == gfp);
}

TEST(GfpParse, NamesAndAliases) {
  gfp_t g = 0;
  EXPECT_EQ(parse_gfp("GFP_KERNEL", &g), nullptr);
  EXPECT_EQ(g, GFP_KERNEL);
  g = 0;
  EXPECT_EQ(parse_gfp("__GFP_DMA32|__GFP_ZERO", &g), nullptr);
  EXPECT_EQ(g, __GFP_DMA32 | __GFP_ZERO);
  g = 0;
  EXPECT_EQ(parse_gfp("GFP_DMA32", &g), nullptr);
  EXPECT_EQ(g, __GFP_DMA32);
  g = 0;
  EXPECT_EQ(parse_gfp("__GFP_RECLAIM", &g), nullptr);
  EXPECT_EQ(g, __GFP_RECLAIM);
  g = GFP_ATOMIC;  // or-ed in, not replaced
  EXPECT_EQ(parse_gfp("__GFP_NOWARN", &g), nullptr);
  EXPECT_EQ(g, GFP_ATOMIC | __GFP_NOWARN);
}

TEST(GfpParse, UnknownNamesRefusedWhole) {
  const char *cases[][2] = {{"gfp_kernel", "gfp_kernel"},   {"GFP_KERNEL|__GFP_BOGUS", "__GFP_BOGUS"},
                            {"GFP_KERNELX", "GFP_KERNELX"}, {"GFP_KERNE", "GFP_KERNE"},
                            {"", ""},                       {"GFP_KERNEL||__GFP_ZERO", "|__GFP_ZERO"},
                            {"GFP_KERNEL|", ""},
                            {"XFP_KERNEL", "XFP_KERNEL"},   {"GFP_ATOMIC|x_GFP_ZERO", "x_GFP_ZERO"}};
  for (auto &c : cases) {
    gfp_t g = __GFP_HIGH;
    const char *bad = parse_gfp(c[0], &g);
    ASSERT_NE(bad, nullptr) << c[0];
    EXPECT_STREQ(bad, c[1]) << c[0];
    EXPECT_EQ(g, __GFP_HIGH) << c[0] << ": unchanged on error";
  }
}

// A name is read up to its string's end and never past it: a setting that
// ends the readable memory, with an empty last name or an empty whole, is
// refused without a read beyond its terminator.
TEST(GfpParse, ReadsNothingPastTheEnd) {
  const long page = sysconf(_SC_PAGESIZE);
  void *m = mmap(nullptr, 2 * size_t(page), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(m, MAP_FAILED);
  char *end = static_cast<char *>(m) + page;
  ASSERT_EQ(mprotect(end, size_t(page), PROT_NONE), 0);
  for (const char *text : {"GFP_KERNEL|", "", "__GFP_ZERO|GFP_KERNEL|"}) {
    char *s = end - (strlen(text) + 1);
    memcpy(s, text, strlen(text) + 1);
    gfp_t g = 0;
    EXPECT_STREQ(parse_gfp(s, &g), "") << text;
    EXPECT_EQ(g, 0u) << text;
  }
  munmap(m, 2 * size_t(page));
}

// Checks one formatter against its whole text for every buffer size from 0
// to past the text: scnprintf's contract (Linux's snprintf family) is that
// the buffer gets the text's first size - 1 characters and a terminator,
// nothing outside the buffer is written, and the return value is the
// number of characters written. Size 0 writes nothing at all.
template <class F>
void expect_bounded(F format, const std::string &whole, const std::string &what) {
  for (size_t size = 0; size <= whole.size() + 2; size++) {
    char mem[600];
    memset(mem, '#', sizeof(mem));
    mem[sizeof(mem) - 1] = '\0';  // a runaway read stops here
    char *buf = mem + 64;
    ASSERT_LT(whole.size() + 64 + 8, sizeof(mem));
    const int n = format(buf, size);
    const size_t want = size == 0 ? 0 : std::min(whole.size(), size - 1);
    EXPECT_EQ(n, int(want)) << what << ", size " << size;
    if (size) {
      EXPECT_EQ(std::string(buf), whole.substr(0, want)) << what << ", size " << size;
    }
    for (size_t i = 0; i + 1 < sizeof(mem); i++) {
      if (i >= 64 && i < 64 + size) continue;
      if (mem[i] != '#') {
        ADD_FAILURE() << what << ", size " << size << ": byte " << long(i) - 64 << " outside the buffer written";
        break;
      }
    }
  }
}

// format_gfp prints Linux's names joined by '|', a composite name for the
// bits it covers, the bits no name has in hex last, and "0" for no bits.
TEST(GfpFormat, NamesLeftoverBitsAndZeroWithinTheBuffer) {
  const struct {
    gfp_t gfp;
    const char *text;
  } cases[] = {
      {0, "0"},
      {GFP_KERNEL, "GFP_KERNEL"},
      {GFP_KERNEL | __GFP_ZERO, "GFP_KERNEL|__GFP_ZERO"},
      {0x200, "0x200"},
      {GFP_ATOMIC | 0x1000, "GFP_ATOMIC|0x1000"},
      {GFP_KERNEL | __GFP_NOWARN | 0x200 | 0x1000, "GFP_KERNEL|__GFP_NOWARN|0x1200"},
  };
  for (const auto &c : cases)
    expect_bounded([&](char *buf, size_t size) { return format_gfp(buf, size, c.gfp); }, c.text, c.text);
}

// format_page_flags prints the PG_* names of the set bits, '|' between
// them, in bit order; bits past the last flag name nothing, and no flags
// give the empty string.
TEST(GfpFormat, PageFlagNamesWithinTheBuffer) {
  const struct {
    unsigned long flags;
    const char *text;
  } cases[] = {
      {0, ""},
      {1ul << PG_reserved, "reserved"},
      {(1ul << PG_buddy) | (1ul << PG_head), "buddy|head"},
      {~0ul, "reserved|buddy|pcp|head|slab|pgtable|hwpoison|highmem|large_kmalloc|movable|isolated"},
      {~0ul << NR_PAGEFLAGS, ""},
      {(1ul << NR_PAGEFLAGS) | (1ul << PG_slab), "slab"},
  };
  static_assert(NR_PAGEFLAGS == 11, "the cases name every flag");
  for (const auto &c : cases)
    expect_bounded([&](char *buf, size_t size) { return format_page_flags(buf, size, c.flags); }, c.text, c.text);
}

}  // namespace
