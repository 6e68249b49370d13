// Flattened device tree reader (see kernel/fdt.h for the API and invariants).
//
// Layout of a blob (Devicetree Specification, chapter 5):
//
//   header            big-endian u32 fields, 36 bytes (v16) or 40 (v17)
//   rsvmap block      (u64 address, u64 size) pairs, ended by one with size 0
//   structure block   tokens, 4-byte aligned: BEGIN_NODE name... PROP len
//                     nameoff value... END_NODE ... END
//   strings block     NUL-terminated property names, referenced by nameoff
//
// The safety argument is local: fdt_open() establishes
//   off_dt_struct <= end_dt_struct <= totalsize <= max_size, and the same for
//   the strings and rsvmap blocks;
// and then every read of n bytes at offset p inside a block first checks
// p <= end && end - p >= n (never p + n, which could wrap), and every string
// is measured with a scan bounded by the end of its block.
#include "kernel/fdt.h"

#include "kernel/printk.h"
#include "kernel/string.h"

namespace {

u32 be32(const u8 *p) { return u32(p[0]) << 24 | u32(p[1]) << 16 | u32(p[2]) << 8 | u32(p[3]); }

u64 be64(const u8 *p) { return u64(be32(p)) << 32 | be32(p + 4); }

// Length of the string at p if its NUL lies before end, else -1.
long bounded_strlen(const u8 *p, const u8 *end) {
  for (const u8 *s = p; s < end; s++)
    if (*s == 0) return s - p;
  return -1;
}

size_t cstr_len(const char *s) {
  size_t n = 0;
  while (s[n]) n++;
  return n;
}

bool memeq(const void *a, const void *b, size_t n) { return n == 0 || memcmp(a, b, n) == 0; }

fdt_error fail(fdt_diag *diag, fdt_error err, u32 offset) {
  if (diag) *diag = {err, offset};
  return err;
}

// Where the next token starts after n bytes at p: 4-byte aligned, computed
// wide so that it cannot wrap, and clamped to the block end (reading there
// then fails cleanly).
u32 next_token_offset(u64 p, u64 n, u32 end) {
  u64 next = (p + n + 3) & ~u64(3);
  return next > end ? end : u32(next);
}

}  // namespace

const char *fdt_strerror(fdt_error err) {
  switch (err) {
    case fdt_error::ok:
      return "no error";
    case fdt_error::truncated:
      return "blob larger than the memory given for it (truncated)";
    case fdt_error::bad_magic:
      return "bad magic: not a flattened device tree";
    case fdt_error::bad_version:
      return "unsupported version (need 16 or 17, last_comp_version <= 17)";
    case fdt_error::bad_header:
      return "header block offset or size outside the blob, over the header, or misaligned";
    case fdt_error::bad_rsvmap:
      return "memory reservation block unterminated or an entry wraps around";
    case fdt_error::bad_token:
      return "unknown token in the structure block";
    case fdt_error::bad_structure:
      return "structure block is not one well-nested tree ending in FDT_END";
    case fdt_error::bad_name:
      return "node name not NUL-terminated inside the structure block";
    case fdt_error::bad_string:
      return "property name outside the strings block or not NUL-terminated";
    case fdt_error::bad_property:
      return "property value runs past the structure block";
    case fdt_error::too_deep:
      return "nodes nested too deep";
    case fdt_error::bad_cells:
      return "#address-cells or #size-cells malformed or unsupported";
    case fdt_error::bad_reg:
      return "reg is not a whole number of entries, or a range wraps";
    case fdt_error::bad_value:
      return "property has the wrong length or an unterminated string";
    case fdt_error::bad_phandle:
      return "phandle reference to no node";
    case fdt_error::bad_numa_node:
      return "numa-node-id too large";
    case fdt_error::bad_distance:
      return "malformed distance-matrix entry";
    case fdt_error::too_many_memory_ranges:
      return "too many memory ranges";
    case fdt_error::too_many_reserved:
      return "too many reserved ranges";
    case fdt_error::too_many_cpus:
      return "too many cpus";
    case fdt_error::bootargs_too_long:
      return "bootargs too long";
    case fdt_error::path_too_long:
      return "stdout-path too long";
    case fdt_error::name_too_long:
      return "reserved-memory node name too long";
  }
  return "unknown fdt error";
}

// ---------------------------------------------------------------------------
// Header, reservation block, structure block.

