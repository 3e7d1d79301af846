"""Benchmark: generate a synthetic CRM history and write it to disk.

Usage::

    .venv/bin/python benchmarks/generate_speed.py [--n-leads 100000] [--fmt csv parquet]

Prints the seconds spent generating and writing, and the row count of every table.
Exits with status 1 when generate + write takes longer than ``--budget`` seconds
(30 by default) for any format.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from mqlml.synthetic.generate import generate_history, write_history


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-leads", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--fmt", nargs="+", choices=("csv", "parquet"), default=["csv", "parquet"])
    parser.add_argument("--budget", type=float, default=30.0, help="seconds allowed per format")
    args = parser.parse_args(argv)

    over_budget = False
    for fmt in args.fmt:
        with tempfile.TemporaryDirectory(prefix="mqlml-bench-") as tmp:
            t0 = time.perf_counter()
            history = generate_history(args.n_leads, seed=args.seed)
            t1 = time.perf_counter()
            paths = write_history(history, Path(tmp), fmt=fmt)
            t2 = time.perf_counter()
            sizes = {name: path.stat().st_size / 1e6 for name, path in paths.items()}
        total = t2 - t0
        over_budget |= total > args.budget
        print(
            f"{fmt:8s} n_leads={args.n_leads:,}  generate {t1 - t0:6.2f} s  "
            f"write {t2 - t1:6.2f} s  total {total:6.2f} s  (budget {args.budget:.0f} s)"
        )
        for name in ("leads", "activities", "outcomes", "truth"):
            frame = getattr(history, name)
            print(f"    {name:10s} {len(frame):>10,} rows  {sizes[name]:8.1f} MB")
    return 1 if over_budget else 0


if __name__ == "__main__":
    sys.exit(main())
