#!/usr/bin/env python3
"""Kernel stacks with guard pages, and a deliberate stack overflow.

Boots once, reads `cpus` and `vmallocinfo` at idle, then runs
`fault stack [CPU]`. Checks, as TAP:
  - at idle vmallocinfo lists exactly one area per online CPU, each that
    CPU's stack as `cpus` prints it (16 KiB, pages=4, vmalloc, plus the
    area's guard page at the top), named after the function that asked for
    it: switch_boot_cpu_stack for CPU 0, smp_init for the others;
  - the overflow report names the CPU that recursed (the monitor's, or the
    one asked for), that CPU's stack range as vmallocinfo listed it, an sp
    below the range's base and a faulting address in the page just below it
    (the guard page), epc in the recursing function, a backtrace, and it
    came from an overflow stack outside the stack that overflowed;
  - exactly one report, then the panic's last line and a failing exit status.
"""
import argparse
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
import qemu  # noqa: E402
import tap  # noqa: E402

PAGE = 4096
THREAD_SIZE = 16384
HEX = r"([0-9a-f]{16})"
CPU_LINE = re.compile(r"^ *(\d+) +\d+ +\d+ +online +\d+ +\d+  " + HEX + "-" + HEX + "$", re.M)
AREA_LINE = re.compile(r"^0x" + HEX + "-0x" + HEX + r" +(\d+) (\S+) (.*)$", re.M)
RECURSING = re.compile(r"^recursing on CPU(\d+)'s stack \[" + HEX + "-" + HEX + r"\)\.\.\.$", re.M)
REPORT = re.compile(r"^kernel stack overflow on CPU(\d+): stack \[" + HEX + "-" + HEX + r"\), sp " + HEX + "$", re.M)
FAULT = re.compile(r"^faulting address " + HEX + r": the guard page below the stack$", re.M)
EPC = re.compile(r"^epc [0-9a-f]{16}: fault_stack_recurse\+0x[0-9a-f]+/0x[0-9a-f]+ \(store/AMO page fault\)$", re.M)
OVERFLOW = re.compile(r"^overflow stack: \[" + HEX + "-" + HEX + r"\), (\d+) bytes used$", re.M)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", required=True)
    ap.add_argument("--mem", default="256M")
    ap.add_argument("--smp", type=int, default=1)
    ap.add_argument("--cpu", type=int, default=None, help="overflow this CPU's stack (default: the monitor's)")
    ap.add_argument("--elf", help="kernel.elf, to find overflow_stack[] with --nm")
    ap.add_argument("--nm", help="the cross nm")
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()

    fault = "fault stack" + ("" if a.cpu is None else f" {a.cpu}")
    argv = qemu.qemu_argv(a.image, a.mem, a.smp)
    status, out = qemu.run(argv, f"cpus\nvmallocinfo\n{fault}\n".encode(), timeout=a.timeout)
    text = out.decode("utf-8", "replace").replace("\r\n", "\n")
    parts = text.split("mm> ")
    section = {p.split("\n", 1)[0].strip(): p.split("\n", 1)[1] if "\n" in p else "" for p in parts[1:]}
    results = []

    def check(ok, desc):
        results.append((bool(ok), desc))

    stacks = {int(m.group(1)): (int(m.group(2), 16), int(m.group(3), 16))
              for m in CPU_LINE.finditer(section.get("cpus", ""))}
    check(sorted(stacks) == list(range(a.smp)), f"cpus lists a stack for each of the {a.smp} CPUs ({sorted(stacks)})")
    check(all(top - base == THREAD_SIZE for base, top in stacks.values()), "each CPU's stack is 16 KiB")

    areas = [m.groups() for m in AREA_LINE.finditer(section.get("vmallocinfo", ""))]
    check(len(areas) == a.smp, f"vmallocinfo at idle lists {a.smp} area(s), one per CPU (got {len(areas)})")
    by_base = {int(s, 16): (int(e, 16), int(size), caller, rest) for s, e, size, caller, rest in areas}
    for cpu, (base, top) in sorted(stacks.items()):
        area = by_base.get(base)
        want_caller = "switch_boot_cpu_stack" if cpu == 0 else "smp_init"
        check(area is not None and area[0] == top + PAGE and area[1] == THREAD_SIZE + PAGE,
              f"vmallocinfo: CPU{cpu}'s stack is an area [base, top + guard page) of 20480 bytes")
        check(area is not None and re.fullmatch(want_caller + r"\+0x[0-9a-f]+/0x[0-9a-f]+", area[2]),
              f"vmallocinfo: CPU{cpu}'s stack was asked for by {want_caller} (got {area and area[2]})")
        check(area is not None and re.match(r"pages=4 vmalloc( N\d+=4)?$", area[3]),
              f"vmallocinfo: CPU{cpu}'s stack is 4 vmalloc pages")

    want_cpu = 0 if a.cpu is None else a.cpu
    rec = RECURSING.search(text)
    check(rec and int(rec.group(1)) == want_cpu, f"the recursion runs on CPU{want_cpu}")
    reports = REPORT.findall(text)
    check(len(reports) == 1, f"exactly one stack overflow report (got {len(reports)})")
    base = top = None
    if reports:
        cpu, b, t, sp = reports[0]
        base, top, sp = int(b, 16), int(t, 16), int(sp, 16)
        check(int(cpu) == want_cpu, f"the report names CPU{want_cpu} (got CPU{cpu})")
        check(stacks.get(want_cpu) == (base, top), "the report's range is that CPU's stack as cpus and vmallocinfo listed it")
        check(rec and (int(rec.group(2), 16), int(rec.group(3), 16)) == (base, top),
              "the report's range is the one the recursion started on")
        check(base - PAGE <= sp < base, f"sp {sp:x} is in the guard page below the stack's base {base:x}")
    fault_at = FAULT.search(text)
    check(fault_at and base is not None and base - PAGE <= int(fault_at.group(1), 16) < base,
          "the faulting address is in the guard page just below the stack")
    check(EPC.search(text), "epc is in fault_stack_recurse, a store page fault")
    check(re.search(r"^\[<[0-9a-f]{16}>\] fault_stack_recurse\+0x", text, re.M), "the backtrace walks the overflowed frames")
    check(re.search(r"^\[<[0-9a-f]{16}>\] (monitor_exec|run_pending_work)\+0x", text, re.M),
          "the backtrace reaches the command's caller")
    ovf = OVERFLOW.search(text)
    check(ovf and int(ovf.group(2), 16) - int(ovf.group(1), 16) == PAGE and 0 < int(ovf.group(3)) < PAGE and
          base is not None and not (int(ovf.group(1), 16) < top and base < int(ovf.group(2), 16)),
          "the report ran on a 4 KiB overflow stack apart from the stack that overflowed, and fit in it")
    if a.elf and a.nm:
        syms = subprocess.run([a.nm, a.elf], capture_output=True, text=True, check=True).stdout
        m = re.search(r"^([0-9a-f]+) [bB] overflow_stack$", syms, re.M)
        want = int(m.group(1), 16) + want_cpu * PAGE if m else None
        check(ovf and int(ovf.group(1), 16) == want, f"the report ran on overflow_stack[{want_cpu}]")
    check(re.search(r"^---\[ end Kernel panic - not syncing: Kernel stack overflow \]---$", text, re.M),
          "the panic's last line follows")
    check(not re.search(r"^Oops|no guard page stopped it", text, re.M), "no second fault, no unstopped recursion")
    check(status == 1, f"the exit status is 1, a panic (got {status})")

    tap.report(results, text, argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
