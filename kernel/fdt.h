// Flattened device tree (FDT, "DTB") reader, written from the Devicetree
// Specification v0.4, chapter 5.
//
// Two layers:
//   - a low-level one (fdt_open, fdt_next_token, fdt_walk_*, fdt_getprop) that
//     checks the blob and iterates its nodes and properties;
//   - fdt_parse(), which copies what the kernel needs into a self-contained
//     struct boot_info.
//
// Invariants:
//   - Nothing is ever read outside [blob, blob + max_size), however corrupt
//     the blob: every read is bounds-checked against the block it belongs to,
//     and fdt_open() has checked that each block lies inside totalsize, which
//     lies inside max_size. Reads are bytewise, so the blob needs no alignment.
//   - Every error is an fdt_error plus the byte offset (from the start of the
//     blob, always < max_size) of the header field, token or reservation
//     entry at which it was found.
//   - boot_info holds copies only, never pointers into the blob: the blob's
//     virtual address changes when paging is turned on. Its arrays have fixed
//     capacities; exceeding one is an error, never a silent truncation (except
//     the informational riscv,isa string, which is cut to FDT_ISA_MAX - 1).
//   - Freestanding: no allocation, no C++ library, under 2 KiB of stack
//     (fdt_parse, riscv64 -O2), so it can run before paging is set up.
#pragma once

#include "kernel/numa.h"
#include "kernel/types.h"

constexpr u32 FDT_MAGIC = 0xd00dfeed;
constexpr u32 FDT_BEGIN_NODE = 1;
constexpr u32 FDT_END_NODE = 2;
constexpr u32 FDT_PROP = 3;
constexpr u32 FDT_NOP = 4;
constexpr u32 FDT_END = 9;

constexpr u32 FDT_V16_HEADER_SIZE = 36;  // version 16 has no size_dt_struct
constexpr u32 FDT_V17_HEADER_SIZE = 40;
constexpr u32 FDT_LAST_SUPPORTED_VERSION = 17;
constexpr int FDT_MAX_DEPTH = 32;        // nodes open at once, root included
constexpr u32 FDT_MAX_NCELLS = 4;        // largest #address-cells/#size-cells accepted
constexpr u32 FDT_NO_NODE = 0xffffffff;  // "no such node" where an offset is returned

// Capacities of struct boot_info.
constexpr unsigned FDT_MAX_MEMORY_RANGES = 64;
constexpr unsigned FDT_MAX_RESERVED = 64;
constexpr unsigned FDT_MAX_CPUS = 32;
constexpr unsigned FDT_BOOTARGS_MAX = 1024;  // bytes, with the terminating NUL
constexpr unsigned FDT_PATH_MAX = 256;       // stdout-path, with the NUL
constexpr unsigned FDT_NAME_MAX = 64;        // reserved-memory node names, with the NUL
constexpr unsigned FDT_ISA_MAX = 64;         // riscv,isa, truncated to fit

enum class fdt_error : u8 {
  ok = 0,
  truncated,      // max_size cannot hold the header or totalsize
  bad_magic,      // not a device tree
  bad_version,    // version < 16 or last_comp_version > 17
  bad_header,     // a block outside totalsize, over the header, or misaligned
  bad_rsvmap,     // reservation block unterminated, or an entry wraps around
  bad_token,      // unknown token in the structure block
  bad_structure,  // not one well-nested root followed by FDT_END
  bad_name,       // node name not NUL-terminated inside the structure block
  bad_string,     // property name offset or string outside the strings block
  bad_property,   // property value runs past the structure block
  too_deep,       // more than FDT_MAX_DEPTH nested nodes
  bad_cells,      // #address-cells/#size-cells malformed or unusable
  bad_reg,        // reg length not whole entries, or a range wraps around
  bad_value,      // property of the wrong length, or string not terminated
  bad_phandle,    // a phandle reference to no node
  bad_numa_node,  // numa-node-id >= MAX_NUMNODES
  bad_distance,   // malformed distance-matrix entry
  too_many_memory_ranges,
  too_many_reserved,
  too_many_cpus,
  bootargs_too_long,
  path_too_long,
  name_too_long,
};

// A one-line human-readable description; never nullptr.
const char *fdt_strerror(fdt_error err);

