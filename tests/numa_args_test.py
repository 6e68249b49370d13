#!/usr/bin/env python3
"""scripts/run --numa without booting (TAP).

Shapes the kernel cannot boot are refused by scripts/run itself with one
line on stderr and exit status 1, before anything is built or QEMU starts
(stand-ins for ninja and qemu-system-riscv64 on PATH note any call). For
shapes that work, the device tree scripts/qemu.py writes is read back with
dtc: one memory node per NUMA node with its numa-node-id, every hart's
numa-node-id, the distance-map, QEMU's one PLIC, and no -numa or sockets on
QEMU's command line.
"""
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import qemu  # noqa: E402

LINE = "10,20,30,40;20,10,20,30;30,20,10,20;40,30,20,10"

# (arguments, what the one line must say)
REFUSED = [
    (["--numa", "3", "--smp", "4"], r"--numa 3 must divide the harts \(4\)"),
    (["--numa", "3", "--smp", "3", "--mem", "1G"], r"--numa 3 must divide the memory \(1024 MiB\)"),
    (["--numa", "9", "--smp", "8", "--mem", "9G"], r"--numa 9: the kernel has at most 8 nodes \(MAX_NUMNODES\)"),
    (["--numa", "-2"], r"--numa -2: the number of nodes cannot be negative"),
    (["--numa-dist", "10"], r"--numa-dist needs --numa N with N >= 2"),
    (["--numa", "2", "--dtb", os.path.join(ROOT, "README.md")], r"use --numa or --dtb, not both"),
    (["--numa", "2", "--numa-dist", "10,20;20,10;20,20"], r"--numa-dist has 3 rows for 2 nodes"),
    (["--numa", "2", "--numa-dist", "10,20,30;20,10"], r"--numa-dist row 0 has 3 distances for 2 nodes"),
    (["--numa", "2", "--numa-dist", "10,2x;20,10"], r"--numa-dist row 0 \('10,2x'\) is not a list of whole numbers"),
    (["--numa", "2", "--numa-dist", "10,20;20,12"], r"node 1's distance to itself is 12, must be 10"),
    (["--numa", "2", "--numa-dist", "10,10;20,10"], r"distance 0->1 is 10, must be 11 to 255"),
    (["--numa", "2", "--numa-dist", "10,20;256,10"], r"distance 1->0 is 256, must be 11 to 255"),
    (["--smp", "9"], r"--smp takes 1 to 8 harts"),
]

results = []


def check(ok, what):
    results.append((ok, what))


def refusals():
    with tempfile.TemporaryDirectory() as d:
        marker = os.path.join(d, "called")
        for tool in ["ninja", "qemu-system-riscv64"]:
            path = os.path.join(d, tool)
            with open(path, "w") as f:
                f.write(f"#!/bin/sh\necho {tool} >> {marker}\nexit 1\n")
            os.chmod(path, 0o755)
        env = dict(os.environ, PATH=d + os.pathsep + os.environ["PATH"])
        for args, why in REFUSED:
            r = subprocess.run([os.path.join(ROOT, "scripts", "run")] + args, capture_output=True, text=True,
                               env=env, stdin=subprocess.DEVNULL, timeout=60)
            lines = r.stderr.splitlines()
            called = open(marker).read().split() if os.path.exists(marker) else []
            check(r.returncode == 1 and r.stdout == "" and len(lines) == 1 and
                  re.fullmatch("scripts/run: .*" + why + ".*", lines[0]) is not None and not called,
                  f"refused: {' '.join(args)} -> {lines} (status {r.returncode}, ran {called})")


def dts_of(mib, smp, nodes, dist):
    with tempfile.TemporaryDirectory() as d:
        distances = qemu.check_shape(mib, smp, nodes, dist)
        dtb = qemu.numa_device_tree(mib, smp, distances, d)
        return subprocess.run(["dtc", "-q", "-I", "dtb", "-O", "dts", dtb], check=True, capture_output=True,
                              text=True).stdout


def node_props(dts, name):
    """The properties of every node called name@..., by unit address."""
    out = {}
    for m in re.finditer(r"^\t+" + name + r"@([0-9a-f]+) \{\n(.*?)^\t+\};", dts, re.M | re.S):
        out[int(m.group(1), 16)] = m.group(2)
    return out


def device_trees():
    for mib, smp, nodes, dist in [(2048, 4, 4, LINE), (3072, 3, 3, ""), (1024, 4, 2, ""),
                                  (8, 8, 8, ""), (1024, 2, 2, "10,30;15,10")]:
        shape = f"--mem {mib}M --smp {smp} --numa {nodes}" + (f" --numa-dist {dist}" if dist else "")
        dts = dts_of(mib, smp, nodes, dist)
        per = (mib << 20) // nodes
        mems = node_props(dts, "memory")
        want = {0x80000000 + n * per: n for n in range(nodes)}
        ok = sorted(mems) == sorted(want)
        for base, n in want.items():
            props = mems.get(base, "")
            reg = re.search(r"reg = <([^>]*)>;", props)
            cells = [int(c, 16) for c in reg.group(1).split()] if reg else []
            ok &= cells == [base >> 32, base & 0xffffffff, per >> 32, per & 0xffffffff]
            ok &= f"numa-node-id = <0x{n:02x}>;" in props and 'device_type = "memory";' in props
        check(ok, f"{shape}: {nodes} memory nodes of {per >> 20} MiB, each with its numa-node-id")

        cpus = node_props(dts, "cpu")
        ok = sorted(cpus) == list(range(smp))
        for hart, props in cpus.items():
            ok &= f"numa-node-id = <0x{hart // (smp // nodes):02x}>;" in props
        check(ok, f"{shape}: each of {smp} harts on node hart / {smp // nodes}")

        m = re.search(r'distance-map \{\n\t+compatible = "numa-distance-map-v1";\n\t+distance-matrix = <([^>]*)>;',
                      dts)
        got = [int(c, 16) for c in m.group(1).split()] if m else []
        matrix = qemu.parse_distances(dist, nodes)
        want = [x for a in range(nodes) for b in range(nodes) for x in (a, b, matrix[a][b])]
        check(got == want, f"{shape}: distance-matrix holds every (from, to, distance)")
        check(len(re.findall(r"^\t+plic@", dts, re.M)) == 1 and "bootargs" not in dts,
              f"{shape}: one PLIC for every hart, no bootargs (QEMU sets -append's)")

    argv = qemu.qemu_argv("Image", "2G", 4, 4, append="ktest", numa_dist=LINE)
    check("-dtb" in argv and "-numa" not in argv and "-object" not in argv and
          argv[argv.index("-append") + 1] == "ktest", "--numa 4: QEMU gets -dtb and -append, no -numa nodes")
    argv = qemu.qemu_argv("Image", "512M", 2, 1)
    check("-dtb" not in argv, "--numa 1 is the plain machine")


refusals()
device_trees()
print("TAP version 13")
print(f"1..{len(results)}")
for i, (ok, what) in enumerate(results, 1):
    print(f"{'' if ok else 'not '}ok {i} - {what}")
