// What the report tests share (page_report_test.cpp, frag_report_test.cpp):
// capturing a report as text, splitting it into lines, a random workload of
// allocations and frees on the host layouts, and buddyinfo's parser.
#pragma once

#include <rapidcheck.h>

#include <algorithm>
#include <cctype>
#include <optional>
#include <ostream>
#include <regex>
#include <string>
#include <vector>

#include "kernel/seq_out.h"
#include "mm/page_alloc.h"
#include "proptest/mm_fixture.h"

namespace reportt {

// ---------------------------------------------------------------- capturing

using show_fn = void (*)(const mem_system &, seq_out &);

inline seq_out string_out(std::string &text) {
  return {[](void *ctx, const char *s, size_t len) { static_cast<std::string *>(ctx)->append(s, len); }, &text};
}

inline std::string capture(show_fn show, const mem_system &ms) {
  std::string text;
  seq_out out = string_out(text);
  show(ms, out);
  return text;
}

// Splits a report into lines; every line must end with '\n' (seq_file output
// always does), so a missing final newline is an error, reported as such.
inline std::vector<std::string> split_lines(const std::string &text, std::string *error) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string::npos) {
      *error = "last line has no newline: \"" + text.substr(start) + "\"";
      return lines;
    }
    lines.push_back(text.substr(start, nl - start));
    start = nl + 1;
  }
  return lines;
}

inline bool all_digits(const std::string &s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return std::isdigit(c) != 0; });
}

// ---------------------------------------------------------------- layouts and workloads


inline rc::Gen<layout_kind> gen_layout() {
  return rc::gen::element(layout_kind::single_zone, layout_kind::three_zones,
                          layout_kind::across_4g, layout_kind::two_nodes);
}

struct mm_op {
  bool free = false;    // free a held block instead of allocating
  unsigned victim = 0;  // which held block (modulo their number)
  unsigned order = 0;
  gfp_t gfp = GFP_KERNEL;
  int nid = 0;
  unsigned cpu = 0;  // modulo the layout's CPUs
};

inline std::ostream &operator<<(std::ostream &os, const mm_op &o) {
  if (o.free) return os << "free #" << o.victim << " on cpu " << o.cpu;
  return os << "alloc order " << o.order << " gfp 0x" << std::hex << o.gfp << std::dec << " node "
            << o.nid << " cpu " << o.cpu;
}

inline rc::Gen<mm_op> gen_op() {
  return rc::gen::exec([] {
    mm_op o;
    o.free = *rc::gen::weightedElement<bool>({{2, false}, {1, true}});
    o.victim = *rc::gen::inRange(0u, 64u);
    o.order = *rc::gen::weightedElement<unsigned>(
        {{8, 0}, {4, 1}, {3, 2}, {2, 3}, {1, 4}, {1, 6}, {1, 9}, {1, 10}});
    o.gfp = *rc::gen::element(gfp_t(GFP_KERNEL), GFP_KERNEL | __GFP_DMA32, GFP_KERNEL | __GFP_DMA,
                              gfp_t(GFP_ATOMIC), gfp_t(GFP_NOWAIT), gfp_t(GFP_HIGHUSER_MOVABLE),
                              GFP_KERNEL | __GFP_RECLAIMABLE);
    o.nid = *rc::gen::inRange(0, 2);
    o.cpu = *rc::gen::inRange(0u, unsigned(NR_CPUS));
    return o;
  });
}

struct held_block {
  page *p;
  unsigned order;
};

struct workload_result {
  unsigned long pages_allocated = 0;  // pages of successful allocations
  unsigned long pages_freed = 0;      // pages handed back by frees
};

// Runs ops on f, keeping what they allocate in held. Failures are allowed
// (memory runs out, a zone is missing): they must not change the counts.
inline workload_result run_ops(mm_fixture &f, const std::vector<mm_op> &ops,
                        std::vector<held_block> &held) {
  workload_result r;
  mem_system &ms = *f.ms;
  for (const mm_op &o : ops) {
    host_set_cpu(o.cpu % ms.nr_cpus);
    if (o.free && !held.empty()) {
      size_t i = o.victim % held.size();
      __free_pages(ms, held[i].p, held[i].order);
      r.pages_freed += 1ul << held[i].order;
      held.erase(held.begin() + long(i));
    } else if (!o.free) {
      page *p = alloc_pages_node(ms, o.nid, o.gfp | __GFP_NOWARN, o.order);
      if (p) {
        held.push_back({p, o.order});
        r.pages_allocated += 1ul << o.order;
      }
    }
  }
  host_set_cpu(0);
  return r;
}

// ---------------------------------------------------------------- buddyinfo

struct buddy_line {
  int nid;
  std::string zone;
  std::vector<unsigned long> nr_free;
  bool operator==(const buddy_line &) const = default;
};

inline std::ostream &operator<<(std::ostream &os, const buddy_line &b) {
  os << "Node " << b.nid << " " << b.zone << ":";
  for (unsigned long n : b.nr_free) os << " " << n;
  return os;
}

// Parses `"Node %d, zone %8s "` + 11 x `"%6lu "`, checking every width.
inline std::optional<buddy_line> parse_buddy_line(const std::string &line, std::string *why) {
  static const std::regex re(R"(^Node (\d+), zone ( *)([A-Za-z0-9]+) ((?: *\d+ )+)$)");
  std::smatch m;
  if (!std::regex_match(line, m, re)) {
    *why = "not a buddyinfo line";
    return std::nullopt;
  }
  buddy_line b{std::stoi(m[1]), m[3], {}};
  if (m[2].length() + m[3].length() != std::max<long>(8, m[3].length())) {
    *why = "zone name not right-aligned in 8 columns";
    return std::nullopt;
  }
  static const std::regex field_re(R"(( *)(\d+) )");
  std::string fields = m[4];
  for (auto it = std::sregex_iterator(fields.begin(), fields.end(), field_re);
       it != std::sregex_iterator(); ++it) {
    const std::smatch &f = *it;
    if (f[1].length() + f[2].length() != std::max<long>(6, f[2].length())) {
      *why = "count \"" + f.str() + "\" not right-aligned in 6 columns";
      return std::nullopt;
    }
    b.nr_free.push_back(std::stoul(f[2]));
  }
  if (b.nr_free.size() != NR_PAGE_ORDERS) {
    *why = std::to_string(b.nr_free.size()) + " orders instead of 11";
    return std::nullopt;
  }
  return b;
}

}  // namespace reportt
