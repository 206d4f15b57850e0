"""The sweep command: every configuration of a sweep config's grids, and walk-forward."""

from __future__ import annotations

import argparse

from lazyflow.cli.run import out_dir, progress_enabled
from lazyflow.outputs import staged_folder
from lazyflow.progress import Progress
from lazyflow.report import (
    write_sweep_report,
)
from lazyflow.report.format import format_stat
from lazyflow.report.page import label
from lazyflow.sweep_config import load_sweep_config
from lazyflow.sweeps import sweep_result
from lazyflow.walk_forward import walk_forward


def sweep_command(args: argparse.Namespace) -> int:
    """Every configuration of the config's grids: sweep.parquet and report.html."""
    config = load_sweep_config(args.config)
    out = out_dir(config.run, args)
    pipelines, allocators = config.pipelines(), config.allocators()
    n = len(pipelines) * len(allocators)
    engine = args.engine or config.engine
    with staged_folder(out, "--out") as tmp:
        bar = Progress(f"sweep: {n:,} configurations", enabled=progress_enabled(args.quiet))
        try:
            result = sweep_result(
                config.run.data.scan(),
                pipelines,
                allocators,
                config.run.backtest,
                engine=engine,
                n_jobs=args.jobs or config.n_jobs,
                address=config.address,
                progress=bar,
            )
        finally:
            bar.close()
        walk = None
        if config.walk_forward is not None:
            bar = Progress("walk-forward: steps", enabled=progress_enabled(args.quiet))
            try:
                walk = walk_forward(
                    config.run.data.scan(),
                    pipelines,
                    allocators,
                    backtest_kw=config.run.backtest,
                    progress=bar,
                    **config.walk_forward,
                )
            finally:
                bar.close()
        table = result.table
        table.write_parquet(tmp / "sweep.parquet")
        files = ["sweep.parquet"]
        if walk is not None:
            walk.metrics.write_parquet(tmp / "walk_forward.parquet")
            walk.windows.write_parquet(tmp / "walk_forward_windows.parquet")
            files += ["walk_forward.parquet", "walk_forward_windows.parquet"]
        title = f"lazyflow sweep: {args.config.name}"
        swept = config.swept()
        with Progress("report", enabled=progress_enabled(args.quiet)).working():
            report = write_sweep_report(
                tmp,
                table,
                swept,
                config.axes(),
                config.metric,
                title,
                config.parameters(),
                overfitting=(result.pbo, result.pbo_note),
                walk=walk,
            )
    if not args.quiet:
        metric = config.metric
        best = table.sort(metric, descending=True, nulls_last=True).row(0, named=True)
        settings = ", ".join(f"{c} = {label(best[c])}" for c in swept) or "the only configuration"
        print(f"{n:,} configurations ({len(pipelines)} pipelines x {len(allocators)} allocators)")
        value = format_stat(metric, best[metric])
        print(f"best {metric} {value}: config {best['config']}, {settings}")
        print(f"deflated Sharpe ratio of the best: {format_stat('dsr', best['dsr'])}")
        pbo = "n/a" if result.pbo is None else f"{result.pbo.pbo:.1%}"
        print(f"probability of backtest overfitting: {pbo} ({result.pbo_note})")
        if walk is not None:
            print(
                f"walk-forward: {walk.windows.height} windows, out-of-sample Sharpe "
                f"{format_stat('sharpe', walk.summary['sharpe'])} (in-sample best over the "
                f"same dates: {format_stat('sharpe', walk.best_summary['sharpe'])})"
            )
        print(f"\nwrote {out}/: {', '.join(files)}, {report.name}")
    return 0
