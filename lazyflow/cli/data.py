"""The data commands: download and ingest the Binance USD-M archive."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lazyflow.cli.run import progress_enabled
from lazyflow.outputs import staged_file
from lazyflow.progress import Progress


def download_parser(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
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
        "--symbols", type=symbols, help="comma-separated (default: every USDT perpetual)"
    )
    binance.add_argument("--start", help="first month, YYYY-MM (default: the first listed)")
    binance.add_argument("--end", help="last month, YYYY-MM (default: the last complete day)")
    binance.add_argument("--interval", default="1d", help="kline interval (default 1d)")
    binance.add_argument("--jobs", type=positive, default=8, help="files at a time (default 8)")
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
    binance.set_defaults(command=download_binance)


def download_binance(args: argparse.Namespace) -> int:
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
        progress=progress_enabled(args.quiet),
    )
    for key, problem in summary.failed.items():
        print(f"lazyflow: failed: {key}: {problem}", file=sys.stderr)
    if not args.quiet:
        print(f"{summary}; into {args.out}")
    return 1 if summary.failed else 0


def positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text}")
    return value


def symbols(text: str) -> list[str]:
    symbols = [s.strip() for s in text.split(",") if s.strip()]
    if not symbols:
        raise argparse.ArgumentTypeError("expected a comma-separated list of symbols")
    return symbols


def ingest_binance(args: argparse.Namespace) -> int:
    from lazyflow.data.binance import load_um_daily

    with staged_file(args.out, "--out") as tmp:  # --out checked first; replaced at the end
        bar = Progress(f"reading {args.dir}: files", enabled=progress_enabled(args.quiet))
        try:
            panel = load_um_daily(
                args.dir, symbols=args.symbols, interval=args.interval, progress=bar
            )
        finally:
            bar.close()
        panel.write_parquet(tmp)
    if not args.quiet:
        dates = panel["date"]
        print(
            f"wrote {args.out}: {panel.height:,} rows, {panel['symbol'].n_unique()} symbols, "
            f"{dates.min()} to {dates.max()}"
        )
    return 0
