// Property tests for mm/page_report: each report is printed after a random
// workload of allocations and frees on one of the fixture layouts, parsed
// back with Linux's own format rules (the literal prefixes and widths of
// mm/vmstat.c and fs/proc/meminfo.c, Linux 6.6), and compared with the
// allocator's structures, counted independently where they can be (free
// pages from the free lists, per-CPU pages from the pcp lists).
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <ostream>
#include <regex>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "mm/page_report.h"
#include "mm/slab.h"
#include "mm_fixture.h"
#include "proptest/report_helpers.h"
#include "proptest/slab_fixture.h"
#include "proptest/vmalloc_fixture.h"

namespace {

using namespace reportt;

// meminfo takes the vmalloc_system whose lines it adds, so it is no show_fn.
std::string capture_meminfo(const mem_system &ms, const vmalloc_system *vs = nullptr) {
  std::string text;
  seq_out out = string_out(text);
  show_meminfo(ms, out, vs);
  return text;
}

// ---------------------------------------------------------------- independent counts

unsigned long buddy_pages(const zone *z) {
  unsigned long n = 0;
  for (unsigned o = 0; o < NR_PAGE_ORDERS; o++) n += z->free_area[o].nr_free << o;
  return n;
}

unsigned long buddy_pages(const mem_system &ms) {
  unsigned long n = 0;
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) n += buddy_pages(z);
  return n;
}

// Pages on one CPU's lists, by walking them (not pcp.count).
unsigned long pcp_list_pages(const per_cpu_pages &pcp) {
  unsigned long n = 0;
  for (unsigned i = 0; i < NR_PCP_LISTS; i++)
    for (const list_head *e = pcp.lists[i].next; e != &pcp.lists[i]; e = e->next) n += 1ul << (i / MIGRATE_PCPTYPES);
  return n;
}

unsigned long pcp_list_pages(const mem_system &ms) {
  unsigned long n = 0;
  for_each_online_pgdat(ms, pgdat) {
    for_each_zone_of(pgdat, z) {
      for (unsigned c = 0; c < ms.nr_cpus; c++) n += pcp_list_pages(z->pcp[c]);
    }
  }
  return n;
}

// Linux's calculate_totalreserve_pages, from the zones' own fields.
unsigned long linux_totalreserve(const mem_system &ms) {
  unsigned long total = 0;
  for_each_online_pgdat(ms, pgdat) for (int i = 0; i < int(MAX_NR_ZONES); i++) {
    const zone *z = &pgdat->node_zones[i];
    long max = 0;
    for (int j = i; j < int(MAX_NR_ZONES); j++) max = std::max(max, z->lowmem_reserve[j]);
    unsigned long r = static_cast<unsigned long>(max) + high_wmark_pages(z);
    total += std::min(r, z->managed_pages);
  }
  return total;
}

// ---------------------------------------------------------------- zoneinfo

struct cpu_pageset {
  long cpu, count, high, batch, threshold;
};

struct zone_info {
  int nid = -1;
  std::string name;
  std::map<std::string, long> field;  // "pages free", "boost", "min", ... "cma"
  std::vector<long> protection;
  bool populated = false;  // has the part after protection
  std::vector<std::pair<std::string, long>> stats;
  std::vector<cpu_pageset> cpus;
  long node_unreclaimable = -1, start_pfn = -1;
};

// Reads the lines of a zoneinfo report against Linux 6.6's format strings.
class zoneinfo_parser {
 public:
  explicit zoneinfo_parser(std::vector<std::string> lines) : lines_(std::move(lines)) {}

  // Returns every zone, or nullopt with the reason in error().
  std::optional<std::vector<zone_info>> parse() {
    std::vector<zone_info> zones;
    while (pos_ < lines_.size()) {
      zone_info z;
      if (!parse_zone(z)) return std::nullopt;
      zones.push_back(std::move(z));
    }
    return zones;
  }
  const std::string &error() const { return error_; }

 private:
  bool fail(const std::string &what) {
    error_ = "line " + std::to_string(pos_ + 1) + ": expected " + what + ", got \"" +
             (pos_ < lines_.size() ? lines_[pos_] : std::string("<end>")) + "\"";
    return false;
  }

  // Takes a line that is exactly prefix followed by a decimal number.
  bool take(const std::string &prefix, long *value) {
    if (pos_ >= lines_.size()) return fail("\"" + prefix + "<number>\"");
    const std::string &l = lines_[pos_];
    if (l.compare(0, prefix.size(), prefix) != 0) return fail("\"" + prefix + "<number>\"");
    std::string rest = l.substr(prefix.size());
    bool neg = !rest.empty() && rest[0] == '-';
    if (!all_digits(neg ? rest.substr(1) : rest)) return fail("\"" + prefix + "<number>\"");
    *value = std::stol(rest);
    pos_++;
    return true;
  }

  bool take_exact(const std::string &text) {
    if (pos_ >= lines_.size() || lines_[pos_] != text) return fail("\"" + text + "\"");
    pos_++;
    return true;
  }

  bool at(const std::string &prefix) const {
    return pos_ < lines_.size() && lines_[pos_].compare(0, prefix.size(), prefix) == 0;
  }

