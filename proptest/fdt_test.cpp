// Host tests for the FDT parser (kernel/fdt.cpp).
//
// Three kinds of evidence:
//   - Real blobs (testdata/dtb, made by scripts/gen-testdata): each must yield
//     exactly the machine it was generated from; the expectations are the
//     QEMU command-line parameters or the hand-written .dts, not parser output.
//   - Generated trees: an encoder written here from the spec builds random
//     trees; parsing must give back what was encoded.
//   - Corrupted blobs in guard-paged buffers of exactly max_size bytes: the
//     parser must never touch a byte outside them (a touch faults), and must
//     either succeed within its capacities or fail with an offset inside.
#include "kernel/fdt.h"

#include <gtest/gtest.h>
#include <rapidcheck/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "kernel/printk.h"

namespace {

using bytes = std::vector<u8>;

// ---------------------------------------------------------------------------
// Test data.

const char *const kBlobNames[] = {
    "qemu-virt-128m-1hart.dtb", "qemu-virt-512m-2hart-bootargs.dtb",
    "qemu-virt-5g-4hart.dtb",   "qemu-virt-numa-2x512m-4hart.dtb",
    "holes-resv.dtb",           "cells-numa.dtb",
};

// Reads testdata/dtb/NAME; on failure returns an empty blob and says why.
bytes load_blob(const std::string &name, std::string *why) {
  const char *dir = std::getenv("MM_TESTDATA");
  if (!dir || !*dir) {
    *why = "MM_TESTDATA is not set (meson sets it to the source tree's testdata/)";
    return {};
  }
  std::string path = std::string(dir) + "/dtb/" + name;
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    *why = "cannot read " + path + " (run scripts/gen-testdata)";
    return {};
  }
  return bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// A buffer of exactly n bytes with an inaccessible page right after it (or,
// at_start, right before it), so that any read outside faults at once.
class guarded_buffer {
 public:
  guarded_buffer(const u8 *src, size_t n, bool at_start) : size_(n) {
    page_ = size_t(sysconf(_SC_PAGESIZE));
    size_t data_pages = (n + page_ - 1) / page_ + 1;
    map_len_ = (data_pages + 2) * page_;
    void *m = mmap(nullptr, map_len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) std::abort();
    map_ = static_cast<u8 *>(m);
    mprotect(map_, page_, PROT_NONE);
    mprotect(map_ + map_len_ - page_, page_, PROT_NONE);
    data_ = at_start ? map_ + page_ : map_ + map_len_ - page_ - n;
    if (n) std::memcpy(data_, src, n);
    mprotect(map_ + page_, map_len_ - 2 * page_, PROT_READ);
  }
  ~guarded_buffer() { munmap(map_, map_len_); }
  guarded_buffer(const guarded_buffer &) = delete;
  guarded_buffer &operator=(const guarded_buffer &) = delete;
  const u8 *data() const { return data_; }
  size_t size() const { return size_; }

 private:
  size_t page_, map_len_, size_;
  u8 *map_, *data_;
};

struct parse_result {
  fdt_error err;
  fdt_diag diag;
  std::unique_ptr<boot_info> bi;
};

// Parses the first max_size bytes of b from a guarded, read-only buffer.
parse_result parse_guarded(const bytes &b, size_t max_size, bool at_start = false) {
  guarded_buffer buf(b.data(), std::min(max_size, b.size()), at_start);
  parse_result r{fdt_error::ok, {fdt_error::ok, 0}, std::make_unique<boot_info>()};
  std::memset(r.bi.get(), 0xa5, sizeof(boot_info));  // so that "reset" is visible
  r.diag = {fdt_error::bad_magic, 0xdeadbeef};
  r.err = fdt_parse(buf.data(), buf.size(), r.bi.get(), &r.diag);
  return r;
}

parse_result parse_guarded(const bytes &b) { return parse_guarded(b, b.size()); }

u32 get_be32(const bytes &b, size_t off) {
  return u32(b[off]) << 24 | u32(b[off + 1]) << 16 | u32(b[off + 2]) << 8 | b[off + 3];
}

void set_be32(bytes &b, size_t off, u32 v) {
  for (int i = 0; i < 4; i++) b[off + i] = u8(v >> (24 - 8 * i));
}

std::string err_name(fdt_error e) { return fdt_strerror(e); }

// Every capacity and representation invariant a parsed boot_info must meet,
// whatever blob it came from; returns one line per violation.
std::string check_boot_info(const boot_info &bi) {
  std::string v;
  auto terminated = [](const char *s, size_t cap) { return std::memchr(s, 0, cap) != nullptr; };
  if (bi.nr_memory > FDT_MAX_MEMORY_RANGES) v += "nr_memory over capacity\n";
  if (bi.nr_reserved > FDT_MAX_RESERVED) v += "nr_reserved over capacity\n";
  if (bi.nr_cpus > FDT_MAX_CPUS) v += "nr_cpus over capacity\n";
  if (bi.nr_nodes < 1 || bi.nr_nodes > MAX_NUMNODES) v += "nr_nodes out of range\n";
  for (u32 i = 0; i < std::min<u32>(bi.nr_memory, FDT_MAX_MEMORY_RANGES); i++) {
    const auto &m = bi.memory[i];
    if (m.size == 0 || m.base + m.size - 1 < m.base) v += "memory range empty or wraps\n";
    if (m.nid >= bi.nr_nodes) v += "memory nid >= nr_nodes\n";
  }
  for (u32 i = 0; i < std::min<u32>(bi.nr_reserved, FDT_MAX_RESERVED); i++) {
    const auto &r = bi.reserved[i];
    if (r.size == 0 || r.base + r.size - 1 < r.base) v += "reserved range empty or wraps\n";
    if (!terminated(r.name, FDT_NAME_MAX)) v += "reserved name unterminated\n";
  }
  for (u32 i = 0; i < std::min<u32>(bi.nr_cpus, FDT_MAX_CPUS); i++) {
    if (!terminated(bi.cpus[i].isa, FDT_ISA_MAX)) v += "isa unterminated\n";
    if (bi.cpus[i].nid >= bi.nr_nodes) v += "cpu nid >= nr_nodes\n";
  }
  if (!terminated(bi.bootargs, FDT_BOOTARGS_MAX)) v += "bootargs unterminated\n";
  if (!terminated(bi.stdout_path, FDT_PATH_MAX)) v += "stdout_path unterminated\n";
  for (unsigned i = 0; i < MAX_NUMNODES; i++)
    for (unsigned j = 0; j < MAX_NUMNODES; j++) {
      u8 d = bi.distance[i][j];
      if (i == j ? d != LOCAL_DISTANCE : d <= LOCAL_DISTANCE) v += "bad distance\n";
    }
  return v;
}

// What a failed parse must leave behind: nothing.
std::string check_empty(const boot_info &bi) {
  std::string v;
  if (bi.nr_memory || bi.nr_reserved || bi.nr_cpus) v += "ranges or cpus left behind\n";
  if (bi.bootargs[0] || bi.stdout_path[0]) v += "strings left behind\n";
  if (bi.uart.present || bi.poweroff.present || bi.reboot.present || bi.plic.present ||
      bi.clint.present)
    v += "devices left behind\n";
  if (bi.nr_nodes != 1) v += "nr_nodes not 1\n";
  return v + check_boot_info(bi);
}

// ---------------------------------------------------------------------------
// An encoder written from the spec, independent of the parser.

class dt_builder {
 public:
  void memreserve(u64 addr, u64 size) { rsv_.push_back({addr, size}); }
  void begin(const std::string &name) {
    nop();
    put32(structure_, FDT_BEGIN_NODE);
    structure_.insert(structure_.end(), name.begin(), name.end());
    structure_.push_back(0);
    pad();
  }
  void end() {
    nop();
    put32(structure_, FDT_END_NODE);
  }
  void prop(const std::string &name, const bytes &value) {
    nop();
    put32(structure_, FDT_PROP);
    put32(structure_, u32(value.size()));
    put32(structure_, string_offset(name));
    structure_.insert(structure_.end(), value.begin(), value.end());
    pad();
  }
  void prop_cells(const std::string &name, const std::vector<u32> &cells) {
    bytes v;
    for (u32 c : cells) put32(v, c);
    prop(name, v);
  }
  void prop_str(const std::string &name, const std::string &s) {
    bytes v(s.begin(), s.end());
    v.push_back(0);
    prop(name, v);
  }
  // Before the n-th later token, puts an FDT_NOP if pattern[n % size] is set.
  void set_nops(std::vector<bool> pattern) { nops_ = std::move(pattern); }

