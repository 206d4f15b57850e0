"""Before/after check for performance work: the outputs must stay bitwise identical.

    .venv/bin/python -m benchmarks.identical save /tmp/before            # before a change
    .venv/bin/python -m benchmarks.identical check /tmp/before           # after it

For each workload (default W1 and W2), saves or compares exactly (``check_exact``, NaN equal
to NaN, dtypes and column order included): the frame of `lf.presets.carry()` and of
`lf.presets.seed_carry()`, and the metrics and book of `lf.backtest` on the carry frame with the
notebook's allocator and costs.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import polars as pl
from polars.testing import assert_frame_equal

import lazyflow as lf
from benchmarks.workloads import parse_workload


def outputs(workload: str) -> Iterator[tuple[str, pl.DataFrame]]:
    """(name, frame) of every output compared for one workload."""
    spec = parse_workload(workload)
    panel = spec.panel()
    frame = lf.presets.carry()(panel.lazy()).collect()
    yield f"{spec.name}_carry", frame
    yield f"{spec.name}_seed_carry", lf.presets.seed_carry()(panel.lazy()).collect()
    result = lf.backtest(frame, lf.presets.seed_allocator(), **lf.presets.SEED_BACKTEST)
    yield f"{spec.name}_metrics", result.metrics
    yield f"{spec.name}_book", result.book


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.identical", description=__doc__.splitlines()[0]
    )
    parser.add_argument("action", choices=("save", "check"))
    parser.add_argument("directory", type=Path)
    parser.add_argument("--workloads", default="W1,W2", help="comma-separated (default W1,W2)")
    args = parser.parse_args(argv)
    args.directory.mkdir(parents=True, exist_ok=True)
    failures = 0
    for workload in args.workloads.split(","):
        for name, frame in outputs(workload):
            path = args.directory / f"{name}.parquet"
            if args.action == "save":
                frame.write_parquet(path)
                print(f"saved {name}: {frame.shape}")
                continue
            try:
                assert_frame_equal(pl.read_parquet(path), frame, check_exact=True)
            except AssertionError as exc:
                failures += 1
                print(f"DIFFERENT {name}: {str(exc).splitlines()[0]}")
            else:
                print(f"identical {name}: {frame.shape}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