  bool parse_zone(zone_info &z) {
    static const std::regex header_re(R"(^Node (\d+), zone ( *)([A-Za-z0-9]+)$)");
    std::smatch m;
    if (pos_ >= lines_.size() || !std::regex_match(lines_[pos_], m, header_re))
      return fail("\"Node N, zone %8s\"");
    if (m[2].length() + m[3].length() != std::max<long>(8, m[3].length()))
      return fail("a zone name right-aligned in 8 columns");
    z.nid = std::stoi(m[1]);
    z.name = m[3];
    pos_++;
    // Linux's "\n  pages free     %lu" then "\n        %-8s %lu"-shaped lines.
    static const std::pair<const char *, const char *> fields[] = {
        {"pages free", "  pages free     "}, {"boost", "        boost    "},
        {"min", "        min      "},        {"low", "        low      "},
        {"high", "        high     "},       {"promo", "        promo    "},
        {"spanned", "        spanned  "},    {"present", "        present  "},
        {"managed", "        managed  "},    {"cma", "        cma      "},
    };
    for (auto &[key, prefix] : fields)
      if (!take(prefix, &z.field[key])) return false;
    static const std::regex prot_re(R"(^        protection: \((-?\d+(?:, -?\d+)*)\)$)");
    if (pos_ >= lines_.size() || !std::regex_match(lines_[pos_], m, prot_re))
      return fail("\"        protection: (a, b, ...)\"");
    std::string list = m[1];
    for (size_t start = 0;;) {
      size_t comma = list.find(", ", start);
      z.protection.push_back(std::stol(list.substr(start, comma - start)));
      if (comma == std::string::npos) break;
      start = comma + 2;
    }
    pos_++;
    if (pos_ == lines_.size() || at("Node ")) return true;  // an unpopulated zone ends here
    z.populated = true;
    // Zone counters: "\n      %-12s %lu".
    static const std::regex stat_re(R"(^      ([a-z_0-9]+)( +)(\d+)$)");
    while (pos_ < lines_.size() && std::regex_match(lines_[pos_], m, stat_re)) {
      size_t want_spaces = m[1].length() < 12 ? 13 - m[1].length() : 1;
      if (size_t(m[2].length()) != want_spaces)
        return fail("a counter name left-aligned in 12 columns");
      z.stats.emplace_back(m[1], std::stol(m[3]));
      pos_++;
    }
    if (!take_exact("  pagesets")) return false;
    while (at("    cpu: ")) {
      cpu_pageset c{};
      if (!take("    cpu: ", &c.cpu) || !take("              count: ", &c.count) ||
          !take("              high:  ", &c.high) || !take("              batch: ", &c.batch) ||
          !take("  vm stats threshold: ", &c.threshold))
        return false;
      z.cpus.push_back(c);
    }
    return take("  node_unreclaimable:  ", &z.node_unreclaimable) &&
           take("  start_pfn:           ", &z.start_pfn);
  }

  std::vector<std::string> lines_;
  size_t pos_ = 0;
  std::string error_;
};

// ---------------------------------------------------------------- meminfo

// Every label Linux 6.6's meminfo_proc_show can print before the hugetlb and
// arch parts, in its order (config-dependent ones included).
const std::vector<std::string> linux_meminfo_labels = {
    "MemTotal",          "MemFree",        "MemAvailable",   "Buffers",         "Cached",
    "SwapCached",        "Active",         "Inactive",       "Active(anon)",    "Inactive(anon)",
    "Active(file)",      "Inactive(file)", "Unevictable",    "Mlocked",         "HighTotal",
    "HighFree",          "LowTotal",       "LowFree",        "MmapCopy",        "SwapTotal",
    "SwapFree",          "Zswap",          "Zswapped",       "Dirty",           "Writeback",
    "AnonPages",         "Mapped",         "Shmem",          "KReclaimable",    "Slab",
    "SReclaimable",      "SUnreclaim",     "KernelStack",    "ShadowCallStack", "PageTables",
    "SecPageTables",     "NFS_Unstable",   "Bounce",         "WritebackTmp",    "CommitLimit",
    "Committed_AS",      "VmallocTotal",   "VmallocUsed",    "VmallocChunk",    "Percpu",
    "HardwareCorrupted", "AnonHugePages",  "ShmemHugePages", "ShmemPmdMapped",  "FileHugePages",
    "FilePmdMapped",     "CmaTotal",       "CmaFree",        "Unaccepted",
};

// The lines this kernel prints, a subset of Linux's in its order: every line
// Linux prints whatever its config, less those of things not counted here
// yet (KernelStack, PageTables, SecPageTables, CommitLimit, Committed_AS,
// Percpu), with the CONFIG_HIGHMEM lines when a HighMem zone has memory and
// the vmalloc lines when meminfo is given the vmalloc space.
std::vector<std::string> this_kernels_meminfo_labels(bool highmem, bool vmalloc) {
  std::vector<std::string> l = {"MemTotal",     "MemFree",        "MemAvailable", "Buffers",
                                "Cached",       "SwapCached",     "Active",       "Inactive",
                                "Active(anon)", "Inactive(anon)", "Active(file)", "Inactive(file)",
                                "Unevictable",  "Mlocked"};
  if (highmem) l.insert(l.end(), {"HighTotal", "HighFree", "LowTotal", "LowFree"});
  l.insert(l.end(), {"SwapTotal", "SwapFree", "Dirty", "Writeback", "AnonPages", "Mapped", "Shmem", "KReclaimable",
                     "Slab", "SReclaimable", "SUnreclaim", "NFS_Unstable", "Bounce", "WritebackTmp"});
  if (vmalloc) l.insert(l.end(), {"VmallocTotal", "VmallocUsed", "VmallocChunk"});
  return l;
}

std::vector<std::string> labels_of(const std::vector<std::pair<std::string, unsigned long>> &parsed) {
  std::vector<std::string> l;
  for (const auto &[label, kb] : parsed) l.push_back(label);
  return l;
}