namespace {

enum hdr_field : u32 {
  HDR_MAGIC = 0,
  HDR_TOTALSIZE = 4,
  HDR_OFF_DT_STRUCT = 8,
  HDR_OFF_DT_STRINGS = 12,
  HDR_OFF_MEM_RSVMAP = 16,
  HDR_VERSION = 20,
  HDR_LAST_COMP_VERSION = 24,
  HDR_SIZE_DT_STRINGS = 32,
  HDR_SIZE_DT_STRUCT = 36,
};

// The smallest structure block: BEGIN_NODE "" (8 bytes), END_NODE, END.
constexpr u32 MIN_STRUCT_SIZE = 16;
constexpr u32 RSV_ENTRY_SIZE = 16;

// Fills *f from the header alone.
fdt_error check_header(const u8 *b, size_t max_size, fdt_blob *f, fdt_diag *diag) {
  if (max_size < 4) return fail(diag, fdt_error::truncated, 0);
  if (be32(b + HDR_MAGIC) != FDT_MAGIC) return fail(diag, fdt_error::bad_magic, HDR_MAGIC);
  if (max_size < HDR_LAST_COMP_VERSION + 4) return fail(diag, fdt_error::truncated, 0);
  u32 version = be32(b + HDR_VERSION);
  if (version < 16) return fail(diag, fdt_error::bad_version, HDR_VERSION);
  if (be32(b + HDR_LAST_COMP_VERSION) > FDT_LAST_SUPPORTED_VERSION)
    return fail(diag, fdt_error::bad_version, HDR_LAST_COMP_VERSION);
  u32 hdr = version >= 17 ? FDT_V17_HEADER_SIZE : FDT_V16_HEADER_SIZE;
  if (max_size < hdr) return fail(diag, fdt_error::truncated, 0);

  u32 total = be32(b + HDR_TOTALSIZE);
  if (total > max_size) return fail(diag, fdt_error::truncated, HDR_TOTALSIZE);
  if (total < hdr) return fail(diag, fdt_error::bad_header, HDR_TOTALSIZE);

  // The rsvmap must at least hold its terminating entry.
  u32 rsv = be32(b + HDR_OFF_MEM_RSVMAP);
  if (rsv < hdr || !IS_ALIGNED(rsv, 8) || rsv > total || total - rsv < RSV_ENTRY_SIZE)
    return fail(diag, fdt_error::bad_header, HDR_OFF_MEM_RSVMAP);

  u32 st = be32(b + HDR_OFF_DT_STRUCT);
  if (st < hdr || !IS_ALIGNED(st, 4) || st > total)
    return fail(diag, fdt_error::bad_header, HDR_OFF_DT_STRUCT);
  // Before version 17 the structure block's size is unknown: it may run to
  // the end of the blob.
  u32 st_size = total - st;
  u32 st_field = HDR_OFF_DT_STRUCT;
  if (version >= 17) {
    st_field = HDR_SIZE_DT_STRUCT;
    u32 size = be32(b + HDR_SIZE_DT_STRUCT);
    if (size > st_size) return fail(diag, fdt_error::bad_header, st_field);
    st_size = size;
  }
  if (st_size < MIN_STRUCT_SIZE) return fail(diag, fdt_error::bad_header, st_field);

  u32 strs = be32(b + HDR_OFF_DT_STRINGS);
  if (strs < hdr || strs > total) return fail(diag, fdt_error::bad_header, HDR_OFF_DT_STRINGS);
  u32 strs_size = be32(b + HDR_SIZE_DT_STRINGS);
  if (strs_size > total - strs) return fail(diag, fdt_error::bad_header, HDR_SIZE_DT_STRINGS);

  *f = {b, total, version, rsv, 0, st, st + st_size, strs, strs + strs_size};
  return fdt_error::ok;
}

// Counts the reservation entries, checking that the terminator is inside the
// blob. Like libfdt (and so Linux), the first entry of size 0 ends the block.
fdt_error check_rsvmap(fdt_blob *f, fdt_diag *diag) {
  u32 p = f->off_mem_rsvmap;  // check_header: the first entry fits
  for (u32 n = 0;; n++, p += RSV_ENTRY_SIZE) {
    if (f->totalsize - p < RSV_ENTRY_SIZE)
      return fail(diag, fdt_error::bad_rsvmap, p - RSV_ENTRY_SIZE);
    u64 addr = be64(f->data + p), size = be64(f->data + p + 8);
    if (size == 0) {
      f->nr_mem_rsv = n;
      return fdt_error::ok;
    }
    if (addr + size - 1 < addr) return fail(diag, fdt_error::bad_rsvmap, p);
  }
}

}  // namespace

void fdt_get_mem_rsv(const fdt_blob &fdt, u32 n, u64 *address, u64 *size) {
  const u8 *e = fdt.data + fdt.off_mem_rsvmap + n * RSV_ENTRY_SIZE;
  *address = be64(e);
  *size = be64(e + 8);
}

void fdt_cursor_init(fdt_cursor *c, const fdt_blob &fdt, u32 node) {
  u32 start = node == FDT_NO_NODE ? fdt.off_dt_struct : node;
  *c = {&fdt, start, start, 0, false, false};
}

fdt_error fdt_next_token(fdt_cursor *c, fdt_token *tok, fdt_diag *diag) {
  const fdt_blob &f = *c->fdt;
  const u8 *d = f.data;
  const u32 end = f.end_dt_struct;
  for (;;) {
    u32 p = c->next;
    // Running out of tokens is reported at the last token that was read.
    if (p > end || end - p < 4) return fail(diag, fdt_error::bad_structure, c->last);
    c->last = p;
    u32 tag = be32(d + p);
    u32 q = p + 4;
    switch (tag) {
      case FDT_NOP:
        c->next = q;
        continue;

      case FDT_BEGIN_NODE: {
        if (c->root_closed) return fail(diag, fdt_error::bad_structure, p);
        if (c->open >= FDT_MAX_DEPTH) return fail(diag, fdt_error::too_deep, p);
        long n = bounded_strlen(d + q, d + end);
        if (n < 0) return fail(diag, fdt_error::bad_name, p);
        *tok = {tag, p, c->open, reinterpret_cast<const char *>(d + q), nullptr, 0};
        c->open++;
        c->had_child = false;
        c->next = next_token_offset(q, u64(n) + 1, end);
        return fdt_error::ok;
      }

      case FDT_END_NODE:
        if (c->open == 0) return fail(diag, fdt_error::bad_structure, p);
        c->open--;
        *tok = {tag, p, c->open, nullptr, nullptr, 0};
        c->had_child = true;  // the parent, now innermost, has had a child
        if (c->open == 0) c->root_closed = true;
        c->next = q;
        return fdt_error::ok;

      case FDT_PROP: {
        // The spec puts all of a node's properties before its subnodes; the
        // property lookups below rely on it, so anything else is malformed.
        if (c->open == 0 || c->had_child) return fail(diag, fdt_error::bad_structure, p);
        if (end - q < 8) return fail(diag, fdt_error::bad_property, p);
        u32 len = be32(d + q), nameoff = be32(d + q + 4);
        u32 v = q + 8;
        if (len > end - v) return fail(diag, fdt_error::bad_property, p);
        if (nameoff >= f.end_dt_strings - f.off_dt_strings)
          return fail(diag, fdt_error::bad_string, p);
        const u8 *name = d + f.off_dt_strings + nameoff;
        if (bounded_strlen(name, d + f.end_dt_strings) < 0)
          return fail(diag, fdt_error::bad_string, p);
        *tok = {tag, p, c->open - 1, reinterpret_cast<const char *>(name), d + v, len};
        c->next = next_token_offset(v, len, end);
        return fdt_error::ok;
      }

      case FDT_END:
        if (c->open != 0 || !c->root_closed) return fail(diag, fdt_error::bad_structure, p);
        *tok = {tag, p, 0, nullptr, nullptr, 0};
        c->next = p;  // stays at the end
        return fdt_error::ok;

      default:
        return fail(diag, fdt_error::bad_token, p);
    }
  }
}

