"""Large-universe benchmarks (issue 5): speed, scaling and memory of the carry workload.

    .venv/bin/python -m benchmarks                         # W1, W2, W3, 3 repeats each
    .venv/bin/python -m benchmarks --workloads W1,W2 --naive
    .venv/bin/python -m benchmarks --workloads W4          # opt-in, Parquet + streaming engine
    .venv/bin/python -m benchmarks --source csv            # from a shuffled CSV file
    .venv/bin/python -m benchmarks --ratios                # issue 15: lazyflow vs its peers
    .venv/bin/python -m benchmarks --ratios --quick        # the same at W1 only

For each workload: the synthetic panel through `lf.presets.carry()`, then `lf.backtest` with
`lf.presets.seed_allocator()` and `lf.presets.SEED_BACKTEST`. Reported per workload, as the
median of ``--repeats`` runs in one fresh process: rows; collect (plan built and collected);
scan (`lf.backtest`); end to end (collect + scan; the panel's generation is reported apart as
gen); rows/s and microseconds per row of the end-to-end time; peak RSS of the timed runs
(see `benchmarks.workloads`). ``--naive`` adds the notebook-style implementation
(`benchmarks.naive`) at W1 and W2 (and custom sizes) and the ratio of its times to lazyflow's.
The time per row of W1..W3 is compared (max/min <= 1.3 means linear cost). Prints a table and
writes JSON (``--json``). ``--ratios`` measures issue 15's ratios instead (`benchmarks.ratios`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

import lazyflow as lf
from benchmarks.ratios import COMPARISONS
from benchmarks.ratios import table as ratio_table
from benchmarks.workloads import SOURCES, WORKLOADS, Workload, parse_workload

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JSON = Path(__file__).resolve().parent / "results" / "large_universes.json"
RATIOS_JSON = DEFAULT_JSON.with_name("ratios.json")
NAIVE_WORKLOADS = ("W1", "W2")
SCALING_WORKLOADS = ("W1", "W2", "W3")
LINEAR_TOLERANCE = 1.3


def _child(job: dict[str, Any]) -> dict[str, Any]:
    """Run one job of `benchmarks.workloads` in a fresh interpreter; its JSON result."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.workloads", json.dumps(job)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark job {job} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _machine() -> dict[str, Any]:
    model = "?"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        mem_kb = int(meminfo.readline().split()[1])
    return {"cpu": model, "cpus": os.cpu_count(), "mem_gb": round(mem_kb / 2**20, 1)}


def _commit() -> str:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "?"
    return head + (" (lazyflow/ modified)" if git("status", "--porcelain", "lazyflow") else "")


def run_workload(
    workload: Workload, repeats: int, source: str, naive: bool, log: Any
) -> dict[str, Any]:
    """Measure one workload in child processes; the row of the JSON's ``workloads``."""
    job = {"workload": [workload.name, workload.n_symbols, workload.n_days], "repeats": repeats}
    row: dict[str, Any] = {"name": workload.name, "size": workload.size, "source": source}
    if source == "memory":
        row |= _child({**job, "task": "lazyflow", "source": source})
    else:
        tmp = tempfile.mkdtemp(prefix="lazyflow-bench-")
        path = str(Path(tmp) / ("panel.csv" if source == "csv" else "panel.parquet"))
        try:
            written = _child({**job, "task": "write", "path": path, "source": source})
            print(f"  {workload.name}: panel written ({written['file_mb']:.0f} MiB)", file=log)
            measured = _child({**job, "task": "lazyflow", "source": source, "path": path})
            if naive:  # the notebook's code reads the same file (CSV) or the panel in memory
                csv = path if source == "csv" else None
                row["naive"] = _child({**job, "task": "naive", "csv": csv})
        finally:
            shutil.rmtree(tmp)
        row |= {"gen_s": written["gen_s"], "write_s": written["write_s"]}
        row |= {"file_mb": written["file_mb"], "gen_peak_rss_mb": written["peak_rss_mb"]}
        row |= measured
    row["rows_per_s"] = row["rows"] / row["e2e_s"]
    row["us_per_row"] = 1e6 * row["e2e_s"] / row["rows"]
    row["cpu_us_per_row"] = 1e6 * row["e2e_cpu_s"] / row["rows"]
    print(f"  {workload.name}: e2e {row['e2e_s']:.3f} s", file=log)
    if naive:
        slow = row.get("naive") or _child({**job, "task": "naive"})
        row["naive"] = slow
        row["naive_ratio"] = {key: slow[key] / row[key] for key in ("collect_s", "scan_s", "e2e_s")}
        print(f"  {workload.name}: naive e2e {slow['e2e_s']:.3f} s", file=log)
    return row