// Parses meminfo into label -> kB, checking Linux's "%-16s%8lu kB" shape and
// that the labels are Linux's, each once, in Linux's order.
std::optional<std::vector<std::pair<std::string, unsigned long>>> parse_meminfo(
    const std::string &text, std::string *why) {
  std::vector<std::string> lines = split_lines(text, why);
  if (!why->empty()) return std::nullopt;
  static const std::regex re(R"(^([A-Za-z()_0-9]+):( *)(\d+) kB$)");
  std::vector<std::pair<std::string, unsigned long>> out;
  size_t next_label = 0;  // position in linux_meminfo_labels
  for (const std::string &l : lines) {
    std::smatch m;
    if (!std::regex_match(l, m, re)) {
      *why = "not a meminfo line: \"" + l + "\"";
      return std::nullopt;
    }
    // The label with its colon (and spaces) fills 16 columns and the value is
    // right-aligned in the next 8, growing past them only when it must;
    // Linux prints one line wider: "HardwareCorrupted: %5lu kB".
    size_t label_width = m[1] == "HardwareCorrupted" ? 19 : 16;
    size_t value_width = m[1] == "HardwareCorrupted" ? 5 : 8;
    size_t name = size_t(m[1].length()), spaces = size_t(m[2].length()),
           digits = size_t(m[3].length());
    bool fits = name + 1 <= label_width &&
                (digits <= value_width ? l.size() == label_width + value_width + 3
                                       : spaces == label_width - name - 1);
    if (!fits) {
      *why = "not in Linux's \"%-16s%8lu kB\" form: \"" + l + "\"";
      return std::nullopt;
    }
    auto it = std::find(linux_meminfo_labels.begin() + long(next_label), linux_meminfo_labels.end(),
                        m[1].str());
    if (it == linux_meminfo_labels.end()) {
      *why = "label \"" + m[1].str() + "\" is not Linux's, repeated, or out of Linux's order";
      return std::nullopt;
    }
    next_label = size_t(it - linux_meminfo_labels.begin()) + 1;
    out.emplace_back(m[1], std::stoul(m[3]));
  }
  return out;
}

std::map<std::string, unsigned long> as_map(
    const std::vector<std::pair<std::string, unsigned long>> &v) {
  return {v.begin(), v.end()};
}

// kB of a page count, as /proc prints it.
unsigned long kb(unsigned long pages) { return pages << (PAGE_SHIFT - 10); }

// The meminfo values that matter here, or a failure of the property.
std::map<std::string, unsigned long> meminfo_values(const mem_system &ms) {
  std::string why;
  auto parsed = parse_meminfo(capture_meminfo(ms), &why);
  RC_ASSERT(why == "");
  RC_ASSERT(parsed.has_value());
  return as_map(*parsed);
}

}  // namespace

// ================================================================ buddyinfo

// buddyinfo has one line per populated zone, in node then zone order, in
// Linux's exact widths, whose counts are the zone's free_area[o].nr_free.
RC_GTEST_PROP(PageReportBuddyinfo, LinesMatchFreeAreas, ()) {
  mm_fixture f;
  layout_kind k = *gen_layout();
  RC_ASSERT(build_layout(f, k) == 0);
  std::vector<held_block> held;
  run_ops(f, *rc::gen::container<std::vector<mm_op>>(gen_op()), held);

  std::string why;
  std::vector<std::string> lines = split_lines(capture(show_buddyinfo, *f.ms), &why);
  RC_ASSERT(why == "");
  std::vector<buddy_line> got, want;
  for (const std::string &l : lines) {
    auto b = parse_buddy_line(l, &why);
    if (!b) RC_FAIL(why + ": \"" + l + "\"");
    got.push_back(*b);
  }
  for_each_online_pgdat(*f.ms, pgdat) for_each_zone_of(pgdat, z) {
    if (z->present_pages == 0) continue;
    buddy_line b{pgdat->node_id, zone_names[z->idx], {}};
    for (unsigned o = 0; o < NR_PAGE_ORDERS; o++) b.nr_free.push_back(z->free_area[o].nr_free);
    want.push_back(b);
  }
  RC_ASSERT(got == want);
}

// Every count is right-aligned in 6 columns however many digits it has, as
// "%6lu " prints it (checked on a report with many small blocks).
TEST(PageReportBuddyinfo, WidthsHoldForMultiDigitCounts) {
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f), 0);
  f.ms->pcp_disabled = true;
  // Take pages in order-0 pairs and give back one of each, leaving thousands
  // of order-0 blocks whose buddies are in use.
  std::vector<page *> keep;
  for (int i = 0; i < 4000; i++) {
    page *a = alloc_pages(*f.ms, GFP_KERNEL | __GFP_NOWARN, 0);
    page *b = alloc_pages(*f.ms, GFP_KERNEL | __GFP_NOWARN, 0);
    ASSERT_TRUE(a && b);
    keep.push_back(a);
    keep.push_back(b);
  }
  for (size_t i = 0; i < keep.size(); i += 2) __free_pages(*f.ms, keep[i], 0);
  std::string why;
  std::vector<std::string> lines = split_lines(capture(show_buddyinfo, *f.ms), &why);
  ASSERT_EQ(why, "");
  ASSERT_EQ(lines.size(), 1u);
  auto b = parse_buddy_line(lines[0], &why);
  ASSERT_TRUE(b.has_value()) << why << ": " << lines[0];
  EXPECT_GE(b->nr_free[0], 1000u);  // four digits: the field is still 6 wide
  EXPECT_EQ(b->nr_free[0], f.ms->node_data[0]->node_zones[ZONE_DMA32].free_area[0].nr_free);
}

// ================================================================ zoneinfo

