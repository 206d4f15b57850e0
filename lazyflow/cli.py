"""The ``lazyflow`` command line: demo, run, factor, sweep, explain, download, ingest.

Exit codes: 0 success; 2 usage or config error (including an unusable --out); 1 data
error (bad or missing data, a schema mismatch, a missing file) or internal error (a Polars
panic included); 130 interrupted (SIGINT), 143 terminated (SIGTERM). Errors are one line on
stderr (``lazyflow: error: ...``); ``--debug`` adds the traceback. ``--debug`` and
``--quiet`` go before or after the command.

Every command that writes a folder writes it atomically (`lazyflow.outputs`): --out is
checked before any work, and a failed or interrupted run leaves the folder as it was.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import json
import math
import os
import signal
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from lazyflow import presets
from lazyflow.config import DataConfig, RunConfig, parse_config, read_toml
from lazyflow.errors import ConfigError, LazyflowError, SchemaError
from lazyflow.outputs import Terminated, staged_file, staged_folder, terminate_on_sigterm
from lazyflow.portfolio import backtest, capacity
from lazyflow.progress import Progress
from lazyflow.report import (
    FactorSection,
    format_factor_summary,
    write_report,
    write_sweep_report,
)
from lazyflow.report.format import format_stat, summary_lines
from lazyflow.report.page import label
from lazyflow.results import write_result
from lazyflow.sweep_config import load_sweep_config, parse_sweep_config
from lazyflow.sweeps import ENGINES, sweep_result
from lazyflow.tearsheet import headline
from lazyflow.version import __version__
from lazyflow.walk_forward import walk_forward

PRESETS = {"carry": presets.carry, "seed_carry": presets.seed_carry}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on `argv` (default ``sys.argv[1:]``); return the exit code."""
    parser = _parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return exc.code if isinstance(exc.code, int) else 2
    previous = None
    try:
        previous = signal.getsignal(signal.SIGTERM)
        terminate_on_sigterm()
    except ValueError:  # not the main thread: SIGTERM keeps its handler
        previous = None
    try:
        return _dispatch(args)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _dispatch(args: argparse.Namespace) -> int:
    """Run the command; map every failure to one line on stderr and a non-zero exit code."""
    try:
        return args.command(args)
    except BrokenPipeError:  # e.g. `lazyflow explain x.toml | head`: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        _error("interrupted", args.debug)
        return 130
    except Terminated:
        _error("terminated", args.debug)
        return 143
    except ConfigError as exc:
        _error(_describe(exc), args.debug)
        return 2
    except (LazyflowError, OSError, pl.exceptions.PolarsError) as exc:
        _error(_describe(exc), args.debug)
        return 1
    except BaseException as exc:  # any other error; a Polars (pyo3) panic is a BaseException
        if isinstance(exc, SystemExit | GeneratorExit):
            raise
        _error(f"internal error: {_describe(exc)} (run with --debug for the traceback)", args.debug)
        return 1


