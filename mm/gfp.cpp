// Names for GFP flags and page flags, for reports and warnings.
#include "mm/gfp.h"

#include "kernel/printk.h"
#include "mm/page.h"

namespace {

struct flag_name {
  u32 bits;
  const char *name;
};

// Composite types first, so that GFP_KERNEL prints as such, then single bits.
constexpr flag_name gfp_names[] = {
    {GFP_HIGHUSER_MOVABLE, "GFP_HIGHUSER_MOVABLE"},
    {GFP_HIGHUSER, "GFP_HIGHUSER"},
    {GFP_USER, "GFP_USER"},
    {GFP_KERNEL, "GFP_KERNEL"},
    {GFP_NOFS, "GFP_NOFS"},
    {GFP_ATOMIC, "GFP_ATOMIC"},
    {GFP_NOIO, "GFP_NOIO"},
    {GFP_NOWAIT, "GFP_NOWAIT"},
    {__GFP_DMA, "GFP_DMA"},
    {__GFP_DMA32, "GFP_DMA32"},
    {__GFP_HIGHMEM, "__GFP_HIGHMEM"},
    {__GFP_MOVABLE, "__GFP_MOVABLE"},
    {__GFP_RECLAIMABLE, "__GFP_RECLAIMABLE"},
    {__GFP_HIGH, "__GFP_HIGH"},
    {__GFP_IO, "__GFP_IO"},
    {__GFP_FS, "__GFP_FS"},
    {__GFP_ZERO, "__GFP_ZERO"},
    {__GFP_DIRECT_RECLAIM, "__GFP_DIRECT_RECLAIM"},
    {__GFP_KSWAPD_RECLAIM, "__GFP_KSWAPD_RECLAIM"},
    {__GFP_NOWARN, "__GFP_NOWARN"},
    {__GFP_RETRY_MAYFAIL, "__GFP_RETRY_MAYFAIL"},
    {__GFP_NOFAIL, "__GFP_NOFAIL"},
    {__GFP_NORETRY, "__GFP_NORETRY"},
    {__GFP_MEMALLOC, "__GFP_MEMALLOC"},
    {__GFP_COMP, "__GFP_COMP"},
    {__GFP_NOMEMALLOC, "__GFP_NOMEMALLOC"},
    {__GFP_HARDWALL, "__GFP_HARDWALL"},
    {__GFP_THISNODE, "__GFP_THISNODE"},
    {__GFP_ACCOUNT, "__GFP_ACCOUNT"},
};

// Names format_gfp never prints but callers write: Linux spells the zone
// modifiers both ways, and __GFP_RECLAIM is the pair of reclaim bits.
constexpr flag_name gfp_aliases[] = {
    {__GFP_DMA, "__GFP_DMA"},
    {__GFP_DMA32, "__GFP_DMA32"},
    {__GFP_RECLAIM, "__GFP_RECLAIM"},
};

bool gfp_name_is(const char *name, size_t len, const char *known) {
  for (size_t i = 0; i < len; i++)
    if (known[i] != name[i]) return false;  // also stops at known's end
  return known[len] == '\0';
}

constexpr const char *page_flag_names[NR_PAGEFLAGS] = {
    "reserved", "buddy", "pcp", "head", "slab", "pgtable", "hwpoison", "highmem", "large_kmalloc", "movable", "isolated",
};

}  // namespace

int format_gfp(char *buf, size_t size, gfp_t gfp) {
  int len = 0;
  gfp_t left = gfp;
  for (const flag_name &f : gfp_names) {
    if ((left & f.bits) != f.bits) continue;
    len += scnprintf(buf + len, size - size_t(len), "%s%s", len ? "|" : "", f.name);
    left &= ~f.bits;
  }
  if (left) len += scnprintf(buf + len, size - size_t(len), "%s%#x", len ? "|" : "", left);
  if (len == 0) len = scnprintf(buf, size, "0");
  return len;
}

const char *parse_gfp(const char *s, gfp_t *out) {
  gfp_t gfp = 0;
  for (const char *name = s;;) {
    size_t len = 0;
    while (name[len] && name[len] != '|') len++;
    bool known = false;
    for (const flag_name &f : gfp_names)
      if (!known && gfp_name_is(name, len, f.name)) gfp |= f.bits, known = true;
    for (const flag_name &f : gfp_aliases)
      if (!known && gfp_name_is(name, len, f.name)) gfp |= f.bits, known = true;
    if (!known) return name;
    if (!name[len]) break;
    name += len + 1;
  }
  *out |= gfp;
  return nullptr;
}

int format_page_flags(char *buf, size_t size, unsigned long flags) {
  int len = 0;
  if (size) buf[0] = '\0';
  for (unsigned f = 0; f < NR_PAGEFLAGS; f++)
    if (flags & (1ul << f))
      len += scnprintf(buf + len, size - size_t(len), "%s%s", len ? "|" : "", page_flag_names[f]);
  return len;
}