// zoneinfo lists every zone of every node (populated or not) in Linux's exact
// format, and each value equals the zone's own field: free pages (also equal
// to the pages on its free lists), watermarks, sizes, protection, counters,
// and each CPU's pageset (count also equal to the pages on its lists).
RC_GTEST_PROP(PageReportZoneinfo, FieldsMatchZones, ()) {
  mm_fixture f;
  layout_kind k = *gen_layout();
  RC_ASSERT(build_layout(f, k) == 0);
  std::vector<held_block> held;
  run_ops(f, *rc::gen::container<std::vector<mm_op>>(gen_op()), held);
  const mem_system &ms = *f.ms;

  std::string why;
  std::vector<std::string> lines = split_lines(capture(show_zoneinfo, ms), &why);
  RC_ASSERT(why == "");
  zoneinfo_parser parser(lines);
  auto zones = parser.parse();
  if (!zones) RC_FAIL(parser.error());

  size_t i = 0;
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) {
    RC_ASSERT(i < zones->size());
    const zone_info &zi = (*zones)[i++];
    RC_ASSERT(zi.nid == pgdat->node_id);
    RC_ASSERT(zi.name == std::string(zone_names[z->idx]));
    long free = zone_page_state_snapshot(z, NR_FREE_PAGES);
    RC_ASSERT(zi.field.at("pages free") == free);
    RC_ASSERT(static_cast<unsigned long>(free) == buddy_pages(z));
    RC_ASSERT(zi.field.at("boost") == 0);  // no watermark boosting here
    RC_ASSERT(zi.field.at("min") == long(min_wmark_pages(z)));
    RC_ASSERT(zi.field.at("low") == long(low_wmark_pages(z)));
    RC_ASSERT(zi.field.at("high") == long(high_wmark_pages(z)));
    RC_ASSERT(zi.field.at("promo") == long(z->_watermark[WMARK_PROMO]));
    RC_ASSERT(zi.field.at("spanned") == long(z->spanned_pages));
    RC_ASSERT(zi.field.at("present") == long(z->present_pages));
    RC_ASSERT(zi.field.at("managed") == long(z->managed_pages));
    RC_ASSERT(zi.field.at("cma") == 0);  // no CMA area
    RC_ASSERT(zi.protection ==
              std::vector<long>(z->lowmem_reserve, z->lowmem_reserve + MAX_NR_ZONES));
    RC_ASSERT(zi.populated == (z->present_pages != 0));
    if (!zi.populated) continue;

    std::set<std::string> names;
    for (auto &[name, value] : zi.stats) RC_ASSERT(names.insert(name).second);
    auto nr_free = std::find_if(zi.stats.begin(), zi.stats.end(),
                                [](auto &s) { return s.first == "nr_free_pages"; });
    RC_ASSERT(nr_free != zi.stats.end());
    RC_ASSERT(nr_free->second == free);

    RC_ASSERT(zi.cpus.size() == size_t(ms.nr_cpus));
    for (unsigned c = 0; c < ms.nr_cpus; c++) {
      const cpu_pageset &p = zi.cpus[c];
      RC_ASSERT(p.cpu == long(c));
      RC_ASSERT(p.count == z->pcp[c].count);
      RC_ASSERT(static_cast<unsigned long>(p.count) == pcp_list_pages(z->pcp[c]));
      RC_ASSERT(p.high == z->pcp[c].high);
      RC_ASSERT(p.batch == z->pcp[c].batch);
      // Linux prints the CPU's vm stats threshold under its pageset.
      RC_ASSERT(p.threshold == reference_normal_threshold(z->managed_pages, ms.nr_cpus));
    }
    RC_ASSERT(zi.node_unreclaimable == 0);
    RC_ASSERT(zi.start_pfn == long(z->zone_start_pfn));
  }
  RC_ASSERT(i == zones->size());
}

// After drain_all_pages every pageset count in zoneinfo is 0, and the pages
// the lists held are back in each zone's "pages free".
RC_GTEST_PROP(PageReportZoneinfo, DrainEmptiesPagesets, ()) {
  mm_fixture f;
  RC_ASSERT(build_layout(f, *gen_layout()) == 0);
  std::vector<held_block> held;
  run_ops(f, *rc::gen::container<std::vector<mm_op>>(gen_op()), held);
  mem_system &ms = *f.ms;

  std::map<std::pair<int, std::string>, long> want_free;
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) {
    long on_lists = 0;
    for (unsigned c = 0; c < ms.nr_cpus; c++) on_lists += long(pcp_list_pages(z->pcp[c]));
    want_free[{pgdat->node_id, z->name}] = long(buddy_pages(z)) + on_lists;
  }
  drain_all_pages(ms);

  std::string why;
  zoneinfo_parser parser(split_lines(capture(show_zoneinfo, ms), &why));
  RC_ASSERT(why == "");
  auto zones = parser.parse();
  if (!zones) RC_FAIL(parser.error());
  for (const zone_info &zi : *zones) {
    RC_ASSERT(zi.field.at("pages free") == want_free.at({zi.nid, zi.name}));
    for (const cpu_pageset &p : zi.cpus) RC_ASSERT(p.count == 0);
  }
}

// Between a populated zone's protection line and its pagesets, zoneinfo
// has Linux's counter lines ("\n      %-12s %lu"), exactly one per zone
// counter, in the enum's order, each the counter's exact value.
TEST(PageReportZoneinfo, CounterLinesAreExactlyTheZoneCounters) {
  mm_fixture f;
  ASSERT_EQ(build_two_nodes(f), 0);
  const std::string text = capture(show_zoneinfo, *f.ms);
  size_t at = 0;
  unsigned zones = 0;
  for_each_online_pgdat(*f.ms, pgdat) for_each_zone_of(pgdat, z) {
    char head[64];
    snprintf(head, sizeof(head), "Node %d, zone %8s", pgdat->node_id, z->name);
    at = text.find(head, at);
    ASSERT_NE(at, std::string::npos) << head;
    if (!populated_zone(z)) continue;
    const size_t from = text.find(")\n", text.find("protection: (", at)) + 2;
    const size_t to = text.find("\n  pagesets", from);
    ASSERT_NE(to, std::string::npos) << head;
    std::string want;
    const char *names[] = {"nr_free_pages", "nr_zone_allocated", "nr_pcp_pages"};
    static_assert(NR_VM_ZONE_STAT_ITEMS == 3, "a name per counter");
    for (unsigned i = 0; i < NR_VM_ZONE_STAT_ITEMS; i++)
      want += (i ? "\n" : "") + std::string("      ") + names[i] + " " +
              std::to_string(zone_page_state_snapshot(z, zone_stat_item(i)));
    EXPECT_EQ(text.substr(from, to - from), want) << head;
    zones++;
  }
  EXPECT_EQ(zones, 3u);
}

