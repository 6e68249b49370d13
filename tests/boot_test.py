#!/usr/bin/env python3
"""A QEMU boot test: boots the kernel in one machine shape and reports TAP.

Every in-kernel KTAP case becomes one TAP line (`ok N suite.case`), so each
counts; the test's own checks (exit status, expected and forbidden output)
follow. On any failure the console output is appended as TAP comments.
"""
import argparse
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "scripts"))
import qemu  # noqa: E402

CASE = re.compile(r"^    (not )?ok \d+ (\S+)(.*)$")
SUBTEST = re.compile(r"^    # Subtest: (\S+)")
PLAN = re.compile(r"^1\.\.(\d+)$")
SUITE = re.compile(r"^(not )?ok \d+ (\S+)")


def flatten_ktap(lines):
    """Yields (ok, name, directive) for every case of every suite, and the plan."""
    suite, plan, suites_seen, cases = None, None, 0, []
    for line in lines:
        if plan is None and (m := PLAN.match(line)):
            plan = int(m.group(1))
        elif m := SUBTEST.match(line):
            suite = m.group(1)
        elif (m := CASE.match(line)) and suite:
            cases.append((m.group(1) is None, f"{suite}.{m.group(2)}", m.group(3).strip()))
        elif SUITE.match(line) and suite:
            suites_seen += 1
            suite = None
    return plan, suites_seen, cases


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", required=True)
    ap.add_argument("--mem", default="512M")
    ap.add_argument("--smp", type=int, default=1)
    ap.add_argument("--numa", type=int, default=0)
    ap.add_argument("--numa-dist", default="")
    ap.add_argument("--dtb", default="")
    ap.add_argument("--append", default="")
    ap.add_argument("--stdin", default="", help="monitor input; \\n separates lines")
    ap.add_argument("--expect-exit", type=int, default=0)
    ap.add_argument("--expect", action="append", default=[], help="regex the output must match")
    ap.add_argument("--reject", action="append", default=[], help="regex the output must not match")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--no-ktap", action="store_true", help="ktest is asked for but expected to refuse")
    a = ap.parse_args()

    argv = qemu.qemu_argv(a.image, a.mem, a.smp, a.numa, a.dtb, a.append, numa_dist=a.numa_dist)
    stdin = a.stdin.replace("\\n", "\n").encode()
    status, out = qemu.run(argv, stdin, timeout=a.timeout)
    text = out.decode("utf-8", "replace").replace("\r\n", "\n")
    lines = text.split("\n")

    results = []  # (ok, description, directive)
    wants_ktest = any(w == "ktest" or w.startswith("ktest=") for w in a.append.split())
    if wants_ktest and not a.no_ktap:
        plan, seen, cases = flatten_ktap(lines)
        results += cases
        results.append((plan is not None and plan == seen and plan > 0,
                        f"ktap.complete (plan {plan}, suites reported {seen})", ""))
    if status is None:
        results.append((False, f"boot.finished within {a.timeout:.0f}s", ""))
    else:
        results.append((status == a.expect_exit, f"boot.exit_status is {a.expect_exit} (got {status})", ""))
    for rx in a.expect:
        results.append((re.search(rx, text, re.M) is not None, f"output.matches {rx!r}", ""))
    for rx in a.reject:
        results.append((re.search(rx, text, re.M) is None, f"output.lacks {rx!r}", ""))

    print("TAP version 13")
    print(f"1..{len(results)}")
    for i, (ok, desc, directive) in enumerate(results, 1):
        print(f"{'' if ok else 'not '}ok {i} - {desc}{' ' + directive if directive else ''}")
    if not all(ok for ok, _, _ in results):
        print("# console output:")
        for line in lines:
            print("#   " + line)
    print("# qemu: " + " ".join(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main())
