#!/usr/bin/env python3
"""The monitor's allocation playground, checked against buddyinfo and meminfo.

Boots once with mm.check=1, feeds one script and splits the console at each
`mm> ` prompt, so every command's output is read on its own. Checks, as TAP:
  - an order-3 `alloc` takes exactly one order-3 block out of its zone's
    buddyinfo (or splits one larger block: one fewer of order k, one more of
    each order 3..k-1), and `free` puts buddyinfo back exactly;
  - every bad-input line prints its one-line error and leaves buddyinfo and
    MemFree as they were;
  - `cache` makes a slab cache that slabinfo lists, `cache_alloc` takes an
    object of it, `cache_destroy` refuses while a handle holds one;
  - `churn` runs on every CPU: each CPU's per-CPU page list, drained
    before, holds pages after it;
  - `reset` after `churn` puts buddyinfo back block for block, and every
    line of meminfo, as they were before the first churn, twice over (the
    second churn with the same seed also prints the same summary);
  - scripts/plot reads this boot's console: every chart is written at
    800x500 and counts as many reports as the script asked for.
Every read of buddyinfo follows a `drain`: orders up to 3 go through the
per-CPU lists.
"""
import argparse
import os
import re
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
import qemu  # noqa: E402
import tap  # noqa: E402

BAD = [  # (command, the error it must print)
    ("alloc 11", r"^alloc: order 11 is too large \(at most 10\)$"),
    ("alloc", r"^alloc: usage: alloc ORDER \[GFP\.\.\.\]$"),
    ("alloc x", r"^alloc: usage: alloc ORDER"),
    ("alloc 2 GFP_KERNAL", r'^alloc: unknown GFP flag "GFP_KERNAL"'),
    ("alloc 2 gfp_kernel", r'^alloc: unknown GFP flag "gfp_kernel"'),
    ("alloc 2 GFP_KERNEL||__GFP_ZERO", r'^alloc: unknown GFP flag ""'),
    ("alloc 0 __GFP_DMA|__GFP_DMA32", r"^alloc: contradictory GFP flags"),
    ("alloc 0 __GFP_MOVABLE __GFP_RECLAIMABLE", r"^alloc: contradictory GFP flags"),
    ("kmalloc 0", r"^kmalloc: size 0 out of range"),
    ("kmalloc 5M", r"^kmalloc: size 5242880 out of range"),
    ("kmalloc", r"^kmalloc: usage"),
    ("kmalloc 64 __GFP_BOGUS", r'^kmalloc: unknown GFP flag "__GFP_BOGUS"'),
    ("vmalloc 0", r"^vmalloc: size 0 out of range"),
    ("vmalloc 1G", r"^vmalloc: size 1073741824 out of range"),
    ("vmalloc 4096 pinned", r"^vmalloc: usage"),
    ("free 1", r"^free: handle 1 is already freed$"),
    ("free 999", r"^free: no handle 999$"),
    ("free 0", r"^free: no handle 0$"),
    ("free", r"^free: usage: free HANDLE$"),
    ("churn 0", r"^churn: N 0 out of range"),
    ("churn", r"^churn: usage"),
    ("cache widget 64", r"^cache: a cache named widget already exists$"),
    ("cache kmalloc-64 64", r"^cache: a cache named kmalloc-64 already exists$"),
    ("cache bad/name 64", r'^cache: bad name "bad/name"'),
    ("cache " + "n" * 32 + " 64", r"^cache: bad name"),
    ("cache big 3M", r"^cache: size 3145728 out of range \(1 to 2097152\)$"),
    ("cache zero 0", r"^cache: size 0 out of range"),
    ("cache flagged 64 SLAB_BOGUS", r'^cache: unknown flag "SLAB_BOGUS"'),
    ("cache both 64 SLAB_CACHE_DMA SLAB_CACHE_DMA32", r"^cache: SLAB_CACHE_DMA and SLAB_CACHE_DMA32 together$"),
    ("cache", r"^cache: usage"),
    ("cache_alloc nosuch", r"^cache_alloc: no playground cache named nosuch"),
    ("cache_alloc kmalloc-64", r"^cache_alloc: no playground cache named kmalloc-64"),
    ("cache_alloc widget GFP_BOGUS", r'^cache_alloc: unknown GFP flag "GFP_BOGUS"'),
    ("cache_destroy widget", r"^cache_destroy: widget still has 1 objects under handles; free them first$"),
    ("cache_destroy nosuch", r"^cache_destroy: no playground cache named nosuch$"),
]

CHURN = "churn 3000 7"
SCRIPT = (["drain", "buddyinfo", "alloc 3", "drain", "buddyinfo", "handles", "free 1", "drain", "buddyinfo",
           "meminfo", "cache widget 200 SLAB_RED_ZONE", "cache_alloc widget", "slabinfo"] + [b for b, _ in BAD] +
          ["free 2", "cache_destroy widget", "slabinfo", "drain", "buddyinfo", "meminfo",
           "cache churned 96 SLAB_HWCACHE_ALIGN", CHURN, "zoneinfo", "pagetypeinfo", "memmap", "reset", "drain", "buddyinfo", "meminfo",
           "cache churned 96 SLAB_HWCACHE_ALIGN", CHURN, "handles", "reset", "drain", "buddyinfo", "meminfo",
           "handles", "poweroff"])