// ================================================================ meminfo

// Every meminfo line is a Linux label in Linux's order, in "%-16s%8lu kB"
// form, and the lines are this kernel's, none missing; MemTotal, MemFree
// and MemAvailable come first and equal the managed pages, the pages on the
// free lists and si_mem_available(), in kB.
RC_GTEST_PROP(PageReportMeminfo, TotalsInLinuxFormat, ()) {
  mm_fixture f;
  RC_ASSERT(build_layout(f, *gen_layout()) == 0);
  std::vector<held_block> held;
  run_ops(f, *rc::gen::container<std::vector<mm_op>>(gen_op()), held);
  const mem_system &ms = *f.ms;

  std::string why;
  auto parsed = parse_meminfo(capture_meminfo(ms), &why);
  if (!parsed) RC_FAIL(why);
  RC_ASSERT(labels_of(*parsed) == this_kernels_meminfo_labels(false, false));

  unsigned long managed = 0;
  for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) managed += z->managed_pages;
  RC_ASSERT(ms.totalram_pages == managed);
  RC_ASSERT((*parsed)[0].second == kb(ms.totalram_pages));
  RC_ASSERT((*parsed)[1].second == kb(nr_free_pages(ms)));
  RC_ASSERT((*parsed)[1].second == kb(buddy_pages(ms)));
  RC_ASSERT((*parsed)[2].second == kb(si_mem_available(ms)));
  // No swap and no page cache exist yet: Linux's lines for them say 0 (these
  // layouts have no HighMem, so no High/Low lines either).
  for (size_t i = 3; i < parsed->size(); i++) RC_ASSERT((*parsed)[i].second == 0ul);
}

// MemAvailable is Linux's estimate with no page cache and no reclaimable
// slab: free pages less totalreserve (each zone's high watermark plus its
// largest lowmem_reserve, capped at its managed pages), never below 0.
RC_GTEST_PROP(PageReportMeminfo, MemAvailableFollowsLinux, ()) {
  mm_fixture f;
  RC_ASSERT(build_layout(f, *gen_layout()) == 0);
  std::vector<held_block> held;
  run_ops(f, *rc::gen::container<std::vector<mm_op>>(gen_op()), held);
  const mem_system &ms = *f.ms;

  long free = long(buddy_pages(ms));
  long reserve = long(linux_totalreserve(ms));
  unsigned long want = free > reserve ? static_cast<unsigned long>(free - reserve) : 0;
  RC_ASSERT(ms.totalreserve_pages == static_cast<unsigned long>(reserve));
  RC_ASSERT(meminfo_values(ms).at("MemAvailable") == kb(want));
}

// With the per-CPU lists off, MemFree drops by exactly the pages of the
// allocations that succeeded and rises by exactly the pages freed.
RC_GTEST_PROP(PageReportMeminfo, MemFreeTracksBuddyAllocations, ()) {
  mm_fixture f;
  RC_ASSERT(build_layout(f, *gen_layout()) == 0);
  f.ms->pcp_disabled = true;
  unsigned long before = meminfo_values(*f.ms).at("MemFree");
  std::vector<held_block> held;
  workload_result r = run_ops(f, *rc::gen::container<std::vector<mm_op>>(gen_op()), held);
  unsigned long after = meminfo_values(*f.ms).at("MemFree");
  RC_ASSERT(after + kb(r.pages_allocated) == before + kb(r.pages_freed));
}

// With the per-CPU lists on, MemFree drops by exactly the pages taken from
// the buddy lists: those allocated, plus those now cached on per-CPU lists,
// less those freed (pages on per-CPU lists are not free, as in Linux).
RC_GTEST_PROP(PageReportMeminfo, MemFreeExcludesPerCpuPages, ()) {
  mm_fixture f;
  RC_ASSERT(build_layout(f, *gen_layout()) == 0);
  std::vector<held_block> held;
  run_ops(f, *rc::gen::container<std::vector<mm_op>>(gen_op()), held);  // a warmed-up start
  unsigned long free_before = meminfo_values(*f.ms).at("MemFree");
  unsigned long pcp_before = pcp_list_pages(*f.ms);
  workload_result r = run_ops(f, *rc::gen::container<std::vector<mm_op>>(gen_op()), held);
  unsigned long free_after = meminfo_values(*f.ms).at("MemFree");
  unsigned long pcp_after = pcp_list_pages(*f.ms);
  RC_ASSERT(free_after + kb(r.pages_allocated) + kb(pcp_after) ==
            free_before + kb(r.pages_freed) + kb(pcp_before));
}

