#!/usr/bin/env python3
"""gen.py's schemata keep the program's meaning. For expressions of every
operator mix (left-associative chains above all: `a - b - c` is
`(a - b) - c`, and a schema that wrapped `b - c` alone would change it), a
schema with no mutant active must compute what the original computes, and
with one mutant active what the original with that one change written in
computes. Compiles one C++ program with the host's c++ and runs it; prints
the first difference and exits 1, or exits 0."""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from mutation import gen  # noqa: E402

EXPRS = [
    "a - b - c", "a - b + c", "a + b - c - d", "a - b - c - d", "a * b / c", "a / b / c", "a % b % c",
    "a << b >> c", "a >> b << c", "a - b * c - d", "(a - b) - (c - d)", "a < b - c", "a - b < c - d",
    "a & b | c & d", "a ^ b ^ c", "(a && b) || c", "a == b - c", "a - 1 - b", "long(sizeof(long)) - 1 - a",
    "(long)a - b - c", "-a - b", "a - -b - c", "a ? b - c : d - a", "a - b - (c ? d : a)", "a * b - c * d - a",
    "a - b <= c + d - a", "(a - b - c) * (d - a - b)", "a + (b - c - d)", "a - b - c > d - a - b",
    "(a < b) + (c <= d) - (a >= d)", "a != b && c - d > 0", "a - (b - c) - d",
]
INPUTS = [(7, 3, 2, 1), (100, 7, 3, 2), (9, 4, 5, 3), (1, 2, 3, 4), (50, 6, 1, 9)]
OPS = ("aor", "ror", "lcr", "crcr")  # mutants that replace an expression by another


def program():
    src = "".join(f"long e{k}(long a, long b, long c, long d) {{\n  return {e};\n}}\n" for k, e in enumerate(EXPRS))
    toks, mutants = gen.mutants_of("t.cpp", src)
    mutants = [m for m in mutants if m.op in OPS]
    for i, m in enumerate(mutants):
        m.id = i
    schema = gen.render(src, toks, mutants)
    # The original and every mutant written in, as plain functions.
    plain = src.replace("long e", "long o")
    by_fn = []
    for m in mutants:
        k = next(k for k in range(len(EXPRS)) if m.line == 3 * k + 2)
        written = src[:toks[m.lo].start] + f"({m.text})" + src[toks[m.hi - 1].end:]
        body = written.split("\n")[m.line - 1]
        by_fn.append((m, k, body))
    checks = "".join(f"long w{m.id}(long a, long b, long c, long d) {{\n{body}\n}}\n" for m, k, body in by_fn)
    ins = ", ".join("{" + ", ".join(map(str, i)) + "}" for i in INPUTS)
    table_e = ", ".join(f"e{k}" for k in range(len(EXPRS)))
    table_o = ", ".join(f"o{k}" for k in range(len(EXPRS)))
    cases = ", ".join(f"{{{m.id}, {k}, w{m.id}}}" for m, k, _ in by_fn)
    descs = ", ".join('"' + f"{EXPRS[k]}: {m.desc}".replace('"', '\\"') + '"' for m, k, _ in by_fn)
    main = f"""
#include <cstdio>
typedef long (*fn)(long, long, long, long);
static const long in[][4] = {{{ins}}};
static const fn e[] = {{{table_e}}}, o[] = {{{table_o}}};
struct mcase {{ long id; int k; fn w; }};
static const mcase cases[] = {{{cases}}};
static const char *const descs[] = {{{descs}}};
int main() {{
  int bad = 0;
  for (const auto &x : in)
    for (unsigned k = 0; k < sizeof(e) / sizeof(e[0]); k++)
      if (e[k](x[0], x[1], x[2], x[3]) != o[k](x[0], x[1], x[2], x[3]))
        std::printf("no mutant: expression %u gives %ld, not %ld\\n", k, e[k](x[0], x[1], x[2], x[3]),
                    o[k](x[0], x[1], x[2], x[3])), bad++;
  for (unsigned c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {{
    mm_mutant_active = cases[c].id;
    for (const auto &x : in)
      if (e[cases[c].k](x[0], x[1], x[2], x[3]) != cases[c].w(x[0], x[1], x[2], x[3]))
        std::printf("mutant %s gives %ld, written in %ld\\n", descs[c], e[cases[c].k](x[0], x[1], x[2], x[3]),
                    cases[c].w(x[0], x[1], x[2], x[3])), bad++;
  }}
  std::printf("%u expressions, %u mutants\\n", unsigned(sizeof(e) / sizeof(e[0])), unsigned(sizeof(cases) / sizeof(cases[0])));
  return bad ? 1 : 0;
}}
"""
    runtime = ('extern "C" { long mm_mutant_active = -1; unsigned char mm_mutant_tracing = 0;\n'
               "void mm_mutant_reached(unsigned) {} }\n")
    return gen.PRELUDE + runtime + schema + plain + checks + main, len(mutants)


def main():
    text, n = program()
    with tempfile.TemporaryDirectory() as d:
        c, exe = os.path.join(d, "t.cpp"), os.path.join(d, "t")
        open(c, "w").write(text)
        r = subprocess.run(["c++", "-std=c++20", "-O1", "-w", "-o", exe, c], capture_output=True, text=True)
        if r.returncode:
            print("the schema does not compile:\n" + r.stderr[-3000:])
            return 1
        r = subprocess.run([exe], capture_output=True, text=True)
        print(r.stdout, end="")
        return r.returncode


if __name__ == "__main__":
    sys.exit(main())
