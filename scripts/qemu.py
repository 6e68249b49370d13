#!/usr/bin/env python3
"""Builds the QEMU command line for the kernel and runs it.

Used by scripts/run (interactive or piped) and by tests/boot_test.py (which
captures the output). The machine: qemu-system-riscv64 -machine virt, Debian's
OpenSBI fw_dynamic as firmware, the flat kernel Image loaded after it.
"""
import argparse
import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIRMWARE = "/usr/lib/riscv64-linux-gnu/opensbi/generic/fw_dynamic.bin"


def parse_size_mib(text):
    """'512M' / '5G' / '1024' (MiB) -> MiB."""
    m = re.fullmatch(r"(\d+)([KMGkmg]?)", text)
    if not m:
        raise ValueError(f"bad memory size {text!r} (use e.g. 512M or 5G)")
    n, unit = int(m.group(1)), m.group(2).upper()
    return {"K": n // 1024, "M": n, "G": n * 1024, "": n}[unit]


def max_numnodes():
    """The kernel's MAX_NUMNODES, read from kernel/numa.h so the two cannot drift."""
    with open(os.path.join(ROOT, "kernel", "numa.h")) as f:
        m = re.search(r"constexpr unsigned MAX_NUMNODES = (\d+);", f.read())
    if not m:
        raise ValueError("kernel/numa.h has no MAX_NUMNODES")
    return int(m.group(1))


LOCAL_DISTANCE, REMOTE_DISTANCE = 10, 20


def parse_distances(text, nodes):
    """'10,20;20,10' -> [[10, 20], [20, 10]], checked as the kernel's device-tree
    parser (kernel/fdt.cpp) checks numa-distance-map-v1: 10 to itself, 11 to 255
    to any other node. Asymmetric matrices are allowed (the binding allows them
    and the kernel keeps both directions); empty text gives Linux's defaults."""
    if not text:
        return [[LOCAL_DISTANCE if a == b else REMOTE_DISTANCE for b in range(nodes)] for a in range(nodes)]
    rows = [r.strip() for r in text.strip().rstrip(";").split(";")]
    if len(rows) != nodes:
        raise ValueError(f"--numa-dist has {len(rows)} rows for {nodes} nodes (rows are separated by ';')")
    matrix = []
    for a, row in enumerate(rows):
        cells = [c.strip() for c in row.split(",")]
        if len(cells) != nodes:
            raise ValueError(f"--numa-dist row {a} has {len(cells)} distances for {nodes} nodes")
        if not all(re.fullmatch(r"\d+", c) for c in cells):
            raise ValueError(f"--numa-dist row {a} ({row!r}) is not a list of whole numbers")
        matrix.append([int(c) for c in cells])
    for a in range(nodes):
        for b in range(nodes):
            d = matrix[a][b]
            if a == b and d != LOCAL_DISTANCE:
                raise ValueError(f"--numa-dist: node {a}'s distance to itself is {d}, must be {LOCAL_DISTANCE}")
            if a != b and not LOCAL_DISTANCE < d <= 255:
                raise ValueError(f"--numa-dist: distance {a}->{b} is {d}, must be {LOCAL_DISTANCE + 1} to 255")
    return matrix


def check_shape(mib, smp, numa, numa_dist="", dtb=""):
    """Refuses a machine the kernel cannot boot, with one line saying why
    (ValueError). Returns the distance matrix for numa >= 2, else None."""
    if not 1 <= smp <= 8:
        raise ValueError("--smp takes 1 to 8 harts")
    if numa < 0:
        raise ValueError(f"--numa {numa}: the number of nodes cannot be negative")
    if numa_dist and numa < 2:
        raise ValueError("--numa-dist needs --numa N with N >= 2")
    if numa < 2:
        return None
    limit = max_numnodes()
    if numa > limit:
        raise ValueError(f"--numa {numa}: the kernel has at most {limit} nodes (MAX_NUMNODES)")
    if dtb:
        raise ValueError("--numa writes its own device tree: use --numa or --dtb, not both")
    if smp % numa:
        raise ValueError(f"--numa {numa} must divide the harts ({smp}): each node gets the same number")
    if mib % numa:
        raise ValueError(f"--numa {numa} must divide the memory ({mib} MiB): each node gets the same amount")
    return parse_distances(numa_dist, numa)


def qemu_base_argv(mib, smp):
    return ["qemu-system-riscv64", "-machine", "virt", "-cpu", "rv64", "-smp", str(smp), "-m", f"{mib}M"]


def numa_device_tree(mib, smp, distances, workdir):
    """QEMU's own device tree for one socket with every hart (one PLIC wires
    them all: QEMU 7.2 cannot wire more than two sockets), with RAM split into
    one memory node per NUMA node, each hart given its node (harts in equal
    runs) and a numa-distance-map-v1. Returns the .dtb's path in workdir."""
    nodes = len(distances)
    base_dtb = os.path.join(workdir, "qemu.dtb")
    argv = qemu_base_argv(mib, smp)
    argv[2] += f",dumpdtb={base_dtb}"
    run_tool(argv + ["-display", "none"])
    dts = run_tool(["dtc", "-q", "-I", "dtb", "-O", "dts", base_dtb])
    ram_base, per_node = 0x80000000, (mib // nodes) << 20
    m = re.search(r'^\tmemory@80000000 \{\n\t\tdevice_type = "memory";\n\t\treg = <([^>]*)>;', dts, re.M)
    reg = [int(c, 16) for c in m.group(1).split()] if m else []
    if reg != [0, ram_base, (mib << 20) >> 32, (mib << 20) & 0xffffffff]:
        raise ValueError(f"QEMU's device tree does not have all {mib} MiB in one memory@80000000 node")
    for hart in range(smp):
        if not re.search(rf"^\t\tcpu@{hart:x} {{$", dts, re.M):
            raise ValueError(f"QEMU's device tree has no cpu@{hart:x}")
    # Nodes given again below merge into QEMU's (dtc's rule): memory@80000000
    # shrinks to node 0's part, the others are new.
    out = ["", "/ {"]
    for n in range(nodes):
        start = ram_base + n * per_node
        out += [f"\tmemory@{start:x} {{", '\t\tdevice_type = "memory";',
                f"\t\treg = <{cells(start)} {cells(per_node)}>;", f"\t\tnuma-node-id = <{n}>;", "\t};"]
    out.append("\tcpus {")
    harts_per_node = smp // nodes
    for hart in range(smp):
        out.append(f"\t\tcpu@{hart:x} {{ numa-node-id = <{hart // harts_per_node}>; }};")
    out.append("\t};")
    entries = ", ".join(f"<{a} {b} {distances[a][b]}>" for a in range(nodes) for b in range(nodes))
    out += ["\tdistance-map {", '\t\tcompatible = "numa-distance-map-v1";',
            f"\t\tdistance-matrix = {entries};", "\t};", "};", ""]
    numa_dts = os.path.join(workdir, "numa.dts")
    with open(numa_dts, "w") as f:
        f.write(dts + "\n".join(out))
    numa_dtb = os.path.join(workdir, "numa.dtb")
    run_tool(["dtc", "-q", "-I", "dts", "-O", "dtb", "-o", numa_dtb, numa_dts])
    return numa_dtb


def run_tool(argv):
    """Runs a helper program; its failure becomes one line (ValueError)."""
    try:
        return subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        why = (getattr(e, "stderr", "") or str(e)).strip().splitlines()
        raise ValueError(f"{argv[0]} failed: {why[-1] if why else 'no output'}") from None


def cells(value):
    """A 64-bit value as two device-tree cells."""
    return f"0x{value >> 32:x} 0x{value & 0xffffffff:x}"


_scratch = []


def scratch_dir():
    """A temporary directory for this process's generated files, removed at exit."""
    if not _scratch:
        _scratch.append(tempfile.mkdtemp(prefix="mm-qemu-"))
        atexit.register(shutil.rmtree, _scratch[0], True)
    return _scratch[0]


def qemu_argv(image, mem="512M", smp=1, numa=0, dtb="", append="", gdb=False, icount=False,
              interactive=False, numa_dist=""):
    """Raises ValueError (one line) for a shape the kernel cannot boot."""
    mib = parse_size_mib(mem)
    distances = check_shape(mib, smp, numa, numa_dist, dtb)
    argv = qemu_base_argv(mib, smp) + ["-bios", FIRMWARE, "-kernel", image, "-no-reboot"]
    if distances:
        dtb = numa_device_tree(mib, smp, distances, scratch_dir())
    if dtb:
        argv += ["-dtb", dtb]
    if append:
        argv += ["-append", append]
    if icount:
        argv += ["-icount", "shift=0"]
    if gdb:
        argv += ["-s", "-S"]
    if interactive:
        argv += ["-nographic"]
        if sys.stdout.isatty():
            # The kernel cannot see that its serial console is a terminal.
            i = argv.index("-append") + 1 if "-append" in argv else None
            if i:
                argv[i] += " console.color=1"
            else:
                argv += ["-append", "console.color=1"]
    else:
        argv += ["-display", "none", "-serial", "stdio", "-monitor", "none"]
    return argv


PROMPT = b"mm> "


def run(argv, stdin_data=b"", echo=None, timeout=None):
    """Runs QEMU, feeding stdin_data to the monitor once its first prompt shows.

    Input is held back until then because the firmware initialises the UART
    after QEMU has started filling its FIFO, and what arrives before that is
    lost. Returns (exit status or None on timeout, output bytes).
    """
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    out = bytearray()
    fed = threading.Event()
    echo_to = [echo]

    def feed():
        try:
            proc.stdin.write(stdin_data)
            proc.stdin.close()
        except (BrokenPipeError, OSError):
            pass

    def pump():
        while True:
            chunk = proc.stdout.read1(4096)
            if not chunk:
                return
            out.extend(chunk)
            if echo_to[0]:
                try:
                    echo_to[0].write(chunk)
                    echo_to[0].flush()
                except (BrokenPipeError, OSError):
                    echo_to[0] = None  # the reader went away (| head): keep draining QEMU
            if not fed.is_set() and PROMPT in out:
                fed.set()
                threading.Thread(target=feed, daemon=True).start()

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    deadline = None if timeout is None else time.monotonic() + timeout
    status = None
    try:
        status = proc.wait(timeout=None if deadline is None else max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    reader.join(timeout=5)
    return status, bytes(out)


def default_image():
    return os.path.join(ROOT, "build", "arch", "riscv", "Image")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mem", default="512M")
    ap.add_argument("--smp", type=int, default=2)
    ap.add_argument("--numa", type=int, default=0)
    ap.add_argument("--numa-dist", default="")
    ap.add_argument("--dtb", default="")
    ap.add_argument("--append", default="")
    ap.add_argument("--gdb", type=int, default=0)
    ap.add_argument("--icount", type=int, default=0)
    ap.add_argument("--image", default=default_image())
    ap.add_argument("--check", action="store_true", help="only check the shape (no QEMU, no files)")
    a = ap.parse_args()
    if a.dtb and not os.path.isfile(a.dtb):
        sys.exit(f"scripts/run: no device tree file {a.dtb}")
    try:
        if a.check:
            check_shape(parse_size_mib(a.mem), a.smp, a.numa, a.numa_dist, a.dtb)
            return
        tty = sys.stdin.isatty()
        argv = qemu_argv(a.image, a.mem, a.smp, a.numa, a.dtb, a.append, bool(a.gdb), bool(a.icount),
                         interactive=tty, numa_dist=a.numa_dist)
    except ValueError as e:
        sys.exit(f"scripts/run: {e}")
    if a.gdb:
        elf = os.path.join(ROOT, "build", "arch", "riscv", "kernel.elf")
        mm_py = os.path.join(ROOT, "scripts", "gdb", "mm.py")
        print(f"QEMU waits for the debugger. In another terminal:\n"
              f"  gdb-multiarch {elf} -ex 'source {mm_py}' -ex 'target remote localhost:1234'\n"
              f"(mm-buddyinfo, mm-zoneinfo, mm-page ADDR|PFN, mm-slabinfo and mm-vmallocinfo read the kernel's memory)\n",
              file=sys.stderr, flush=True)
    if tty:
        # A child rather than exec: the generated device tree (--numa) is
        # removed when QEMU is done. QEMU's raw terminal keeps Ctrl-C its own.
        sys.exit(subprocess.call(argv))
    # Piped: the commands from stdin, then a poweroff so that the end of input
    # ends the run (as a shell exits at end of file).
    data = sys.stdin.buffer.read()
    if data and not data.endswith(b"\n"):
        data += b"\n"
    data += b"poweroff\n"
    status, _ = run(argv, data, echo=sys.stdout.buffer)
    sys.exit(status)


if __name__ == "__main__":
    main()
