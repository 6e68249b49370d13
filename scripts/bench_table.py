#!/usr/bin/env python3
"""Merges the JSON output of bench/slab_bench's three programs into one table.

    python3 scripts/bench_table.py [--markdown] RUN.json...

scripts/bench runs slab_bench, slab_bench_jemalloc and slab_bench_mimalloc
alternately for a few rounds and hands every round's file here. Each cell is
the median over the rounds of ns per pair (one allocation and one free) of
the whole machine: 1e9 / items_per_second, which with 2 threads is the
throughput of both together. For a 2-thread row the cell also gives the
scaling, that throughput over the same allocator's 1-thread throughput
(a producer/consumer row against the 1-thread pair of its size: the same
work done by one thread alone). The last column is kmalloc's time over
mimalloc's. Exits 1 when a benchmark reported an error (an allocator found
inconsistent after its run), never because of a figure.
"""
import json
import os
import re
import statistics
import sys

ALLOCATORS = ["kmalloc", "glibc", "jemalloc", "mimalloc"]
PATTERNS = [("Pair", "pair"), ("Batch", "batch 64"), ("ProducerConsumer", "prod/cons")]
NAME = re.compile(r"^BM_(\w+)/(\w+)/(\d+)/real_time/threads:(\d+)$")


def machine_line():
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    # What nproc prints: the CPUs this process may run on.
    return f"machine: {len(os.sched_getaffinity(0))} CPUs (nproc), {model}"


def samples_of(doc):
    """The runs of one file as (pattern, allocator, size, threads, ns or None, error).

    Individual repetitions where the file has them; the medians where it was
    written with --benchmark_report_aggregates_only."""
    runs = doc.get("benchmarks", [])
    wanted = [b for b in runs if b.get("run_type", "iteration") == "iteration"]
    if not wanted:
        wanted = [b for b in runs if b.get("aggregate_name") == "median"]
    for b in wanted:
        m = NAME.match(b.get("run_name", b["name"]))
        if not m:
            continue
        key = (m[1], m[2], int(m[3]), int(m[4]))
        if b.get("error_occurred"):
            yield key, None, b.get("error_message", "error")
        elif b.get("items_per_second"):
            yield key, 1e9 / b["items_per_second"], None


def load(paths):
    samples, errors, described, loads = {}, {}, {}, []
    for path in paths:
        with open(path) as f:
            doc = json.load(f)
        ctx = doc.get("context", {})
        for a in ALLOCATORS:
            if a in ctx:
                described[a] = ctx[a]
        if ctx.get("load_avg"):
            loads.append(ctx["load_avg"][0])
        for key, ns, err in samples_of(doc):
            if err is not None:
                errors[key] = err
            else:
                samples.setdefault(key, []).append(ns)
    return samples, errors, described, loads


def fmt_ns(ns):
    return f"{ns:.1f}" if ns < 1000 else f"{ns:.0f}"


def build_rows(samples, errors):
    median = {k: statistics.median(v) for k, v in samples.items()}
    present = {k[1] for k in list(samples) + list(errors)}
    columns = [a for a in ALLOCATORS if a in present]
    keys = {(k[0], k[2], k[3]) for k in list(samples) + list(errors)}
    rows = []
    for pattern, label in PATTERNS:
        for size in sorted({k[1] for k in keys if k[0] == pattern}):
            for threads in sorted({k[2] for k in keys if k[0] == pattern and k[1] == size}):
                cells = []
                for a in columns:
                    key = (pattern, a, size, threads)
                    if key in errors:
                        cells.append("ERROR")
                        continue
                    if key not in median:
                        cells.append("-")
                        continue
                    cell = fmt_ns(median[key])
                    base = median.get(("Pair" if pattern == "ProducerConsumer" else pattern, a, size, 1))
                    if threads > 1 and base:
                        cell += f" ({base / median[key]:.2f}x)"
                    cells.append(cell)
                k, mi = median.get((pattern, "kmalloc", size, threads)), median.get((pattern, "mimalloc", size, threads))
                ratio = f"{k / mi:.2f}" if k and mi else "-"
                rows.append([label, str(size), str(threads)] + cells + [ratio])
    return columns, rows


def spread_lines(samples):
    """Per allocator, how far the rounds of one row lie apart: (max - min) / median."""
    lines = []
    for a in ALLOCATORS:
        spreads = sorted(
            ((max(v) - min(v)) / statistics.median(v), k) for k, v in samples.items() if k[1] == a and len(v) > 1
        )
        if not spreads:
            continue
        worst, k = spreads[-1]
        typical = statistics.median(s for s, _ in spreads)
        lines.append(
            f"  {a:<9} median {typical * 100:.0f}%, worst {worst * 100:.0f}% "
            f"({k[0]} {k[2]} bytes, {k[3]} thread{'s' if k[3] > 1 else ''})"
        )
    return lines


def print_table(header, rows, markdown):
    if markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for r in rows:
            print("| " + " | ".join(r) + " |")
        return
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    # Text left, figures right: the columns of numbers line up.
    def line(r):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    print(line(header))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line(r))


def main(argv):
    markdown = "--markdown" in argv
    paths = [a for a in argv if a != "--markdown"]
    if not paths:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    samples, errors, described, loads = load(paths)
    rounds = max((len(v) for v in samples.values()), default=0)
    print(machine_line())
    if loads:
        print(f"load average (1 min) at the runs' starts: {min(loads):.2f} to {max(loads):.2f}")
    for a in ALLOCATORS:
        print(f"{a}: {described.get(a, 'not run (its program was not built or not given)')}")
    if not samples and not errors:
        print("no slab benchmark results (a --benchmark_filter matched none?)")
        return 0
    print(f"ns per alloc+free pair, all threads together (wall clock); median of {rounds} runs; "
          "(Nx): throughput over 1 thread's")
    columns, rows = build_rows(samples, errors)
    header = ["pattern", "size", "thr"] + columns + ["kmalloc/mimalloc"]
    print_table(header, rows, markdown)
    spreads = spread_lines(samples)
    if spreads:
        print("spread of the runs of a row, (max - min) / median, over its rows:")
        print("\n".join(spreads))
    for key, err in sorted(errors.items()):
        print(f"ERROR: BM_{key[0]}/{key[1]}/{key[2]} threads:{key[3]}: {err}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
