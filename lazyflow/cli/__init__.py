"""The ``lazyflow`` command line: demo, run, factor, sweep, explain, download, ingest.

Exit codes: 0 success; 2 usage or config error (including an unusable --out); 1 data
error (bad or missing data, a schema mismatch, a missing file) or internal error (a Polars
panic included); 130 interrupted (SIGINT), 143 terminated (SIGTERM). Errors are one line on
stderr (``lazyflow: error: ...``); ``--debug`` adds the traceback. ``--debug`` and
``--quiet`` go before or after the command.

Every command that writes a folder writes it atomically (`lazyflow.outputs`): --out is
checked before any work, and a failed or interrupted run leaves the folder as it was.
One module per group of commands: `run` (demo, run, factor, explain), `sweep`, `data`
(download, ingest); this one parses the arguments and maps errors to exit codes.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from lazyflow.cli import run as commands
from lazyflow.cli.data import download_parser, ingest_binance, positive, symbols
from lazyflow.cli.run import PRESETS
from lazyflow.cli.sweep import sweep_command
from lazyflow.errors import ConfigError, LazyflowError
from lazyflow.outputs import Terminated, terminate_on_sigterm
from lazyflow.sweeps import ENGINES
from lazyflow.version import __version__


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
    demo.add_argument("--symbols", type=positive, default=300, help="default 300")
    demo.add_argument("--days", type=positive, default=1600, help="default 1600")
    demo.add_argument("--seed", type=int, default=0, help="panel random seed (default 0)")
    demo.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="carry",
        help="carry: long carry (default); seed_carry: the notebook's ordering",
    )
    demo.add_argument("--out", type=Path, default=Path("out/demo"), help="default out/demo")
    demo.set_defaults(command=commands.demo)

    run = sub.add_parser("run", parents=[common], help="run a TOML config and write a report")
    run.add_argument("config", type=Path, help="the TOML config file")
    run.add_argument("--out", type=Path, help="output folder (overrides [output] dir)")
    run.set_defaults(command=commands.run)

    factor = sub.add_parser(
        "factor",
        parents=[common],
        help="judge a config's [factor] score: IC, quantile returns, turnover; no backtest",
    )
    factor.add_argument("config", type=Path, help="the TOML config file")
    factor.add_argument("--out", type=Path, help="output folder (overrides [output] dir)")
    factor.set_defaults(command=commands.factor)

    sweep_cmd = sub.add_parser(
        "sweep",
        parents=[common],
        help="backtest a config's parameter grids; write sweep.parquet and a heatmap report",
    )
    sweep_cmd.add_argument("config", type=Path, help="the TOML config file, with grids")
    sweep_cmd.add_argument("--out", type=Path, help="output folder (overrides [output] dir)")
    sweep_cmd.add_argument("--engine", choices=ENGINES, help="overrides [sweep] engine")
    sweep_cmd.add_argument(
        "--jobs", type=positive, help="local worker processes (overrides [sweep] n_jobs)"
    )
    sweep_cmd.set_defaults(command=sweep_command)

    explain = sub.add_parser(
        "explain", parents=[common], help="print a config's schema flow and optimised plan"
    )
    explain.add_argument("config", type=Path, help="the TOML config file")
    explain.set_defaults(command=commands.explain)

    ingest = sub.add_parser("ingest", help="convert a data archive into a panel parquet file")
    sources = ingest.add_subparsers(required=True, metavar="SOURCE")
    binance = sources.add_parser(
        "binance", parents=[common], help="Binance USD-M futures archive files (klines, funding)"
    )
    binance.add_argument("dir", type=Path, help="folder of archive zips or extracted CSVs")
    binance.add_argument("--out", type=Path, required=True, help="the panel parquet file to write")
    binance.add_argument("--symbols", type=symbols, help="comma-separated, e.g. BTCUSDT,ETHUSDT")
    binance.add_argument(
        "--interval", help="kline interval to use when a symbol has several (e.g. 1h)"
    )
    binance.set_defaults(command=ingest_binance)
    download_parser(sub, common)
    return parser


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
