"""The commands that build signals from one config: demo, run, factor and explain."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from lazyflow import presets
from lazyflow.config import DataConfig, RunConfig, parse_config, read_toml
from lazyflow.errors import ConfigError, LazyflowError, SchemaError, collect
from lazyflow.outputs import staged_folder
from lazyflow.portfolio import backtest, capacity
from lazyflow.progress import Progress
from lazyflow.report import (
    FactorSection,
    format_factor_summary,
    write_report,
)
from lazyflow.report.format import summary_lines
from lazyflow.results import write_result
from lazyflow.sweep_config import parse_sweep_config
from lazyflow.tearsheet import headline

PRESETS = {"carry": presets.carry, "seed_carry": presets.seed_carry}


def demo(args: argparse.Namespace) -> int:
    data = DataConfig(source="synthetic", n_symbols=args.symbols, n_days=args.days, seed=args.seed)
    pipeline = PRESETS[args.preset]()
    config = RunConfig(
        data=data,
        stages=pipeline.stages,
        allocator=presets.seed_allocator(),
        # the notebook's costs; its weight carry only for the seed preset (DESIGN 10)
        backtest={**presets.SEED_BACKTEST, "drift": args.preset != "seed_carry"},
        output_dir=args.out,
    )
    return _execute(config, args.out, f"lazyflow demo: preset {args.preset}", args.quiet)


def run(args: argparse.Namespace) -> int:
    config = load_run_config(args.config)
    out = out_dir(config, args)
    return _execute(config, out, f"lazyflow run: {args.config.name}", args.quiet)


def factor(args: argparse.Namespace) -> int:
    """Signals with forward returns, the factor tables, factor parquet files and report.html,
    by default in ``<[output] dir>-factor`` (not the folder `run` writes)."""
    config = load_run_config(args.config)
    out = out_dir(config, args, suffix=FACTOR_SUFFIX)
    with staged_folder(out, "--out") as tmp:
        frame = signals(config, args.quiet, labels=True)
        factor = factor_section(config, frame, args.quiet)
        write_factor(tmp, factor)
        title = f"lazyflow factor: {args.config.name}"
        parameters = {
            k: v for k, v in config.parameters().items() if k not in ("allocator", "backtest")
        }
        with Progress("report", enabled=progress_enabled(args.quiet)).working():
            report = write_report(
                tmp, frame, None, title=title, parameters=parameters, factor=factor
            )
    if not args.quiet:
        print(factor_heading(factor))
        print(format_factor_summary(factor.tables.summary))
        print(f"\nwrote {out}/: factor.parquet, factor_daily.parquet, {report.name}")
    return 0


#: `lazyflow factor` writes to ``<[output] dir><FACTOR_SUFFIX>`` unless --out is given.
FACTOR_SUFFIX = "-factor"


def out_dir(config: RunConfig, args: argparse.Namespace, suffix: str = "") -> Path:
    if args.out is not None:
        return args.out
    if config.output_dir is None:
        raise ConfigError(f"{args.config}: no output folder: set [output] dir or pass --out")
    out = config.output_dir
    return out.with_name(out.name + suffix) if suffix else out


def load_run_config(path: Path) -> RunConfig:
    """A run config; when it does not parse but reads as a sweep config (a [sweep] table, or
    lists where single values belong), the error says to use `lazyflow sweep`."""
    raw = read_toml(path)
    try:
        return parse_config(raw, base_dir=path.parent)
    except ConfigError as exc:
        if is_sweep(raw, path.parent):
            raise ConfigError(
                f"{exc} -- {path} is a sweep config (it has grids); run it with "
                f"`lazyflow sweep {path}`"
            ) from exc
        raise


def is_sweep(raw: Mapping[str, Any], base_dir: Path) -> bool:
    """True when `raw` has a [sweep] table or parses as a sweep config with a grid."""
    if "sweep" in raw:
        return True
    try:
        config = parse_sweep_config(raw, base_dir)
    except LazyflowError:
        return False
    return bool(config.stage_grid or config.allocator_grid)


def explain(args: argparse.Namespace) -> int:
    config = load_run_config(args.config)
    pipeline = config.pipeline(labels=config.factor.enabled)  # the plan that `run` collects
    with Progress("reading data", enabled=progress_enabled(args.quiet)).working():
        panel = config.data.scan()
    schema = panel.collect_schema()
    steps = pipeline.schema_flow(schema)
    width = max((len(s.stage) for s in steps), default=5)
    lines = [f"Schema flow ({len(steps)} stages)", ""]
    lines.append(f"{'panel':<{width}}  has:   {_columns({c: str(t) for c, t in schema.items()})}")
    for step in steps:
        lines.append(f"{step.stage:<{width}}  needs: {_columns(step.needs)}")
        lines.append(f"{'':<{width}}  adds:  {_columns(step.adds)}")
    lines += ["", "Optimised plan", "", pipeline.explain(panel)]
    print("\n".join(lines))
    return 0


def _columns(columns: Mapping[str, str]) -> str:
    return ", ".join(f"{c} ({t})" for c, t in columns.items()) or "-"


def signals(config: RunConfig, quiet: bool, labels: bool, hint: str = "") -> pl.DataFrame:
    """Read the config's panel and collect its pipeline in one plan (a spinner on a
    terminal). With `labels`, the plan adds the forward returns and the [factor]
    columns are checked against its schema before it is collected (`hint` joins
    the error). A failure on the data (an unparseable number or date) is a `DataError`."""
    plan = config.pipeline(labels)(config.data.scan())
    if labels:
        try:
            config.analysis().validate(plan.collect_schema(), "[factor]")
        except SchemaError as exc:
            problem = f"{exc.problem} (check [factor] score, quantile_col and mask{hint})"
            raise SchemaError(exc.stage, exc.column, problem, exc.available) from exc
    with Progress("computing signals", enabled=progress_enabled(quiet)).working():
        return collect(plan, "signals")


def factor_section(
    config: RunConfig, frame: pl.DataFrame, quiet: bool, universe: bool = False
) -> FactorSection:
    """The [factor] analysis of `frame`. With `universe` (run and demo) and no [factor]
    mask, the factor is judged inside the backtest's tradable rows, where it trades."""
    settings = config.factor
    analysis = config.analysis()
    tradable = config.backtest.get(
        "tradable", inspect.signature(backtest).parameters["tradable"].default
    )
    if universe and analysis.mask is None and tradable is not None:
        analysis = dataclasses.replace(analysis, mask=tradable)
    with Progress("factor analysis", enabled=progress_enabled(quiet)).working():
        return FactorSection.compute(
            analysis, frame, settings.rolling_window, settings.periods_per_year
        )