// With a slab allocator at work, the four slab lines are Linux's sums:
// Slab = SReclaimable + SUnreclaim, KReclaimable = SReclaimable (no other
// reclaimable kernel memory here), and each equals the pages the caches'
// slabs hold, counted from their lists (SLAB_RECLAIM_ACCOUNT caches as
// reclaimable), large kmallocs counting as unreclaimable.
RC_GTEST_PROP(PageReportMeminfo, SlabLinesAddUp, ()) {
  slabt::cpu_reset reset;
  slab_fixture f;
  RC_ASSERT(f.build(*gen_layout()) == 0);
  slab_allocator &sa = *f.sa;
  kmem_cache *reclaimable = kmem_cache_create(sa, "meminfo_test", *rc::gen::inRange(1u, 5000u), 0,
                                              SLAB_RECLAIM_ACCOUNT, nullptr);
  RC_ASSERT((reclaimable != nullptr));
  std::vector<std::pair<void *, bool>> held;  // object, from the reclaimable cache
  int steps = *rc::gen::inRange(0, 200);
  for (int i = 0; i < steps; i++) {
    host_set_cpu(*rc::gen::inRange(0u, f.mm.ms->nr_cpus));
    int what = *rc::gen::inRange(0, 4);
    if (what == 0 && !held.empty()) {
      size_t v = *rc::gen::inRange<size_t>(0, held.size());
      if (held[v].second) kmem_cache_free(reclaimable, held[v].first);
      else kfree(sa, held[v].first);
      held.erase(held.begin() + long(v));
    } else if (what == 1) {
      if (void *p = kmem_cache_alloc(reclaimable, GFP_KERNEL | __GFP_NOWARN)) held.push_back({p, true});
    } else {
      size_t size = *rc::gen::inRange<size_t>(1, 6 * PAGE_SIZE);
      if (void *p = kmalloc(sa, size, GFP_KERNEL | __GFP_NOWARN)) held.push_back({p, false});
    }
  }
  host_set_cpu(0);

  unsigned long pages[2] = {};  // unreclaimable, reclaimable
  for (const list_head *e = sa.caches.next; e != &sa.caches; e = e->next) {
    const kmem_cache *s = list_entry(const_cast<list_head *>(e), kmem_cache, list);
    // Every slab of the node, CPUs' own ones too (the checker holds the
    // count to the lists and the CPUs' slabs).
    for (const kmem_cache_node &n : s->node) pages[(s->flags & SLAB_RECLAIM_ACCOUNT) ? 1 : 0] += n.nr_slabs << s->order;
  }
  pages[0] += sa.large_pages;
  std::map<std::string, unsigned long> v = meminfo_values(*f.mm.ms);
  RC_ASSERT(v.at("Slab") == v.at("SReclaimable") + v.at("SUnreclaim"));
  RC_ASSERT(v.at("KReclaimable") == v.at("SReclaimable"));
  RC_ASSERT(v.at("SUnreclaim") == kb(pages[0]));
  RC_ASSERT(v.at("SReclaimable") == kb(pages[1]));
  RC_ASSERT(v.at("SUnreclaim") > 0ul);  // the kmem_cache cache's slabs at least

  for (auto &[p, from_cache] : held) {
    if (from_cache) kmem_cache_free(reclaimable, p);
    else kfree(sa, p);
  }
  RC_ASSERT(kmem_cache_destroy(reclaimable) == 0);
  RC_ASSERT(meminfo_values(*f.mm.ms).at("SReclaimable") == 0ul);
}

// HighTotal/HighFree/LowTotal/LowFree appear exactly when a HighMem zone has
// memory (as in a CONFIG_HIGHMEM kernel), and split MemTotal and MemFree.
TEST(PageReportMeminfo, HighmemLinesOnlyWithHighmem) {
  mm_fixture f;
  ASSERT_EQ(build_single_zone(f), 0);
  std::string why;
  auto plain = parse_meminfo(capture_meminfo(*f.ms), &why);
  ASSERT_TRUE(plain.has_value()) << why;
  EXPECT_EQ(labels_of(*plain), this_kernels_meminfo_labels(false, false));

  ASSERT_EQ(build_with_highmem(f), 0);
  std::vector<page *> taken;
  for (int i = 0; i < 10; i++)
    if (page *p = alloc_pages(*f.ms, GFP_HIGHUSER | __GFP_NOWARN, 2)) taken.push_back(p);
  auto parsed = parse_meminfo(capture_meminfo(*f.ms), &why);
  ASSERT_TRUE(parsed.has_value()) << why;
  EXPECT_EQ(labels_of(*parsed), this_kernels_meminfo_labels(true, false));
  std::map<std::string, unsigned long> v = as_map(*parsed);
  const zone *high = &f.ms->node_data[0]->node_zones[ZONE_HIGHMEM];
  ASSERT_GT(high->managed_pages, 0u);
  EXPECT_EQ(v.at("HighTotal"), kb(high->managed_pages));
  EXPECT_EQ(v.at("HighFree"), kb(buddy_pages(high)));
  EXPECT_EQ(v.at("LowTotal"), v.at("MemTotal") - v.at("HighTotal"));
  EXPECT_EQ(v.at("LowFree"), v.at("MemFree") - v.at("HighFree"));
}

