#!/usr/bin/env python3
"""Writes the seed corpus of fuzz/mm_fuzz.cpp into fuzz/corpus/ (or the
directory given): one small program per area, in the byte format documented
at the top of mm_fuzz.cpp. The files are committed; rerun this only when the
seeds should change (a changed seed is a new corpus entry, not a bug)."""
import os
import sys

(OP_ALLOC_PAGES, OP_GET_FREE_PAGES, OP_KMALLOC, OP_KREALLOC, OP_CACHE_CREATE, OP_CACHE_ALLOC,
 OP_CACHE_DESTROY, OP_VMALLOC, OP_VMAP, OP_FREE, OP_SET_CPU, OP_MAINT, OP_BAD_FREE, OP_MOBILITY) = range(14)

# The nid byte of OP_ALLOC_PAGES: bits 3-4 add mobility.
MOVABLE, RECLAIMABLE, BOTH = 1 << 3, 2 << 3, 3 << 3
# OP_MOBILITY's first byte.
ISOLATE, UNISOLATE, SLOW_PATH, REPORTS, COMPACT, CONTIG = 0, 1, 2, 3, 4, 5
COMPACT_MEMORY = 0x80  # COMPACT's second byte: else bit 0 zone, bits 1-4 order, bits 5-6 mode

# gfp bytes: zone modifiers in bits 0-2 (4: __GFP_MOVABLE), type in bits 3-4, bit 5 __GFP_ZERO,
# bit 6 __GFP_COMP, bit 7 set = warnings on.
KERNEL, ATOMIC, NOWAIT, NORETRY = 0 << 3, 1 << 3, 2 << 3, 3 << 3
DMA, DMA32, INVALID = 1, 2, 7
ZERO, COMP, WARN = 0x20, 0x40, 0x80
GFP_MOVABLE = 4


def machine(layout=0, cpus=2, min_free=0, pcp_disabled=False, small_vmalloc=False):
    return bytes([layout | (cpus - 1) << 2 | min_free << 4 | pcp_disabled << 6 | small_vmalloc << 7])


def slab(red_zone=False, poison=False, fail_every=0):
    return bytes([red_zone | poison << 1 | fail_every << 2])


def size16(scale, value):
    return bytes([value & 0xff, (scale << 6) | (value >> 8 & 0x3f)])


def op(code, *args):
    out = bytes([code])
    for a in args:
        out += a if isinstance(a, bytes) else bytes([a])
    return out


def order_byte(order):
    if order < 4:
        return order
    b = 0x80
    while b % 12 != order:
        b += 1
    return b


def pages(order, gfp=KERNEL, nid_byte=0):
    return op(OP_ALLOC_PAGES, order_byte(order), gfp, nid_byte)


def gfp_pages(order, gfp=KERNEL):
    return op(OP_GET_FREE_PAGES, order_byte(order), gfp)


def kmalloc(scale, value, gfp=KERNEL, how=0):
    return op(OP_KMALLOC, size16(scale, value), gfp, how)


def free(pick=0, how=0):
    return op(OP_FREE, pick, how)


def bad(pick=0, how=0):
    return op(OP_BAD_FREE, pick, how)


def vmalloc(size, how=0, gfp=KERNEL):
    v = size if size < 0x8000 else 0x8000 | size // 64
    return op(OP_VMALLOC, bytes([v & 0xff, v >> 8]), how, gfp)


