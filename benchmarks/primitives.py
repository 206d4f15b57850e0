"""The Polars floor: each window primitive the carry pipeline needs, timed alone.

    .venv/bin/python -m benchmarks.primitives                 # W2, date-major and shuffled
    .venv/bin/python -m benchmarks.primitives --workload W1 --pandas

`lf.presets.carry()` cannot run faster than the Polars expressions it must evaluate at the
least, each once: the symbol's integer code, the calendar (dense rank of the date), one
per-symbol window of shifts and rolling means, one of EWMAs, two per-date quantiles, two
per-date exact sums (centre and scale), and two per-date ranks with their counts (the volume
and the carry deciles). Each is timed alone here (``frame.select(expr)``, min of
``--repeats``) on the synthetic panel in the order the pandas comparison gets it (sorted by
date, then symbol) and shuffled; their sum is the floor of what lazyflow can reach with
Polars expressions on this machine. ``--pandas`` also times the pandas peer
(`benchmarks.pandas_carry`) once, so the floor reads against issue 15's target (pandas / 10).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import polars as pl

import lazyflow as lf
from benchmarks.pandas_carry import pandas_carry
from benchmarks.workloads import parse_workload
from lazyflow.exprs import exact_sum, per_symbol, symbol_code, symbol_date_key

SYMBOL, DATE = "symbol", "date"


def primitives() -> dict[str, pl.Expr]:
    """Name -> the one expression (with its window) the pipeline needs at the least."""
    close, dollar, funding = pl.col("close"), pl.col("dollar_volume"), pl.col("funding_rate")
    return {
        "symbol code (Categorical)": pl.col(SYMBOL).cast(pl.Categorical),
        "calendar (dense rank of date)": pl.col(DATE).rank("dense"),
        "per symbol: shift + rolling mean": per_symbol(
            pl.struct(close.shift(1).alias("a"), dollar.rolling_mean(30, min_samples=1).alias("b")),
            SYMBOL,
            DATE,
        ),
        "per symbol: two EWMAs": per_symbol(
            pl.struct(close.ewm_mean(span=21).alias("a"), close.ewm_mean(span=90).alias("b")),
            SYMBOL,
            DATE,
        ),
        "per date: two quantiles": pl.struct(
            funding.quantile(0.05, interpolation="nearest").over(DATE).alias("a"),
            funding.quantile(0.95, interpolation="nearest").over(DATE).alias("b"),
        ),
        "per date: exact sum (mean)": exact_sum(funding).over(DATE),
        "per date: exact sum (std)": exact_sum(funding * funding).over(DATE),
        "per date: rank + count (volume)": (dollar.rank() / dollar.count()).over(DATE),
        "per date: rank + count (carry)": (funding.rank() / funding.count()).over(DATE),
    }


def sorted_layout() -> dict[str, tuple[bool, Callable[[pl.DataFrame], object]]]:
    """What a pipeline-level layout sorted by (symbol, date) would run instead, each step
    with whether it reads the date-major panel (True) or the laid-out rows (`by_symbol`):
    the permutation (one integer key, `symbol_date_key`, as `lf.Factor` sorts) and the
    gather of the inputs, the per-symbol windows without ``order_by`` over the sorted symbol
    code (each symbol one contiguous slice), every per-date primitive on rows no longer
    grouped by date, and the gather of the ten columns the pipeline adds back into the
    frame's order."""
    close, dollar = pl.col("close"), pl.col("dollar_volume")

    def windows(*exprs: pl.Expr) -> Callable[[pl.DataFrame], object]:
        return lambda frame: frame.select(pl.struct(*exprs).over(CODE))

    def gather_in(frame: pl.DataFrame) -> object:
        order = frame.select(pl.arg_sort_by(symbol_date_key(symbol_code(SYMBOL), DATE))).to_series()
        return frame.select(pl.col(LAYOUT_INPUTS).gather(order))

    steps = {
        "sort key, permutation, gather the 5 inputs": (True, gather_in),
        "per symbol, contiguous: shift + rolling mean": (
            False,
            windows(close.shift(1).alias("a"), dollar.rolling_mean(30, min_samples=1).alias("b")),
        ),
        "per symbol, contiguous: two EWMAs": (
            False,
            windows(close.ewm_mean(span=21).alias("a"), close.ewm_mean(span=90).alias("b")),
        ),
    }
    for name, expr in primitives().items():
        if name.startswith(("calendar", "per date")):
            steps[f"{name}, on that layout"] = (False, lambda f, e=expr: f.select(e))
    steps["gather 10 added columns back"] = (
        False,
        lambda f: f.select(
            pl.col("funding_rate").alias(f"c{i}").gather(pl.col(BACK)) for i in range(10)
        ),
    )
    return steps


