// Zonelists on machines of up to MAX_NUMNODES nodes: each node falls back to
// the others in the order Linux's build_zonelists gives (find_next_best_node:
// nearest first; equal distances broken by "prefer the next node", nodes
// without CPUs first, then the round-robin node_load, then the lowest id),
// restated here as a sort key and compared on random distance matrices,
// asymmetric ones and memoryless nodes included; and two fixed machines
// (the boot matrix's line of four nodes and four nodes all 20 apart) whose
// orders were worked out by hand.
#include <gtest/gtest.h>
#include <rapidcheck.h>
#include <rapidcheck/gtest.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "kernel/numa.h"
#include "mm/page_alloc.h"
#include "mm/page_alloc_internal.h"
#include "proptest/mm_fixture.h"
#include "proptest/slab_fixture.h"

namespace {

constexpr u64 NODE_SIZE = 4 * SZ_1M;

struct numa_machine {
  std::vector<int> nodes;  // node ids with memory, ascending
  mem_layout layout;
};

// Every node with memory gets NODE_SIZE of DMA32, in node id order.
int build_machine(mm_fixture &f, const numa_machine &m) {
  std::vector<ram_range> ram;
  for (size_t i = 0; i < m.nodes.size(); i++) ram.push_back({0x80000000 + i * NODE_SIZE, NODE_SIZE, m.nodes[i]});
  return f.build(ram, m.layout);
}

// Linux's node order for every node with memory: the zonelists are built in
// node id order, sharing node_load; each takes its own node, then
// repeatedly the unused node with memory of smallest
// (distance + [below local] + [has CPUs], node_load, id), and charges one
// load to a node that starts a new distance group.
std::vector<std::vector<int>> model_node_orders(const numa_machine &m) {
  const mem_layout &l = m.layout;
  auto has_cpus = [&](int n) {
    for (unsigned c = 0; c < l.nr_cpus; c++)
      if (l.cpu_to_node[c] == n) return true;
    return false;
  };
  std::vector<unsigned> load(MAX_NUMNODES, 0);
  std::vector<std::vector<int>> orders;
  for (int local : m.nodes) {
    std::vector<int> order = {local};
    std::vector<int> left;
    for (int n : m.nodes)
      if (n != local) left.push_back(n);
    while (!left.empty()) {
      auto key = [&](int n) {
        return std::make_tuple(l.node_distance[local][n] + (n < local) + has_cpus(n), load[n], n);
      };
      auto best = std::min_element(left.begin(), left.end(), [&](int a, int b) { return key(a) < key(b); });
      int n = *best;
      left.erase(best);
      if (l.node_distance[local][n] != l.node_distance[local][order.back()]) load[n]++;
      order.push_back(n);
    }
    orders.push_back(order);
  }
  return orders;
}

std::vector<int> node_order_of(const mem_system &ms, int nid) {
  int order[MAX_NUMNODES];
  unsigned n = zonelist_node_order(ms.node_data[nid], order);
  return std::vector<int>(order, order + n);
}

// Every zonelist is its nodes' managed zones, each node's from the highest
// zone down, the nodes in zonelist_node_order's order, each node once.
// Returns what differs ("" when nothing does).
std::string zonelists_follow_node_order(const mem_system &ms) {
  std::string bad;
  for_each_online_pgdat(ms, pgdat) {
    std::vector<const zone *> want;
    std::vector<int> order = node_order_of(ms, pgdat->node_id);
    for (int n : order)
      for (int z = int(MAX_NR_ZONES) - 1; z >= 0; z--)
        if (managed_zone(&ms.node_data[n]->node_zones[z])) want.push_back(&ms.node_data[n]->node_zones[z]);
    want.push_back(nullptr);
    std::vector<const zone *> got(pgdat->zonelist, pgdat->zonelist + want.size());
    std::vector<int> sorted = order;
    std::sort(sorted.begin(), sorted.end());
    if (got != want || std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end() ||
        order.size() != size_t(ms.nr_online_nodes) || order[0] != pgdat->node_id)
      bad += "node " + std::to_string(pgdat->node_id) + "'s zonelist is not its nodes' zones in order\n";
  }
  return bad;
}

numa_machine machine_of(std::vector<int> nodes, std::vector<std::vector<u8>> dist, std::vector<int> cpu_nodes) {
  numa_machine m{std::move(nodes), layout_with_limits(0, PFN_4G, PFN_MAX, unsigned(cpu_nodes.size()))};
  for (size_t a = 0; a < dist.size(); a++)
    for (size_t b = 0; b < dist.size(); b++) m.layout.node_distance[a][b] = dist[a][b];
  for (size_t c = 0; c < cpu_nodes.size(); c++) m.layout.cpu_to_node[c] = cpu_nodes[c];
  return m;
}

std::string show(const std::vector<int> &order) {
  std::string s;
  for (int n : order) s += std::to_string(n) + " ";
  return s;
}

// Builds m and expects each node's fallback order to be want's line for it
// ("0 1 2 3 ", as boot prints it).
void expect_node_orders(const numa_machine &m, const std::vector<std::string> &want) {
  mm_fixture f;
  ASSERT_EQ(build_machine(f, m), 0);
  for (size_t i = 0; i < m.nodes.size(); i++)
    EXPECT_EQ(show(node_order_of(*f.ms, m.nodes[i])), want[i]) << "node " << m.nodes[i];
  EXPECT_EQ(zonelists_follow_node_order(*f.ms), "");
  EXPECT_EQ(f.check(), "");
}

}  // namespace

