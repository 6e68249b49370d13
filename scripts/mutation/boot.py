"""The boot suites for a mutant the host tests did not kill.

The kernel is built from the scratch tree in its own meson build
(build-mutate/tree/build-kernel, configured once), with the mutant's file
replaced by a schema holding that mutant alone and MM_MUTANT_FIXED set to
its id, so the change is compiled in for good. Then every in-kernel suite
runs with mm.check=1 on two machines (1 hart, 128 MiB; 4 harts, 1 GiB) as in
the boot matrix. A failing case, a panic or a hang kills the mutant.
"""
import os
import re
import subprocess
import sys

from . import gen

SHAPES = [("128M", "1"), ("1G", "4")]


def _run(cmd, cwd, timeout):
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, errors="replace")
    except subprocess.TimeoutExpired:
        return None


def boot_check(repo, m, scratch="build-mutate", timeout=1800):
    """("killed", what failed) or ("survived", None) or ("did not build", message)."""
    tree = os.path.join(repo, scratch, "tree")
    kbuild = os.path.join(tree, "build-kernel")
    path = os.path.join(tree, m.file)
    if not os.path.exists(os.path.join(kbuild, "build.ninja")):
        r = _run(["meson", "setup", kbuild, "--cross-file", os.path.join(tree, "cross", "riscv64-elf.ini")], tree,
                 timeout)
        if r is None or r.returncode:
            return "did not build", "meson setup of the scratch kernel failed"
    # Every other file as it is in the repository; this one with the mutant fixed in.
    for f in _mutated_files(repo, tree):
        with open(os.path.join(repo, f)) as src, open(os.path.join(tree, f), "w") as dst:
            dst.write(src.read())
    with open(path, "w") as f:
        f.write(f"#define MM_MUTANT_FIXED {m.id}\n" + gen.schema("../" + m.file, m._src, m._toks, [m]))
    try:
        r = _run(["ninja", "-C", kbuild, "arch/riscv/Image"], tree, timeout)
        if r is None or r.returncode:
            return "did not build", (r.stdout[-2000:] if r else "ninja ran past the limit")
        image = os.path.join(kbuild, "arch", "riscv", "Image")
        for mem, smp in SHAPES:
            r = _run([sys.executable, os.path.join(repo, "scripts", "qemu.py"), "--image", image, "--mem", mem,
                      "--smp", smp, "--append", "ktest mm.check=1"], repo, 600)
            if r is None:
                return "killed", f"boot {mem}/{smp} harts hung (10 min)"
            bad = re.search(r"^\s*not ok \d+ (\S+)", r.stdout, re.M)
            if r.returncode or bad or "Kernel panic" in r.stdout:
                return "killed", f"boot {mem}/{smp} harts: " + (bad.group(1) if bad else f"status {r.returncode}")
        return "survived", None
    finally:
        with open(os.path.join(repo, m.file)) as src, open(path, "w") as dst:
            dst.write(src.read())


def _mutated_files(repo, tree):
    """Files of the scratch tree that differ from the repository's mm/."""
    out = []
    for d in ("mm",):
        for name in os.listdir(os.path.join(tree, d)):
            f = os.path.join(d, name)
            a, b = os.path.join(repo, f), os.path.join(tree, f)
            if os.path.isfile(a) and open(a).read() != open(b).read():
                out.append(f)
    return out