fdt_error fdt_open(const void *blob, size_t max_size, fdt_blob *fdt, fdt_diag *diag) {
  fdt_blob f;
  fdt_error err = check_header(static_cast<const u8 *>(blob), max_size, &f, diag);
  if (err == fdt_error::ok) err = check_rsvmap(&f, diag);
  if (err != fdt_error::ok) return err;

  fdt_cursor c;
  fdt_cursor_init(&c, f);
  fdt_token tok;
  do {
    err = fdt_next_token(&c, &tok, diag);
    if (err != fdt_error::ok) return err;
  } while (tok.tag != FDT_END);
  *fdt = f;
  return fdt_error::ok;
}

// ---------------------------------------------------------------------------
// Properties and the node walker.

namespace {

// Whether the NUL-terminated name equals s[0, n); never reads name past its NUL.
bool name_is(const char *name, const char *s, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (name[i] == 0 || name[i] != s[i]) return false;
  return name[n] == 0;
}

bool getprop_namelen(const fdt_blob &fdt, u32 node, const char *name, size_t namelen,
                     fdt_prop *prop) {
  *prop = {nullptr, 0, 0};
  if (node == FDT_NO_NODE) return false;
  fdt_cursor c;
  fdt_cursor_init(&c, fdt, node);
  fdt_token tok;
  if (fdt_next_token(&c, &tok, nullptr) != fdt_error::ok || tok.tag != FDT_BEGIN_NODE) return false;
  // Properties come first, so the first non-property token ends the search.
  while (fdt_next_token(&c, &tok, nullptr) == fdt_error::ok && tok.tag == FDT_PROP) {
    if (name_is(tok.name, name, namelen)) {
      *prop = {tok.value, tok.len, tok.offset};
      return true;
    }
  }
  return false;
}

// Length of a string property's value, or -1 when it is not NUL-terminated.
// An empty property is the empty string.
long prop_strlen(const fdt_prop &p) {
  return p.len == 0 ? 0 : bounded_strlen(p.value, p.value + p.len);
}

bool prop_streq(const fdt_prop &p, const char *s) {
  size_t n = cstr_len(s);
  return p.value && p.len > n && p.value[n] == 0 && memeq(p.value, s, n);
}

// A path component matches a node name exactly, or, when it has no unit
// address, the part of the name before '@'.
bool name_matches(const char *name, const char *comp, size_t n) {
  bool comp_has_unit = false;
  for (size_t i = 0; i < n; i++) {
    if (name[i] == 0 || name[i] != comp[i]) return false;
    comp_has_unit |= comp[i] == '@';
  }
  return name[n] == 0 || (!comp_has_unit && name[n] == '@');
}

fdt_error read_cell_count(const fdt_blob &fdt, u32 node, const char *name, u32 dflt, u32 *out,
                          fdt_diag *diag) {
  fdt_prop p;
  *out = dflt;
  if (!fdt_getprop(fdt, node, name, &p)) return fdt_error::ok;
  if (p.len != 4 || be32(p.value) > FDT_MAX_NCELLS)
    return fail(diag, fdt_error::bad_cells, p.offset);
  *out = be32(p.value);
  return fdt_error::ok;
}

}  // namespace

bool fdt_getprop(const fdt_blob &fdt, u32 node, const char *name, fdt_prop *prop) {
  return getprop_namelen(fdt, node, name, cstr_len(name), prop);
}

bool fdt_is_compatible(const fdt_blob &fdt, u32 node, const char *compat) {
  fdt_prop p;
  if (!fdt_getprop(fdt, node, "compatible", &p)) return false;
  size_t n = cstr_len(compat);
  const u8 *s = p.value, *end = p.value + p.len;
  while (s < end) {
    long len = bounded_strlen(s, end);
    size_t entry = len < 0 ? size_t(end - s) : size_t(len);
    if (entry == n && memeq(s, compat, n)) return true;
    s += entry + 1;
  }
  return false;
}

bool fdt_is_available(const fdt_blob &fdt, u32 node) {
  fdt_prop p;
  if (!fdt_getprop(fdt, node, "status", &p)) return true;
  return prop_streq(p, "okay") || prop_streq(p, "ok");
}

