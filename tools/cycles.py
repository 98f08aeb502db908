#!/usr/bin/env python3
"""Import cycles among the library's top-level modules.

Reads every `.rs` file under shared/src, takes each `crate::NAME` it mentions (in `use`
lines and in paths written inline, tests included, comments and strings excluded) as an
edge from the file's top-level module to NAME, and prints each strongly connected group
of two or more modules with one cycle through it. Exits 1 if there is any.

    python3 tools/cycles.py [--src shared/src] [--edges]
"""

import argparse
import pathlib
import re
import sys

CRATE_PATH = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)")
USE_GROUP = re.compile(r"\buse\s+crate::\{([^;]*)\};", re.S)
GROUP_NAME = re.compile(r"(?:^|[{,])\s*([a-z_][a-z0-9_]*)")


def strip_comments_and_strings(text: str) -> str:
    """Blanks out comments and string literals (raw strings too), keeping line breaks."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c == "r" and re.match(r'r#*"', text[i:]) and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            hashes = re.match(r"r(#*)\"", text[i:]).group(1)
            end = '"' + hashes
            j = text.find(end, i + 2 + len(hashes))
            j = n if j < 0 else j + len(end)
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append("\n" * text.count("\n", i, j))
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:]):
            i += len(re.match(r"'(\\.|[^\\'])'", text[i:]).group(0))
        else:
            out.append(c)
            i += 1
    return "".join(out)


# The library's layers, lowest first. A module may import its own layer (without a
# cycle) and the layers listed before it, never one listed after it.
LAYERS = ["model", "wire", "config", "email", "domain", "ports", "adapters", "apps"]

SUPER_PATH = re.compile(r"\bsuper::([a-z_][a-z0-9_]*)")
USE_SUPER_GROUP = re.compile(r"\buse\s+super::\{([^;]*)\};", re.S)


def module_path(src: pathlib.Path, path: pathlib.Path) -> list:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "mod" else parts


def node_of(parts: list, nodes: set) -> str:
    """The checked unit a module path belongs to: `layer::module` inside a layer,
    else the top-level module."""
    if len(parts) >= 2 and f"{parts[0]}::{parts[1]}" in nodes:
        return f"{parts[0]}::{parts[1]}"
    return parts[0]


def group_heads(group: str) -> list:
    """The first name of each path in a `use x::{…}` group: `{a::b, c}` gives a and c."""
    heads, depth, current = [], 0, ""
    for ch in group + ",":
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            m = re.match(r"\s*([a-z_][a-z0-9_]*)(::([a-z_][a-z0-9_]*))?", current)
            if m:
                heads.append([m.group(1)] + ([m.group(3)] if m.group(3) else []))
            current = ""
        else:
            current += ch
    return heads


def graph(src: pathlib.Path) -> dict:
    files = [p for p in sorted(src.rglob("*.rs")) if module_path(src, p) not in (["lib"], ["main"])]
    nodes = set()
    for p in files:
        parts = module_path(src, p)
        nodes.add(parts[0])
        if parts[0] in LAYERS and len(parts) >= 2:
            nodes.add(f"{parts[0]}::{parts[1]}")
    edges = {n: set() for n in nodes}
    crate_path = re.compile(r"\bcrate::([a-z_][a-z0-9_]*)(?:::([a-z_][a-z0-9_]*))?")
    for path in files:
        parts = module_path(src, path)
        me = node_of(parts, nodes)
        code = strip_comments_and_strings(path.read_text(encoding="utf-8"))
        targets = [[a] + ([b] if b else []) for a, b in crate_path.findall(code)]
        for group in USE_GROUP.findall(code):
            targets += group_heads(group)
        # `super::x` from a layer's direct child names a sibling module of that layer.
        if len(parts) == 2 and parts[0] in LAYERS:
            names = SUPER_PATH.findall(code)
            for group in USE_SUPER_GROUP.findall(code):
                names += [h[0] for h in group_heads(group)]
            targets += [[parts[0], n] for n in names if f"{parts[0]}::{n}" in nodes]
        for target in targets:
            if target[0] not in nodes:
                continue
            other = node_of(target, nodes)
            if other != me and not me.startswith(other + "::") and not other.startswith(me + "::"):
                edges[me].add(other)
            elif other != me and other.startswith(me + "::"):
                edges[me].add(other)  # a layer's root module using its own members
            elif other != me:
                edges[me].add(other)  # a member using its layer's root module
    return edges


def layer_of(node: str) -> int:
    top = node.split("::")[0]
    return LAYERS.index(top) if top in LAYERS else -1


def upward(edges: dict) -> list:
    """Imports of a layer listed later: each breaks the layering."""
    out = []
    for m in sorted(edges):
        for o in sorted(edges[m]):
            if layer_of(m) >= 0 and layer_of(o) > layer_of(m):
                out.append((m, o))
            elif layer_of(m) < 0 and layer_of(o) >= 0 and m not in ("lib",):
                out.append((m, o))  # outside the layers: should not exist
    return out


def strongly_connected(edges: dict) -> list:
    """Tarjan's algorithm, iterative."""
    index, low, on_stack, stack, out = {}, {}, set(), [], []
    counter = [0]
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter[0]
                    counter[0] += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    group.append(w)
                    if w == node:
                        break
                if len(group) > 1:
                    out.append(sorted(group))
    return out


def one_cycle(edges: dict, group: list) -> list:
    """A shortest cycle through the group's first module, by breadth-first search."""
    members, start = set(group), group[0]
    previous, frontier = {start: None}, [start]
    while frontier:
        nxt = []
        for node in frontier:
            for child in sorted(edges[node] & members):
                if child == start:
                    chain = [node]
                    while previous[chain[-1]] is not None:
                        chain.append(previous[chain[-1]])
                    return list(reversed(chain)) + [start]
                if child not in previous:
                    previous[child] = node
                    nxt.append(child)
        frontier = nxt
    return group


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default="shared/src")
    ap.add_argument("--edges", action="store_true", help="print every module's imports")
    args = ap.parse_args()
    edges = graph(pathlib.Path(args.src))
    if args.edges:
        for m in sorted(edges):
            print(f"{m} -> {', '.join(sorted(edges[m])) or '(nothing)'}")
    failed = False
    for m, o in upward(edges):
        print(f"layering: {m} imports {o}, a layer above it ({' < '.join(LAYERS)})")
        failed = True
    for g in strongly_connected(edges):
        cycle = one_cycle(edges, g)
        print(f"import cycle among {len(g)} modules: {', '.join(g)}")
        print(f"  for example: {' -> '.join(cycle)}")
        failed = True
    if failed:
        return 1
    print(f"no import cycles and no upward imports among {len(edges)} modules of {args.src} "
          f"(layers: {' < '.join(LAYERS)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
