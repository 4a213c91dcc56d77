#!/usr/bin/env python3
"""Checks the core's floors (house rules, README's Development section).

`crates/core/src/lib.rs` lists the core's floors from the ground up in its `//!` map, one line
per floor: `//! N. name: [`module`], [`module`] …`. A module may use modules on its own floor
and below, never above, and no two modules may use each other, directly or round a circle.
This reads every non-test file of the core, collects what it names through `crate::` (in
`use` lines and inline paths, `super::` resolved), and prints each breach:

- an upward import: the file, its floor, and the floor and module it reached up to;
- a circle among top-level modules;
- a top-level module the map does not place on a floor.

With `--picture` it prints the import graph instead: arrows, circles, and arrows up.
"""
import os
import re
import sys

ROOT = "crates/core/src"
LIB = os.path.join(ROOT, "lib.rs")


def is_test(path):
    return "/tests/" in path or path.endswith("/tests.rs") or path.endswith("_tests.rs")


def code_of(path):
    """The file's code without comments, string literals or its inline test module."""
    text = open(path, encoding="utf-8").read()
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    text = re.sub(r"//[^\n]*", "", text)
    test_module = re.search(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text)
    return text[: test_module.start()] if test_module else text


def module_of(path):
    """`crates/core/src/a/b.rs` -> ["a", "b"]; `a/mod.rs` -> ["a"]; `lib.rs` -> []."""
    parts = os.path.relpath(path, ROOT)[:-3].split("/")
    if parts[-1] == "mod":
        parts = parts[:-1]
    return [] if parts == ["lib"] else parts


def use_paths(tree):
    """`a::{b, c::{d, e}}` -> ["a::b", "a::c::d", "a::c::e"]."""
    tree = re.sub(r"\s+", "", tree)
    brace = tree.find("{")
    if brace < 0:
        return [tree]
    prefix, inner = tree[:brace], tree[brace + 1 : tree.rfind("}")]
    parts, depth, current = [], 0, ""
    for ch in inner:
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += ch
    parts.append(current)
    return [prefix + p for part in parts if part for p in use_paths(part)]


def reexports():
    """Names `lib.rs` re-exports (`pub use engine::Engine;`) -> the module they come from."""
    code = code_of(LIB)
    return {m.group(2): m.group(1) for m in re.finditer(r"pub\s+use\s+(\w+)::(?:\w+::)*(\w+);", code)}


def floors():
    """The map in lib.rs: [(number, name, [modules])], from the ground up."""
    out = []
    for line in open(LIB, encoding="utf-8"):
        m = re.match(r"//!\s*(\d+)\.\s*([\w ]+?):(.*)", line)
        if m:
            out.append((int(m.group(1)), m.group(2), re.findall(r"\[`(\w+)`\]", m.group(3))))
    return out


def imports():
    """[(file, top-level module it belongs to, top-level module it names)]."""
    aliases = reexports()
    found = []
    for folder, _, names in os.walk(ROOT):
        for name in sorted(names):
            path = os.path.join(folder, name)
            if not name.endswith(".rs") or is_test(path) or path == LIB:
                continue
            me = module_of(path)
            code = code_of(path)
            paths = [p for m in re.finditer(r"\buse\s+([^;]+);", code) for p in use_paths(m.group(1))]
            paths += re.findall(r"(?<![\w:])(crate::[\w:]+|super::[\w:]+)", code)
            for p in paths:
                segs = [s for s in p.split("::") if s]
                if segs[0] == "crate":
                    target = segs[1:]
                elif segs[0] == "super":
                    base = me[:-1]
                    k = 1
                    while k < len(segs) and segs[k] == "super":
                        base, k = base[:-1], k + 1
                    target = base + segs[k:]
                else:
                    continue
                if not target or not me:
                    continue
                top = aliases.get(target[0], target[0])
                if top != me[0] and re.fullmatch(r"[a-z_]\w*", top):
                    found.append((path, me[0], top))
    return found


def circles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def main():
    # The modules lib.rs declares, test-only ones (`#[cfg(test)] mod …;`) aside.
    declared = re.sub(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*;", "", open(LIB, encoding="utf-8").read())
    modules = sorted(set(re.findall(r"^\s*(?:pub\s+)?mod\s+(\w+)\s*;", declared, re.M)))
    floor_of, names = {}, {}
    for number, name, members in floors():
        names[number] = name
        for m in members:
            floor_of[m] = number
    found = imports()
    graph = {}
    for _, src, dst in found:
        graph.setdefault(src, set()).add(dst)
    cycles = circles(graph)
    up = sorted(
        {(p, s, d) for p, s, d in found if s in floor_of and d in floor_of and floor_of[d] > floor_of[s]}
    )

    if "--picture" in sys.argv:
        for src in sorted(graph):
            print(f"{src} -> {' '.join(sorted(graph[src]))}")
        print(f"{sum(len(v) for v in graph.values())} arrows between {len(modules)} modules")
        print(f"{len(cycles)} circles: {cycles}")
        print(f"{len({(s, d) for _, s, d in up})} arrows up the floors")
        return 0

    breaches = []
    if not floors():
        breaches.append(f"{LIB} lists no floors (`//! N. name: [`module`], …`)")
    for m in modules:
        if m not in floor_of:
            breaches.append(f"crates/core: module `{m}` is on no floor; add it to the map in {LIB}")
    for path, src, dst in up:
        breaches.append(
            f"{path} (`{src}`, floor {floor_of[src]} {names[floor_of[src]]}) uses `{dst}` on floor "
            f"{floor_of[dst]} {names[floor_of[dst]]}: move the name down, or the module up"
        )
    for cycle in cycles:
        breaches.append(f"crates/core: these modules use each other round a circle: {', '.join(cycle)}")
    for b in breaches:
        print(f"house rules: {b}", file=sys.stderr)
    if breaches:
        return 1
    print(f"house rules: the core's {len(modules)} modules keep their {len(names)} floors, with no circle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