u64 dt_read_number(const u8 *p, u32 cells) {
  u64 v = 0;
  for (u32 i = 0; i < cells; i++) v = v << 32 | be32(p + 4 * i);
  return v;
}

void fdt_walk_init(fdt_walker *w, const fdt_blob &fdt) {
  fdt_cursor_init(&w->cur, fdt);
  w->err = fdt_error::ok;
  w->diag = {fdt_error::ok, 0};
}

bool fdt_walk_next(fdt_walker *w, fdt_node *node) {
  const fdt_blob &fdt = *w->cur.fdt;
  fdt_token tok;
  while (w->err == fdt_error::ok) {
    w->err = fdt_next_token(&w->cur, &tok, &w->diag);
    if (w->err != fdt_error::ok || tok.tag == FDT_END) break;
    if (tok.tag != FDT_BEGIN_NODE) continue;

    int d = tok.depth;
    auto &s = w->stack[d];
    *node = {tok.offset, d ? w->stack[d - 1].offset : FDT_NO_NODE, d, tok.name,
             d ? w->stack[d - 1].child_cells : fdt_cells{2, 1}};
    s.offset = tok.offset;
    s.name = tok.name;
    w->err = read_cell_count(fdt, tok.offset, "#address-cells", 2, &s.child_cells.addr, &w->diag);
    if (w->err == fdt_error::ok)
      w->err = read_cell_count(fdt, tok.offset, "#size-cells", 1, &s.child_cells.size, &w->diag);
    if (w->err != fdt_error::ok) break;
    // An empty `ranges` is the identity map; a missing one means the
    // children are not reachable from the CPU at all.
    fdt_prop ranges;
    bool identity = fdt_getprop(fdt, tok.offset, "ranges", &ranges) && ranges.len == 0;
    s.child_phys = d == 0 || (w->stack[d - 1].child_phys && identity);
    return true;
  }
  return false;
}

bool fdt_walk_reg_is_phys(const fdt_walker &w, const fdt_node &node) {
  return node.depth == 0 || w.stack[node.depth - 1].child_phys;
}

bool fdt_walk_path_is(const fdt_walker &w, const fdt_node &node, const char *path, size_t len) {
  if (node.depth == 0) return len == 1 && path[0] == '/';
  size_t i = 0;
  for (int d = 1; d <= node.depth; d++) {
    if (i >= len || path[i] != '/') return false;
    size_t j = ++i;
    while (j < len && path[j] != '/') j++;
    if (!name_matches(w.stack[d].name, path + i, j - i)) return false;
    i = j;
  }
  return i == len;
}

// ---------------------------------------------------------------------------
// fdt_parse: the walk that fills boot_info.

namespace {

struct parser {
  const fdt_blob &fdt;
  boot_info *bi;
  fdt_diag *diag;
  u32 max_nid = 0;
  u32 aliases = FDT_NO_NODE;
  u32 cpus = FDT_NO_NODE;
  u32 reserved_memory = FDT_NO_NODE;
  u32 syscon_poweroff = FDT_NO_NODE;
  u32 syscon_reboot = FDT_NO_NODE;
  bool distance_map_seen = false;
  boot_device sifive_test{};
  // The one walker, reused by each pass in turn: it is most of the stack
  // this code needs.
  fdt_walker walk{};