// The boot matrix's boot-numa4-line-4harts: four nodes on a line, a CPU
// each. Node 1 has 0 and 2 at 20: 2 is above it, 0 below, so 2 first; node
// 2 likewise takes 3 before 1.
TEST(Zonelist, LineOfFourNodesNearestFirst) {
  expect_node_orders(machine_of({0, 1, 2, 3}, {{10, 20, 30, 40}, {20, 10, 20, 30}, {30, 20, 10, 20}, {40, 30, 20, 10}},
                                {0, 1, 2, 3}),
                     {"0 1 2 3 ", "1 2 0 3 ", "2 3 1 0 ", "3 2 1 0 "});
}

// All 20 apart (scripts/run --numa 4 without --numa-dist): the nodes above
// before those below ("prefer the next node"), so the lists turn round and
// no node is everyone's first fallback. (node_load decides nothing here;
// NodeOrderIsLinuxs meets machines where it does.)
TEST(Zonelist, EquidistantNodesRoundRobin) {
  expect_node_orders(machine_of({0, 1, 2, 3}, {{10, 20, 20, 20}, {20, 10, 20, 20}, {20, 20, 10, 20}, {20, 20, 20, 10}},
                                {0, 1, 2, 3}),
                     {"0 1 2 3 ", "1 2 3 0 ", "2 3 0 1 ", "3 0 1 2 "});
}

// A node without CPUs is preferred over an equally near one with CPUs
// (PENALTY_FOR_NODE_WITH_CPUS): node 0's CPUs fall back to node 2 first,
// and node 1's to 2 as well (above it, and without CPUs).
TEST(Zonelist, CpulessNodeBeforeEquallyNearNodeWithCpus) {
  expect_node_orders(machine_of({0, 1, 2}, {{10, 20, 20}, {20, 10, 20}, {20, 20, 10}}, {0, 1}),
                     {"0 2 1 ", "1 2 0 ", "2 0 1 "});
}

// A node below at distance d weighs as one above at d + 1 (both get 1 added);
// the tie then goes to the lower node_load, then the lower id: node 2 sees 1
// at 20 and 3 at 21, and takes 1.
TEST(Zonelist, NodeBelowTiesWithNodeAboveOneFarther) {
  expect_node_orders(machine_of({0, 1, 2, 3}, {{10, 20, 30, 40}, {20, 10, 20, 30}, {30, 20, 10, 21}, {40, 30, 21, 10}},
                                {0, 1, 2, 3}),
                     {"0 1 2 3 ", "1 2 0 3 ", "2 1 3 0 ", "3 2 1 0 "});
}

// The local node comes first before any weighing: weighed with the others,
// node 2 (10 to itself, +1 for its CPUs, load 2 from the lists of nodes 0
// and 1) would lose to node 3 (11 away, no CPUs, load 1).
TEST(Zonelist, LocalNodeFirstEvenWhereTheWeighingWouldPassIt) {
  expect_node_orders(machine_of({0, 1, 2, 3}, {{10, 20, 15, 20}, {20, 10, 20, 30}, {20, 20, 10, 11}, {20, 30, 11, 10}},
                                {0, 2}),
                     {"0 2 1 3 ", "1 2 0 3 ", "2 3 1 0 ", "3 2 0 1 "});
}