def _parser() -> argparse.ArgumentParser:
    # --quiet and --debug go before the command (the main parser) or after it (each
    # command's parser); SUPPRESS keeps a command's parser from resetting a flag given before
    parser = argparse.ArgumentParser(
        prog="lazyflow", description="Lazy Polars factor pipelines and backtests."
    )
    parser.add_argument("--version", action="version", version=f"lazyflow {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    for target, default in ((parser, False), (common, argparse.SUPPRESS)):
        target.add_argument(
            "--quiet", "-q", action="store_true", default=default,
            help="no progress bar or summary table",
        )  # fmt: skip
        target.add_argument(
            "--debug", action="store_true", default=default, help="show tracebacks on errors"
        )
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    demo = sub.add_parser(
        "demo", parents=[common], help="run a preset on the synthetic panel and write a report"
    )
    demo.add_argument("--symbols", type=_positive, default=300, help="default 300")
    demo.add_argument("--days", type=_positive, default=1600, help="default 1600")
    demo.add_argument("--seed", type=int, default=0, help="panel random seed (default 0)")
    demo.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="carry",
        help="carry: long carry (default); seed_carry: the notebook's ordering",
    )
    demo.add_argument("--out", type=Path, default=Path("out/demo"), help="default out/demo")
    demo.set_defaults(command=_demo)

    run = sub.add_parser("run", parents=[common], help="run a TOML config and write a report")
    run.add_argument("config", type=Path, help="the TOML config file")
    run.add_argument("--out", type=Path, help="output folder (overrides [output] dir)")
    run.set_defaults(command=_run)

    factor = sub.add_parser(
        "factor",
        parents=[common],
        help="judge a config's [factor] score: IC, quantile returns, turnover; no backtest",
    )
    factor.add_argument("config", type=Path, help="the TOML config file")
    factor.add_argument("--out", type=Path, help="output folder (overrides [output] dir)")
    factor.set_defaults(command=_factor)

    sweep_cmd = sub.add_parser(
        "sweep",
        parents=[common],
        help="backtest a config's parameter grids; write sweep.parquet and a heatmap report",
    )
    sweep_cmd.add_argument("config", type=Path, help="the TOML config file, with grids")
    sweep_cmd.add_argument("--out", type=Path, help="output folder (overrides [output] dir)")
    sweep_cmd.add_argument("--engine", choices=ENGINES, help="overrides [sweep] engine")
    sweep_cmd.add_argument(
        "--jobs", type=_positive, help="local worker processes (overrides [sweep] n_jobs)"
    )
    sweep_cmd.set_defaults(command=_sweep)

    explain = sub.add_parser(
        "explain", parents=[common], help="print a config's schema flow and optimised plan"
    )
    explain.add_argument("config", type=Path, help="the TOML config file")
    explain.set_defaults(command=_explain)

    ingest = sub.add_parser("ingest", help="convert a data archive into a panel parquet file")
    sources = ingest.add_subparsers(required=True, metavar="SOURCE")
    binance = sources.add_parser(
        "binance", parents=[common], help="Binance USD-M futures archive files (klines, funding)"
    )
    binance.add_argument("dir", type=Path, help="folder of archive zips or extracted CSVs")
    binance.add_argument("--out", type=Path, required=True, help="the panel parquet file to write")
    binance.add_argument("--symbols", type=_symbols, help="comma-separated, e.g. BTCUSDT,ETHUSDT")
    binance.add_argument(
        "--interval", help="kline interval to use when a symbol has several (e.g. 1h)"
    )
    binance.set_defaults(command=_ingest_binance)
    _download_parser(sub, common)
    return parser


def _download_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """`lazyflow download binance`: the archive's USD-M klines and funding files."""
    from lazyflow.data.download import DEFAULT_BASE_URL

    download = sub.add_parser("download", help="fetch a public data archive into a folder")
    sources = download.add_subparsers(required=True, metavar="SOURCE")
    binance = sources.add_parser(
        "binance",
        parents=[common],
        help="Binance USD-M klines and funding files (incremental, checksums verified)",
    )
    binance.add_argument("--out", type=Path, required=True, help="archive folder to fill")
    binance.add_argument(
        "--symbols", type=_symbols, help="comma-separated (default: every USDT perpetual)"
    )
    binance.add_argument("--start", help="first month, YYYY-MM (default: the first listed)")
    binance.add_argument("--end", help="last month, YYYY-MM (default: the last complete day)")
    binance.add_argument("--interval", default="1d", help="kline interval (default 1d)")
    binance.add_argument("--jobs", type=_positive, default=8, help="files at a time (default 8)")
    binance.add_argument(
        "--base-url", default=DEFAULT_BASE_URL, help=f"file server (default {DEFAULT_BASE_URL})"
    )
    binance.add_argument(
        "--list-url", help="bucket listing (default: the archive's S3 bucket, or --base-url)"
    )
    binance.add_argument(
        "--timeout", type=float, default=30.0, help="seconds per connect or read (default 30)"
    )
    binance.add_argument(
        "--retries", type=int, default=4, help="retries after a 5xx or timeout (default 4)"
    )
    binance.set_defaults(command=_download_binance)


def _download_binance(args: argparse.Namespace) -> int:
    """Exit 1 when some file failed (each is named on stderr), else 0."""
    from lazyflow.data.download import download

    summary = download(
        args.out,
        args.symbols,
        start=args.start,
        end=args.end,
        interval=args.interval,
        jobs=args.jobs,
        base_url=args.base_url,
        list_url=args.list_url,
        timeout=args.timeout,
        retries=args.retries,
        progress=_bar(args.quiet),
    )
    for key, problem in summary.failed.items():
        print(f"lazyflow: failed: {key}: {problem}", file=sys.stderr)
    if not args.quiet:
        print(f"{summary}; into {args.out}")
    return 1 if summary.failed else 0


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def _symbols(text: str) -> list[str]:
    symbols = [s.strip() for s in text.split(",") if s.strip()]
    if not symbols:
        raise argparse.ArgumentTypeError("expected a comma-separated list of symbols")
    return symbols


