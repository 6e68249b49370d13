#!/usr/bin/python3
"""scripts/plot on a kept console log: every chart is written at 800x500,
and a log with a damaged report line fails naming that line."""
import os
import struct
import subprocess
import sys
import tempfile

plot, log = sys.argv[1], sys.argv[2]
failed = 0


def check(ok, what):
    global failed
    print(("ok - " if ok else "not ok - ") + what)
    failed += not ok


with tempfile.TemporaryDirectory() as d:
    r = subprocess.run([plot, log, "-o", d], capture_output=True, text=True)
    check(r.returncode == 0, f"plot exits 0 ({r.returncode}: {r.stderr.strip()})")
    for name in ["buddyinfo.png", "migratetype.png", "meminfo.png", "memmap.png", "slab.png"]:
        p = os.path.join(d, name)
        if not os.path.exists(p):
            check(False, f"{name} written")
            continue
        with open(p, "rb") as f:
            head = f.read(24)
        w, h = struct.unpack(">II", head[16:24])
        check(head[:8] == b"\x89PNG\r\n\x1a\n" and (w, h) == (800, 500), f"{name} is an 800x500 PNG ({w}x{h})")
    lines = open(log).read().split("\n")
    for kind, prefix in [("buddyinfo", "Node 0, zone    DMA32      "), ("pagetypeinfo", "Node    0, zone    DMA32, type      Movable"),
                         ("slabinfo", "kmem_cache "), ("memmap row", "     0x88000 "), ("meminfo", "SUnreclaim:")]:
        no = next(i for i, l in enumerate(lines) if l.startswith(prefix))
        bad = lines[:no] + [lines[no][:-6] + "x y z"] + lines[no + 1:]
        bad_log = os.path.join(d, "bad.log")
        open(bad_log, "w").write("\n".join(bad))
        r = subprocess.run([plot, bad_log, "-o", d], capture_output=True, text=True)
        check(r.returncode != 0 and f"bad.log:{no + 1}: cannot read a {kind}" in r.stderr,
              f"a damaged {kind} line is named ({r.returncode}: {r.stderr.strip()})")
print(f"1..{1 + 5 + 5}")
sys.exit(1 if failed else 0)
