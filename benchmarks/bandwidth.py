"""The floor of issue 15: memory bandwidth, the bytes each stage must touch, and lazyflow's
distance from the time those bytes take.

    .venv/bin/python -m benchmarks.bandwidth                # bandwidth, floor, stage times (W2)
    .venv/bin/python -m benchmarks.bandwidth --workload W1  # another size
    .venv/bin/python -m benchmarks.bandwidth --no-stages    # bandwidth and floor only

1. **Bandwidth**: numpy on one thread over arrays far larger than the caches (``--mib``, 512
   MiB by default): ``copy`` (``np.copyto``: each byte read once and written once, counted
   twice) and ``read`` (``np.sum``: each byte read once); best of ``--repeats``.
2. **Floor**: `STAGES` lists, for every stage of `lf.presets.carry()` and the backtest, the
   columns it must read and write at the least and the least number of passes over memory
   (see benchmarks/README.md, "The floor"). Bytes = rows x bytes per row x passes; floor =
   bytes / the copy bandwidth.
3. **Stage times** (unless ``--no-stages``): each prefix of the pipeline collected (CPU and
   wall, min of ``--repeats``); a stage's time is its prefix's minus the previous prefix's.
   Then `lf.backtest` on the collected frame. Distance = stage time / floor.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

import lazyflow as lf
from benchmarks.workloads import parse_workload

#: Bytes per value: Float64, Int32 / Date / a symbol's integer code, Boolean (bit-packed).
F64, I32, BIT = 8, 4, 1 / 8
KEYS = I32 + I32  # date and symbol code


@dataclass(frozen=True)
class StageFloor:
    """What one stage must touch per row at the least: bytes read and written per pass, and
    the passes over memory (a pass that streams every row once)."""

    stage: str
    read: float
    write: float
    passes: int
    why: str

    def bytes_per_row(self) -> float:
        return (self.read + self.write) * self.passes


STAGES = [
    StageFloor("DropNulls", 9 * BIT, 0, 1, "the validity bitmaps of 9 columns; no value read"),
    StageFloor(
        "order by symbol",
        KEYS,
        I32,
        2,
        "per-symbol windows need symbol-major order: a 2-pass radix (counting) sort of "
        "(symbol, date) giving a row index, shared by every per-symbol stage",
    ),
    StageFloor("LogReturns", F64 + I32, F64, 1, "close gathered in symbol order, one log each"),
    StageFloor(
        "VolumeUniverse",
        F64 + I32 + F64 + I32,
        F64 + I32 + BIT,
        1,
        "rolling mean of dollar_volume in symbol order (one pass), then per date (rows already "
        "date-major, a date's ~900 values sort in cache) the rank, decile and flag",
    ),
    StageFloor(
        "FundingCarry",
        F64 + I32,
        F64,
        1,
        "per date in cache: two quantiles, clip, mean, std, score",
    ),
    StageFloor("Deciles", F64 + I32, I32, 1, "per date in cache: rank and count"),
    StageFloor("SigmoidTarget", I32, 2 * F64, 1, "elementwise: alpha and target"),
    StageFloor("EwmaVol", F64 + I32, F64, 1, "two EWMAs of log_returns^2 in symbol order"),
    StageFloor("RangeSpread", 2 * F64, F64, 1, "elementwise on high and low"),
    StageFloor(
        "backtest load",
        5 * F64 + KEYS + 2 * BIT,
        BIT,
        1,
        "target, vol, spread, close, funding, the keys and the flags; the drop reason written",
    ),
    StageFloor(
        "backtest scan",
        0.2 * (5 * F64 + F64),
        0.2 * 2 * F64,
        1,
        "per date, the ~20% tradable rows: their five inputs and yesterday's position read, "
        "the new position and trade written",
    ),
]


#: Floor rows timed together with another stage's (lazyflow has no separate step for them).
MEASURED_AS = {
    "order by symbol": "LogReturns",
    "backtest load": "backtest",
    "backtest scan": "backtest",
}


def best(run: Callable[[], object], repeats: int, clock: Callable[[], float]) -> float:
    """The smallest of `repeats` timings of `run` on `clock`."""
    times = []
    for _ in range(repeats):
        start = clock()
        run()
        times.append(clock() - start)
    return min(times)


def bandwidth(mib: int, repeats: int) -> dict[str, float]:
    """Bytes per second of a numpy copy (read + write) and a numpy sum (read), one thread."""
    src = np.ones(mib * 2**20 // 8)
    dst = np.empty_like(src)
    np.copyto(dst, src)  # touch every page first
    copy = best(lambda: np.copyto(dst, src), repeats, time.perf_counter)
    read = best(lambda: src.sum(), repeats, time.perf_counter)
    return {"copy": 2 * src.nbytes / copy, "read": src.nbytes / read}


def stage_times(panel: pl.DataFrame, repeats: int) -> dict[str, dict[str, float]]:
    """Wall and CPU seconds of each carry stage (prefix differences) and of the backtest."""
    stages = lf.presets.carry().stages
    out: dict[str, dict[str, float]] = {}
    before = {"wall": 0.0, "cpu": 0.0}
    for k in range(1, len(stages) + 1):
        pipeline = lf.Pipeline(stages[:k])
        run = lambda p=pipeline: p(panel.lazy()).collect()  # noqa: E731
        now = {
            "wall": best(run, repeats, time.perf_counter),
            "cpu": best(run, repeats, time.process_time),
        }
        out[stages[k - 1].name] = {key: now[key] - before[key] for key in now}
        before = now
    frame = lf.presets.carry()(panel.lazy()).collect()
    alloc = lf.presets.seed_allocator()
    run = lambda: lf.backtest(frame, alloc, **lf.presets.SEED_BACKTEST)  # noqa: E731
    out["backtest"] = {
        "wall": best(run, repeats, time.perf_counter),
        "cpu": best(run, repeats, time.process_time),
    }
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.bandwidth", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--workload", default="W2", help="W1..W4 or NxD (default W2)")
    parser.add_argument("--mib", type=int, default=512, help="array size of the bandwidth test")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-stages", action="store_true", help="skip the stage timings")
    args = parser.parse_args(argv)
    rate = bandwidth(args.mib, args.repeats)
    copy, read = rate["copy"] / 1e9, rate["read"] / 1e9
    print(f"bandwidth, one thread: copy {copy:.1f} GB/s, read {read:.1f} GB/s")
    workload = parse_workload(args.workload)
    panel = workload.panel()
    rows = panel.height
    print(f"\n{workload.name} {workload.size}: {rows:,} rows; floor = bytes / copy bandwidth\n")
    print("| stage | B/row | passes | MB | floor ms |\n|---|---|---|---|---|")
    floors: dict[str, float] = {}
    for s in STAGES:
        floor = rows * s.bytes_per_row() / rate["copy"]
        part = MEASURED_AS.get(s.stage, s.stage)
        floors[part] = floors.get(part, 0.0) + floor
        mb = rows * s.bytes_per_row() / 1e6
        print(
            f"| {s.stage} | {s.bytes_per_row():.1f} | {s.passes} | {mb:.0f} | {1e3 * floor:.1f} |"
        )
    print(f"\nfloor, whole run: {1e3 * sum(floors.values()):.0f} ms")
    if args.no_stages:
        return
    times = stage_times(panel, args.repeats)
    print("\n| lazyflow | wall ms | CPU ms | floor ms | distance |\n|---|---|---|---|---|")
    for name, t in times.items():
        floor = floors[name]
        wall, cpu = 1e3 * t["wall"], 1e3 * t["cpu"]
        print(f"| {name} | {wall:.0f} | {cpu:.0f} | {1e3 * floor:.1f} | {t['wall'] / floor:.0f}x |")
    wall = sum(t["wall"] for t in times.values())
    print(
        f"\nlazyflow, whole run: {1e3 * wall:.0f} ms = {wall / sum(floors.values()):.0f}x the floor"
    )


if __name__ == "__main__":
    main()