def split_commands(text):
    """[(command, output lines)] in order, from the console's `mm> ` prompts."""
    out = []
    for chunk in text.split("mm> ")[1:]:
        lines = chunk.split("\n")
        out.append((lines[0].strip(), lines[1:]))
    return out


def buddyinfo(lines):
    zones = {}
    for line in lines:
        m = re.match(r"^Node (\d+), zone +(\S+) +((?:\d+ +)+)$", line + " ")
        if m:
            zones[(int(m.group(1)), m.group(2))] = [int(x) for x in m.group(3).split()]
    return zones


def free_pages(zones):
    return {z: sum(n << order for order, n in enumerate(counts)) for z, counts in zones.items()}


def meminfo(lines):
    """{field: value} of a meminfo report."""
    return {m.group(1): m.group(2) for m in (re.match(r"^(\w+(?:\(\w+\))?): +(\d+)", line) for line in lines) if m}


def slab_names(lines):
    return {line.split()[0] for line in lines if re.match(r"^\S+ +\d+ +\d+ +\d+ +\d+ +\d+ : tunables", line)}


def pcp_counts(lines):
    """[count] of every CPU's per-CPU list in every zone of a zoneinfo report."""
    return [int(m.group(1)) for m in (re.match(r"^ +count: (\d+)$", line) for line in lines) if m]


def one_block_gone(before, after, zone, order):
    """after is before less one free block of `order` in `zone`, taken whole or split from a larger one."""
    if set(before) != set(after) or any(before[z] != after[z] for z in before if z != zone):
        return False
    b, a = before[zone], after[zone]
    for k in range(order, len(b)):
        want = list(b)
        want[k] -= 1
        for j in range(order, k):
            want[j] += 1
        if want == a:
            return True
    return False


