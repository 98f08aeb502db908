#!/usr/bin/env python3
"""Functions in the library's production code longer than the limit.

Counts each `fn`'s lines from its signature to its closing brace (comments and blank
lines included, since they are read too), in shared/src outside test code (`tests.rs`,
`tests/` folders and inline `mod tests` blocks). A function may be longer if the line
directly above its doc comment and attributes says why, starting `// Long:`. Exits 1 if
any function is over the limit without a reason.

    python3 tools/fn_length.py [--src shared/src] [--limit 80] [--all]
"""

import argparse
import pathlib
import re
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from cycles import strip_comments_and_strings  # noqa: E402

FN = re.compile(r"^\s*(?:pub(?:\([^)]*\))?\s+)?(?:const\s+)?(?:async\s+)?(?:unsafe\s+)?fn\s+([A-Za-z_][A-Za-z0-9_]*)", re.M)
TEST_MOD = re.compile(r"^\s*mod\s+tests\s*\{", re.M)


def is_test_file(rel: pathlib.Path) -> bool:
    return rel.name == "tests.rs" or "tests" in rel.parts[:-1]


def matching_brace(code: str, open_at: int) -> int:
    depth = 0
    for i in range(open_at, len(code)):
        if code[i] == "{":
            depth += 1
        elif code[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return len(code) - 1


def functions(path: pathlib.Path):
    """(name, first line, line count, reason) of each fn with a body."""
    text = path.read_text(encoding="utf-8")
    code = strip_comments_and_strings(text)
    lines = text.split("\n")
    skip = []
    for m in TEST_MOD.finditer(code):
        brace = code.index("{", m.start())
        skip.append((m.start(), matching_brace(code, brace)))
    for m in FN.finditer(code):
        if any(a <= m.start() <= b for a, b in skip):
            continue
        # The body's brace, unless the signature ends at `;` first (trait declarations).
        i, depth = m.end(), 0
        while i < len(code):
            c = code[i]
            if c in "(<[":
                depth += 1
            elif c in ")>]":
                depth -= 1 if c != ">" or code[i - 1] != "-" else 0
            elif c == ";" and depth <= 0:
                i = -1
                break
            elif c == "{" and depth <= 0:
                break
            i += 1
        if i < 0 or i >= len(code):
            continue
        end = matching_brace(code, i)
        first = code.count("\n", 0, m.start()) + 1
        last = code.count("\n", 0, end) + 1
        # The reason: a `// Long:` line above the fn's doc comments and attributes.
        j = first - 2
        while j >= 0 and re.match(r"\s*(///|#\[|//!)", lines[j]):
            j -= 1
        reason = None
        while j >= 0 and re.match(r"\s*//", lines[j]) and not lines[j].strip().startswith("///"):
            if lines[j].strip().startswith("// Long:"):
                reason = lines[j].strip()[len("// Long:"):].strip()
                break
            j -= 1
        yield m.group(1), first, last - first + 1, reason


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--src", default="shared/src")
    ap.add_argument("--limit", type=int, default=80)
    ap.add_argument("--all", action="store_true", help="also list the long functions that give a reason")
    args = ap.parse_args()
    src = pathlib.Path(args.src)
    over, explained, count = [], [], 0
    for path in sorted(src.rglob("*.rs")):
        rel = path.relative_to(src)
        if is_test_file(rel):
            continue
        for name, line, length, reason in functions(path):
            count += 1
            if length > args.limit:
                (explained if reason else over).append((length, f"{src / rel}:{line}", name, reason))
    for length, where, name, _ in sorted(over, reverse=True):
        print(f"{where}: fn {name} is {length} lines (limit {args.limit}); split it or say why above it (// Long: …)")
    if args.all:
        for length, where, name, reason in sorted(explained, reverse=True):
            print(f"{where}: fn {name} is {length} lines: {reason}")
    if over:
        return 1
    print(f"{count} functions in {src} outside tests; none over {args.limit} lines without a reason ({len(explained)} with one)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
