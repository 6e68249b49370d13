#!/usr/bin/env python3
"""The monitor's allocation playground, checked against buddyinfo and meminfo.

Boots once with mm.check=1, feeds one script and splits the console at each
`mm> ` prompt, so every command's output is read on its own. Checks, as TAP:
  - an order-3 `alloc` takes exactly one order-3 block out of its zone's
    buddyinfo (or splits one larger block: one fewer of order k, one more of
    each order 3..k-1), and `free` puts buddyinfo back exactly;
  - every bad-input line prints its one-line error and leaves buddyinfo and
    MemFree as they were;
  - `reset` after `churn` puts MemFree and each zone's free pages in
    buddyinfo back. vmalloc keeps the page tables of its range and other
    caches their partly used slabs, as Linux does, so a first churn and
    reset of the same seed warms those up; the second one must then come
    back exactly.
Every read of buddyinfo follows a `drain`: orders up to 3 go through the
per-CPU lists.
"""
import argparse
import os
import re
import sys

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
]

CHURN = "churn 3000 7"
SCRIPT = (["drain", "buddyinfo", "alloc 3", "drain", "buddyinfo", "handles", "free 1", "drain", "buddyinfo",
           "meminfo"] + [b for b, _ in BAD] +
          ["drain", "buddyinfo", "meminfo",
           CHURN, "reset", "drain", "buddyinfo", "meminfo",
           CHURN, "handles", "reset", "drain", "buddyinfo", "meminfo", "handles", "poweroff"])


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


def memfree(lines):
    for line in lines:
        m = re.match(r"^MemFree: +(\d+) kB", line)
        if m:
            return int(m.group(1))
    return None


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
        results.append((bi[keys[3]] == after_free, "buddyinfo unchanged by the bad input"))
        mf = [memfree(o) for i, o in enumerate(outs) if SCRIPT[i] == "meminfo"]
        results.append((mf[0] is not None and mf[0] == mf[1], f"MemFree unchanged by the bad input ({mf[0]}, {mf[1]})"))
        churn_outs = ["\n".join(o) for i, o in enumerate(outs) if SCRIPT[i] == CHURN]
        results.append((len(churn_outs) == 2 and all(
            re.search(r"^churn: 3000 steps \(seed 7\): [1-9][0-9]* allocations, [1-9][0-9]* frees, [0-9]+ failed; "
                      r"[1-9][0-9]* handles live", c, re.M) for c in churn_outs),
            "churn reports its allocations, frees and live handles"))
        summary = [re.sub(r"free pages.*", "", c) for c in churn_outs]
        results.append((len(summary) == 2 and summary[0] == summary[1], "churn with one seed does the same twice"))
        # The pages the kernel keeps (page tables, other caches' partial slabs)
        # can land at other pfns in the second run, so the free blocks may
        # merge differently: the free pages per zone must match exactly.
        results.append((free_pages(bi[keys[4]]) == free_pages(bi[keys[5]]),
                        "reset after churn restored each zone's free pages in buddyinfo"))
        results.append((mf[2] is not None and mf[2] == mf[3], f"reset after churn restored MemFree ({mf[2]}, {mf[3]})"))
        results.append((re.search(r"^0 live of 512$", "\n".join(outs[-2]), re.M) is not None, "no handle left"))
        results.append((re.search(r"^reset: [1-9][0-9]* handles freed", "\n".join(outs[SCRIPT.index("reset")]),
                                  re.M) is not None, "reset freed the churn's handles"))

    tap.report(results, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