  bytes finish(u32 version = 17) {
    put32(structure_, FDT_END);
    u32 hdr = version >= 17 ? FDT_V17_HEADER_SIZE : FDT_V16_HEADER_SIZE;
    bytes b(40, 0);  // v16 blobs keep 4 unused bytes: the rsvmap is 8-aligned
    u32 off_rsv = 40;
    for (auto [a, s] : rsv_) put64(b, a), put64(b, s);
    put64(b, 0), put64(b, 0);
    u32 off_struct = u32(b.size());
    b.insert(b.end(), structure_.begin(), structure_.end());
    u32 off_strings = u32(b.size());
    b.insert(b.end(), strings_.begin(), strings_.end());
    set_be32(b, 0, FDT_MAGIC);
    set_be32(b, 4, u32(b.size()));
    set_be32(b, 8, off_struct);
    set_be32(b, 12, off_strings);
    set_be32(b, 16, off_rsv);
    set_be32(b, 20, version);
    set_be32(b, 24, 16);
    set_be32(b, 28, 0);
    set_be32(b, 32, u32(strings_.size()));
    if (hdr == FDT_V17_HEADER_SIZE) set_be32(b, 36, u32(structure_.size()));
    return b;
  }

 private:
  static void put32(bytes &b, u32 v) {
    for (int i = 0; i < 4; i++) b.push_back(u8(v >> (24 - 8 * i)));
  }
  static void put64(bytes &b, u64 v) { put32(b, u32(v >> 32)), put32(b, u32(v)); }
  void pad() {
    while (structure_.size() % 4) structure_.push_back(0);
  }
  void nop() {
    if (!nops_.empty() && nops_[tokens_++ % nops_.size()]) put32(structure_, FDT_NOP);
  }
  u32 string_offset(const std::string &name) {
    auto it = offsets_.find(name);
    if (it != offsets_.end()) return it->second;
    u32 off = u32(strings_.size());
    strings_.insert(strings_.end(), name.begin(), name.end());
    strings_.push_back(0);
    offsets_[name] = off;
    return off;
  }

