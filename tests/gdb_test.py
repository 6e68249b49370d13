#!/usr/bin/env python3
"""The gdb commands of scripts/gdb/mm.py against the kernel's own reports.

Boots the kernel with QEMU's gdb stub on a free port, attaches
gdb-multiarch -batch and stops the kernel inside the vmalloc ktest suite
(at a vfree, with areas live and freed ones waiting for the lazy purge).
There gdb runs mm-buddyinfo, mm-vmallocinfo and mm-page, then has the
stopped kernel print its own reports of the same state (the monitor
commands' functions and bad_page, called from gdb), and kills it. Each gdb
report must equal the kernel's line for line. Speaks TAP.
"""
import argparse
import os
import re
import socket
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import qemu  # noqa: E402

# Stop at the 6th vfree of the suite's first case: areas live, five freed
# ones waiting for the lazy purge (far below lazy_max_pages).
GDB_SCRIPT = r"""
source {mm_py}
break vfree
ignore 1 5
echo @@READY\n
continue
set $fl = &system_mem->node_data[0]->node_zones[ZONE_DMA32].free_area[10].free_list[MIGRATE_MOVABLE]
set $buddy = (page *)((char *)$fl->next - 8)
set $first = system_vmalloc->space.busy_root
while $first->left
  set $first = $first->left
end
set $vpage = vmalloc_to_page(*system_vmalloc, (void *)$first->va_start)
set $pfn0 = system_mem->node_data[0]->node_start_pfn
set $map0 = system_mem->node_data[0]->node_mem_map
printf "@@buddy-pfn %lu\n", $pfn0 + ($buddy - $map0)
# Hand part of the lazy tree to the purging tree, as a purge under way
# holds it (the two stay disjoint treaps): vmallocinfo lists both, merged
# in address order. The purging part is below what stays lazy, so that
# listing one tree after the other is out of order.
set $space = &system_vmalloc->space
if $space->lazy_root->left
  set var $space->purging_root = $space->lazy_root->left
  set var $space->lazy_root->left = 0
else
  set var $space->purging_root = $space->lazy_root
  set var $space->lazy_root = $space->lazy_root->right
  set var $space->purging_root->right = 0
end
printf "@@purging %d\n", $space->purging_root != 0
# Move 3 free pages of the total into CPU 0's delta: the snapshot (and the
# kernel's report) stays the same, and a reader that skips the per-CPU
# deltas is off by 3.
set $dz = &system_mem->node_data[0]->node_zones[ZONE_DMA32]
set var $dz->vm_stat[NR_FREE_PAGES] = $dz->vm_stat[NR_FREE_PAGES] - 3
set var $dz->per_cpu_zonestats[0].vm_stat_diff[NR_FREE_PAGES] = $dz->per_cpu_zonestats[0].vm_stat_diff[NR_FREE_PAGES] + 3
# Mark one held object of a CPU's slab as freed by another CPU (a bit in
# the slab's remote bitmap): both reports must then count it as not held.
python
ul = gdb.lookup_type("unsigned long")
sa = gdb.parse_and_eval("system_slab").dereference()
ms = sa["ms"].dereference()
node0 = ms["node_data"][0].dereference()
off = int(gdb.parse_and_eval("&((kmem_cache *)0)->list").cast(ul))
e = sa["caches"]["next"]
while int(e) != int(sa["caches"].address):
    c = gdb.Value(int(e) - off).cast(gdb.lookup_type("kmem_cache").pointer()).dereference()
    slab = c["cpu_slab"][0]["slab"]
    if int(slab) and int(slab["inuse"]) >= 2:
        if int(c["bitmap_offset"]) == 0:
            maps = int(slab[1]["mapping"].address)
        else:
            pfn = int(node0["node_start_pfn"]) + (int(slab) - int(node0["node_mem_map"])) // 64
            maps = (pfn << 12) + int(gdb.parse_and_eval("va_pa_offset")) + int(c["bitmap_offset"])
        word = maps + 16 * int(c["bitmap_words"])
        gdb.execute("set var *(unsigned long *)%d = *(unsigned long *)%d | 1" % (word, word))
        print("@@remote %s" % c["name"].string())
        print("@@mm-page-slab")
        gdb.execute("mm-page %d" % int(slab))
        break
    e = e["next"]
end
echo @@mm-buddyinfo\n
mm-buddyinfo
echo @@mm-vmallocinfo\n
mm-vmallocinfo
echo @@mm-zoneinfo\n
mm-zoneinfo
echo @@mm-slabinfo\n
mm-slabinfo
echo @@mm-page-buddy\n
eval "mm-page %lu", $pfn0 + ($buddy - $map0)
echo @@mm-page-vmalloc-addr\n
eval "mm-page 0x%lx", $first->va_start
echo @@mm-page-vmalloc-struct\n
eval "mm-page 0x%lx", $vpage
echo @@mm-page-bad\n
python
try:
    gdb.execute("mm-page 0x7fffffffff")
except gdb.error as e:
    print(e)
end
echo @@end\n
call bad_page(*system_mem, $buddy, $pfn0 + ($buddy - $map0), vmallocinfo_cmd.name)
call bad_page(*system_mem, $vpage, $pfn0 + ($vpage - $map0), buddyinfo_cmd.name)
call vmallocinfo_cmd.run(0, 0)
call buddyinfo_cmd.run(0, 0)
call zoneinfo_cmd.run(0, 0)
call slabinfo_cmd.run(0, 0)
kill
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Reader:
    def __init__(self, stream):
        self.data = bytearray()
        self.t = threading.Thread(target=self.pump, args=(stream,), daemon=True)
        self.t.start()

    def pump(self, stream):
        while chunk := stream.read1(4096):
            self.data.extend(chunk)

    def wait_for(self, token, deadline):
        while token not in self.data:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def text(self):
        return self.data.decode("utf-8", "replace").replace("\r\n", "\n")


def sections(text):
    """gdb's output cut at its @@name markers: {name: [lines]}."""
    out, cur = {}, None
    for line in text.split("\n"):
        if line.startswith("@@"):
            cur = line[2:].split()[0]
            out[cur] = [line[2 + len(cur):].strip()] if line[2 + len(cur):].strip() else []
        elif cur:
            out[cur].append(line)
    return {k: [l for l in v if l] for k, v in out.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", required=True)
    ap.add_argument("--elf", required=True)
    ap.add_argument("--timeout", type=float, default=60)
    a = ap.parse_args()
    deadline = time.monotonic() + a.timeout
    port = free_port()
    argv = qemu.qemu_argv(a.image, "256M", 1) + ["-gdb", f"tcp:127.0.0.1:{port}"]
    vm = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    console = Reader(vm.stdout)
    results, gdb_out = [], None
    try:
        if not console.wait_for(qemu.PROMPT, deadline):
            print("1..1\nnot ok 1 boot to the monitor prompt")
            return 1
        script = os.path.join(os.environ.get("TMPDIR", "/tmp"), f"mm-gdb-test-{os.getpid()}.gdb")
        with open(script, "w") as f:
            f.write(GDB_SCRIPT.format(mm_py=os.path.join(ROOT, "scripts", "gdb", "mm.py")))
        gdb = subprocess.Popen(["gdb-multiarch", "-nx", "-batch", a.elf, "-ex", f"target remote 127.0.0.1:{port}",
                                "-x", script], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
        gdb_out = Reader(gdb.stdout)
        if gdb_out.wait_for(b"@@READY", deadline):
            vm.stdin.write(b"ktest vmalloc\n")
            vm.stdin.flush()
        try:
            gdb.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            gdb.kill()
        gdb_out.t.join(timeout=5)
        os.unlink(script)
        try:  # gdb's kill ends QEMU; if the script broke off, gdb detached instead
            vm.wait(timeout=3)
        except subprocess.TimeoutExpired:
            vm.kill()
        console.t.join(timeout=5)
    finally:
        if vm.poll() is None:
            vm.kill()
    g = sections(gdb_out.text()) if gdb_out else {}
    kernel = console.text()

    def check(name, ok, detail=""):
        results.append((ok, name, detail))

    # The kernel's reports, printed while gdb held it: after the first bad_page
    # report, the two dumps, then vmallocinfo, buddyinfo, zoneinfo and
    # slabinfo, then nothing but QEMU's note that gdb ended it.
    at = kernel.find("BUG: Bad page state")
    klines = [l for l in kernel[at:].split("\n") if l and not l.startswith("qemu-system")] if at >= 0 else []
    dumps, rest = [], klines
    while rest and rest[0].startswith("BUG: Bad page state"):
        dumps.append(rest[1:3])
        rest = rest[4:]
    # The kernel's reports, told apart by their own shapes (not by gdb's
    # line counts, so that a gdb report short of lines cannot pass).
    kreports = {}
    shapes = [("mm-vmallocinfo", r"0x"), ("mm-buddyinfo", r"Node \d+, zone +\S+ +(\d+ +)+$"),
              ("mm-zoneinfo", r"(?!slabinfo - version)"), ("mm-slabinfo", r"")]
    for name, shape in shapes:
        n = 0
        while n < len(rest) and re.match(shape, rest[n]):
            n += 1
        kreports[name], rest = rest[:n], rest[n:]

    check("gdb stopped the kernel with vmalloc areas live and freed ones unpurged",
          any("pages=" in l for l in g.get("mm-vmallocinfo", [])) and
          any(l.endswith("unpurged vm_area") for l in g.get("mm-vmallocinfo", [])))
    for name in kreports:
        check(f"{name} equals the monitor's {name[3:]} line for line",
              bool(kreports[name]) and g.get(name) == kreports[name],
              f"gdb {g.get(name)} kernel {kreports[name]}")
    check("nothing printed after the reports", not rest, f"{rest}")
    check("some unpurged ranges were in the purging tree", g.get("purging") == ["1"], f"{g.get('purging')}")
    check("a CPU's slab was found to mark an object freed remotely", bool(g.get("remote")), f"{g.get('remote')}")
    check("the state compared is not trivial: slabs hold objects, the pagesets hold pages",
          any(re.match(r"\S+\s+[1-9]\d* ", l) for l in g.get("mm-slabinfo", [])[2:]) and
          any(re.match(r"\s+count: [1-9]", l) for l in g.get("mm-zoneinfo", [])))
    buddy = g.get("mm-page-buddy", [])
    check("mm-page PFN of a free order-10 block: bad_page's lines, then node, zone, order and owner",
          len(dumps) == 2 and buddy[:2] == dumps[0] and
          buddy[2:] == ["node:0 zone:DMA32 order:10 owner:buddy"], f"gdb {buddy} kernel {dumps[:1]}")
    vaddr = g.get("mm-page-vmalloc-addr", [])
    check("mm-page of a vmalloc address decodes the frame mapped there",
          len(dumps) == 2 and vaddr[:2] == dumps[1] and
          vaddr[2:] == ["node:0 zone:DMA32 order:0 owner:allocated"], f"gdb {vaddr} kernel {dumps[1:]}")
    check("mm-page of a struct page's address names the same page",
          vaddr and g.get("mm-page-vmalloc-struct") == vaddr, f"{g.get('mm-page-vmalloc-struct')}")
    slab = g.get("mm-page-slab", [])
    check("mm-page of a slab's struct page names its cache",
          len(slab) == 3 and g.get("remote") and
          re.fullmatch(r"node:0 zone:DMA32 order:0 owner:slab %s inuse:[1-9]\d*" % g["remote"][0], slab[2]),
          f"{slab}")
    bad = g.get("mm-page-bad", [])
    check("mm-page of no frame is refused with one line", bad == ["mm-page: 0x7fffffffff is no frame of any node"],
          f"{bad}")

    print(f"1..{len(results)}")
    for i, (ok, name, detail) in enumerate(results, 1):
        print(f"{'ok' if ok else 'not ok'} {i} {name}")
        if not ok:
            print(f"# {detail}")
    if os.environ.get("MM_GDB_TEST_VERBOSE") or not all(r[0] for r in results):
        for line in (gdb_out.text() if gdb_out else "").split("\n"):
            print(f"# gdb: {line}")
        for line in kernel.split("\n")[-60:]:
            print(f"# console: {line}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