#: The columns the carry pipeline reads.
LAYOUT_INPUTS = [DATE, SYMBOL, "close", "dollar_volume", "funding_rate"]
#: Columns of the laid-out frame: the symbol's integer code (sorted) and the way back (the
#: inverse permutation).
CODE, BACK = "code", "back"


def by_symbol(panel: pl.DataFrame) -> pl.DataFrame:
    """The carry pipeline's inputs sorted by (symbol, date), with the symbol's code
    (`CODE`, flagged sorted) and the way back (`BACK`)."""
    order = panel.select(pl.arg_sort_by(symbol_date_key(symbol_code(SYMBOL), DATE))).to_series()
    return (
        panel.select(LAYOUT_INPUTS)
        .with_columns(symbol_code(SYMBOL).alias(CODE))
        .select(pl.all().gather(order))
        .with_columns(pl.col(CODE).set_sorted(), order.arg_sort().alias(BACK))
    )


def best(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", default="W2", help="W1..W4 or NxD (default W2)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--pandas", action="store_true", help="time the pandas peer once")
    args = parser.parse_args(argv)
    panel = parse_workload(args.workload).panel()
    frames = {
        "date-major": panel,
        "shuffled": panel.sample(fraction=1.0, shuffle=True, seed=1),
    }
    print(f"{args.workload}: {panel.height:,} rows, min of {args.repeats}")
    print(f"| primitive | {' | '.join(frames)} |")
    print(f"|---|{'---:|' * len(frames)}")
    totals = dict.fromkeys(frames, 0.0)
    for name, expr in primitives().items():
        cells = []
        for label, frame in frames.items():
            seconds = best(lambda f=frame, e=expr: f.select(e), args.repeats)
            totals[label] += seconds
            cells.append(f"{seconds * 1000:.0f} ms")
        print(f"| {name} | {' | '.join(cells)} |")
    print(
        f"| **sum: the floor** | {' | '.join(f'**{t * 1000:.0f} ms**' for t in totals.values())} |"
    )
    pipeline = lf.presets.carry()
    cells = [
        f"{best(lambda f=f: pipeline(f).collect(), args.repeats) * 1000:.0f} ms"
        for f in frames.values()
    ]
    print(f"| carry() collected | {' | '.join(cells)} |")
    laid_out, total = by_symbol(panel), 0.0
    print("\nA layout sorted once by (symbol, date), from the date-major panel:")
    print("| step | time |\n|---|---:|")
    for name, (on_panel, run) in sorted_layout().items():
        frame = panel if on_panel else laid_out
        seconds = best(lambda r=run, f=frame: r(f), args.repeats)
        total += seconds
        print(f"| {name} | {seconds * 1000:.0f} ms |")
    print(f"| **sum: the floor with that layout** | **{total * 1000:.0f} ms** |")
    if args.pandas:
        frame = panel.to_pandas()
        start = time.perf_counter()
        pandas_carry(frame)
        seconds = time.perf_counter() - start
        print(
            f"pandas peer: {seconds:.2f} s; issue 15's target (pandas / 10): {seconds * 100:.0f} ms"
        )


if __name__ == "__main__":
    main()
