#!/usr/bin/env python3
"""Counts test cases across meson's test log and prints "N passed, N failed".

Every test here speaks TAP: each `ok`/`not ok` line is one case. A test that
meson saw fail (crash, timeout, bad plan) without any failing TAP line counts
as one more failure, so a crash can never pass silently.
"""
import json
import re
import sys

LINE = re.compile(r"^(not )?ok\b(.*)$")


def main(path):
    passed = failed = skipped = 0
    with open(path) as f:
        for raw in f:
            t = json.loads(raw)
            p = fl = s = 0
            for line in (t.get("stdout") or t.get("stdo") or "").splitlines():
                m = LINE.match(line)
                if not m:
                    continue
                if "# SKIP" in m.group(2).upper():
                    s += 1
                elif m.group(1):
                    fl += 1
                else:
                    p += 1
            if t.get("result") not in ("OK", "EXPECTEDFAIL", "SKIP") and fl == 0:
                fl = 1
                print(f"count: {t.get('name')} ended {t.get('result')} without a failing case", file=sys.stderr)
            passed, failed, skipped = passed + p, failed + fl, skipped + s
    if passed == 0 and failed == 0:
        # Counting nothing means the log was not understood: never a pass.
        print("count: no test case found in the meson log", file=sys.stderr)
        failed = 1
    print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