def _demo(args: argparse.Namespace) -> int:
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


def _run(args: argparse.Namespace) -> int:
    config = _load_config(args.config)
    out = _out_dir(config, args)
    return _execute(config, out, f"lazyflow run: {args.config.name}", args.quiet)


def _factor(args: argparse.Namespace) -> int:
    """Signals with forward returns, the factor tables, factor parquet files and report.html,
    by default in ``<[output] dir>-factor`` (not the folder `run` writes)."""
    config = _load_config(args.config)
    out = _out_dir(config, args, suffix=FACTOR_SUFFIX)
    with staged_folder(out, "--out") as tmp:
        frame = _signals(config, args.quiet, labels=True)
        factor = _factor_section(config, frame, args.quiet)
        _write_factor(tmp, factor)
        title = f"lazyflow factor: {args.config.name}"
        parameters = {
            k: v for k, v in config.parameters().items() if k not in ("allocator", "backtest")
        }
        with Progress("report", enabled=_bar(args.quiet)).working():
            report = write_report(
                tmp, frame, None, title=title, parameters=parameters, factor=factor
            )
    if not args.quiet:
        print(_factor_heading(factor))
        print(format_factor_summary(factor.tables.summary))
        print(f"\nwrote {out}/: factor.parquet, factor_daily.parquet, {report.name}")
    return 0


def _sweep(args: argparse.Namespace) -> int:
    """Every configuration of the config's grids: sweep.parquet and report.html."""
    config = load_sweep_config(args.config)
    out = _out_dir(config.run, args)
    pipelines, allocators = config.pipelines(), config.allocators()
    n = len(pipelines) * len(allocators)
    engine = args.engine or config.engine
    with staged_folder(out, "--out") as tmp:
        bar = Progress(f"sweep: {n:,} configurations", enabled=_bar(args.quiet))
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
            with Progress("walk-forward", enabled=_bar(args.quiet)).working():
                walk = walk_forward(
                    config.run.data.scan(),
                    pipelines,
                    allocators,
                    backtest_kw=config.run.backtest,
                    **config.walk_forward,
                )
        table = result.table
        table.write_parquet(tmp / "sweep.parquet")
        files = ["sweep.parquet"]
        if walk is not None:
            walk.metrics.write_parquet(tmp / "walk_forward.parquet")
            walk.windows.write_parquet(tmp / "walk_forward_windows.parquet")
            files += ["walk_forward.parquet", "walk_forward_windows.parquet"]
        title = f"lazyflow sweep: {args.config.name}"
        swept = config.swept()
        with Progress("report", enabled=_bar(args.quiet)).working():
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


#: `lazyflow factor` writes to ``<[output] dir><FACTOR_SUFFIX>`` unless --out is given.
FACTOR_SUFFIX = "-factor"


def _out_dir(config: RunConfig, args: argparse.Namespace, suffix: str = "") -> Path:
    if args.out is not None:
        return args.out
    if config.output_dir is None:
        raise ConfigError(f"{args.config}: no output folder: set [output] dir or pass --out")
    out = config.output_dir
    return out.with_name(out.name + suffix) if suffix else out


def _load_config(path: Path) -> RunConfig:
    """A run config; when it does not parse but reads as a sweep config (a [sweep] table, or
    lists where single values belong), the error says to use `lazyflow sweep`."""
    raw = read_toml(path)
    try:
        return parse_config(raw, base_dir=path.parent)
    except ConfigError as exc:
        if _is_sweep(raw, path.parent):
            raise ConfigError(
                f"{exc} -- {path} is a sweep config (it has grids); run it with "
                f"`lazyflow sweep {path}`"
            ) from exc
        raise


def _is_sweep(raw: Mapping[str, Any], base_dir: Path) -> bool:
    """True when `raw` has a [sweep] table or parses as a sweep config with a grid."""
    if "sweep" in raw:
        return True
    try:
        config = parse_sweep_config(raw, base_dir)
    except LazyflowError:
        return False
    return bool(config.stage_grid or config.allocator_grid)


def _explain(args: argparse.Namespace) -> int:
    config = _load_config(args.config)
    pipeline = config.pipeline(labels=config.factor.enabled)  # the plan that `run` collects
    with Progress("reading data", enabled=_bar(args.quiet)).working():
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