// With a vmalloc_system, meminfo ends with Linux's three Vmalloc lines, in
// Linux's place (after WritebackTmp, which parse_meminfo checks):
// VmallocTotal is the whole range, VmallocUsed the frames vmalloc areas hold
// (vmap areas map their callers' pages and count as nothing, as in Linux's
// vmalloc_nr_pages), VmallocChunk Linux's constant 0 (since 5.3). The same
// mem_system printed without one has no Vmalloc line at all.
RC_GTEST_PROP(PageReportMeminfo, VmallocLinesCountVmallocFrames, ()) {
  slabt::cpu_reset reset;
  vmalloc_fixture f;
  unsigned long range_pages = *rc::gen::inRange(64ul, 4096ul);
  RC_ASSERT(f.build(*gen_layout(), VMALLOC_START_ADDR, VMALLOC_START_ADDR + range_pages * PAGE_SIZE) == 0);
  mem_system &ms = *f.slab.mm.ms;
  struct held_area {
    void *addr;
    unsigned pages;
    std::vector<page *> frames;  // vmap: the caller's, freed by the test
  };
  std::vector<held_area> held;
  unsigned long want_used = 0;
  int steps = *rc::gen::inRange(0, 40);
  for (int i = 0; i < steps; i++) {
    int what = *rc::gen::inRange(0, 3);
    if (what == 0 && !held.empty()) {
      size_t v = *rc::gen::inRange<size_t>(0, held.size());
      if (held[v].frames.empty()) {
        vfree(*f.vs, held[v].addr);
        want_used -= held[v].pages;
      } else {
        vunmap(*f.vs, held[v].addr);
        for (page *p : held[v].frames) __free_pages(ms, p, 0);
      }
      held.erase(held.begin() + long(v));
    } else if (what == 1) {
      unsigned n = *rc::gen::inRange(1u, 4u);
      std::vector<page *> frames;
      for (unsigned k = 0; k < n; k++)
        if (page *p = alloc_pages(ms, GFP_KERNEL | __GFP_NOWARN, 0)) frames.push_back(p);
      void *a = frames.size() == n ? vmap(*f.vs, frames.data(), n, 0, PROT_READ | PROT_WRITE) : nullptr;
      if (a) {
        held.push_back({a, n, frames});
      } else {
        for (page *p : frames) __free_pages(ms, p, 0);
      }
    } else {
      unsigned long size = *rc::gen::inRange(1ul, 16 * PAGE_SIZE);
      if (void *a = __vmalloc(*f.vs, size, GFP_KERNEL | __GFP_NOWARN)) {
        unsigned pages = unsigned((size + PAGE_SIZE - 1) / PAGE_SIZE);
        held.push_back({a, pages, {}});
        want_used += pages;
      }
    }
  }

  std::string why;
  auto parsed = parse_meminfo(capture_meminfo(ms, f.vs.get()), &why);
  if (!parsed) RC_FAIL(why);
  size_t n = parsed->size();
  RC_ASSERT(labels_of(*parsed) == this_kernels_meminfo_labels(false, true));
  RC_ASSERT((*parsed)[n - 3].first == "VmallocTotal");
  RC_ASSERT((*parsed)[n - 2].first == "VmallocUsed");
  RC_ASSERT((*parsed)[n - 1].first == "VmallocChunk");
  RC_ASSERT((*parsed)[n - 3].second == kb(range_pages));
  RC_ASSERT((*parsed)[n - 2].second == kb(want_used));
  RC_ASSERT((*parsed)[n - 1].second == 0ul);
  auto plain = parse_meminfo(capture_meminfo(ms), &why);
  if (!plain) RC_FAIL(why);
  RC_ASSERT(plain->size() == n - 3);
  RC_ASSERT(as_map(*plain).count("VmallocTotal") == 0u);

  for (held_area &h : held) {
    if (h.frames.empty()) {
      vfree(*f.vs, h.addr);
    } else {
      vunmap(*f.vs, h.addr);
      for (page *p : h.frames) __free_pages(ms, p, 0);
    }
  }
  RC_ASSERT(meminfo_values(ms).count("VmallocUsed") == 0u);
  auto after = parse_meminfo(capture_meminfo(ms, f.vs.get()), &why);
  if (!after) RC_FAIL(why);
  RC_ASSERT(as_map(*after).at("VmallocUsed") == 0ul);
  RC_ASSERT(f.check() == "");
}

// ================================================================ all reports

// Printing the reports changes nothing: free lists, counters and per-CPU
// lists are as before, and the allocator's invariants still hold.
RC_GTEST_PROP(PageReport, ReportsLeaveStateUnchanged, ()) {
  mm_fixture f;
  RC_ASSERT(build_layout(f, *gen_layout()) == 0);
  std::vector<held_block> held;
  run_ops(f, *rc::gen::container<std::vector<mm_op>>(gen_op()), held);
  const mem_system &ms = *f.ms;
  auto snapshot = [&ms] {
    std::vector<long> s;
    for_each_online_pgdat(ms, pgdat) for_each_zone_of(pgdat, z) {
      for (const free_area &fa : z->free_area) s.push_back(long(fa.nr_free));
      for (long v : z->vm_stat) s.push_back(v);
      for (unsigned c = 0; c < ms.nr_cpus; c++) s.push_back(z->pcp[c].count);
      s.push_back(spin_is_locked(&z->lock));
    }
    return s;
  };
  std::vector<long> before = snapshot();
  capture(show_buddyinfo, ms);
  capture(show_zoneinfo, ms);
  capture_meminfo(ms);
  RC_ASSERT(snapshot() == before);
  RC_ASSERT(f.check() == "");
}

// ================================================================ vmstat

