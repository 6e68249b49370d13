# gdb commands that read the live kernel's memory-management structures, as
# Linux's scripts/gdb lx- commands do. Load with
#   gdb-multiarch build/arch/riscv/kernel.elf -ex 'source scripts/gdb/mm.py' \
#       -ex 'target remote localhost:1234'
# (scripts/run --gdb prints that line). Each report prints what the monitor's
# command of the same name prints, line for line, so the two can be compared:
#   mm-buddyinfo     buddyinfo
#   mm-vmallocinfo   vmallocinfo (areas, then the lazy purge's unpurged ranges)
#   mm-page ADDR|PFN the struct page of a frame, in bad_page's format plus
#                    its node, zone, order and owner
# The kernel is read as it stands where it stopped: no lock is taken, so stop
# it where no CPU is inside the allocator (at the monitor's prompt, say).
import gdb

MAX_NUMNODES = 8
PAGE_SHIFT = 12
PAGE_OFFSET = 0xffffffd600000000  # arch/riscv/include/asm/memlayout.h
DIRECT_MAP_END = 0xfffffff600000000
KERNEL_VIRT_BASE = 0xffffffff80000000
VM_ALLOC, VM_MAP, VM_USER, VM_MOVABLE = 0x2, 0x4, 0x8, 0x10


def ulong(v):
    return int(v) & (1 << 64) - 1


def hexalt(n):
    """printk's %#lx: 0 prints as "0", anything else with 0x."""
    return "%#x" % n if n else "0"


def val(expr):
    return gdb.parse_and_eval(expr)


def mem_system():
    ms = val("system_mem")
    if int(ms) == 0:
        raise gdb.GdbError("system_mem is NULL: the kernel has not set up memory yet")
    return ms.dereference()


def array_len(v):
    lo, hi = v.type.range()
    return hi - lo + 1


def online_pgdats(ms):
    for nid in range(MAX_NUMNODES):
        p = ms["node_data"][nid]
        if int(p):
            yield p.dereference()


def zones(pgdat):
    nz = pgdat["node_zones"]
    for i in range(array_len(nz)):
        yield nz[i]


def cstr(v):
    """A char pointer's or char array's text."""
    if v.type.strip_typedefs().code == gdb.TYPE_CODE_ARRAY:
        return v.string()
    return v.string() if int(v) else "(null)"


# ---- buddyinfo ----------------------------------------------------------------------