def plot_results(text):
    """scripts/plot on this boot's console log."""
    plot = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts", "plot")
    # memmap ends with its zone's buddyinfo line: one more report (one zone at 256 MiB).
    want = {"buddyinfo.png": SCRIPT.count("buddyinfo") + SCRIPT.count("memmap"), "migratetype.png": SCRIPT.count("pagetypeinfo"),
            "meminfo.png": SCRIPT.count("meminfo"), "memmap.png": SCRIPT.count("memmap"),
            "slab.png": SCRIPT.count("slabinfo")}
    out = []
    with tempfile.TemporaryDirectory() as d:
        log = os.path.join(d, "console.log")
        with open(log, "w") as f:
            f.write(text)
        r = subprocess.run([plot, log, "-o", d], capture_output=True, text=True)
        out.append((r.returncode == 0, f"scripts/plot reads the console log ({r.returncode}: {r.stderr.strip()})"))
        for name, n in want.items():
            p = os.path.join(d, name)
            size = None
            if os.path.exists(p):
                with open(p, "rb") as f:
                    head = f.read(24)
                size = struct.unpack(">II", head[16:24]) if head[:8] == b"\x89PNG\r\n\x1a\n" else None
            out.append((size == (800, 500) and f"{p} ({n} reports)" in r.stdout.split("\n"),
                        f"plot wrote {name} at 800x500 from the {n} reports the script asked for ({size})"))
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", required=True)
    ap.add_argument("--mem", default="256M")
    ap.add_argument("--smp", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=300)
    a = ap.parse_args()

    argv = qemu.qemu_argv(a.image, a.mem, a.smp, 0, "", "mm.check=1")
    status, out = qemu.run(argv, ("\n".join(SCRIPT) + "\n").encode(), timeout=a.timeout)
    text = out.decode("utf-8", "replace").replace("\r\n", "\n")
    cmds = split_commands(text)
    results = [(status == 0, f"boot.exit_status is 0 (got {status})")]
    results.append(([c for c, _ in cmds] == SCRIPT, "every script line ran at its own prompt"))
    results.append(("mm.check" not in text or not re.search(r"mm\.check: .*(bad|error|mismatch)", text, re.I),
                    "mm.check reports nothing"))
    results.append((not re.search(r"Bad page state|BUG|WARNING", text), "no Bad page state, BUG or WARNING"))
    if [c for c, _ in cmds] != SCRIPT:
        cmds = []
    if cmds:
        outs = [o for _, o in cmds]
        bi = {i: buddyinfo(o) for i, o in enumerate(outs) if SCRIPT[i] == "buddyinfo"}
        keys = sorted(bi)
        before, after_alloc, after_free = bi[keys[0]], bi[keys[1]], bi[keys[2]]
        alloc_out = "\n".join(outs[SCRIPT.index("alloc 3")])
        m = re.search(r"^handle 1: pages order 3 \(32 KiB\) virt 0x[0-9a-f]+ gfp GFP_KERNEL$", alloc_out, re.M)
        z = re.search(r"^  pfn 0x[0-9a-f]+ phys 0x[0-9a-f]+ zone (\S+) node (\d+) migratetype Unmovable$",
                      alloc_out, re.M)
        results.append((m is not None and z is not None, "alloc 3 prints handle 1, its addresses, zone and type"))
        zone = (int(z.group(2)), z.group(1)) if z else None
        results.append((zone is not None and one_block_gone(before, after_alloc, zone, 3),
                        "alloc 3 took one order-3 block (or split a larger one) from its zone's buddyinfo"))
        results.append((before == after_free, "free restored buddyinfo exactly"))
        free_out = "\n".join(outs[SCRIPT.index("free 1")])
        results.append((re.search(r"^free: handle 1 \(pages\) freed", free_out, re.M) is not None, "free 1 says so"))
        for cmd, rx in BAD:
            i = SCRIPT.index(cmd, SCRIPT.index("meminfo"))
            o = [line for line in outs[i] if line.strip()]
            results.append((len(o) == 1 and re.search(rx, o[0]) is not None, f"bad input {cmd!r} gives {rx!r}"))
        results.append((bi[keys[3]] == after_free, "buddyinfo unchanged by the bad input and the cache's life"))
        mi = [meminfo(o) for i, o in enumerate(outs) if SCRIPT[i] == "meminfo"]
        results.append((len(mi[0]) > 20 and mi[0] == mi[1],
                        f"meminfo unchanged by the bad input and the cache's life (MemFree {mi[0].get('MemFree')}, "
                        f"{mi[1].get('MemFree')})"))
        cache_out = "\n".join(outs[SCRIPT.index("cache widget 200 SLAB_RED_ZONE")])
        results.append((re.search(r"^cache widget: object 200 bytes, stride 2[0-9][0-9], [1-9][0-9]* objects per slab "
                                  r"of order 0$", cache_out, re.M) is not None, "cache prints its geometry"))
        obj_out = "\n".join(outs[SCRIPT.index("cache_alloc widget")])
        results.append((re.search(r"^handle 2: cache widget object \(200 bytes, stride \d+, slab order 0\) virt "
                                  r"0x[0-9a-f]+ gfp GFP_KERNEL$", obj_out, re.M) is not None,
                        "cache_alloc prints handle 2 and its object"))
        slabs = [slab_names(o) for i, o in enumerate(outs) if SCRIPT[i] == "slabinfo"]
        results.append(("widget" in slabs[0] and "widget" not in slabs[1] and len(slabs[1]) > 5,
                        "slabinfo lists the cache until cache_destroy"))
        results.append((re.search(r"^cache_destroy: widget destroyed$", "\n".join(
            outs[SCRIPT.index("cache_destroy widget", SCRIPT.index("free 2"))]), re.M) is not None,
            "cache_destroy destroys it once its object is freed"))
        churn_outs = ["\n".join(o) for i, o in enumerate(outs) if SCRIPT[i] == CHURN]
        results.append((len(churn_outs) == 2 and all(
            re.search(rf"^churn: 3000 steps \(seed 7\) on {a.smp} CPUs: [1-9][0-9]* allocations, [1-9][0-9]* frees, "
                      r"[0-9]+ failed; [1-9][0-9]* handles live", c, re.M) for c in churn_outs),
            "churn reports its CPUs, allocations, frees and live handles"))
        summary = [re.sub(r"free pages.*", "", c) for c in churn_outs]
        results.append((len(summary) == 2 and summary[0] == summary[1], "churn with one seed does the same twice"))
        pcp = pcp_counts(outs[SCRIPT.index("zoneinfo")])
        results.append((len(pcp) >= a.smp and pcp.count(0) <= len(pcp) - a.smp,
                        f"churn ran on every CPU: after a drain, {a.smp} per-CPU lists hold pages again ({pcp})"))
        results.append((bi[keys[4]] == bi[keys[3]] and bi[keys[5]] == bi[keys[3]],
                        "reset after churn restored buddyinfo block for block, twice"))
        diff = {k: (mi[1].get(k), mi[2].get(k), mi[3].get(k)) for k in mi[1] if not mi[1][k] == mi[2].get(k) == mi[3].get(k)}
        results.append((not diff, f"reset after churn restored every line of meminfo, twice (differing: {diff})"))
        results.append((re.search(r"^reset: [1-9][0-9]* handles freed, 1 caches destroyed", "\n".join(
            outs[SCRIPT.index("reset")]), re.M) is not None, "reset freed the churn's handles and its cache"))
        results.append((re.search(r"^0 live of 512$", "\n".join(outs[-2]), re.M) is not None, "no handle left"))

    results += plot_results(text)

    tap.report(results, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