struct fdt_diag {
  fdt_error err;
  u32 offset;  // where in the blob the problem was found
};

// ---------------------------------------------------------------------------
// Low-level layer.

// A blob whose header, reservation block and structure block fdt_open() has
// checked. Offsets are from the start of the blob; [off, end) ranges.
struct fdt_blob {
  const u8 *data;
  u32 totalsize;
  u32 version;
  u32 off_mem_rsvmap;
  u32 nr_mem_rsv;  // entries before the terminating one
  u32 off_dt_struct, end_dt_struct;
  u32 off_dt_strings, end_dt_strings;
};

// Checks the header against max_size, that the reservation block ends inside
// the blob, and that the structure block is one well-formed tree (tokens,
// names, string offsets, value lengths, nesting depth).
// Needs: blob readable for max_size bytes (blob may be nullptr if max_size is 0).
// Returns ok and fills *fdt, or an error with *diag filled and *fdt untouched.
fdt_error fdt_open(const void *blob, size_t max_size, fdt_blob *fdt, fdt_diag *diag);

// Entry n (< fdt.nr_mem_rsv) of the memory reservation block.
void fdt_get_mem_rsv(const fdt_blob &fdt, u32 n, u64 *address, u64 *size);

// One token of the structure block; FDT_NOP is skipped, never returned.
struct fdt_token {
  u32 tag;           // FDT_BEGIN_NODE, FDT_END_NODE, FDT_PROP or FDT_END
  u32 offset;        // of the token
  int depth;         // of the node opened, closed or owning the property; root = 0
  const char *name;  // node name (BEGIN_NODE) or property name (PROP), NUL-terminated
  const u8 *value;   // PROP: the value, len bytes
  u32 len;
};

struct fdt_cursor {
  const fdt_blob *fdt;
  u32 next;        // offset of the next token
  u32 last;        // offset of the last token read, for diagnostics
  int open;        // nodes currently open
  bool had_child;  // the innermost open node has had a subnode: no more properties
  bool root_closed;
};

// Starts at the root node (or at the BEGIN_NODE token at `node`).
void fdt_cursor_init(fdt_cursor *c, const fdt_blob &fdt, u32 node = FDT_NO_NODE);
// Reads the next token, checking it entirely.
// Returns ok with *tok filled (FDT_END last), or an error with *diag filled.
fdt_error fdt_next_token(fdt_cursor *c, fdt_token *tok, fdt_diag *diag);

struct fdt_cells {
  u32 addr, size;  // #address-cells, #size-cells (defaults 2 and 1)
};

// One node as seen by the walker.
struct fdt_node {
  u32 offset;        // of its FDT_BEGIN_NODE token
  u32 parent;        // offset of the parent (FDT_NO_NODE for the root)
  int depth;         // root = 0
  const char *name;  // e.g. "memory@80000000"; "" for the root
  fdt_cells cells;   // the parent's: how this node's reg is encoded
};

// Walks nodes in tree order, tracking for each open node its cells and
// whether its children's addresses map 1:1 to CPU physical addresses.
struct fdt_walker {
  fdt_cursor cur;
  struct {
    u32 offset;
    const char *name;
    fdt_cells child_cells;
    bool child_phys;  // children's reg addresses are CPU physical addresses
  } stack[FDT_MAX_DEPTH];
  fdt_error err;  // why the walk stopped early; ok at a normal end
  fdt_diag diag;
};

void fdt_walk_init(fdt_walker *w, const fdt_blob &fdt);
// Advances to the next node. Returns false at the end of the tree or on an
// error (then w->err and w->diag say which).
bool fdt_walk_next(fdt_walker *w, fdt_node *node);
// Whether the current node's reg addresses are CPU physical addresses: every
// ancestor below the root has an empty `ranges` (identity). Other bus
// translations are not supported; such devices are treated as unreachable.
bool fdt_walk_reg_is_phys(const fdt_walker &w, const fdt_node &node);
// Whether the current node's full path equals path[0, len). A component
// without a unit address also matches a name that has one ("/soc/serial"
// matches "/soc/serial@10000000"), as in libfdt.
bool fdt_walk_path_is(const fdt_walker &w, const fdt_node &node, const char *path, size_t len);