  bytes structure_, strings_;
  std::map<std::string, u32> offsets_;
  std::vector<std::pair<u64, u64>> rsv_;
  std::vector<bool> nops_;
  size_t tokens_ = 0;
};

// A number as `n` big-endian cells.
std::vector<u32> cells(u64 v, u32 n) {
  std::vector<u32> c;
  for (u32 i = n; i-- > 0;) c.push_back(u32(i >= 2 ? 0 : v >> (32 * i)));
  return c;
}

std::vector<u32> operator+(std::vector<u32> a, const std::vector<u32> &b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A minimal valid tree whose root holds what `fill` adds.
template <class F>
bytes tree(F fill) {
  dt_builder b;
  b.begin("");
  b.prop_cells("#address-cells", {2});
  b.prop_cells("#size-cells", {2});
  fill(b);
  b.end();
  return b.finish();
}

void memory_node(dt_builder &b, u64 base, u64 size, int nid = -1) {
  char name[64];
  std::snprintf(name, sizeof(name), "memory@%llx", (unsigned long long)base);
  b.begin(name);
  b.prop_str("device_type", "memory");
  if (nid >= 0) b.prop_cells("numa-node-id", {u32(nid)});
  b.prop_cells("reg", cells(base, 2) + cells(size, 2));
  b.end();
}

// ---------------------------------------------------------------------------
// Real blobs: QEMU virt shapes.

struct blob_fixture {
  bytes blob;
  parse_result r;
};

// Loads and parses a blob, failing the test with the reason if it cannot.
::testing::AssertionResult load_and_parse(const char *name, blob_fixture *f) {
  std::string why;
  f->blob = load_blob(name, &why);
  if (f->blob.empty()) return ::testing::AssertionFailure() << why;
  f->r = parse_guarded(f->blob);
  if (f->r.err != fdt_error::ok)
    return ::testing::AssertionFailure()
           << name << ": " << fdt_strerror(f->r.err) << " at offset " << f->r.diag.offset;
  return ::testing::AssertionSuccess();
}

constexpr u64 kVirtDramBase = 0x80000000;  // QEMU virt's memory map (hw/riscv/virt.c)

u64 total_memory(const boot_info &bi) {
  u64 t = 0;
  for (u32 i = 0; i < bi.nr_memory; i++) t += bi.memory[i].size;
  return t;
}

// What every QEMU virt machine has, whatever -m and -smp say.
void expect_virt_devices(const boot_info &bi, unsigned harts) {
  EXPECT_EQ(bi.nr_reserved, 0u);  // QEMU adds none; OpenSBI adds its own at boot
  ASSERT_EQ(bi.nr_cpus, harts);
  for (unsigned i = 0; i < harts; i++) {
    EXPECT_EQ(bi.cpus[i].hartid, i);
    EXPECT_TRUE(bi.cpus[i].enabled);
    EXPECT_EQ(std::string(bi.cpus[i].isa).rfind("rv64i", 0), 0u) << bi.cpus[i].isa;
  }
  EXPECT_EQ(bi.timebase_frequency, 10000000u);  // RISCV_ACLINT_DEFAULT_TIMEBASE_FREQ
  EXPECT_STREQ(bi.stdout_path, "/soc/serial@10000000");
  EXPECT_TRUE(bi.uart.present);
  EXPECT_EQ(bi.uart.base, 0x10000000u);
  EXPECT_EQ(bi.uart.size, 0x100u);
  EXPECT_EQ(bi.uart.reg_shift, 0u);
  EXPECT_EQ(bi.uart.reg_io_width, 1u);
  EXPECT_EQ(bi.uart.clock_frequency, 3686400u);
  // poweroff and reboot are syscon nodes pointing at the SiFive test device.
  EXPECT_TRUE(bi.poweroff.present);
  EXPECT_EQ(bi.poweroff.base, 0x100000u);
  EXPECT_EQ(bi.poweroff.offset, 0u);
  EXPECT_EQ(bi.poweroff.value, SIFIVE_TEST_PASS);
  EXPECT_TRUE(bi.sifive_test);
  EXPECT_TRUE(bi.reboot.present);
  EXPECT_EQ(bi.reboot.base, 0x100000u);
  EXPECT_EQ(bi.reboot.value, SIFIVE_TEST_RESET);
  EXPECT_TRUE(bi.plic.present);
  EXPECT_EQ(bi.plic.base, 0xc000000u);
  EXPECT_TRUE(bi.clint.present);
  EXPECT_EQ(bi.clint.base, 0x2000000u);
}

// One contiguous bank of mem_bytes at the DRAM base, on node 0.
void expect_single_bank(const boot_info &bi, u64 mem_bytes) {
  ASSERT_EQ(bi.nr_memory, 1u);
  EXPECT_EQ(bi.memory[0].base, kVirtDramBase);
  EXPECT_EQ(bi.memory[0].size, mem_bytes);
  EXPECT_EQ(bi.memory[0].nid, 0u);
  EXPECT_EQ(bi.nr_nodes, 1u);
}

// `-m 128M -smp 1` gives 128 MiB, one hart, no bootargs.
TEST(FdtQemu, Virt128M1Hart) {
  blob_fixture f;
  ASSERT_TRUE(load_and_parse("qemu-virt-128m-1hart.dtb", &f));
  const boot_info &bi = *f.r.bi;
  expect_single_bank(bi, 128 * SZ_1M);
  expect_virt_devices(bi, 1);
  EXPECT_STREQ(bi.bootargs, "");
}

// `-m 512M -smp 2 -append "ktest mm.check=1"` gives those bootargs.
TEST(FdtQemu, Virt512M2HartBootargs) {
  blob_fixture f;
  ASSERT_TRUE(load_and_parse("qemu-virt-512m-2hart-bootargs.dtb", &f));
  const boot_info &bi = *f.r.bi;
  expect_single_bank(bi, 512 * SZ_1M);
  expect_virt_devices(bi, 2);
  EXPECT_STREQ(bi.bootargs, "ktest mm.check=1");
}

// `-m 5G -smp 4`: 5 GiB in total, the part past 4 GiB included.
TEST(FdtQemu, Virt5G4Hart) {
  blob_fixture f;
  ASSERT_TRUE(load_and_parse("qemu-virt-5g-4hart.dtb", &f));
  const boot_info &bi = *f.r.bi;
  EXPECT_EQ(total_memory(bi), 5 * SZ_1G);
  u64 above_4g = 0;
  for (u32 i = 0; i < bi.nr_memory; i++) {
    u64 b = bi.memory[i].base, e = b + bi.memory[i].size;
    if (e > SZ_4G) above_4g += e - std::max(b, SZ_4G);
  }
  EXPECT_EQ(above_4g, 5 * SZ_1G - (SZ_4G - kVirtDramBase));
  expect_single_bank(bi, 5 * SZ_1G);
  expect_virt_devices(bi, 4);
}

// Two NUMA nodes of 512 MiB and two harts each, 20 apart.
TEST(FdtQemu, VirtNuma2x512M4Hart) {
  blob_fixture f;
  ASSERT_TRUE(load_and_parse("qemu-virt-numa-2x512m-4hart.dtb", &f));
  const boot_info &bi = *f.r.bi;
  ASSERT_EQ(bi.nr_memory, 2u);
  EXPECT_EQ(total_memory(bi), SZ_1G);
  for (u32 nid = 0; nid < 2; nid++) {
    u64 node_bytes = 0;
    for (u32 i = 0; i < bi.nr_memory; i++)
      if (bi.memory[i].nid == nid) node_bytes += bi.memory[i].size;
    EXPECT_EQ(node_bytes, 512 * SZ_1M) << "node " << nid;
  }
  EXPECT_EQ(bi.memory[0].base, kVirtDramBase);
  EXPECT_EQ(bi.memory[1].base, bi.memory[0].base + bi.memory[0].size);
  EXPECT_EQ(bi.nr_nodes, 2u);
  expect_virt_devices(bi, 4);
  for (u32 i = 0; i < 4; i++) EXPECT_EQ(bi.cpus[i].nid, i / 2) << "hart " << i;
  EXPECT_EQ(bi.distance[0][0], 10);
  EXPECT_EQ(bi.distance[1][1], 10);
  EXPECT_EQ(bi.distance[0][1], 20);
  EXPECT_EQ(bi.distance[1][0], 20);
}

// ---------------------------------------------------------------------------
// Real blobs: the hand-written shapes (expectations from their .dts).

struct range {
  u64 base, size;
  bool operator==(const range &) const = default;
};

// holes-resv.dts: every memory and reserved range comes out, nothing else.
TEST(FdtHandwritten, HolesAndReservations) {
  blob_fixture f;
  ASSERT_TRUE(load_and_parse("holes-resv.dtb", &f));
  const boot_info &bi = *f.r.bi;

  std::vector<range> mem;
  for (u32 i = 0; i < bi.nr_memory; i++) mem.push_back({bi.memory[i].base, bi.memory[i].size});
  std::vector<range> want_mem = {{0x80000000, 256 * SZ_1M},
                                 {0xc0000000, 128 * SZ_1M},
                                 {0x100000000, 128 * SZ_1M}};  // not the disabled node
  EXPECT_EQ(mem, want_mem);

  ASSERT_EQ(bi.nr_reserved, 3u);  // the reg-less pool and the disabled child are skipped
  EXPECT_TRUE(bi.reserved[0].rsvmap);
  EXPECT_EQ(range({bi.reserved[0].base, bi.reserved[0].size}), range({0x88000000, SZ_1M}));
  EXPECT_FALSE(bi.reserved[0].no_map);
  EXPECT_STREQ(bi.reserved[1].name, "mmode_resv@80000000");
  EXPECT_EQ(range({bi.reserved[1].base, bi.reserved[1].size}), range({0x80000000, 0x40000}));
  EXPECT_TRUE(bi.reserved[1].no_map);
  EXPECT_FALSE(bi.reserved[1].rsvmap);
  EXPECT_STREQ(bi.reserved[2].name, "framebuffer@8f000000");
  EXPECT_EQ(range({bi.reserved[2].base, bi.reserved[2].size}), range({0x8f000000, 0x800000}));
  EXPECT_FALSE(bi.reserved[2].no_map);

  EXPECT_STREQ(bi.bootargs, "console=ttyS0 mm.check=1");
  EXPECT_STREQ(bi.stdout_path, "serial0:115200n8");
  // The alias's target, not the first 16550 in the tree.
  EXPECT_TRUE(bi.uart.present);
  EXPECT_EQ(bi.uart.base, 0x10000000u);
  EXPECT_EQ(bi.uart.reg_shift, 2u);
  EXPECT_EQ(bi.uart.reg_io_width, 4u);
  EXPECT_EQ(bi.uart.clock_frequency, 24000000u);

  ASSERT_EQ(bi.nr_cpus, 2u);
  EXPECT_TRUE(bi.cpus[0].enabled);
  EXPECT_FALSE(bi.cpus[1].enabled);
  EXPECT_EQ(bi.cpus[1].hartid, 1u);
  const std::string isa =
      "rv64imafdch_zicbom_zicboz_zicsr_zifencei_zihintpause_zawrs_zba_zbb_zbc_zbs_sstc_svinval";
  EXPECT_EQ(std::string(bi.cpus[0].isa), isa.substr(0, FDT_ISA_MAX - 1));
  EXPECT_STREQ(bi.cpus[1].isa, "rv64imac");
  EXPECT_EQ(bi.timebase_frequency, 1000000u);

  // No syscon nodes: the SiFive test finisher is used directly.
  EXPECT_TRUE(bi.poweroff.present && bi.reboot.present && bi.sifive_test);
  EXPECT_EQ(bi.poweroff.base, 0x100000u);
  EXPECT_EQ(bi.poweroff.value, 0x5555u);
  EXPECT_EQ(bi.reboot.value, 0x7777u);
  EXPECT_EQ(sifive_test_fail_value(3), 0x33333u);
  EXPECT_EQ(bi.plic.base, 0xc000000u);
  EXPECT_EQ(bi.clint.base, 0x2000000u);
}

// cells-numa.dts: default and per-node cells, NUMA distances, syscon phandles.
TEST(FdtHandwritten, CellsAndNuma) {
  blob_fixture f;
  ASSERT_TRUE(load_and_parse("cells-numa.dtb", &f));
  const boot_info &bi = *f.r.bi;

  ASSERT_EQ(bi.nr_memory, 3u);
  for (u32 i = 0; i < 3; i++) {
    EXPECT_EQ(bi.memory[i].base, 0x80000000 + i * 0x10000000ull);
    EXPECT_EQ(bi.memory[i].size, 0x10000000u);
    EXPECT_EQ(bi.memory[i].nid, i);
  }
  EXPECT_EQ(bi.nr_nodes, 3u);

  std::vector<range> rsv, want_rsv = {{0x80200000, 0x1000},
                                      {0x80400000, 0x2000},
                                      {0x80000000, 0x40000},
                                      {0x90000000, 0x1000},
                                      {0x90010000, 0x1000}};
  for (u32 i = 0; i < bi.nr_reserved; i++)
    rsv.push_back({bi.reserved[i].base, bi.reserved[i].size});
  EXPECT_EQ(rsv, want_rsv);
  ASSERT_EQ(bi.nr_reserved, 5u);
  EXPECT_TRUE(bi.reserved[0].rsvmap && bi.reserved[1].rsvmap);
  EXPECT_TRUE(bi.reserved[2].no_map);
  EXPECT_STREQ(bi.reserved[3].name, "sbi-data@90000000");
  EXPECT_STREQ(bi.reserved[4].name, "sbi-data@90000000");
  EXPECT_FALSE(bi.reserved[3].no_map);

  // Given entries, their mirrors where not given, an override, defaults.
  EXPECT_EQ(bi.distance[0][1], 15);
  EXPECT_EQ(bi.distance[1][0], 15);
  EXPECT_EQ(bi.distance[0][2], 30);
  EXPECT_EQ(bi.distance[2][0], 35);
  EXPECT_EQ(bi.distance[1][2], 25);
  EXPECT_EQ(bi.distance[2][1], 25);
  EXPECT_EQ(bi.distance[2][2], 10);
  EXPECT_EQ(bi.distance[3][4], REMOTE_DISTANCE);

  ASSERT_EQ(bi.nr_cpus, 3u);
  for (u32 i = 0; i < 3; i++) {
    EXPECT_EQ(bi.cpus[i].hartid, 4 * i);
    EXPECT_EQ(bi.cpus[i].nid, i);
    EXPECT_TRUE(bi.cpus[i].enabled);
  }
  EXPECT_EQ(bi.timebase_frequency, 10000000u);

  EXPECT_TRUE(bi.poweroff.present);
  EXPECT_EQ(bi.poweroff.base, 0x100000u);
  EXPECT_EQ(bi.poweroff.offset, 4u);
  EXPECT_EQ(bi.poweroff.value, 0x5555u);
  EXPECT_FALSE(bi.sifive_test);  // a plain syscon takes no fail codes
  EXPECT_EQ(bi.reboot.offset, 8u);
  EXPECT_EQ(bi.reboot.value, 0x7777u);
  // The only 16550 sits behind a translating bus: not taken as physical.
  EXPECT_FALSE(bi.uart.present);
  EXPECT_FALSE(bi.plic.present || bi.clint.present);
}

// boot_info_print writes the memory map in the documented format.
TEST(FdtPrint, MemoryMapLines) {
  blob_fixture f;
  ASSERT_TRUE(load_and_parse("qemu-virt-512m-2hart-bootargs.dtb", &f));
  blob_fixture g;
  ASSERT_TRUE(load_and_parse("holes-resv.dtb", &g));
  log_buf_clear();
  boot_info_print(*f.r.bi);
  boot_info_print(*g.r.bi);
  std::string log(1 << 16, '\0');
  log.resize(log_buf_copy(log.data(), log.size()));
  for (const char *line : {
           "  memory  [0x0000000080000000-0x000000009fffffff] 512 MiB node 0\n",
           "  reserved[0x0000000080000000-0x000000008003ffff] mmode_resv@80000000 (no-map)\n",
           "  memory  [0x0000000100000000-0x0000000107ffffff] 128 MiB node 0\n",
           "bootargs \"ktest mm.check=1\"\n",
       })
    EXPECT_NE(log.find(line), std::string::npos) << "missing: " << line << "in:\n" << log;
}

// Every field of a boot_info as text, for comparisons (structs have padding).
std::string describe(const boot_info &bi) {
  std::string s;
  auto add = [&](const char *key, u64 v) { s += std::string(key) + "=" + std::to_string(v) + " "; };
  for (u32 i = 0; i < bi.nr_memory; i++)
    add("mem", bi.memory[i].base), add("size", bi.memory[i].size), add("nid", bi.memory[i].nid);
  for (u32 i = 0; i < bi.nr_reserved; i++) {
    const auto &r = bi.reserved[i];
    add("resv", r.base), add("size", r.size), add("nomap", r.no_map), add("rsvmap", r.rsvmap);
    s += r.name + std::string(" ");
  }
  for (u32 i = 0; i < bi.nr_cpus; i++) {
    const auto &c = bi.cpus[i];
    add("hart", c.hartid), add("nid", c.nid), add("on", c.enabled);
    s += c.isa + std::string(" ");
  }
  s += std::string(bi.bootargs) + "|" + bi.stdout_path + "|";
  add("timebase", bi.timebase_frequency);
  add("nodes", bi.nr_nodes);
  for (auto &row : bi.distance)
    for (u8 d : row) add("d", d);
  add("uart", bi.uart.present), add("base", bi.uart.base), add("size", bi.uart.size);
  add("shift", bi.uart.reg_shift), add("width", bi.uart.reg_io_width);
  add("clock", bi.uart.clock_frequency);
  for (const boot_syscon *sc : {&bi.poweroff, &bi.reboot})
    add("syscon", sc->present), add("base", sc->base), add("off", sc->offset),
        add("value", sc->value);
  add("sifive_test", bi.sifive_test);
  for (const boot_device *d : {&bi.plic, &bi.clint})
    add("dev", d->present), add("base", d->base), add("size", d->size);
  return s;
}

// The parser reads bytewise: a blob at any alignment parses the same.
TEST(FdtHandwritten, AnyAlignment) {
  std::string why;
  bytes b = load_blob("holes-resv.dtb", &why);
  ASSERT_FALSE(b.empty()) << why;
  auto ref = std::make_unique<boot_info>(), bi = std::make_unique<boot_info>();
  ASSERT_EQ(fdt_parse(b.data(), b.size(), ref.get(), nullptr), fdt_error::ok);
  for (size_t shift = 1; shift < 8; shift++) {
    bytes shifted(shift, 0xee);
    shifted.insert(shifted.end(), b.begin(), b.end());
    ASSERT_EQ(fdt_parse(shifted.data() + shift, b.size(), bi.get(), nullptr), fdt_error::ok);
    EXPECT_EQ(describe(*ref), describe(*bi)) << "shift " << shift;
  }
}

// ---------------------------------------------------------------------------
// Specific malformations get their specific error, at the right place.

struct bad_case {
  const char *what;
  bytes blob;
  fdt_error want;
  long offset;  // -1: anywhere inside
};

// A valid tree: the root and one memory node.
bytes small_tree() {
  return tree([](dt_builder &b) { memory_node(b, 0x80000000, SZ_128M); });
}

std::vector<bad_case> bad_cases() {
  std::vector<bad_case> v;
  bytes ok = small_tree();
  const u32 off_struct = get_be32(ok, 8), off_strings = get_be32(ok, 12);

  auto with = [&](size_t off, u32 val) {
    bytes b = ok;
    set_be32(b, off, val);
    return b;
  };
  v.push_back({"bad magic", with(0, 0xfeedd00d), fdt_error::bad_magic, 0});
  v.push_back({"version 15", with(20, 15), fdt_error::bad_version, 20});
  v.push_back({"last_comp_version 18", with(24, 18), fdt_error::bad_version, 24});
  v.push_back({"totalsize past max_size", with(4, u32(ok.size() + 1)), fdt_error::truncated, 4});
  v.push_back({"totalsize under header", with(4, 39), fdt_error::bad_header, 4});
  v.push_back({"struct outside blob", with(8, u32(ok.size() + 4)), fdt_error::bad_header, 8});
  v.push_back({"struct over header", with(8, 16), fdt_error::bad_header, 8});
  v.push_back({"struct misaligned", with(8, off_struct + 2), fdt_error::bad_header, 8});
  v.push_back({"struct size too big", with(36, u32(ok.size())), fdt_error::bad_header, 36});
  v.push_back({"struct size too small", with(36, 12), fdt_error::bad_header, 36});
  v.push_back({"strings outside blob", with(12, u32(ok.size() + 1)), fdt_error::bad_header, 12});
  v.push_back({"strings size too big", with(32, u32(ok.size() - off_strings + 1)),
               fdt_error::bad_header, 32});
  v.push_back({"rsvmap misaligned", with(16, 44), fdt_error::bad_header, 16});
  v.push_back({"rsvmap at the end", with(16, u32(ok.size() & ~7u)), fdt_error::bad_header, 16});
  v.push_back({"unknown token", with(off_struct, 7), fdt_error::bad_token, off_struct});
  v.push_back({"no root node", with(off_struct, FDT_END), fdt_error::bad_structure, off_struct});
  v.push_back({"property outside a node", with(off_struct, FDT_PROP), fdt_error::bad_structure,
               off_struct});
  v.push_back(
      {"END_NODE first", with(off_struct, FDT_END_NODE), fdt_error::bad_structure, off_struct});
  // The first property is #address-cells: token, len, nameoff at off_struct + 8.
  v.push_back({"value past the block", with(off_struct + 12, 0x10000), fdt_error::bad_property,
               off_struct + 8});
  v.push_back({"name offset outside strings", with(off_struct + 16, 0x1000), fdt_error::bad_string,
               off_struct + 8});
  {
    bytes b = ok;  // the strings block without its final NUL
    set_be32(b, 32, get_be32(ok, 32) - 1);
    v.push_back({"unterminated last string", b, fdt_error::bad_string, -1});
  }
  {
    bytes b = ok;  // drop FDT_END: the struct block ends after the root's END_NODE
    set_be32(b, 36, get_be32(ok, 36) - 4);
    v.push_back({"no FDT_END", b, fdt_error::bad_structure, -1});
  }
  {
    // A reservation block moved to the end of the blob, with no terminator.
    bytes b = ok;
    b.resize(ALIGN_UP(b.size(), 8));
    u32 at = u32(b.size());
    b.resize(b.size() + 16, 0);
    b[at + 15] = 1;
    set_be32(b, 4, u32(b.size()));
    set_be32(b, 16, at);
    v.push_back({"rsvmap unterminated", b, fdt_error::bad_rsvmap, at});
  }
  v.push_back({"rsvmap entry wraps",
               [] {
                 dt_builder b;
                 b.memreserve(~0ull - 10, 100);
                 b.begin("");
                 b.end();
                 return b.finish();
               }(),
               fdt_error::bad_rsvmap, 40});
  {
    // The root (8 bytes) and its two cell properties (16 each) come first;
    // end the block ten bytes into the next node's name.
    bytes b = tree([](dt_builder &t) {
      t.begin(std::string(64, 'x'));
      t.end();
    });
    set_be32(b, 36, 40 + 4 + 10);
    v.push_back({"node name runs off the block", b, fdt_error::bad_name, get_be32(b, 8) + 40});
  }
  v.push_back({"property after a subnode", tree([](dt_builder &b) {
                 b.begin("a");
                 b.end();
                 b.prop_cells("late", {1});
               }),
               fdt_error::bad_structure, -1});
  v.push_back({"33 nested nodes", tree([](dt_builder &b) {
                 for (int i = 0; i < FDT_MAX_DEPTH; i++) b.begin("n");
                 for (int i = 0; i < FDT_MAX_DEPTH; i++) b.end();
               }),
               fdt_error::too_deep, -1});
  v.push_back({"#address-cells of 5", tree([](dt_builder &b) {
                 b.begin("bus");
                 b.prop_cells("#address-cells", {5});
                 b.end();
               }),
               fdt_error::bad_cells, -1});
  v.push_back({"reg not whole entries", tree([](dt_builder &b) {
                 b.begin("memory@0");
                 b.prop_str("device_type", "memory");
                 b.prop_cells("reg", {0, 0x80000000, 0, 0x1000, 7});
                 b.end();
               }),
               fdt_error::bad_reg, -1});
  v.push_back({"memory wraps around",
               tree([](dt_builder &b) { memory_node(b, 0xfffffffffffff000ull, 0x2000); }),
               fdt_error::bad_reg, -1});
  v.push_back({"numa-node-id 8",
               tree([](dt_builder &b) { memory_node(b, 0x80000000, 0x1000, MAX_NUMNODES); }),
               fdt_error::bad_numa_node, -1});
  v.push_back({"distance to itself not 10", tree([](dt_builder &b) {
                 b.begin("distance-map");
                 b.prop_str("compatible", "numa-distance-map-v1");
                 b.prop_cells("distance-matrix", {0, 1, 20, 1, 1, 11});
                 b.end();
               }),
               fdt_error::bad_distance, -1});
  v.push_back({"distance matrix not triples", tree([](dt_builder &b) {
                 b.begin("distance-map");
                 b.prop_str("compatible", "numa-distance-map-v1");
                 b.prop_cells("distance-matrix", {0, 1});
                 b.end();
               }),
               fdt_error::bad_distance, -1});
  v.push_back({"dangling regmap", tree([](dt_builder &b) {
                 b.begin("poweroff");
                 b.prop_str("compatible", "syscon-poweroff");
                 b.prop_cells("regmap", {42});
                 b.prop_cells("value", {0x5555});
                 b.end();
               }),
               fdt_error::bad_phandle, -1});
  v.push_back({"bootargs of 1024 bytes", tree([](dt_builder &b) {
                 b.begin("chosen");
                 b.prop_str("bootargs", std::string(FDT_BOOTARGS_MAX, 'a'));
                 b.end();
               }),
               fdt_error::bootargs_too_long, -1});
  v.push_back({"bootargs unterminated", tree([](dt_builder &b) {
                 b.begin("chosen");
                 b.prop("bootargs", {'a', 'b'});
                 b.end();
               }),
               fdt_error::bad_value, -1});
  v.push_back({"stdout-path of 256 bytes", tree([](dt_builder &b) {
                 b.begin("chosen");
                 b.prop_str("stdout-path", "/" + std::string(FDT_PATH_MAX - 1, 's'));
                 b.end();
               }),
               fdt_error::path_too_long, -1});
  v.push_back({"reserved name of 64 bytes", tree([](dt_builder &b) {
                 b.begin("reserved-memory");
                 b.prop_cells("#address-cells", {2});
                 b.prop_cells("#size-cells", {2});
                 b.prop("ranges", {});
                 b.begin(std::string(FDT_NAME_MAX, 'r'));
                 b.prop_cells("reg", {0, 0x80000000, 0, 0x1000});
                 b.end();
                 b.end();
               }),
               fdt_error::name_too_long, -1});
  v.push_back({"65 memory ranges", tree([](dt_builder &b) {
                 for (u64 i = 0; i <= FDT_MAX_MEMORY_RANGES; i++)
                   memory_node(b, 0x80000000 + i * SZ_1M, SZ_1M);
               }),
               fdt_error::too_many_memory_ranges, -1});
  v.push_back({"65 reservations",
               [] {
                 dt_builder b;
                 for (u64 i = 0; i <= FDT_MAX_RESERVED; i++) b.memreserve(i * SZ_4K, SZ_4K);
                 b.begin("");
                 b.end();
                 return b.finish();
               }(),
               fdt_error::too_many_reserved, -1});
  v.push_back({"33 cpus", tree([](dt_builder &b) {
                 b.begin("cpus");
                 b.prop_cells("#address-cells", {1});
                 b.prop_cells("#size-cells", {0});
                 for (u32 i = 0; i <= FDT_MAX_CPUS; i++) {
                   b.begin("cpu@" + std::to_string(i));
                   b.prop_str("device_type", "cpu");
                   b.prop_cells("reg", {i});
                   b.end();
                 }
                 b.end();
               }),
               fdt_error::too_many_cpus, -1});
  v.push_back({"cpu without reg", tree([](dt_builder &b) {
                 b.begin("cpus");
                 b.begin("cpu@0");
                 b.prop_str("device_type", "cpu");
                 b.end();
                 b.end();
               }),
               fdt_error::bad_reg, -1});
  return v;
}

// Each malformation yields its own error, an offset inside the blob, a
// message, and an empty boot_info.
TEST(FdtErrors, EachMalformationHasItsError) {
  ASSERT_EQ(parse_guarded(small_tree()).err, fdt_error::ok);
  std::set<std::string> seen;
  for (auto &c : bad_cases()) {
    parse_result r = parse_guarded(c.blob);
    EXPECT_EQ(err_name(r.err), err_name(c.want)) << c.what;
    EXPECT_EQ(r.diag.err, r.err) << c.what;
    if (c.offset >= 0) {
      EXPECT_EQ(r.diag.offset, u32(c.offset)) << c.what;
    }
    EXPECT_LT(r.diag.offset, c.blob.size()) << c.what;
    EXPECT_EQ(check_empty(*r.bi), "") << c.what;
    seen.insert(err_name(r.err));
  }
  EXPECT_EQ(seen.size(), size_t(fdt_error::name_too_long));  // every error but ok is reachable
  std::set<std::string> messages;
  for (int e = 0; e <= int(fdt_error::name_too_long); e++)
    messages.insert(fdt_strerror(fdt_error(e)));
  EXPECT_EQ(messages.size(), size_t(fdt_error::name_too_long) + 1);  // distinct messages
}

// Every capacity is usable to the last slot: one below each failing case parses.
TEST(FdtErrors, CapacitiesAreExact) {
  auto parsed = [](const bytes &b) { return parse_guarded(b); };
  parse_result r = parsed(tree([](dt_builder &b) {
    for (u64 i = 0; i < FDT_MAX_MEMORY_RANGES; i++) memory_node(b, 0x80000000 + i * SZ_1M, SZ_1M);
    b.begin("chosen");
    b.prop_str("bootargs", std::string(FDT_BOOTARGS_MAX - 1, 'a'));
    b.end();
    for (int i = 0; i < FDT_MAX_DEPTH - 1; i++) b.begin("n");
    for (int i = 0; i < FDT_MAX_DEPTH - 1; i++) b.end();
  }));
  ASSERT_EQ(err_name(r.err), err_name(fdt_error::ok));
  EXPECT_EQ(r.bi->nr_memory, FDT_MAX_MEMORY_RANGES);
  EXPECT_EQ(std::strlen(r.bi->bootargs), FDT_BOOTARGS_MAX - 1);
  EXPECT_EQ(check_boot_info(*r.bi), "");
}

// Too little memory for even the header is an error, never a read.
TEST(FdtErrors, TinyMaxSize) {
  bytes b = small_tree();
  auto bi = std::make_unique<boot_info>();
  fdt_diag d;
  EXPECT_EQ(fdt_parse(nullptr, 0, bi.get(), &d), fdt_error::truncated);
  for (size_t n = 1; n < 48; n++) EXPECT_NE(parse_guarded(b, n).err, fdt_error::ok) << n;
}

// ---------------------------------------------------------------------------
// Generated trees round-trip through the encoder and the parser.

struct gen_range {
  u64 base, size;
};

// A range that fits the cells and does not wrap; sometimes empty.
gen_range gen_fitting_range(u32 ac, u32 sc) {
  u64 amax = ac == 1 ? 0xffffffffull : ~0ull;
  u64 smax = sc == 1 ? 0xffffffffull : ~0ull;
  u64 base = *rc::gen::oneOf(rc::gen::inRange<u64>(0, 1 << 20), rc::gen::just(u64(0x80000000)),
                             rc::gen::arbitrary<u64>()) &
             amax;
  u64 room = ~0ull - base + 1;  // sizes up to here do not wrap (0 means 2^64)
  u64 size = *rc::gen::oneOf(rc::gen::just(u64(0)), rc::gen::inRange<u64>(1, 1 << 20),
                             rc::gen::arbitrary<u64>()) &
             smax;
  if (room && size > room) size = room;
  return {base, size};
}

std::vector<u32> reg_of(const std::vector<gen_range> &rs, u32 ac, u32 sc) {
  std::vector<u32> v;
  for (auto r : rs) v = v + cells(r.base, ac) + cells(r.size, sc);
  return v;
}

// Any tree the encoder writes parses back to the memory, reservations, cpus
// and bootargs that were put in, whatever the cell sizes, node order, NOPs
// and header version.
RC_GTEST_PROP(FdtGen, RandomTreesRoundTrip, ()) {
  const std::vector<std::pair<u32, u32>> cell_choices = {{2, 1}, {1, 1}, {1, 2}, {2, 2}};
  bool default_cells = *rc::gen::arbitrary<bool>();
  auto [ac, sc] = default_cells ? std::pair<u32, u32>{2, 1} : *rc::gen::elementOf(cell_choices);
  auto [rac, rsc] = *rc::gen::elementOf(cell_choices);

  struct mem_node {
    std::vector<gen_range> regs;
    int nid;
  };
  struct resv_node {
    std::vector<gen_range> regs;
    bool no_map;
  };
  struct cpu {
    u32 hartid;
    int nid;
    int status;  // 0 absent, 1 okay, 2 disabled
    std::string isa;
  };
  std::vector<mem_node> mems(*rc::gen::inRange(0, 6));
  for (auto &m : mems) {
    m.regs.resize(*rc::gen::inRange(1, 4));
    for (auto &r : m.regs) r = gen_fitting_range(ac, sc);
    m.nid = *rc::gen::inRange<int>(-1, MAX_NUMNODES);
  }
  std::vector<gen_range> rsvmap(*rc::gen::inRange(0, 4));
  for (auto &r : rsvmap) {
    r = gen_fitting_range(2, 2);
    if (r.size == 0) r.size = 1;  // a zero size would end the block
  }
  std::vector<resv_node> resvs(*rc::gen::inRange(0, 5));
  for (auto &r : resvs) {
    r.regs.resize(*rc::gen::inRange(1, 3));
    for (auto &g : r.regs) g = gen_fitting_range(rac, rsc);
    r.no_map = *rc::gen::arbitrary<bool>();
  }
  std::vector<cpu> cpus(*rc::gen::inRange(0, 9));
  for (auto &c : cpus) {
    c.hartid = *rc::gen::arbitrary<u32>();
    c.nid = *rc::gen::inRange<int>(-1, MAX_NUMNODES);
    c.status = *rc::gen::inRange(0, 3);
    c.isa = *rc::gen::container<std::string>(*rc::gen::inRange(0, 100),
                                             rc::gen::inRange<char>('a', 'z' + 1));
  }
  bool has_bootargs = *rc::gen::arbitrary<bool>();
  std::string bootargs = *rc::gen::container<std::string>(*rc::gen::inRange(0, 300),
                                                          rc::gen::inRange<char>(' ', '~' + 1));

  dt_builder b;
  b.set_nops(
      *rc::gen::container<std::vector<bool>>(*rc::gen::inRange(0, 8), rc::gen::arbitrary<bool>()));
  for (auto r : rsvmap) b.memreserve(r.base, r.size);
  b.begin("");
  if (!default_cells) {
    b.prop_cells("#address-cells", {ac});
    b.prop_cells("#size-cells", {sc});
  }
  // The four kinds of root children, in a random order.
  std::vector<int> order = {0, 1, 2, 3};
  std::vector<int> keys = *rc::gen::container<std::vector<int>>(4, rc::gen::arbitrary<int>());
  std::stable_sort(order.begin(), order.end(), [&](int x, int y) { return keys[x] < keys[y]; });
  for (int part : order) {
    if (part == 0) {
      for (size_t i = 0; i < mems.size(); i++) {
        b.begin("memory@" + std::to_string(i));
        b.prop_str("device_type", "memory");
        if (mems[i].nid >= 0) b.prop_cells("numa-node-id", {u32(mems[i].nid)});
        b.prop_cells("reg", reg_of(mems[i].regs, ac, sc));
        b.end();
      }
    } else if (part == 1) {
      b.begin("reserved-memory");
      b.prop_cells("#address-cells", {rac});
      b.prop_cells("#size-cells", {rsc});
      b.prop("ranges", {});
      for (size_t i = 0; i < resvs.size(); i++) {
        b.begin("resv" + std::to_string(i) + "@0");
        b.prop_cells("reg", reg_of(resvs[i].regs, rac, rsc));
        if (resvs[i].no_map) b.prop("no-map", {});
        b.end();
      }
      b.end();
    } else if (part == 2) {
      b.begin("cpus");
      b.prop_cells("#address-cells", {1});
      b.prop_cells("#size-cells", {0});
      for (size_t i = 0; i < cpus.size(); i++) {
        b.begin("cpu@" + std::to_string(i));
        b.prop_str("device_type", "cpu");
        b.prop_cells("reg", {cpus[i].hartid});
        if (cpus[i].status) b.prop_str("status", cpus[i].status == 1 ? "okay" : "disabled");
        if (cpus[i].nid >= 0) b.prop_cells("numa-node-id", {u32(cpus[i].nid)});
        b.prop_str("riscv,isa", cpus[i].isa);
        b.end();
      }
      b.end();
    } else {
      b.begin("chosen");
      if (has_bootargs) b.prop_str("bootargs", bootargs);
      b.end();
    }
  }
  b.end();
  bytes blob = b.finish(*rc::gen::element(u32(16), u32(17)));

  parse_result r = parse_guarded(blob, blob.size(), *rc::gen::arbitrary<bool>());
  RC_ASSERT(err_name(r.err) == err_name(fdt_error::ok));
  const boot_info &bi = *r.bi;
  RC_ASSERT(check_boot_info(bi) == "");

  u32 max_nid = 0, i = 0;
  for (auto &m : mems) {
    u32 nid = m.nid < 0 ? 0 : u32(m.nid);
    for (auto g : m.regs) {
      if (!g.size) continue;
      RC_ASSERT(i < bi.nr_memory);
      RC_ASSERT(bi.memory[i].base == g.base);
      RC_ASSERT(bi.memory[i].size == g.size);
      RC_ASSERT(bi.memory[i].nid == nid);
      i++;
    }
    max_nid = std::max(max_nid, nid);
  }
  RC_ASSERT(bi.nr_memory == i);

  i = 0;
  for (auto g : rsvmap) {
    RC_ASSERT(i < bi.nr_reserved);
    RC_ASSERT(bi.reserved[i].rsvmap && bi.reserved[i].base == g.base &&
              bi.reserved[i].size == g.size);
    i++;
  }
  for (size_t n = 0; n < resvs.size(); n++)
    for (auto g : resvs[n].regs) {
      if (!g.size) continue;
      RC_ASSERT(i < bi.nr_reserved);
      const boot_resv_range &got = bi.reserved[i++];
      RC_ASSERT(!got.rsvmap && got.base == g.base && got.size == g.size);
      RC_ASSERT(got.no_map == resvs[n].no_map);
      RC_ASSERT(std::string(got.name) == "resv" + std::to_string(n) + "@0");
    }
  RC_ASSERT(bi.nr_reserved == i);

  RC_ASSERT(bi.nr_cpus == cpus.size());
  for (size_t n = 0; n < cpus.size(); n++) {
    u32 nid = cpus[n].nid < 0 ? 0 : u32(cpus[n].nid);
    max_nid = std::max(max_nid, nid);
    RC_ASSERT(bi.cpus[n].hartid == cpus[n].hartid);
    RC_ASSERT(bi.cpus[n].nid == nid);
    RC_ASSERT(bi.cpus[n].enabled == (cpus[n].status != 2));
    RC_ASSERT(std::string(bi.cpus[n].isa) == cpus[n].isa.substr(0, FDT_ISA_MAX - 1));
  }
  RC_ASSERT(bi.nr_nodes == max_nid + 1);
  RC_ASSERT(std::string(bi.bootargs) == (has_bootargs ? bootargs : ""));
}

// ---------------------------------------------------------------------------
// Corrupted blobs.

std::vector<bytes> real_blobs(std::string *why) {
  std::vector<bytes> v;
  for (const char *name : kBlobNames) {
    bytes b = load_blob(name, why);
    if (b.empty()) return {};
    v.push_back(std::move(b));
  }
  return v;
}

// The same v17 blob with its strings block before its structure block, as
// the spec allows: a cut at the end then lands in nodes and properties.
bytes struct_last(const bytes &b) {
  u32 off_struct = get_be32(b, 8), size_struct = get_be32(b, 36);
  u32 off_strings = get_be32(b, 12), size_strings = get_be32(b, 32);
  // The header and reservation block come first in dtc's layout: keep them.
  bytes out(b.begin(), b.begin() + std::min(off_struct, off_strings));
  set_be32(out, 12, u32(out.size()));
  out.insert(out.end(), b.begin() + off_strings, b.begin() + off_strings + size_strings);
  while (out.size() % 4) out.push_back(0);
  set_be32(out, 8, u32(out.size()));
  out.insert(out.end(), b.begin() + off_struct, b.begin() + off_struct + size_struct);
  set_be32(out, 4, u32(out.size()));
  return out;
}

// The order of the blocks is the blob's business: moving the strings block
// before the structure block changes nothing parsed.
TEST(FdtLayout, StringsBeforeStructure) {
  std::string why;
  std::vector<bytes> blobs = real_blobs(&why);
  ASSERT_FALSE(blobs.empty()) << why;
  for (size_t i = 0; i < blobs.size(); i++) {
    bytes moved = struct_last(blobs[i]);
    ASSERT_LT(get_be32(moved, 12), get_be32(moved, 8));
    parse_result a = parse_guarded(blobs[i]), b = parse_guarded(moved);
    ASSERT_EQ(err_name(a.err), err_name(fdt_error::ok)) << kBlobNames[i];
    ASSERT_EQ(err_name(b.err), err_name(fdt_error::ok)) << kBlobNames[i];
    EXPECT_EQ(describe(*a.bi), describe(*b.bi)) << kBlobNames[i];
  }
}

const std::vector<bytes> &corpus() {
  static std::string why;
  static const std::vector<bytes> blobs = [] {
    std::vector<bytes> v = real_blobs(&why);
    if (v.empty()) return v;
    v.push_back(small_tree());
    for (size_t i = 0, n = v.size(); i < n; i++) v.push_back(struct_last(v[i]));
    return v;
  }();
  if (blobs.empty()) RC_FAIL("no test blobs: " + why);
  return blobs;
}

// Cuts the blob short and shrinks the header to match, so that the cut
// passes the header checks and lands inside a node, property or string.
void cut_consistently(bytes &b) {
  u32 len = *rc::gen::inRange<u32>(FDT_V17_HEADER_SIZE, u32(b.size()) + 1);
  b.resize(len);
  set_be32(b, 4, len);
  for (auto [off_field, size_field] : {std::pair<size_t, size_t>{8, 36}, {12, 32}}) {
    u32 off = std::min(get_be32(b, off_field), len);
    set_be32(b, off_field, off);
    set_be32(b, size_field, std::min(get_be32(b, size_field), len - off));
  }
}

// Applies one random corruption: a bit flip, a byte overwrite, a header field
// set to a boundary value, a structure-block word set to a token-like one, a
// span of bytes without NULs, or a consistent cut.
void corrupt(bytes &b) {
  size_t n = b.size();
  switch (*rc::gen::inRange(0, 6)) {
    case 0:
      b[*rc::gen::inRange<size_t>(0, n)] ^= u8(1u << *rc::gen::inRange(0, 8));
      break;
    case 1:
      b[*rc::gen::inRange<size_t>(0, n)] = *rc::gen::arbitrary<u8>();
      break;
    case 2: {
      size_t field = 4 * *rc::gen::inRange(0, 10);
      u32 total = get_be32(b, 4);
      u32 v = *rc::gen::oneOf(
          rc::gen::element<u32>(0, 1, 4, 8, 15, 16, 17, 18, 36, 40, 0x7fffffff, 0xfffffffc,
                                0xffffffff, total, total - 1, total + 1, u32(n)),
          rc::gen::inRange<u32>(0, u32(n) + 64), rc::gen::arbitrary<u32>());
      set_be32(b, field, v);
      break;
    }
    case 3: {
      u64 st = get_be32(b, 8), end = std::min<u64>(n, st + get_be32(b, 36));
      if (st % 4 || st + 4 > end) break;
      size_t at = st + 4 * *rc::gen::inRange<u64>(0, (end - st) / 4);
      u32 v = *rc::gen::oneOf(rc::gen::element<u32>(0, 1, 2, 3, 4, 9, 0xffffffff, 0x7ffffffc),
                              rc::gen::inRange<u32>(0, 0x200), rc::gen::arbitrary<u32>());
      set_be32(b, at, v);
      break;
    }
    case 4: {
      size_t at = *rc::gen::inRange<size_t>(0, n);
      size_t len = std::min(n - at, *rc::gen::inRange<size_t>(1, 64));
      std::memset(b.data() + at, *rc::gen::inRange<int>(1, 256), len);
      break;
    }
    case 5:
      cut_consistently(b);
      break;
  }
}

// A corrupted blob never makes the parser read outside [blob, blob+max_size)
// (the guard pages would fault); it parses to a boot_info within capacities
// or fails with an offset inside the blob and leaves an empty boot_info; and
// a max_size below the header's totalsize is always an error.
RC_GTEST_PROP(FdtFuzz, CorruptedBlobsFailCleanly, ()) {
  const auto &blobs = corpus();
  bytes b = blobs[*rc::gen::inRange<size_t>(0, blobs.size())];
  int mutations = *rc::gen::inRange(0, 6);
  for (int i = 0; i < mutations; i++) corrupt(b);
  size_t max_size = *rc::gen::oneOf(rc::gen::just(b.size()), rc::gen::inRange<size_t>(1, b.size()));
  bool at_start = *rc::gen::arbitrary<bool>();

  parse_result r = parse_guarded(b, max_size, at_start);
  RC_CLASSIFY(r.err == fdt_error::ok, "parsed");
  if (r.err == fdt_error::ok) {
    RC_ASSERT(check_boot_info(*r.bi) == "");
  } else {
    RC_ASSERT(r.diag.err == r.err);
    RC_ASSERT(r.diag.offset < max_size);
    RC_ASSERT(std::strlen(fdt_strerror(r.err)) > 0);
    RC_ASSERT(check_empty(*r.bi) == "");
  }
  if (max_size >= 8 && max_size < get_be32(b, 4)) RC_ASSERT(r.err != fdt_error::ok);
}

// A blob cut anywhere with its header shrunk to match (so the cut passes the
// header checks and lands inside a node name, property or string at the very
// end of the buffer) never makes the parser read past the end.
RC_GTEST_PROP(FdtFuzz, ConsistentlyCutBlobsStayInBounds, ()) {
  const auto &blobs = corpus();
  bytes b = blobs[*rc::gen::inRange<size_t>(0, blobs.size())];
  cut_consistently(b);
  parse_result r = parse_guarded(b);
  if (r.err == fdt_error::ok) {
    RC_ASSERT(check_boot_info(*r.bi) == "");
  } else {
    RC_ASSERT(r.diag.offset < b.size());
    RC_ASSERT(check_empty(*r.bi) == "");
  }
}

// An intact blob cut anywhere short of its totalsize is always an error.
RC_GTEST_PROP(FdtFuzz, TruncatedBlobIsAnError, ()) {
  const auto &blobs = corpus();
  const bytes &b = blobs[*rc::gen::inRange<size_t>(0, blobs.size())];
  size_t max_size = *rc::gen::inRange<size_t>(0, b.size());
  parse_result r = parse_guarded(b, max_size, *rc::gen::arbitrary<bool>());
  RC_ASSERT(r.err != fdt_error::ok);
  RC_ASSERT(check_empty(*r.bi) == "");
}

}  // namespace