RC_GTEST_PROP(Zonelist, NodeOrderIsLinuxs, ()) {
  // Which of the MAX_NUMNODES ids have memory (at least one), and where the CPUs are.
  const auto mask = *rc::gen::inRange<unsigned>(1, 1u << MAX_NUMNODES);
  std::vector<int> nodes;
  for (int n = 0; n < int(MAX_NUMNODES); n++)
    if (mask & (1u << n)) nodes.push_back(n);
  const auto cpus = *rc::gen::inRange<unsigned>(1, NR_CPUS + 1);
  std::vector<int> cpu_nodes;
  for (unsigned c = 0; c < cpus; c++) cpu_nodes.push_back(*rc::gen::inRange<int>(0, MAX_NUMNODES));
  // Few distinct distances, close together: ties, and the d / d + 1 overlap
  // of Linux's penalties, come often. Not symmetric.
  std::vector<std::vector<u8>> dist(MAX_NUMNODES, std::vector<u8>(MAX_NUMNODES, LOCAL_DISTANCE));
  for (unsigned a = 0; a < MAX_NUMNODES; a++)
    for (unsigned b = 0; b < MAX_NUMNODES; b++)
      if (a != b) dist[a][b] = u8(*rc::gen::element(11, 12, 20, 21, 22, 30, 255));
  numa_machine m = machine_of(nodes, dist, cpu_nodes);

  mm_fixture f;
  RC_ASSERT(build_machine(f, m) == 0);
  RC_ASSERT(f.ms->nr_online_nodes == unsigned(nodes.size()));
  const auto want = model_node_orders(m);
  for (size_t i = 0; i < nodes.size(); i++)
    RC_ASSERT(show(node_order_of(*f.ms, nodes[i])) == show(want[i]));
  RC_ASSERT(zonelists_follow_node_order(*f.ms) == "");
  // The node a request for nid is served from: nid itself when it has
  // memory, the nearest node with memory to a memoryless one (ties to the
  // lowest id), and the first node with memory for a nid that names no node
  // (NUMA_NO_NODE, or out of range). A CPU on a memoryless node is charged
  // to that nearest node.
  auto model_nearest = [&](int nid) {
    if (nid < 0 || nid >= int(MAX_NUMNODES)) return nodes[0];
    if (std::find(nodes.begin(), nodes.end(), nid) != nodes.end()) return nid;
    int best = nodes[0];
    for (int n : nodes)
      if (m.layout.node_distance[nid][n] < m.layout.node_distance[nid][best]) best = n;
    return best;
  };
  for (int nid = -3; nid < int(MAX_NUMNODES) + 3; nid++)
    RC_ASSERT(nearest_memory_node(*f.ms, nid) == model_nearest(nid));
  for (unsigned c = 0; c < cpus; c++) RC_ASSERT(f.ms->cpu_to_node[c] == model_nearest(cpu_nodes[c]));
  RC_ASSERT(f.check() == "");
}

// A node with several zones is one entry of the node order, and every
// populated zone of it, ZONE_MOVABLE included, is in each zonelist from the
// highest down. CPU 0 may sit on any node (here node 1, whose memory then
// serves its requests and those of CPUs the layout does not have), and a
// layout without distances gets Linux's defaults: 10 to itself, 20 to any
// other node.
TEST(Zonelist, EveryZoneOfANodeHighestFirst) {
  slabt::cpu_reset reset;
  mm_fixture f;
  const unsigned long base = 0x80000;  // pfn of 2 GiB
  mem_layout l = layout_with_limits(base + 0x1000, base + 0x2000, base + 0x3000, 2);
  l.max_zone_pfn[ZONE_HIGHMEM] = base + 0x4000;
  l.max_zone_pfn[ZONE_MOVABLE] = PFN_MAX;
  l.cpu_to_node[0] = 1;
  l.cpu_to_node[1] = 0;
  ASSERT_EQ(f.build({{0x80000000, 80 * SZ_1M, 0}, {0x86000000, 16 * SZ_1M, 1}}, l), 0);
  const mem_system &ms = *f.ms;
  EXPECT_EQ(show(node_order_of(ms, 0)), "0 1 ");
  EXPECT_EQ(show(node_order_of(ms, 1)), "1 0 ");
  const pglist_data *n0 = ms.node_data[0], *n1 = ms.node_data[1];
  const std::vector<const zone *> want0 = {&n0->node_zones[ZONE_MOVABLE], &n0->node_zones[ZONE_HIGHMEM],
                                           &n0->node_zones[ZONE_NORMAL],  &n0->node_zones[ZONE_DMA32],
                                           &n0->node_zones[ZONE_DMA],     &n1->node_zones[ZONE_MOVABLE],
                                           nullptr};
  EXPECT_EQ(std::vector<const zone *>(n0->zonelist, n0->zonelist + want0.size()), want0);
  EXPECT_EQ(zonelists_follow_node_order(ms), "");
  // Each classzone's preferred zone is the first in the list it may use.
  for (int c = 0; c < int(MAX_NR_ZONES); c++) EXPECT_EQ(n0->preferred_zone[c], &n0->node_zones[c]) << c;
  EXPECT_EQ(ms.cpu_to_node[0], 1);
  EXPECT_EQ(ms.cpu_to_node[1], 0);
  // A CPU the layout does not have counts as CPU 0, on CPU 0's node.
  for (unsigned cpu : {0u, 2u, 5u}) {
    EXPECT_EQ(ms.cpu_to_node[cpu], 1) << "cpu " << cpu;
    host_set_cpu(cpu);
    page *p = alloc_pages(*f.ms, GFP_HIGHUSER_MOVABLE, 0);
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(page_to_nid(p), 1) << "cpu " << cpu;
    __free_pages(*f.ms, p, 0);
  }
  host_set_cpu(0);
  for (int a = 0; a < 2; a++)
    for (int b = 0; b < 2; b++) EXPECT_EQ(ms.node_distance[a][b], a == b ? LOCAL_DISTANCE : REMOTE_DISTANCE);
  EXPECT_EQ(f.check(), "");
}
