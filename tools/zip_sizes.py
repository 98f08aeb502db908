#!/usr/bin/env python3
"""The size of each function's zip from `make build`, as one table; exits 1 if any is
missing, or (with --strict) over the limit; otherwise an oversized zip is a warning.

The goal is 5 MB (5,000,000 bytes) per zip, the figure tools/startup.py checks too.
Sizes are shown in bytes, MB (10^6 bytes) and MiB (2^20 bytes), so either reading of
"5 MB" can be checked against the same numbers.

Usage: tools/zip_sizes.py [--limit 5000000] DIR FUNCTION...
       (DIR holds <function>/bootstrap.zip)
"""

import argparse
import sys
from pathlib import Path

LIMIT_BYTES = 5_000_000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", type=Path)
    parser.add_argument("functions", nargs="+")
    parser.add_argument("--limit", type=int, default=LIMIT_BYTES, help="bytes per zip")
    parser.add_argument("--strict", action="store_true", help="fail on a zip over the limit")
    args = parser.parse_args()
    rows, bad, over = [], [], []
    for name in args.functions:
        path = args.dir / name / "bootstrap.zip"
        if not path.is_file():
            rows.append((name, None))
            bad.append(f"{path} is missing")
            continue
        size = path.stat().st_size
        rows.append((name, size))
        if size > args.limit:
            over.append(f"{name}: {size:,} bytes is over the limit")
    print(f"zips in {args.dir}/<function>/bootstrap.zip, limit {args.limit:,} bytes "
          f"({args.limit / 2**20:.2f} MiB, {args.limit / 1e6:.2f} MB)")
    print(f"  {'function':<12} {'bytes':>11} {'MB':>7} {'MiB':>7}")
    for name, size in rows:
        if size is None:
            print(f"  {name:<12} {'missing':>11}")
            continue
        mark = "over" if size > args.limit else "ok"
        print(f"  {name:<12} {size:>11,} {size / 1e6:>7.2f} {size / 2**20:>7.2f}  {mark}")
    if args.strict:
        bad += over
    else:
        for problem in over:
            print(f"warning: {problem} (ZIP_STRICT=1 fails the build)", file=sys.stderr)
    for problem in bad:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