  fdt_error fail(fdt_error err, u32 offset) { return ::fail(diag, err, offset); }
  u32 offset_of(const u8 *p) const { return u32(p - fdt.data); }
};

void boot_info_reset(boot_info *bi) {
  memset(bi, 0, sizeof(*bi));
  bi->nr_nodes = 1;
  for (unsigned i = 0; i < MAX_NUMNODES; i++)
    for (unsigned j = 0; j < MAX_NUMNODES; j++)
      bi->distance[i][j] = i == j ? LOCAL_DISTANCE : REMOTE_DISTANCE;
}

// Whether a node name is `base` or `base@unit`.
bool node_name_is(const char *name, const char *base) {
  return name_matches(name, base, cstr_len(base));
}

bool has_device_type(const fdt_blob &fdt, u32 node, const char *type) {
  fdt_prop p;
  return fdt_getprop(fdt, node, "device_type", &p) && prop_streq(p, type);
}

// A u32 property, or dflt when absent. Fails with bad_value if not 4 bytes.
fdt_error read_u32(parser &ps, u32 node, const char *name, u32 dflt, u32 *out) {
  fdt_prop p;
  *out = dflt;
  if (!fdt_getprop(ps.fdt, node, name, &p)) return fdt_error::ok;
  if (p.len != 4) return ps.fail(fdt_error::bad_value, p.offset);
  *out = be32(p.value);
  return fdt_error::ok;
}

// A frequency: one or two cells (bindings allow both), 0 when absent.
fdt_error read_frequency(parser &ps, u32 node, const char *name, u64 *out) {
  fdt_prop p;
  *out = 0;
  if (!fdt_getprop(ps.fdt, node, name, &p)) return fdt_error::ok;
  if (p.len != 4 && p.len != 8) return ps.fail(fdt_error::bad_value, p.offset);
  *out = dt_read_number(p.value, p.len / 4);
  return fdt_error::ok;
}

fdt_error read_nid(parser &ps, u32 node, u32 *nid) {
  fdt_prop p;
  fdt_error err = read_u32(ps, node, "numa-node-id", 0, nid);
  if (err != fdt_error::ok) return err;
  if (*nid >= MAX_NUMNODES) {
    fdt_getprop(ps.fdt, node, "numa-node-id", &p);
    return ps.fail(fdt_error::bad_numa_node, p.offset);
  }
  if (*nid > ps.max_nid) ps.max_nid = *nid;
  return fdt_error::ok;
}

// Copies string property `name` into dst[cap]. Absent leaves dst untouched.
// Fails with bad_value when unterminated, or too_long when it does not fit.
fdt_error copy_string_prop(parser &ps, u32 node, const char *name, char *dst, size_t cap,
                           fdt_error too_long) {
  fdt_prop p;
  if (!fdt_getprop(ps.fdt, node, name, &p)) return fdt_error::ok;
  long n = prop_strlen(p);
  if (n < 0) return ps.fail(fdt_error::bad_value, p.offset);
  if (size_t(n) >= cap) return ps.fail(too_long, p.offset);
  memcpy(dst, p.value, n);
  dst[n] = 0;
  return fdt_error::ok;
}

// Checks a reg property against the cells that encode it: addresses of one
// or two cells, sizes of zero to two, a whole number of entries.
// Returns ok with *count set, or bad_cells / bad_reg.
fdt_error reg_count(parser &ps, const fdt_prop &reg, fdt_cells cells, u32 *count) {
  if (cells.addr < 1 || cells.addr > 2 || cells.size > 2)
    return ps.fail(fdt_error::bad_cells, reg.offset);
  u32 entry = 4 * (cells.addr + cells.size);
  if (reg.len % entry) return ps.fail(fdt_error::bad_reg, reg.offset);
  *count = reg.len / entry;
  return fdt_error::ok;
}

// Entry i of a reg property that reg_count() accepted. A range that wraps
// past 2^64 is bad_reg.
fdt_error reg_entry(parser &ps, const fdt_prop &reg, fdt_cells cells, u32 i, u64 *base, u64 *size) {
  const u8 *e = reg.value + 4 * (cells.addr + cells.size) * i;
  *base = dt_read_number(e, cells.addr);
  *size = dt_read_number(e + 4 * cells.addr, cells.size);
  if (*size && *base + *size - 1 < *base) return ps.fail(fdt_error::bad_reg, ps.offset_of(e));
  return fdt_error::ok;
}

// A device's first reg entry as a physical address. A node without reg, or
// behind a bus translation, is reported as not present rather than an error.
fdt_error device_reg(parser &ps, const fdt_walker &w, const fdt_node &n, boot_device *dev) {
  fdt_prop reg;
  u32 count = 0;
  *dev = {};
  if (!fdt_walk_reg_is_phys(w, n) || !fdt_getprop(ps.fdt, n.offset, "reg", &reg))
    return fdt_error::ok;
  fdt_error err = reg_count(ps, reg, n.cells, &count);
  if (err == fdt_error::ok && count > 0)
    err = reg_entry(ps, reg, n.cells, 0, &dev->base, &dev->size);
  dev->present = err == fdt_error::ok && count > 0;
  return err;
}

fdt_error add_memory(parser &ps, const fdt_node &n) {
  fdt_prop reg;
  u32 count, nid;
  if (!fdt_getprop(ps.fdt, n.offset, "reg", &reg)) return fdt_error::ok;
  fdt_error err = reg_count(ps, reg, n.cells, &count);
  if (err == fdt_error::ok) err = read_nid(ps, n.offset, &nid);
  for (u32 i = 0; err == fdt_error::ok && i < count; i++) {
    u64 base, size;
    err = reg_entry(ps, reg, n.cells, i, &base, &size);
    if (err != fdt_error::ok || size == 0) continue;
    if (ps.bi->nr_memory == FDT_MAX_MEMORY_RANGES)
      return ps.fail(fdt_error::too_many_memory_ranges, n.offset);
    ps.bi->memory[ps.bi->nr_memory++] = {base, size, nid};
  }
  return err;
}

fdt_error add_rsvmap(parser &ps) {
  for (u32 i = 0; i < ps.fdt.nr_mem_rsv; i++) {
    boot_resv_range r{};
    fdt_get_mem_rsv(ps.fdt, i, &r.base, &r.size);
    r.rsvmap = true;
    if (ps.bi->nr_reserved == FDT_MAX_RESERVED)
      return ps.fail(fdt_error::too_many_reserved, ps.fdt.off_mem_rsvmap + 16 * i);
    ps.bi->reserved[ps.bi->nr_reserved++] = r;
  }
  return fdt_error::ok;
}

// A /reserved-memory child. Children without reg are dynamic allocations
// (size/alignment) that only Linux's allocator acts on: skipped.
fdt_error add_reserved(parser &ps, const fdt_node &n) {
  fdt_prop reg, no_map;
  u32 count;
  if (!fdt_getprop(ps.fdt, n.offset, "reg", &reg)) return fdt_error::ok;
  size_t name_len = cstr_len(n.name);
  if (name_len >= FDT_NAME_MAX) return ps.fail(fdt_error::name_too_long, n.offset);
  bool nomap = fdt_getprop(ps.fdt, n.offset, "no-map", &no_map);
  fdt_error err = reg_count(ps, reg, n.cells, &count);
  for (u32 i = 0; err == fdt_error::ok && i < count; i++) {
    boot_resv_range r{};
    err = reg_entry(ps, reg, n.cells, i, &r.base, &r.size);
    if (err != fdt_error::ok || r.size == 0) continue;
    if (ps.bi->nr_reserved == FDT_MAX_RESERVED)
      return ps.fail(fdt_error::too_many_reserved, n.offset);
    r.no_map = nomap;
    memcpy(r.name, n.name, name_len + 1);
    ps.bi->reserved[ps.bi->nr_reserved++] = r;
  }
  return err;
}

fdt_error parse_chosen(parser &ps, u32 node) {
  fdt_error err = copy_string_prop(ps, node, "bootargs", ps.bi->bootargs, FDT_BOOTARGS_MAX,
                                   fdt_error::bootargs_too_long);
  if (err == fdt_error::ok)
    err = copy_string_prop(ps, node, "linux,stdout-path", ps.bi->stdout_path, FDT_PATH_MAX,
                           fdt_error::path_too_long);
  if (err == fdt_error::ok)  // the standard name wins over the legacy one
    err = copy_string_prop(ps, node, "stdout-path", ps.bi->stdout_path, FDT_PATH_MAX,
                           fdt_error::path_too_long);
  return err;
}

fdt_error add_cpu(parser &ps, const fdt_node &n) {
  fdt_prop reg, p;
  u32 count = 0;
  boot_cpu cpu{};
  if (!fdt_getprop(ps.fdt, n.offset, "reg", &reg)) return ps.fail(fdt_error::bad_reg, n.offset);
  fdt_error err = reg_count(ps, reg, n.cells, &count);
  if (err != fdt_error::ok) return err;
  if (count == 0) return ps.fail(fdt_error::bad_reg, reg.offset);
  cpu.hartid = dt_read_number(reg.value, n.cells.addr);
  cpu.enabled = !(fdt_getprop(ps.fdt, n.offset, "status", &p) && prop_streq(p, "disabled"));
  err = read_nid(ps, n.offset, &cpu.nid);
  if (err != fdt_error::ok) return err;
  if (fdt_getprop(ps.fdt, n.offset, "riscv,isa", &p)) {
    // Informational only, so a long string is cut rather than refused.
    long len = prop_strlen(p);
    if (len < 0) return ps.fail(fdt_error::bad_value, p.offset);
    size_t copy = size_t(len) < FDT_ISA_MAX ? size_t(len) : FDT_ISA_MAX - 1;
    memcpy(cpu.isa, p.value, copy);
    cpu.isa[copy] = 0;
  }
  if (ps.bi->nr_cpus == FDT_MAX_CPUS) return ps.fail(fdt_error::too_many_cpus, n.offset);
  ps.bi->cpus[ps.bi->nr_cpus++] = cpu;
  return fdt_error::ok;
}

// numa-distance-map-v1: (from, to, distance) triples. As in Linux, an entry
// also sets the reverse distance when to > from, and a later entry may
// override that; self distances must be LOCAL_DISTANCE and others larger.
fdt_error parse_distance_map(parser &ps, u32 node) {
  fdt_prop m;
  if (!fdt_getprop(ps.fdt, node, "distance-matrix", &m))
    return ps.fail(fdt_error::bad_distance, node);
  if (m.len % 12) return ps.fail(fdt_error::bad_distance, m.offset);
  for (u32 i = 0; i < m.len; i += 12) {
    u32 from = be32(m.value + i), to = be32(m.value + i + 4), dist = be32(m.value + i + 8);
    bool bad = from >= MAX_NUMNODES || to >= MAX_NUMNODES || dist > 255 ||
               (from == to && dist != LOCAL_DISTANCE) || (from != to && dist <= LOCAL_DISTANCE);
    if (bad) return ps.fail(fdt_error::bad_distance, ps.offset_of(m.value + i));
    ps.bi->distance[from][to] = u8(dist);
    if (to > from) ps.bi->distance[to][from] = u8(dist);
  }
  return fdt_error::ok;
}

bool is_uart(const fdt_blob &fdt, u32 node) {
  return fdt_is_compatible(fdt, node, "ns16550a") || fdt_is_compatible(fdt, node, "ns16550");
}

fdt_error read_uart(parser &ps, const fdt_walker &w, const fdt_node &n, boot_uart *uart) {
  boot_device dev;
  fdt_error err = device_reg(ps, w, n, &dev);
  if (err != fdt_error::ok || !dev.present) return err;
  boot_uart u{true, dev.base, dev.size, 0, 1, 0};
  err = read_u32(ps, n.offset, "reg-shift", 0, &u.reg_shift);
  if (err == fdt_error::ok) err = read_u32(ps, n.offset, "reg-io-width", 1, &u.reg_io_width);
  if (err == fdt_error::ok) err = read_u32(ps, n.offset, "clock-frequency", 0, &u.clock_frequency);
  if (err != fdt_error::ok) return err;
  *uart = u;
  return fdt_error::ok;
}

// Everything that a single node decides on its own.
fdt_error visit_node(parser &ps, const fdt_walker &w, const fdt_node &n) {
  const fdt_blob &fdt = ps.fdt;
  boot_info *bi = ps.bi;
  bool available = fdt_is_available(fdt, n.offset);
  fdt_error err = fdt_error::ok;

  if (n.depth == 1) {
    if (has_device_type(fdt, n.offset, "memory")) {
      if (available) err = add_memory(ps, n);
    } else if (node_name_is(n.name, "chosen")) {
      err = parse_chosen(ps, n.offset);
    } else if (node_name_is(n.name, "aliases")) {
      ps.aliases = n.offset;
    } else if (node_name_is(n.name, "cpus")) {
      ps.cpus = n.offset;
      err = read_frequency(ps, n.offset, "timebase-frequency", &bi->timebase_frequency);
    } else if (node_name_is(n.name, "reserved-memory")) {
      ps.reserved_memory = n.offset;
    }
  } else if (n.depth == 2 && n.parent == ps.cpus) {
    if (has_device_type(fdt, n.offset, "cpu")) err = add_cpu(ps, n);
  } else if (n.depth == 2 && n.parent == ps.reserved_memory) {
    if (available) err = add_reserved(ps, n);
  }
  if (err != fdt_error::ok || !available) return err;

  // Devices, wherever they are; the first available one of each kind wins.
  if (!ps.distance_map_seen && fdt_is_compatible(fdt, n.offset, "numa-distance-map-v1")) {
    ps.distance_map_seen = true;
    err = parse_distance_map(ps, n.offset);
  } else if (!bi->uart.present && is_uart(fdt, n.offset)) {
    err = read_uart(ps, w, n, &bi->uart);
  } else if (ps.syscon_poweroff == FDT_NO_NODE &&
             fdt_is_compatible(fdt, n.offset, "syscon-poweroff")) {
    ps.syscon_poweroff = n.offset;
  } else if (ps.syscon_reboot == FDT_NO_NODE && fdt_is_compatible(fdt, n.offset, "syscon-reboot")) {
    ps.syscon_reboot = n.offset;
  } else if (!bi->plic.present && (fdt_is_compatible(fdt, n.offset, "sifive,plic-1.0.0") ||
                                   fdt_is_compatible(fdt, n.offset, "riscv,plic0"))) {
    err = device_reg(ps, w, n, &bi->plic);
  } else if (!bi->clint.present && (fdt_is_compatible(fdt, n.offset, "sifive,clint0") ||
                                    fdt_is_compatible(fdt, n.offset, "riscv,clint0"))) {
    err = device_reg(ps, w, n, &bi->clint);
  }
  if (err == fdt_error::ok && !ps.sifive_test.present &&
      (fdt_is_compatible(fdt, n.offset, "sifive,test0") ||
       fdt_is_compatible(fdt, n.offset, "sifive,test1")))
    err = device_reg(ps, w, n, &ps.sifive_test);
  return err;
}

// Positions *w on the node at path[0, len), resolving a leading alias
// ("serial0/..." through /aliases) as the spec describes.
bool find_node_by_path(parser &ps, const char *path, size_t len, fdt_walker *w, fdt_node *n) {
  char buf[FDT_PATH_MAX];
  if (len > 0 && path[0] != '/') {
    size_t alias_len = 0;
    while (alias_len < len && path[alias_len] != '/') alias_len++;
    fdt_prop p;
    if (!getprop_namelen(ps.fdt, ps.aliases, path, alias_len, &p)) return false;
    long target = prop_strlen(p);
    size_t rest = len - alias_len;
    if (target < 0 || size_t(target) + rest > sizeof(buf)) return false;
    memcpy(buf, p.value, target);
    memcpy(buf + target, path + alias_len, rest);
    path = buf;
    len = target + rest;
  }
  fdt_walk_init(w, ps.fdt);
  while (fdt_walk_next(w, n))
    if (fdt_walk_path_is(*w, *n, path, len)) return true;
  return false;
}

bool find_node_by_phandle(parser &ps, u32 phandle, fdt_walker *w, fdt_node *n) {
  if (phandle == 0 || phandle == 0xffffffff) return false;
  fdt_walk_init(w, ps.fdt);
  while (fdt_walk_next(w, n)) {
    fdt_prop p;
    if ((fdt_getprop(ps.fdt, n->offset, "phandle", &p) ||
         fdt_getprop(ps.fdt, n->offset, "linux,phandle", &p)) &&
        p.len == 4 && be32(p.value) == phandle)
      return true;
  }
  return false;
}

// The console: the stdout-path node (options after ':' cut) if it is a
// 16550, else the first 16550 the walk found.
fdt_error resolve_stdout(parser &ps) {
  const char *path = ps.bi->stdout_path;
  size_t len = 0;
  while (path[len] && path[len] != ':') len++;
  fdt_walker &w = ps.walk;
  fdt_node n;
  if (len == 0 || !find_node_by_path(ps, path, len, &w, &n)) return fdt_error::ok;
  if (!fdt_is_available(ps.fdt, n.offset) || !is_uart(ps.fdt, n.offset)) return fdt_error::ok;
  boot_uart uart{};
  fdt_error err = read_uart(ps, w, n, &uart);
  if (err == fdt_error::ok && uart.present) ps.bi->uart = uart;
  return err;
}

// syscon-poweroff / syscon-reboot: regmap (a phandle to the register block),
// offset (default 0) and value (or the older mask).
fdt_error read_syscon(parser &ps, u32 node, boot_syscon *out, bool *sifive_test) {
  fdt_prop regmap, p;
  if (!fdt_getprop(ps.fdt, node, "regmap", &regmap)) return ps.fail(fdt_error::bad_phandle, node);
  if (regmap.len != 4) return ps.fail(fdt_error::bad_value, regmap.offset);
  fdt_walker &w = ps.walk;
  fdt_node target;
  if (!find_node_by_phandle(ps, be32(regmap.value), &w, &target))
    return ps.fail(fdt_error::bad_phandle, regmap.offset);
  boot_device dev;
  fdt_error err = device_reg(ps, w, target, &dev);
  if (err != fdt_error::ok) return err;
  if (!dev.present) return ps.fail(fdt_error::bad_reg, target.offset);

  boot_syscon s{true, dev.base, 0, 0};
  const char *value = fdt_getprop(ps.fdt, node, "value", &p) ? "value" : "mask";
  if (!fdt_getprop(ps.fdt, node, value, &p)) return ps.fail(fdt_error::bad_value, node);
  err = read_u32(ps, node, value, 0, &s.value);
  if (err == fdt_error::ok) err = read_u32(ps, node, "offset", 0, &s.offset);
  if (err != fdt_error::ok) return err;
  *out = s;
  *sifive_test = fdt_is_compatible(ps.fdt, target.offset, "sifive,test0") ||
                 fdt_is_compatible(ps.fdt, target.offset, "sifive,test1");
  return fdt_error::ok;
}

fdt_error resolve_poweroff(parser &ps) {
  boot_info *bi = ps.bi;
  fdt_error err = fdt_error::ok;
  bool unused;
  if (ps.syscon_poweroff != FDT_NO_NODE)
    err = read_syscon(ps, ps.syscon_poweroff, &bi->poweroff, &bi->sifive_test);
  if (err == fdt_error::ok && ps.syscon_reboot != FDT_NO_NODE)
    err = read_syscon(ps, ps.syscon_reboot, &bi->reboot, &unused);
  if (err != fdt_error::ok || !ps.sifive_test.present) return err;
  // Without syscon nodes the SiFive test finisher is driven directly.
  if (!bi->poweroff.present) {
    bi->poweroff = {true, ps.sifive_test.base, 0, SIFIVE_TEST_PASS};
    bi->sifive_test = true;
  }
  if (!bi->reboot.present) bi->reboot = {true, ps.sifive_test.base, 0, SIFIVE_TEST_RESET};
  return fdt_error::ok;
}

fdt_error parse(parser &ps) {
  fdt_error err = add_rsvmap(ps);
  if (err != fdt_error::ok) return err;

  fdt_walker &w = ps.walk;
  fdt_node n;
  fdt_walk_init(&w, ps.fdt);
  while (fdt_walk_next(&w, &n)) {
    err = visit_node(ps, w, n);
    if (err != fdt_error::ok) return err;
  }
  if (w.err != fdt_error::ok) return ps.fail(w.err, w.diag.offset);

  // Cross-references, which may point anywhere in the tree.
  err = resolve_stdout(ps);
  if (err == fdt_error::ok) err = resolve_poweroff(ps);
  ps.bi->nr_nodes = ps.max_nid + 1;
  return err;
}

}  // namespace

