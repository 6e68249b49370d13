// parse_gfp (mm/gfp.cpp), which reads the monitor's GFP flags: Linux's names
// read back what format_gfp writes, and anything else is refused whole.
#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>

#include <string>

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
                            {"GFP_KERNEL|", ""}};
  for (auto &c : cases) {
    gfp_t g = __GFP_HIGH;
    const char *bad = parse_gfp(c[0], &g);
    ASSERT_NE(bad, nullptr) << c[0];
    EXPECT_STREQ(bad, c[1]) << c[0];
    EXPECT_EQ(g, __GFP_HIGH) << c[0] << ": unchanged on error";
  }
}

}  // namespace