seeds = {
    "pages": machine(1, cpus=2) + slab() + b"".join([
        pages(0), pages(1, DMA), pages(3, DMA32 | ZERO), pages(5, KERNEL | COMP), pages(10, NORETRY | WARN),
        pages(0, ATOMIC, 4 | 1), gfp_pages(2), gfp_pages(0, INVALID | WARN), op(OP_SET_CPU, 1), pages(2),
        free(0), free(1, 1), op(OP_MAINT, 1, 0), free(0), op(OP_MAINT, 0, 0), pages(11), free(0, 1)]),
    "kmalloc": machine(0, cpus=1) + slab(poison=True) + b"".join([
        kmalloc(0, 8), kmalloc(0, 100, ZERO), kmalloc(1, 5000, DMA32), kmalloc(2, 1000), kmalloc(3, 20),
        kmalloc(0, 0), kmalloc(0, 64, KERNEL, 1), kmalloc(0, 50, KERNEL, 3 | 4 << 2),
        op(OP_KREALLOC, 0, size16(1, 3000), KERNEL), op(OP_KREALLOC, 1, size16(0, 4), KERNEL),
        op(OP_MAINT, 6, 0), free(2, 1), free(0, 2), free(0), op(OP_MAINT, 3, 5)]),
    "caches": machine(3, cpus=2) + slab(red_zone=True) + b"".join([
        op(OP_CACHE_CREATE, size16(0, 40), 1, 0x01), op(OP_CACHE_CREATE, bytes([0x00, 0x88]), 4, 0x24),
        op(OP_CACHE_CREATE, size16(0, 24), 0, 0x40), op(OP_CACHE_CREATE, size16(0, 0), 0, 0),
        op(OP_CACHE_ALLOC, 0, KERNEL, 0), op(OP_CACHE_ALLOC, 1, KERNEL, 1), op(OP_CACHE_ALLOC, 2, ATOMIC, 2),
        op(OP_CACHE_ALLOC, 0, KERNEL, 0), op(OP_SET_CPU, 1), free(1), op(OP_MAINT, 3, 0), op(OP_CACHE_DESTROY, 1),
        op(OP_MAINT, 4, 0)]),
    "vmalloc": machine(2, cpus=4) + slab() + b"".join([
        vmalloc(100), vmalloc(3 * 4096, 1), vmalloc(20000, 2 | 1 << 3), vmalloc(5000, 3), vmalloc(4096, 4),
        vmalloc(8000, 5, ATOMIC | WARN), vmalloc(0, 0), vmalloc(64 * 300, 5, KERNEL | ZERO),
        op(OP_VMAP, 2, 0), op(OP_VMAP, 0xff, 0), op(OP_VMAP, 3, 2), op(OP_MAINT, 7, 1), free(1), free(0),
        op(OP_SET_CPU, 3), vmalloc(70000 // 64 * 64)]),
    "mixed": machine(1, cpus=3, min_free=2, pcp_disabled=True) + slab(poison=True, fail_every=3) + b"".join([
        pages(0), kmalloc(0, 200), vmalloc(9000), op(OP_CACHE_CREATE, size16(0, 100), 2, 0x02),
        op(OP_CACHE_ALLOC, 0, KERNEL, 0), gfp_pages(1, DMA), op(OP_SET_CPU, 2), kmalloc(1, 9000),
        op(OP_MAINT, 5, 0), free(3), op(OP_MAINT, 2, 0), pages(4, KERNEL | COMP), kmalloc(0, 30, DMA | WARN),
        free(0, 1), op(OP_MAINT, 4, 1)] * 3),
    "bad-frees": machine(0, cpus=2) + slab() + b"".join([
        pages(2), bad(0, 0), bad(0, 1), bad(0, 2),
        gfp_pages(1), bad(0, 0), bad(0, 2), bad(0, 1),
        kmalloc(0, 32), bad(0, 1), bad(0, 3), bad(0, 0),
        kmalloc(1, 9000), bad(0, 1), bad(0, 2),
        op(OP_CACHE_CREATE, size16(0, 48), 0, 0), op(OP_CACHE_ALLOC, 0, KERNEL, 0), bad(0, 1), bad(0, 2),
        bad(0, 3), bad(0, 0),
        vmalloc(8192), bad(0, 1), bad(0, 2), bad(0, 3), bad(0, 0),
        op(OP_VMAP, 1, 0), bad(0, 1), bad(0, 0)]),
    # 12 MiB groups by mobility: every type steals its pageblocks, a
    # pageblock is isolated and given back (once refused as HighAtomic),
    # high-order atomic requests in the slow path reserve pageblocks, and
    # the reports run over it all.
    "mobility": machine(0, cpus=2) + slab() + b"".join([
        pages(0), pages(0, KERNEL, RECLAIMABLE), pages(2, KERNEL, MOVABLE), pages(0, KERNEL, BOTH),
        op(OP_MOBILITY, ISOLATE, 4 << 2), op(OP_MOBILITY, REPORTS, 0), pages(9), pages(9, KERNEL, MOVABLE),
        op(OP_MOBILITY, UNISOLATE, 3 << 4), op(OP_MOBILITY, UNISOLATE, 1 << 4),
        op(OP_MOBILITY, SLOW_PATH, 0), pages(2, ATOMIC), pages(9, ATOMIC), pages(3, KERNEL | NORETRY),
        op(OP_MOBILITY, SLOW_PATH, 0), op(OP_MOBILITY, REPORTS, 0), free(0), free(1), free(2),
        op(OP_MOBILITY, ISOLATE, 6 << 2), kmalloc(0, 64, KERNEL), free(0), op(OP_MOBILITY, REPORTS, 0)]),
    # Movable vmalloc areas between unmovable pages, half of them freed;
    # compaction of a zone for order 9 and of everything, a contiguous range
    # beyond MAX_PAGE_ORDER, a pageblock isolated over movable pages, and
    # the areas' bytes checked after each move.
    "compaction": machine(0, cpus=2) + slab() + b"".join(
        [vmalloc(4096 * (1 + i % 3), 5, GFP_MOVABLE) + pages(0) for i in range(40)] +
        [free(2 * i, 0) for i in range(20)] +
        [op(OP_MOBILITY, COMPACT, (9 << 1) | (2 << 5)), op(OP_MOBILITY, REPORTS, 0),
         op(OP_MOBILITY, COMPACT, COMPACT_MEMORY), op(OP_MOBILITY, CONTIG, 22),
         op(OP_MOBILITY, ISOLATE, 4 << 2), op(OP_MOBILITY, REPORTS, 0), op(OP_MOBILITY, UNISOLATE, 1 << 4),
         op(OP_MOBILITY, CONTIG, 3), op(OP_MOBILITY, COMPACT, (3 << 1) | (0 << 5)), free(0), free(1)]),
}

out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus")
os.makedirs(out, exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)
    print(f"{name}: {len(data)} bytes")