def scaling(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Wall and CPU time per row across W1..W3 (those measured); linear when the wall-time
    max/min <= 1.3."""
    measured = [r for r in rows if r["name"] in SCALING_WORKLOADS]
    if len(measured) < 2:
        return None
    out: dict[str, Any] = {}
    for key in ("us_per_row", "cpu_us_per_row"):
        per_row = {r["name"]: r[key] for r in measured}
        out[key] = per_row
        out[key + "_max_over_min"] = max(per_row.values()) / min(per_row.values())
    out["linear"] = out["us_per_row_max_over_min"] <= LINEAR_TOLERANCE
    return out


def table(rows: list[dict[str, Any]]) -> str:
    """The results as a Markdown table."""
    head = [
        "workload",
        "rows",
        "source",
        "gen s",
        "collect s",
        "scan s",
        "end to end s",
        "rows/s",
        "µs/row",
        "CPU µs/row",
        "peak RSS MiB",
        "naive e2e s",
        "naive ratio (collect / scan / e2e)",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [
            r["name"] if r["name"] == r["size"] else f"{r['name']} {r['size']}",
            f"{r['rows']:,}",
            r["source"],
            f"{r['gen_s']:.2f}",
            f"{r['collect_s']:.3f}",
            f"{r['scan_s']:.3f}",
            f"**{r['e2e_s']:.3f}**",
            f"{r['rows_per_s'] / 1e6:.2f} M",
            f"{r['us_per_row']:.3f}",
            f"{r['cpu_us_per_row']:.3f}",
            f"{r['peak_rss_mb']:,.0f}",
            "",
            "",
        ]
        if "naive" in r:
            q = r["naive_ratio"]
            cells[-2] = f"{r['naive']['e2e_s']:.2f}"
            cells[-1] = f"{q['collect_s']:.0f}x / {q['scan_s']:.0f}x / **{q['e2e_s']:.0f}x**"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument(
        "--workloads",
        help="comma-separated: W1 (300x1600), W2 (2000x3000), W3 (5000x3650), W4 "
        "(10000x3650, opt-in) or a custom NxD (default: W1,W2,W3; W1 with --quick)",
    )
    parser.add_argument("--repeats", type=int, default=3, help="runs per workload (median)")
    parser.add_argument("--json", type=Path, help="where to write JSON (default: results/)")
    parser.add_argument(
        "--ratios",
        action="store_true",
        help="issue 15's ratios instead: lazyflow against the notebook's code from a shuffled "
        "CSV (W1, W2), a pandas peer, pl.read_csv, sorted rows and an in-memory panel, "
        "interleaved in one process per workload (benchmarks/ratios.py)",
    )
    parser.add_argument("--quick", action="store_true", help="W1 only (unless --workloads)")
    parser.add_argument(
        "--naive",
        action="store_true",
        help="also time the notebook-style code at W1, W2 (from the same file with --source csv)",
    )
    parser.add_argument(
        "--source",
        choices=("auto", *SOURCES),
        default="auto",
        help="memory: panel generated in the process, collect(); parquet: panel read from a "
        "Parquet file, collect(engine='streaming'); sink: as parquet, the frame streamed to a "
        "Parquet file that the backtest reads; csv: the rows shuffled into a CSV file, "
        "collect(); parquet-symbol: a Parquet file in symbol-major order, collect(); auto: "
        "parquet for W4, memory otherwise (default)",
    )
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    names = args.workloads or ("W1" if args.quick else "W1,W2,W3")
    try:
        workloads = [parse_workload(w) for w in names.split(",") if w.strip()]
    except ValueError as exc:
        parser.error(str(exc))
    default_json = RATIOS_JSON if args.ratios else DEFAULT_JSON
    args.json = args.json or default_json

    report: dict[str, Any] = {
        "command": " ".join(
            ["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]
        ),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": _machine() | {"load_before": os.getloadavg()},
        "versions": {
            "python": platform.python_version(),
            "polars": pl.__version__,
            "numpy": np.__version__,
            "lazyflow": lf.__version__,
            "commit": _commit(),
        },
        "repeats": args.repeats,
        "workloads": [],
    }
    if args.ratios:
        return _ratios(workloads, args.repeats, args.json, report)
    for workload in workloads:
        custom = workload.name not in WORKLOADS
        source = args.source
        if source == "auto":
            source = "parquet" if workload.opt_in else "memory"
        naive = args.naive and (custom or workload.name in NAIVE_WORKLOADS)
        print(f"{workload.name} {workload.size} ...", file=sys.stderr)
        report["workloads"].append(run_workload(workload, args.repeats, source, naive, sys.stderr))
    report["scaling"] = scaling(report["workloads"])

    print(table(report["workloads"]))
    _done(report, args.json)
    return report


def _ratios(
    workloads: list[Workload], repeats: int, path: Path, report: dict[str, Any]
) -> dict[str, Any]:
    """`benchmarks.ratios` for each workload in a fresh child process (the notebook's code
    only at W1, W2 and custom sizes: it takes minutes beyond)."""
    for workload in workloads:
        names = [n for n in COMPARISONS if n != "csv_e2e"]
        if workload.name not in WORKLOADS or workload.name in NAIVE_WORKLOADS:
            names.insert(0, "csv_e2e")
        print(f"{workload.name} {workload.size}: {', '.join(names)} ...", file=sys.stderr)
        job = {
            "task": "ratios",
            "workload": [workload.name, workload.n_symbols, workload.n_days],
            "repeats": repeats,
            "comparisons": names,
        }
        report["workloads"].append({"name": workload.name, "size": workload.size} | _child(job))
    print(ratio_table(report["workloads"]))
    _done(report, path)
    return report


def _done(report: dict[str, Any], path: Path) -> None:
    """Print the scaling and the load, and write the JSON."""
    report["machine"]["load_after"] = os.getloadavg()
    if report.get("scaling"):
        s = report["scaling"]
        verdict = "linear" if s["linear"] else f"NOT within {LINEAR_TOLERANCE}x"
        for key, label in (("us_per_row", f"wall ({verdict})"), ("cpu_us_per_row", "CPU")):
            per_row = ", ".join(f"{k} {v:.3f}" for k, v in s[key].items())
            ratio = s[key + "_max_over_min"]
            print(f"µs per row, {label}: {per_row}; max/min {ratio:.2f}")
    load = report["machine"]
    print(f"load average before {load['load_before'][0]:.2f}, after {load['load_after'][0]:.2f}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