// A property of a node; value == nullptr when absent.
struct fdt_prop {
  const u8 *value;
  u32 len;
  u32 offset;  // of its FDT_PROP token
};
// Looks a property up by name in the node whose BEGIN_NODE token is at node.
// Returns false (and a null prop) when absent or when the node is malformed.
bool fdt_getprop(const fdt_blob &fdt, u32 node, const char *name, fdt_prop *prop);
// Whether the node's `compatible` string list contains compat.
bool fdt_is_compatible(const fdt_blob &fdt, u32 node, const char *compat);
// Whether status is absent, "okay" or "ok" (the spec's "available").
bool fdt_is_available(const fdt_blob &fdt, u32 node);

// Linux's of_read_number: a big-endian number of `cells` u32 cells (at most 2).
u64 dt_read_number(const u8 *p, u32 cells);

// ---------------------------------------------------------------------------
// What the kernel keeps from the tree.

struct boot_mem_range {
  u64 base, size;
  u32 nid;  // numa-node-id, 0 when absent
};

struct boot_resv_range {
  u64 base, size;
  bool no_map;              // must not be mapped at all (e.g. OpenSBI's PMP-protected memory)
  bool rsvmap;              // from the memory reservation block, not a node; name is ""
  char name[FDT_NAME_MAX];  // the /reserved-memory child's node name
};

struct boot_cpu {
  u64 hartid;
  u32 nid;
  bool enabled;  // status is not "disabled"
  char isa[FDT_ISA_MAX];
};

// A device's first reg entry (translated to a physical address).
struct boot_device {
  bool present;
  u64 base, size;
};

struct boot_uart {
  bool present;
  u64 base, size;
  u32 reg_shift;     // registers are 1 << reg_shift bytes apart (default 0)
  u32 reg_io_width;  // access width in bytes (default 1)
  u32 clock_frequency;
};

// "Write value (32 bits) to the register at base + offset": syscon-poweroff
// and syscon-reboot, or the SiFive test finisher's equivalent.
struct boot_syscon {
  bool present;
  u64 base;
  u32 offset, value;
};

// The SiFive test finisher's "fail with exit code" value.
constexpr u32 sifive_test_fail_value(u16 code) { return (u32(code) << 16) | 0x3333; }
constexpr u32 SIFIVE_TEST_PASS = 0x5555;
constexpr u32 SIFIVE_TEST_RESET = 0x7777;

struct boot_info {
  u32 nr_memory;
  boot_mem_range memory[FDT_MAX_MEMORY_RANGES];  // in tree order, zero sizes dropped
  u32 nr_reserved;
  boot_resv_range reserved[FDT_MAX_RESERVED];  // reservation block first, then nodes
  char bootargs[FDT_BOOTARGS_MAX];             // "" when absent
  char stdout_path[FDT_PATH_MAX];              // as given, options included
  u32 nr_cpus;
  boot_cpu cpus[FDT_MAX_CPUS];
  u64 timebase_frequency;  // 0 when absent
  u32 nr_nodes;            // highest numa-node-id seen + 1 (at least 1)
  u8 distance[MAX_NUMNODES][MAX_NUMNODES];
  boot_uart uart;        // stdout-path's node if it is a 16550, else the first one
  boot_syscon poweroff;  // syscon-poweroff, else the SiFive test finisher
  boot_syscon reboot;    // syscon-reboot, else the SiFive test finisher
  bool sifive_test;      // the poweroff register also takes sifive_test_fail_value()
  boot_device plic;
  boot_device clint;
};

// Parses the blob into *out: memory from /memory nodes, reserved ranges from
// the reservation block and /reserved-memory, /chosen, /cpus, the NUMA
// distance-map, the console UART, poweroff/reboot, PLIC and CLINT. Nodes whose
// status is not okay are skipped (cpus are kept, marked disabled). A tree
// without memory is not an error here: the caller decides.
// Needs: blob readable for max_size bytes; diag may be nullptr.
// Returns ok, or an error with *diag filled and *out reset to an empty
// boot_info (no ranges, default distances), never half-filled.
fdt_error fdt_parse(const void *blob, size_t max_size, boot_info *out, fdt_diag *diag);

// Prints the memory map, cpus, devices and bootargs with KERN_INFO.
void boot_info_print(const boot_info &bi);