// A known state, set in the counters themselves (and put back before the
// fixture's teardown checks them): every zone and node counter and event,
// the per-CPU parts included, on two nodes. vmstat prints Linux's names in
// Linux's order, one "name value" a line, each value summed over every
// zone or node with the per-CPU parts added in: the pagesets' own counters,
// every CPU's events and every CPU's counter deltas (the snapshot).
TEST(PageReportVmstat, LinuxNamesInOrderSummedOverZonesAndNodes) {
  mm_fixture f;
  ASSERT_EQ(build_two_nodes(f), 0);
  mem_system &ms = *f.ms;
  struct saved_zone {
    zone *z;
    long vm_stat[NR_VM_ZONE_STAT_ITEMS];
    per_cpu_zonestat stats[NR_CPUS];
    int count[NR_CPUS];
    unsigned long pgalloc[NR_CPUS], pgfree[NR_CPUS];
  };
  std::vector<saved_zone> zones;
  std::vector<std::pair<pglist_data *, std::vector<long>>> nodes;
  std::vector<std::vector<per_cpu_nodestat>> node_stats;
  unsigned long events[NR_VM_EVENT_ITEMS];
  std::copy(std::begin(ms.vm_events), std::end(ms.vm_events), events);
  for_each_online_pgdat(ms, pgdat) {
    nodes.push_back({pgdat, std::vector<long>(std::begin(pgdat->vm_stat), std::end(pgdat->vm_stat))});
    node_stats.emplace_back(std::begin(pgdat->per_cpu_nodestats), std::end(pgdat->per_cpu_nodestats));
    for (per_cpu_nodestat &pcn : pgdat->per_cpu_nodestats) std::fill(std::begin(pcn.vm_node_stat_diff), std::end(pcn.vm_node_stat_diff), s8(0));
    pgdat->vm_stat[NR_SLAB_RECLAIMABLE] = 4 + pgdat->node_id;    // 4 + 5
    pgdat->vm_stat[NR_SLAB_UNRECLAIMABLE] = 8 + pgdat->node_id;  // 6 + 7 with
    pgdat->per_cpu_nodestats[1].vm_node_stat_diff[NR_SLAB_UNRECLAIMABLE] = -2;  // CPU 1's delta
    for_each_zone_of(pgdat, z) {
      saved_zone s{z, {}, {}, {}, {}, {}};
      std::copy(std::begin(z->vm_stat), std::end(z->vm_stat), s.vm_stat);
      std::copy(std::begin(z->per_cpu_zonestats), std::end(z->per_cpu_zonestats), s.stats);
      for (per_cpu_zonestat &pcz : z->per_cpu_zonestats) {
        std::fill(std::begin(pcz.vm_stat_diff), std::end(pcz.vm_stat_diff), s8(0));
        std::fill(std::begin(pcz.vm_events), std::end(pcz.vm_events), 0ul);
      }
      for (unsigned c = 0; c < NR_CPUS; c++) {
        s.count[c] = z->pcp[c].count;
        s.pgalloc[c] = z->pcp[c].pgalloc;
        s.pgfree[c] = z->pcp[c].pgfree;
        z->pcp[c].count = 0;
        z->pcp[c].pgalloc = z->pcp[c].pgfree = 0;
      }
      zones.push_back(s);
      std::fill(std::begin(z->vm_stat), std::end(z->vm_stat), 0l);
      if (!populated_zone(z)) continue;
      // Node 0's DMA32 and Normal, node 1's Normal: three zones.
      const long k = 1 + z->idx + 10 * pgdat->node_id;  // 2, 3, 13
      z->vm_stat[NR_FREE_PAGES] = 1000 * k + 3;  // and CPU 1's delta -3
      z->per_cpu_zonestats[1].vm_stat_diff[NR_FREE_PAGES] = -3;
      z->vm_stat[NR_ZONE_ALLOCATED] = 10 * k - 1;  // and CPU 0's delta 1
      z->per_cpu_zonestats[0].vm_stat_diff[NR_ZONE_ALLOCATED] = 1;
      z->pcp[0].count = 3;       // NR_PCP_PAGES is the lists' counts
      z->pcp[0].pgalloc = 5;     // each CPU's share of PGALLOC and of
      z->pcp[1].pgfree = 2;      // NR_ZONE_ALLOCATED (pgalloc - pgfree)
      z->per_cpu_zonestats[0].vm_events[PGALLOC] = 100 * static_cast<unsigned long>(k);
      z->per_cpu_zonestats[0].vm_events[PGFREE] = 3;  // each CPU's share of the buddy paths'
      z->per_cpu_zonestats[1].vm_events[PGFREE] = 4;
      z->per_cpu_zonestats[1].vm_events[PGBAD] = 99;  // ours: not in Linux's vmstat
    }
  }
  for (unsigned i = 0; i < NR_VM_EVENT_ITEMS; i++) ms.vm_events[i] = 101 + i;

  const std::string text = capture(show_vmstat, ms);

  for (saved_zone &s : zones) {
    std::copy(std::begin(s.vm_stat), std::end(s.vm_stat), s.z->vm_stat);
    std::copy(std::begin(s.stats), std::end(s.stats), s.z->per_cpu_zonestats);
    for (unsigned c = 0; c < NR_CPUS; c++) {
      s.z->pcp[c].count = s.count[c];
      s.z->pcp[c].pgalloc = s.pgalloc[c];
      s.z->pcp[c].pgfree = s.pgfree[c];
    }
  }
  for (auto &[pgdat, v] : nodes) std::copy(v.begin(), v.end(), pgdat->vm_stat);
  for (size_t n = 0; n < nodes.size(); n++)
    std::copy(node_stats[n].begin(), node_stats[n].end(), nodes[n].first->per_cpu_nodestats);
  std::copy(std::begin(events), std::end(events), ms.vm_events);

  EXPECT_EQ(text,
            "nr_free_pages 18000\n"
            "nr_zone_allocated 189\n"  // 20 + 30 + 130, and 5 - 2 per zone
            "nr_pcp_pages 9\n"
            "nr_slab_reclaimable_b 9\n"
            "nr_slab_unreclaimable_b 13\n"
            "pgalloc_dma 0\n"
            "pgalloc_dma32 205\n"
            "pgalloc_normal 1610\n"  // 300 + 5 and 1300 + 5 on the two nodes
            "pgalloc_high 0\n"
            "pgalloc_movable 0\n"
            "allocstall_dma 101\n"
            "allocstall_dma32 102\n"
            "allocstall_normal 103\n"
            "allocstall_high 104\n"
            "allocstall_movable 105\n"
            "pgfree 27\n"  // (7 + 2) in each zone
            "pgmigrate_success 106\n"
            "pgmigrate_fail 107\n"
            "compact_migrate_scanned 108\n"
            "compact_free_scanned 109\n"
            "compact_isolated 110\n"
            "compact_stall 111\n"
            "compact_fail 112\n"
            "compact_success 113\n"
            "compact_daemon_wake 114\n"
            "compact_daemon_migrate_scanned 115\n"
            "compact_daemon_free_scanned 116\n");
}