fdt_error fdt_parse(const void *blob, size_t max_size, boot_info *out, fdt_diag *diag) {
  fdt_blob fdt;
  boot_info_reset(out);
  fdt_error err = fdt_open(blob, max_size, &fdt, diag);
  if (err != fdt_error::ok) return err;
  parser ps{fdt, out, diag};
  err = parse(ps);
  if (err != fdt_error::ok) {
    boot_info_reset(out);
    return err;
  }
  if (diag) *diag = {fdt_error::ok, 0};
  return err;
}

// ---------------------------------------------------------------------------
// boot_info_print

namespace {

// The largest unit that divides size exactly, so nothing is rounded away.
struct size_in_units {
  u64 value;
  const char *unit;
};
size_in_units size_unit(u64 size) {
  if (size % SZ_1G == 0) return {size / SZ_1G, "GiB"};
  if (size % SZ_1M == 0) return {size / SZ_1M, "MiB"};
  if (size % 1024 == 0) return {size / 1024, "KiB"};
  return {size, "B"};
}

}  // namespace

void boot_info_print(const boot_info &bi) {
  for (u32 i = 0; i < bi.nr_memory; i++) {
    const boot_mem_range &m = bi.memory[i];
    size_in_units sz = size_unit(m.size);
    pr_info("  memory  [0x%016lx-0x%016lx] %lu %s node %u\n", m.base, m.base + m.size - 1, sz.value,
            sz.unit, m.nid);
  }
  for (u32 i = 0; i < bi.nr_reserved; i++) {
    const boot_resv_range &r = bi.reserved[i];
    pr_info("  reserved[0x%016lx-0x%016lx] %s%s\n", r.base, r.base + r.size - 1,
            r.rsvmap ? "/memreserve/" : r.name, r.no_map ? " (no-map)" : "");
  }
  for (u32 i = 0; i < bi.nr_cpus; i++) {
    const boot_cpu &c = bi.cpus[i];
    pr_info("  cpu     hart %lu node %u %s %s\n", c.hartid, c.nid, c.enabled ? "okay" : "disabled",
            c.isa);
  }
  pr_info("  timebase %lu Hz\n", bi.timebase_frequency);
  if (bi.nr_nodes > 1) {
    for (u32 i = 0; i < bi.nr_nodes; i++) {
      char line[4 * MAX_NUMNODES + 1];
      int len = 0;
      for (u32 j = 0; j < bi.nr_nodes; j++)
        len += scnprintf(line + len, sizeof(line) - len, " %3u", bi.distance[i][j]);
      pr_info("  numa    node %u distances%s\n", i, line);
    }
  }
  if (bi.uart.present)
    pr_info("  uart    0x%016lx reg-shift %u reg-io-width %u clock %u Hz\n", bi.uart.base,
            bi.uart.reg_shift, bi.uart.reg_io_width, bi.uart.clock_frequency);
  if (bi.poweroff.present)
    pr_info("  poweroff 0x%016lx+0x%x value 0x%x%s\n", bi.poweroff.base, bi.poweroff.offset,
            bi.poweroff.value, bi.sifive_test ? " (sifive,test)" : "");
  if (bi.reboot.present)
    pr_info("  reboot  0x%016lx+0x%x value 0x%x\n", bi.reboot.base, bi.reboot.offset,
            bi.reboot.value);
  if (bi.plic.present) pr_info("  plic    0x%016lx\n", bi.plic.base);
  if (bi.clint.present) pr_info("  clint   0x%016lx\n", bi.clint.base);
  pr_info("  bootargs \"%s\"\n", bi.bootargs);
}
