#!/usr/bin/env python3
"""Builds the QEMU command line for the kernel and runs it.

Used by scripts/run (interactive or piped) and by tests/boot_test.py (which
captures the output). The machine: qemu-system-riscv64 -machine virt, Debian's
OpenSBI fw_dynamic as firmware, the flat kernel Image loaded after it.
"""
import argparse
import os
import re
import subprocess
import sys
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


def qemu_argv(image, mem="512M", smp=1, numa=0, dtb="", append="", gdb=False, icount=False,
              interactive=False):
    mib = parse_size_mib(mem)
    argv = ["qemu-system-riscv64", "-machine", "virt", "-cpu", "rv64", "-smp", str(smp),
            "-m", f"{mib}M", "-bios", FIRMWARE, "-kernel", image, "-no-reboot"]
    if numa:
        if smp % numa or mib % numa:
            raise ValueError(f"--numa {numa} must divide both the harts ({smp}) and the memory ({mib} MiB)")
        per_cpu, per_mem = smp // numa, mib // numa
        for n in range(numa):
            argv += ["-object", f"memory-backend-ram,id=m{n},size={per_mem}M",
                     "-numa", f"node,memdev=m{n},cpus={n * per_cpu}-{(n + 1) * per_cpu - 1},nodeid={n}"]
        for a in range(numa):
            for b in range(numa):
                if a != b:
                    argv += ["-numa", f"dist,src={a},dst={b},val=20"]
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
    ap.add_argument("--dtb", default="")
    ap.add_argument("--append", default="")
    ap.add_argument("--gdb", type=int, default=0)
    ap.add_argument("--icount", type=int, default=0)
    ap.add_argument("--image", default=default_image())
    a = ap.parse_args()
    if not 1 <= a.smp <= 8:
        sys.exit("scripts/run: --smp takes 1 to 8 harts")
    if a.dtb and not os.path.isfile(a.dtb):
        sys.exit(f"scripts/run: no device tree file {a.dtb}")
    tty = sys.stdin.isatty()
    try:
        argv = qemu_argv(a.image, a.mem, a.smp, a.numa, a.dtb, a.append, bool(a.gdb), bool(a.icount),
                         interactive=tty)
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
        os.execvp(argv[0], argv)
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