class Buddyinfo(gdb.Command):
    """Free blocks per order of each populated zone, as the monitor's buddyinfo."""

    def __init__(self):
        super().__init__("mm-buddyinfo", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        ms = mem_system()
        out = []
        for pgdat in online_pgdats(ms):
            for z in zones(pgdat):
                if int(z["present_pages"]) == 0:
                    continue
                fa = z["free_area"]
                line = "Node %d, zone %8s " % (int(pgdat["node_id"]), cstr(z["name"]))
                line += "".join("%6d " % ulong(fa[o]["nr_free"]) for o in range(array_len(fa)))
                out.append(line)
        gdb.write("".join(l + "\n" for l in out))


# ---- zoneinfo ------------------------------------------------------------------------

def static_array(*names):
    for n in names:
        try:
            return val(n)
        except gdb.error:
            pass
    raise gdb.GdbError("none of %s in this kernel's symbols" % ", ".join(names))


def zone_page_state_snapshot(z, item):
    """mm/vmstat.h's: the total, every CPU's delta and the per-CPU lists' own share, not below 0."""
    v = int(z["vm_stat"][item])
    diffs = z["per_cpu_zonestats"]
    v += sum(int(diffs[c]["vm_stat_diff"][item]) for c in range(array_len(diffs)))
    pcp = z["pcp"]
    if item == int(val("NR_PCP_PAGES")):
        v += sum(int(pcp[c]["count"]) for c in range(array_len(pcp)))
    elif item == int(val("NR_ZONE_ALLOCATED")):
        v += sum(ulong(pcp[c]["pgalloc"]) - ulong(pcp[c]["pgfree"]) for c in range(array_len(pcp)))
    return max(v, 0)


class Zoneinfo(gdb.Command):
    """Every zone's counters, watermarks and per-CPU lists, as the monitor's zoneinfo."""

    def __init__(self):
        super().__init__("mm-zoneinfo", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        ms = mem_system()
        names = static_array("zone_stat_names", "'page_report.cpp'::zone_stat_names")
        nitems = int(val("NR_VM_ZONE_STAT_ITEMS"))
        out = []
        for pgdat in online_pgdats(ms):
            for z in zones(pgdat):
                wm = z["_watermark"]
                stat = [zone_page_state_snapshot(z, i) for i in range(nitems)]
                lr = z["lowmem_reserve"]
                s = "Node %d, zone %8s" % (int(pgdat["node_id"]), cstr(z["name"]))
                s += "\n  pages free     %d\n        boost    0" % stat[int(val("NR_FREE_PAGES"))]
                s += "\n        min      %d\n        low      %d\n        high     %d" % (
                    ulong(wm[0]), ulong(wm[1]), ulong(wm[2]))
                s += "\n        promo    %d\n        spanned  %d\n        present  %d" % (
                    ulong(wm[3]), ulong(z["spanned_pages"]), ulong(z["present_pages"]))
                s += "\n        managed  %d\n        cma      0" % ulong(z["managed_pages"])
                s += "\n        protection: (%s)" % ", ".join(str(int(lr[i])) for i in range(array_len(lr)))
                if int(z["present_pages"]) == 0:
                    out.append(s + "\n")
                    continue
                for i in range(nitems):
                    s += "\n      %-12s %d" % (names[i].string(), stat[i])
                s += "\n  pagesets"
                for cpu in range(int(ms["nr_cpus"])):
                    pcp = z["pcp"][cpu]
                    s += "\n    cpu: %d\n              count: %d\n              high:  %d\n              batch: %d" % (
                        cpu, int(pcp["count"]), int(pcp["high"]), int(pcp["batch"]))
                    s += "\n  vm stats threshold: %d" % int(z["per_cpu_zonestats"][cpu]["stat_threshold"])
                s += "\n  node_unreclaimable:  0\n  start_pfn:           %d\n" % ulong(z["zone_start_pfn"])
                out.append(s)
        gdb.write("".join(out))


# ---- struct page ----------------------------------------------------------------------

def pfn_to_page(ms, pfn):
    """The struct page of pfn (a gdb.Value pointer), or None outside every node."""
    for pgdat in online_pgdats(ms):
        start = ulong(pgdat["node_start_pfn"])
        if start <= pfn < start + ulong(pgdat["node_spanned_pages"]):
            return pgdat["node_mem_map"] + (pfn - start)
    return None


def page_flag_names(flags):
    n = int(val("NR_PAGEFLAGS"))
    names = None
    for sym in ("page_flag_names", "'(anonymous namespace)::page_flag_names'"):
        try:
            names = val(sym)
            break
        except gdb.error:
            pass
    if names is None:
        raise gdb.GdbError("no page_flag_names in this kernel's symbols")
    return "|".join(names[f].string() for f in range(n) if flags >> f & 1)


def page_owner(p, flags):
    """(order, owner) of a struct page: who holds it and with which order."""
    bit = lambda name: flags >> int(val(name)) & 1
    if bit("PG_buddy"):
        return ulong(p["private_"]), "buddy"
    if bit("PG_pcp"):
        return ulong(p["private_"]), "pcp"
    if bit("PG_reserved"):
        return 0, "reserved"
    if ulong(p["compound_head"]) & 1:
        head = gdb.Value(ulong(p["compound_head"]) - 1).cast(p.address.type)
        return None, "tail of pfn %#x" % page_to_pfn(mem_system(), head)
    order = int(p["alloc_order"])
    if bit("PG_slab"):
        cache = p["slab_cache"]
        name = cstr(cache["name"]) if int(cache) else "(no cache)"
        return order, "slab %s inuse:%d" % (name, int(p["inuse"]))
    if bit("PG_pgtable"):
        return order, "pgtable"
    if bit("PG_large_kmalloc"):
        return order, "large_kmalloc"
    if bit("PG_movable"):
        return 0, "movable ops:%s index:%s" % (hexalt(ulong(p["mapping"])), hexalt(ulong(p["index"])))
    if int(p["_refcount"]) > 0:
        return order, "allocated"
    return 0, "none (refcount 0: inside a free or allocated block)"


class Page(gdb.Command):
    """mm-page ADDR|PFN: the struct page of a frame, decoded.

A number below 2^32 is a pfn; a direct-map address or a physical address is
turned into its pfn; the address of a struct page names that page."""

    def __init__(self):
        super().__init__("mm-page", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        if not arg.strip():
            raise gdb.GdbError("usage: mm-page ADDR|PFN")
        try:
            n = ulong(val(arg))
        except gdb.error as e:
            raise gdb.GdbError("mm-page: cannot read %r: %s" % (arg, e))
        ms = mem_system()
        pfn = self.to_pfn(ms, n)
        p = pfn_to_page(ms, pfn) if pfn is not None else None
        if p is None:
            raise gdb.GdbError("mm-page: %s is no frame of any node" % arg.strip())
        pg = p.dereference()
        flags = ulong(pg["flags"])
        nid = flags >> int(val("NODES_PGSHIFT")) & int(val("NODES_MASK"))
        zidx = flags >> int(val("ZONES_PGSHIFT")) & int(val("ZONES_MASK"))
        zone = ms["node_data"][nid]["node_zones"][zidx]
        order, owner = page_owner(pg, flags)
        # The first two lines are bad_page's (mm/bad_page.cpp), character for character.
        gdb.write("page: refcount:%d mapcount:%d mapping:%016x index:%s pfn:%s\n" %
                  (int(pg["_refcount"]), int(pg["_mapcount"]) + 1, ulong(pg["mapping"]),
                   hexalt(ulong(pg["index"])), hexalt(pfn)))
        gdb.write("flags: %s(%s)\n" % (hexalt(flags), page_flag_names(flags)))
        gdb.write("node:%d zone:%s order:%s owner:%s\n" %
                  (nid, cstr(zone["name"]), "-" if order is None else order, owner))

    @staticmethod
    def to_pfn(ms, n):
        if n < 1 << 32:
            return n
        for pgdat in online_pgdats(ms):  # a struct page's own address
            base = ulong(pgdat["node_mem_map"])
            size = int(pgdat["node_mem_map"].dereference().type.sizeof)
            if base <= n < base + ulong(pgdat["node_spanned_pages"]) * size:
                if (n - base) % size:
                    return None
                return ulong(pgdat["node_start_pfn"]) + (n - base) // size
        pa = virt_to_phys(n)
        return None if pa is None else pa >> PAGE_SHIFT


def virt_to_phys(va):
    """Physical address of a kernel address: the image, the direct map or vmalloc space."""
    if va >= KERNEL_VIRT_BASE:
        return va - ulong(val("kernel_va_pa_offset"))
    if PAGE_OFFSET <= va < DIRECT_MAP_END:
        return va - ulong(val("va_pa_offset"))
    if va < 1 << 38:  # already physical
        return va
    vs = vmalloc_system()
    return pt_walk(ulong(vs["pt"]["root"]), va)


def read_u64_phys(pa):
    va = pa + ulong(val("va_pa_offset"))  # through the direct map
    data = gdb.selected_inferior().read_memory(va, 8)
    return int.from_bytes(bytes(data), "little")


def pt_walk(root, va):
    """Sv39 walk from the table at physical root: the physical address of va, or None."""
    table = root
    for level in (2, 1, 0):
        pte = read_u64_phys(table + ((va >> (PAGE_SHIFT + 9 * level)) & 0x1ff) * 8)
        if not pte & 1:
            return None
        ppn_pa = (pte >> 10 & (1 << 44) - 1) << PAGE_SHIFT
        if pte & 0xe:  # R, W or X: a leaf
            return ppn_pa + (va & (1 << PAGE_SHIFT + 9 * level) - 1)
        table = ppn_pa
    return None


# ---- slabinfo ----------------------------------------------------------------------

def page_to_pfn(ms, p):
    addr = ulong(p)
    for pgdat in online_pgdats(ms):
        base = ulong(pgdat["node_mem_map"])
        if base <= addr < base + ulong(pgdat["node_spanned_pages"]) * 64:
            return ulong(pgdat["node_start_pfn"]) + (addr - base) // 64
    raise gdb.GdbError("struct page %#x is in no node's mem_map" % addr)


def list_entries(head, member):
    """The struct page of each slab on a list_head linked through page::member."""
    ptype = gdb.lookup_type("page").pointer()
    off = int(gdb.parse_and_eval("&((page *)0)->%s" % member).cast(gdb.lookup_type("unsigned long")))
    e = head["next"]
    while ulong(e) != ulong(head.address):
        yield (e.cast(gdb.lookup_type("unsigned long")) - off).cast(ptype).dereference()
        e = e["next"]


def held_objects(ms, s, slab):
    """Objects a slab's callers hold (mm/slab_report.cpp): in use, not lost, not freed remotely."""
    words = int(s["bitmap_words"])
    if int(s["bitmap_offset"]) == 0:
        maps = slab.address[1]["mapping"].address.cast(gdb.lookup_type("unsigned long").pointer())
    else:
        base = (page_to_pfn(ms, slab.address) << PAGE_SHIFT) + ulong(val("va_pa_offset"))
        maps = gdb.Value(base + int(s["bitmap_offset"])).cast(gdb.lookup_type("unsigned long").pointer())
    pending = sum(bin(ulong(maps[2 * words + w])).count("1") for w in range(words))
    held = int(slab["inuse"]) - int(slab["lost"])
    return held - pending if held > pending else 0


class Slabinfo(gdb.Command):
    """Objects and slabs of each slab cache, newest first, as the monitor's slabinfo."""

    def __init__(self):
        super().__init__("mm-slabinfo", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        sa = val("system_slab")
        if int(sa) == 0:
            raise gdb.GdbError("system_slab is NULL: the slab allocator is not set up yet")
        sa = sa.dereference()
        ms = sa["ms"].dereference()
        out = ["slabinfo - version: 2.1",
               "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"
               " : tunables <limit> <batchcount> <sharedfactor>"
               " : slabdata <active_slabs> <num_slabs> <sharedavail>"]
        ctype = gdb.lookup_type("kmem_cache").pointer()
        off = int(gdb.parse_and_eval("&((kmem_cache *)0)->list").cast(gdb.lookup_type("unsigned long")))
        head = sa["caches"]
        e = head["prev"]  # oldest first on the list: walk it backwards
        while ulong(e) != ulong(head.address):
            c = (e.cast(gdb.lookup_type("unsigned long")) - off).cast(ctype).dereference()
            e = e["prev"]
            active = total = slabs = empty = 0
            slablist = []
            cpus = c["cpu_slab"]
            for i in range(array_len(cpus)):
                if int(cpus[i]["slab"]):
                    slablist.append(cpus[i]["slab"].dereference())
                slablist += list_entries(cpus[i]["partial"], "slab_list")
            nodes = c["node"]
            for i in range(array_len(nodes)):
                n = nodes[i]
                slablist += list_entries(n["partial"], "slab_list")
                slablist += list_entries(n["full"], "slab_list")
                total += ulong(n["total_objects"])
                slabs += ulong(n["nr_slabs"])
                empty += ulong(n["nr_free"])
            for slab in slablist:
                active += held_objects(ms, c, slab)
                empty += int(slab["inuse"]) == 0
            out.append("%-17s %6d %6d %6d %4d %4d : tunables %4d %4d %4d : slabdata %6d %6d %6d" % (
                c["name"].string(), active, total, int(c["size"]), int(c["objects"]), 1 << int(c["order"]),
                0, 0, 0, slabs - empty if slabs > empty else 0, slabs, 0))
        gdb.write("".join(l + "\n" for l in out))


# ---- vmallocinfo --------------------------------------------------------------------

class Kallsyms:
    """The kernel's own symbol table, so that callers read as the monitor's %pS."""

    def __init__(self):
        self.n = ulong(val("kallsyms_num_syms"))
        self.addrs = val("kallsyms_addresses")
        self.sizes = val("kallsyms_sizes")
        self.offs = val("kallsyms_name_offsets")
        self.names = val("kallsyms_names")

    def sprint(self, addr):
        if self.n == 0 or addr < ulong(self.addrs[0]):
            return "0x%016x" % addr
        lo, hi = 0, self.n
        while hi - lo > 1:
            mid = lo + (hi - lo) // 2
            if ulong(self.addrs[mid]) <= addr:
                lo = mid
            else:
                hi = mid
        off, size = addr - ulong(self.addrs[lo]), ulong(self.sizes[lo])
        if off >= size:
            return "0x%016x" % addr
        name = (self.names.address.cast(gdb.lookup_type("char").pointer()) +
                ulong(self.offs[lo])).string()
        return "%s+0x%x/0x%x" % (name, off, size)


def inorder(node):
    stack, cur = [], node
    while stack or int(cur):
        while int(cur):
            stack.append(cur)
            cur = cur["left"]
        cur = stack.pop()
        yield cur.dereference()
        cur = cur["right"]


def vmalloc_system():
    vs = val("system_vmalloc")
    if int(vs) == 0:
        raise gdb.GdbError("system_vmalloc is NULL: vmalloc is not set up yet")
    return vs.dereference()


class Vmallocinfo(gdb.Command):
    """Every vmalloc and vmap area with its caller, then the ranges waiting for the
lazy purge, as the monitor's vmallocinfo."""

    def __init__(self):
        super().__init__("mm-vmallocinfo", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        vs = vmalloc_system()
        ms = vs["ms"].dereference()
        root = ulong(vs["pt"]["root"])
        syms = Kallsyms()
        symbolize = int(vs["symbolize"]) != 0
        out = []
        for va in inorder(vs["space"]["busy_root"]):
            if not int(va["vm"]):
                continue
            vm = va["vm"].dereference()
            start, end = ulong(va["va_start"]), ulong(va["va_end"])
            flags, nr = ulong(vm["flags"]), int(vm["nr_pages"])
            caller = ulong(vm["caller"])
            who = syms.sprint(caller) if symbolize else "0x%x" % caller
            line = "0x%016x-0x%016x %7d %s" % (start, end, end - start, who)
            per_node = [0] * MAX_NUMNODES
            if flags & VM_ALLOC:
                line += " pages=%d vmalloc" % nr
                for i in range(nr):
                    pa = pt_walk(root, start + (i << PAGE_SHIFT))
                    if pa is None:
                        continue
                    p = pfn_to_page(ms, pa >> PAGE_SHIFT)
                    if p is not None:
                        per_node[ulong(p["flags"]) >> int(val("NODES_PGSHIFT")) & int(val("NODES_MASK"))] += 1
            if flags & VM_MAP:
                line += " vmap"
            if flags & VM_USER:
                line += " user"
            if flags & VM_MOVABLE:
                line += " movable"
            line += "".join(" N%d=%d" % (nid, c) for nid, c in enumerate(per_node) if c)
            out.append(line)
        # The lazy and purging trees never overlap: their union in address order.
        ranges = [(ulong(va["va_start"]), ulong(va["va_end"])) for va in inorder(vs["space"]["lazy_root"])]
        ranges += [(ulong(va["va_start"]), ulong(va["va_end"])) for va in inorder(vs["space"]["purging_root"])]
        for s, e in sorted(ranges):
            out.append("0x%016x-0x%016x %7d unpurged vm_area" % (s, e, e - s))
        gdb.write("".join(l + "\n" for l in out))


Buddyinfo()
Zoneinfo()
Page()
Vmallocinfo()
Slabinfo()
