"""Builds the host test binary with mutant schemata, reusing build/'s objects.

The scratch tree (build-mutate/tree) is a copy of the sources with each
mutated file replaced by its schema; its build/ directory is where build/'s
own compile commands run, so `../mm/x.cpp` and every -I mean the same
files, and __FILE__ is what it was. Only the objects whose sources or
headers were mutated are compiled again; the link reuses build/'s command
with those objects swapped in (libhost_mm.a is a thin archive, rebuilt
here from the same members).
"""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

RUNTIME = os.path.join(os.path.dirname(os.path.abspath(__file__)), "runtime.cpp")


class BuildError(Exception):
    pass


def run(cmd, cwd, timeout):
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BuildError(f"{' '.join(cmd[:3])}... ran past {timeout} s")


class HostBuild:
    """The proptest binary of build/, and how to make a mutant-schema copy of it."""

    def __init__(self, repo, build="build", scratch="build-mutate", target="proptest/proptest"):
        self.repo = os.path.abspath(repo)
        self.build = os.path.join(self.repo, build)
        self.scratch = os.path.join(self.repo, scratch)
        self.tree = os.path.join(self.scratch, "tree")
        self.tbuild = os.path.join(self.tree, os.path.basename(build))
        self.target = target
        cmds = json.load(open(os.path.join(self.build, "compile_commands.json")))
        self.compile = {e["output"]: e["command"] for e in cmds}
        link = subprocess.run(["ninja", "-C", self.build, "-t", "commands", target], capture_output=True,
                              text=True, check=True).stdout.strip().split("\n")[-1]
        self.link = shlex.split(link)
        # The objects of the binary: named in the link, or members of its thin archives.
        self.archives = {a: self._members(a) for a in self.link if a.endswith(".a") and not a.startswith("/")}
        self.objects = [a for a in self.link if a.endswith(".o")] + [o for ms in self.archives.values() for o in ms]
        self.deps = self._deps()

    def _members(self, archive):
        out = subprocess.run(["ar", "t", os.path.join(self.build, archive)], capture_output=True, text=True,
                             check=True).stdout.split()
        # Thin archive members are paths relative to the archive's directory, or absolute.
        return [os.path.relpath(os.path.join(self.build, m), self.build) if not m.startswith("/") else
                os.path.relpath(m, self.build) for m in out]

    def _deps(self):
        """{object: [sources and headers, relative to the repo]} from ninja's deps log."""
        out = subprocess.run(["ninja", "-C", self.build, "-t", "deps"] + self.objects, capture_output=True,
                             text=True, check=True).stdout
        deps, cur = {}, None
        for line in out.split("\n"):
            if line and not line.startswith(" "):
                cur = line.split(":")[0]
                deps[cur] = []
            elif line.strip() and cur:
                p = os.path.normpath(os.path.join(self.build, line.strip()))
                if p.startswith(self.repo + os.sep):
                    deps[cur].append(os.path.relpath(p, self.repo))
        return deps

    def objects_using(self, path):
        return [o for o in self.objects if path in self.deps.get(o, [])]

    def prepare_tree(self):
        """A fresh copy of the tracked (and new, unignored) sources."""
        if os.path.exists(self.tree):
            shutil.rmtree(self.tree)
        files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=self.repo, capture_output=True,
                               text=True, check=True).stdout.split("\n")
        for f in files:
            if not f or not os.path.isfile(os.path.join(self.repo, f)):
                continue
            dst = os.path.join(self.tree, f)
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.copy2(os.path.join(self.repo, f), dst)
        os.makedirs(self.tbuild, exist_ok=True)

    def write_source(self, path, text):
        with open(os.path.join(self.tree, path), "w") as f:
            f.write(text)

    def restore_source(self, path):
        shutil.copy2(os.path.join(self.repo, path), os.path.join(self.tree, path))

    def compile_object(self, obj, extra=(), timeout=600):
        """Compiles obj in the scratch build from the scratch tree. Returns
        (ok, compiler output)."""
        cmd = shlex.split(self.compile[obj])
        # Warnings a mutant causes (a comparison always true, a value unused) are
        # not errors here: only what does not compile is discarded.
        cmd = [c for c in cmd if c not in ("-fdiagnostics-color=always", "-Werror")] + [
            "-fdiagnostics-color=never", "-w"] + list(extra)
        os.makedirs(os.path.join(self.tbuild, os.path.dirname(obj)), exist_ok=True)
        r = run(cmd, self.tbuild, timeout)
        return r.returncode == 0, r.stdout + r.stderr

    def link_binary(self, rebuilt, out, timeout=600):
        """Links out (in the scratch build) from build/'s objects, with the
        objects in `rebuilt` taken from the scratch build instead, plus the
        mutant runtime."""
        def where(o):
            return os.path.join(self.tbuild if o in rebuilt else self.build, o)
        rt_obj = os.path.join(self.tbuild, "mutant_runtime.o")
        main_obj = next(o for o in self.link if o.endswith("main.cpp.o"))
        rt_cmd = [c for c in shlex.split(self.compile[main_obj]) if c not in ("-MD",)]
        i = rt_cmd.index("-o")
        rt_cmd = rt_cmd[:i] + ["-o", rt_obj, "-c", RUNTIME]
        rt_cmd = [c for k, c in enumerate(rt_cmd) if not (c in ("-MQ", "-MF") or (k and rt_cmd[k - 1] in ("-MQ", "-MF")))]
        r = run(rt_cmd, self.build, timeout)
        if r.returncode:
            raise BuildError("the mutant runtime does not compile:\n" + r.stderr)
        cmd, skip = [], False
        for k, a in enumerate(self.link):
            if skip:
                skip = False
                continue
            if a == "-o":
                cmd += ["-o", out]
                skip = True
            elif a in self.archives:
                ar = os.path.join(self.tbuild, a)
                os.makedirs(os.path.dirname(ar), exist_ok=True)
                if os.path.exists(ar):
                    os.remove(ar)
                subprocess.run(["ar", "rcsT", ar] + [where(m) for m in self.archives[a]], check=True)
                cmd.append(ar)
            elif a.endswith(".o"):
                cmd.append(where(a))
            else:
                cmd.append(a)
        cmd.insert(cmd.index("-o"), rt_obj)
        r = run(cmd, self.tbuild, timeout)
        if r.returncode:
            raise BuildError("link failed:\n" + r.stderr[-3000:])
        return out


ERROR_LINE = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+):(?:\d+:)? (?:fatal )?error", re.M)
NOTE_LINE = re.compile(r"^(?P<file>[^:\s]+):(?P<line>\d+):(?:\d+:)? (?:note|required from|In instantiation)", re.M)


def error_lines(output, path):
    """Line numbers of `path` (as the compiler names it, e.g. ../mm/x.cpp)
    that compiler errors name, directly or through notes."""
    lines = set()
    for rx in (ERROR_LINE, NOTE_LINE):
        for m in rx.finditer(output):
            if os.path.normpath(m.group("file")).endswith(os.path.normpath(path).lstrip("./")):
                lines.add(int(m.group("line")))
    return lines
