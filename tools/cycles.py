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


def top_module(src: pathlib.Path, path: pathlib.Path) -> str:
    rel = path.relative_to(src)
    first = rel.parts[0]
    return first[:-3] if first.endswith(".rs") else first


def graph(src: pathlib.Path) -> dict:
    modules = {top_module(src, p) for p in src.rglob("*.rs")} - {"lib", "main", "bin"}
    edges = {m: set() for m in modules}
    for path in sorted(src.rglob("*.rs")):
        module = top_module(src, path)
        if module not in edges:
            continue
        code = strip_comments_and_strings(path.read_text(encoding="utf-8"))
        names = set(CRATE_PATH.findall(code))
        for group in USE_GROUP.findall(code):
            # Only the first name of each path in the group: `{a::b, c}` names a and c.
            depth, current = 0, ""
            for ch in group + ",":
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                if ch == "," and depth == 0:
                    m = re.match(r"\s*([a-z_][a-z0-9_]*)", current)
                    if m:
                        names.add(m.group(1))
                    current = ""
                else:
                    current += ch
        for name in names:
            if name in modules and name != module:
                edges[module].add(name)
    return edges


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
    groups = strongly_connected(edges)
    if not groups:
        print(f"no import cycles among {len(edges)} modules of {args.src}")
        return 0
    for g in groups:
        cycle = one_cycle(edges, g)
        print(f"import cycle among {len(g)} modules: {', '.join(g)}")
        print(f"  for example: {' -> '.join(cycle)}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