def _ingest_binance(args: argparse.Namespace) -> int:
    from lazyflow.data.binance import load_um_daily

    with staged_file(args.out, "--out") as tmp:  # --out checked first; replaced at the end
        with Progress(f"reading {args.dir}", enabled=_bar(args.quiet)).working():
            panel = load_um_daily(args.dir, symbols=args.symbols, interval=args.interval)
        panel.write_parquet(tmp)
    if not args.quiet:
        dates = panel["date"]
        print(
            f"wrote {args.out}: {panel.height:,} rows, {panel['symbol'].n_unique()} symbols, "
            f"{dates.min()} to {dates.max()}"
        )
    return 0


def _columns(columns: Mapping[str, str]) -> str:
    return ", ".join(f"{c} ({t})" for c, t in columns.items()) or "-"


def _signals(config: RunConfig, quiet: bool, labels: bool, hint: str = "") -> pl.DataFrame:
    """Read the config's panel and collect its pipeline in one plan (a spinner on a
    terminal). With `labels`, the plan adds the forward returns and the [factor]
    columns are checked against its schema before it is collected (`hint` joins
    the error)."""
    plan = config.pipeline(labels)(config.data.scan())
    if labels:
        try:
            config.analysis().validate(plan.collect_schema(), "[factor]")
        except SchemaError as exc:
            problem = f"{exc.problem} (check [factor] score, quantile_col and mask{hint})"
            raise SchemaError(exc.stage, exc.column, problem, exc.available) from exc
    with Progress("computing signals", enabled=_bar(quiet)).working():
        return plan.collect()


def _factor_section(
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
    with Progress("factor analysis", enabled=_bar(quiet)).working():
        return FactorSection.compute(
            analysis, frame, settings.rolling_window, settings.periods_per_year
        )


def _write_factor(out: Path, factor: FactorSection) -> None:
    factor.tables.summary.write_parquet(out / "factor.parquet")
    factor.tables.daily.write_parquet(out / "factor_daily.parquet")


def _factor_heading(factor: FactorSection) -> str:
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
        frame = _signals(config, quiet, labels, hint=", or set [factor] enabled = false")
        bar = Progress("backtest", enabled=_bar(quiet))
        try:
            result = backtest(frame, config.allocator, **config.backtest, progress=bar)
        finally:
            bar.close()
        curve = _capacity(config, frame, quiet)
        factor = _factor_section(config, frame, quiet, universe=True) if labels else None
        frame.write_parquet(tmp / "signals.parquet")
        write_result(result, tmp)
        if factor is not None:
            _write_factor(tmp, factor)
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
        (tmp / "summary.json").write_text(json.dumps(_finite(record), indent=2) + "\n", "utf-8")
        with Progress("report", enabled=_bar(quiet)).working():
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
        _print_summary(summary, factor is not None, out / report.name)
    return 0


def _capacity(config: RunConfig, frame: pl.DataFrame, quiet: bool) -> pl.DataFrame | None:
    """The [capacity] curve: the backtest at each of its starting NAVs (None without it)."""
    if not config.capacity_navs:
        return None
    options = {k: v for k, v in config.backtest.items() if k != "init_nav"}
    with Progress("capacity", enabled=_bar(quiet)).working():
        return capacity(frame, config.allocator, config.capacity_navs, **options)


def _print_summary(summary: Mapping[str, Any], with_factor: bool, report: Path) -> None:
    print("\n".join(summary_lines(summary)))
    files = "signals, book, metrics" + (", factor, factor_daily" if with_factor else "")
    print(f"\nwrote {report.parent}/: {files} (parquet), result.json, summary.json, {report.name}")


def _finite(value: Any) -> Any:
    """`value` with tuples as lists and non-finite floats as None (strict JSON has no NaN)."""
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _bar(quiet: bool) -> bool | None:
    """Progress bars: off with --quiet, else on when stderr is a terminal."""
    return False if quiet else None


def _describe(exc: BaseException) -> str:
    """`exc` as one line; OS errors as ``path: reason``."""
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    text = " ".join(str(exc).split())
    if isinstance(exc, LazyflowError):
        return text
    return f"{type(exc).__name__}: {text}"


def _error(message: str, debug: bool) -> None:
    if debug:
        traceback.print_exc()
    print(f"lazyflow: error: {message}", file=sys.stderr)
