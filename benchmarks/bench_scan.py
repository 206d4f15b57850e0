"""Benchmark of `lf.backtest` (the per-date numpy scan) against a naive per-date Polars loop.

    .venv/bin/python -m benchmarks.bench_scan            # or: python benchmarks/bench_scan.py
    .venv/bin/python -m benchmarks.bench_scan --symbols 300 --days 400 --naive-days 200

1. The scan: the synthetic panel (``--symbols`` x ``--days``) goes through `lf.presets.carry()`
   and is collected first; only `lf.backtest` is timed (best and median of ``--repeat`` runs),
   with the notebook's allocator and costs. Throughput is frame rows per second.
2. The ratio: at the notebook's scale (``--naive-symbols`` x ``--naive-days``), the same frame
   through `lf.backtest` and through `naive_backtest`, a loop in the notebook's style (a filter
   of the frame and joins per date).
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import time

import numpy as np
import polars as pl

import lazyflow as lf

TRADABLE = (
    pl.col("is_universe").fill_null(False)
    & pl.col("target_position").is_finite()
    & (pl.col("vol_fcst") > 0)
    & pl.col("vol_fcst").is_finite()
    & (pl.col("spread") > 0)
    & pl.col("spread").is_finite()
    & (pl.col("close") > 0)
    & pl.col("close").is_finite()
)


def naive_backtest(
    frame: pl.DataFrame, alloc: lf.BufferedAllocator, cost_per_dollar: float, init_nav: float
) -> float:
    """The notebook's PortfolioAllocator.rebalance_day + Backtester.run, one date at a time.

    Per date: filter the tradable rows, join yesterday's positions, compute the book with
    Polars expressions, filter the prices of t and t+1 and join them. Returns the final NAV.
    (The turnover cap moves the positions, as in lazyflow; no forced exits, no funding.)
    """
    data = frame.filter(TRADABLE).select(
        "date", "symbol", "target_position", "vol_fcst", "spread", "close"
    )
    prices = frame.select("date", "symbol", "close")
    dates = frame["date"].unique().sort().to_list()
    positions = pl.DataFrame(schema={"symbol": pl.String, "x_prev": pl.Float64})
    nav = init_nav
    for today, tomorrow in itertools.pairwise(dates):
        df = (
            data.filter(pl.col("date") == today)
            .join(positions, on="symbol", how="left")
            .with_columns(pl.col("x_prev").is_null().alias("is_new"), pl.col("x_prev").fill_null(0))
            .with_columns((pl.col("target_position") / pl.col("vol_fcst")).alias("w_raw"))
            .with_columns((pl.col("w_raw") / pl.col("w_raw").abs().sum()).alias("w_desired"))
        )
        if alloc.vol_target is not None:
            var = df.select((pl.col("w_desired") ** 2 * pl.col("vol_fcst") ** 2).sum()).item()
            if var > 0:
                scale = (alloc.vol_target / np.sqrt(alloc.periods_per_year)) / np.sqrt(var)
                df = df.with_columns(pl.col("w_desired") * scale)
        df = df.with_columns(
            (
                alloc.gamma_cost * pl.col("spread") / (alloc.lambda_risk * pl.col("vol_fcst") ** 2)
            ).alias("buffer"),
            (pl.col("w_desired") - pl.col("x_prev")).alias("delta"),
        ).with_columns(
            pl.when(pl.col("is_new") & pl.lit(alloc.ignore_open))
            .then(pl.col("w_desired"))
            .when(pl.col("delta").abs() <= pl.col("buffer"))
            .then(0.0)
            .otherwise(pl.col("delta").sign() * (pl.col("delta").abs() - pl.col("buffer")))
            .alias("trade")
        )
        df = df.with_columns(
            (pl.col("x_prev") + pl.col("trade")).clip(-alloc.max_pos, alloc.max_pos).alias("x")
        )
        gross = df.select(pl.col("x").abs().sum()).item()
        if gross > alloc.gross_cap:
            df = df.with_columns(pl.col("x") * (alloc.gross_cap / gross))
        df = df.with_columns((pl.col("x") - pl.col("x_prev")).alias("trade_final"))
        turnover = df.select(pl.col("trade_final").abs().sum()).item()
        if alloc.turnover_cap is not None and turnover > alloc.turnover_cap:
            df = df.with_columns(
                pl.col("trade_final") * (alloc.turnover_cap / turnover)
            ).with_columns((pl.col("x_prev") + pl.col("trade_final")).alias("x"))
            turnover = alloc.turnover_cap
        df = df.with_columns((pl.col("x") * nav / pl.col("close")).alias("coin_qty"))
        positions = df.select("symbol", pl.col("x").alias("x_prev"))
        p0 = prices.filter(pl.col("date") == today).select("symbol", pl.col("close").alias("p0"))
        p1 = prices.filter(pl.col("date") == tomorrow).select("symbol", pl.col("close").alias("p1"))
        pnl = (
            df.join(p0, on="symbol")
            .join(p1, on="symbol")
            .select((pl.col("coin_qty") * (pl.col("p1") - pl.col("p0"))).sum())
            .item()
        )
        nav = nav - turnover * nav * cost_per_dollar + (pnl or 0.0)
    return nav


def carry_frame(n_symbols: int, n_days: int) -> pl.DataFrame:
    """The synthetic panel through the carry preset, collected."""
    panel = lf.synthetic_panel(n_symbols=n_symbols, n_days=n_days, seed=0)
    return lf.presets.carry()(panel.lazy()).collect()


def time_scan(frame: pl.DataFrame, repeat: int) -> list[float]:
    """Seconds per `lf.backtest` run on `frame`, `repeat` times."""
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        lf.backtest(frame, lf.presets.seed_allocator(), **lf.presets.SEED_BACKTEST)
        seconds.append(time.perf_counter() - start)
    return seconds


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=2000)
    parser.add_argument("--days", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--naive-symbols", type=int, default=300)
    parser.add_argument("--naive-days", type=int, default=1600)
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args(argv)

    frame = carry_frame(args.symbols, args.days)
    runs = time_scan(frame, args.repeat)
    best, median = min(runs), statistics.median(runs)
    print(
        f"scan  {args.symbols} x {args.days}: {frame.height:,} rows, "
        f"best {best:.3f} s ({frame.height / best / 1e6:.2f} M rows/s), "
        f"median {median:.3f} s ({frame.height / median / 1e6:.2f} M rows/s)"
    )
    if args.skip_naive:
        return
    small = carry_frame(args.naive_symbols, args.naive_days)
    scan = min(time_scan(small, args.repeat))
    alloc, costs = lf.presets.seed_allocator(), lf.presets.SEED_BACKTEST
    start = time.perf_counter()
    naive_nav = naive_backtest(small, alloc, costs["cost_per_dollar"], costs["init_nav"])
    naive = time.perf_counter() - start
    print(
        f"naive {args.naive_symbols} x {args.naive_days}: {small.height:,} rows, "
        f"naive loop {naive:.2f} s, scan {scan:.3f} s, ratio {naive / scan:.0f}x "
        f"(naive final NAV {naive_nav:.4f}; it has no forced exits or funding)"
    )


if __name__ == "__main__":
    main()