def write_factor(out: Path, factor: FactorSection) -> None:
    factor.tables.summary.write_parquet(out / "factor.parquet")
    factor.tables.daily.write_parquet(out / "factor_daily.parquet")


def factor_heading(factor: FactorSection) -> str:
    a = factor.analysis
    dates = factor.tables.daily[a.date_col].n_unique()
    return f"factor {a.score}, quantiles {a.quantile_col}: {dates:,} dates"


def _execute(config: RunConfig, out: Path, title: str, quiet: bool) -> int:
    """Signals, backtest, then signals parquet, the saved result (metrics and book parquet,
    result.json: `lf.load_result(out)` reads it), summary.json and report.html; unless
    [factor] enabled = false, forward returns join the signals (one plan; they add columns
    only and the backtest reads none) and the factor files and section are added. Everything
    is written into a staging folder that replaces `out` at the end."""
    labels = config.factor.enabled
    with staged_folder(out, "--out") as tmp:
        frame = signals(config, quiet, labels, hint=", or set [factor] enabled = false")
        bar = Progress("backtest", enabled=progress_enabled(quiet))
        try:
            result = backtest(frame, config.allocator, **config.backtest, progress=bar)
        finally:
            bar.close()
        curve = _capacity(config, frame, quiet)
        factor = factor_section(config, frame, quiet, universe=True) if labels else None
        frame.write_parquet(tmp / "signals.parquet")
        write_result(result, tmp)
        if factor is not None:
            write_factor(tmp, factor)
        if curve is not None:
            curve.write_parquet(tmp / "capacity.parquet")
        summary = headline(result)
        parameters = config.parameters()
        record = {
            "summary": result.summary(),
            "annual": {k: summary[k] for k in ("annual_cost", "annual_funding")},
            "parameters": parameters,
            "dropped": result.dropped,
        }
        (tmp / "summary.json").write_text(json.dumps(finite_json(record), indent=2) + "\n", "utf-8")
        with Progress("report", enabled=progress_enabled(quiet)).working():
            report = write_report(
                tmp,
                frame,
                result,
                title=title,
                parameters=parameters,
                factor=factor,
                capacity=curve,
            )
    if not quiet:
        print(f"costs: {result.cost_model}; holdings {'drift' if result.drift else 'weights'}")
        print_summary(summary, factor is not None, out / report.name)
    return 0


def _capacity(config: RunConfig, frame: pl.DataFrame, quiet: bool) -> pl.DataFrame | None:
    """The [capacity] curve: the backtest at each of its starting NAVs (None without it)."""
    if not config.capacity_navs:
        return None
    options = {k: v for k, v in config.backtest.items() if k != "init_nav"}
    bar = Progress("capacity: dates", enabled=progress_enabled(quiet))
    try:
        return capacity(frame, config.allocator, config.capacity_navs, progress=bar, **options)
    finally:
        bar.close()


def print_summary(summary: Mapping[str, Any], with_factor: bool, report: Path) -> None:
    print("\n".join(summary_lines(summary)))
    files = "signals, book, metrics" + (", factor, factor_daily" if with_factor else "")
    print(f"\nwrote {report.parent}/: {files} (parquet), result.json, summary.json, {report.name}")


def finite_json(value: Any) -> Any:
    """`value` with tuples as lists and non-finite floats as None (strict JSON has no NaN)."""
    if isinstance(value, Mapping):
        return {str(k): finite_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def progress_enabled(quiet: bool) -> bool | None:
    """Progress bars: off with --quiet, else on when stderr is a terminal."""
    return False if quiet else None
