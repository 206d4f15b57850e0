"""Results you can keep: `save_result` / `read_result` (Parquet and JSON; `lf.load_result`
builds the `BacktestResult` from what `read_result` reads), `report_result` (the tear sheet of
any result) and `describe_result` (``repr(result)``). This module never imports the backtest:
it reads a result through its dataclass fields and `ReportedResult`.

A saved result is a folder: one Parquet file per frame of the result (``metrics.parquet``,
``book.parquet``) and ``result.json`` with every other field (the allocator as its class
and fields) and lazyflow's version. Parquet keeps every float's bits and every dtype, and
JSON floats round-trip exactly, so ``load_result(dir)`` equals the saved result bit for bit.
The folder is written atomically (`lazyflow.outputs.staged_folder`).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from lazyflow.errors import DataError
from lazyflow.outputs import staged_folder
from lazyflow.report.format import format_stat
from lazyflow.report.result import ReportedResult
from lazyflow.reprs import stage_settings
from lazyflow.version import __version__

RESULT_JSON = "result.json"
#: Version of the saved layout; `load_result` reads this version only.
FORMAT = 1
#: The statistics `describe_result` shows.
HEADLINE = ("total_return", "cagr", "sharpe", "max_drawdown")


def write_result(result: Any, folder: Path) -> list[str]:
    """Write `result` (a dataclass instance, e.g. a `BacktestResult`) into the existing `folder`
    (not atomic: see `save_result`); return the names of the files written."""
    fields, frames = {}, []
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        if isinstance(value, pl.DataFrame):
            value.write_parquet(folder / f"{f.name}.parquet")
            frames.append(f.name)
        else:
            fields[f.name] = _encode(value, f.name)
    record = {"lazyflow": __version__, "format": FORMAT, "frames": frames, "fields": fields}
    text = json.dumps(record, indent=2, allow_nan=False)
    (folder / RESULT_JSON).write_text(text + "\n", encoding="utf-8")
    return [f"{name}.parquet" for name in frames] + [RESULT_JSON]


def save_result(result: Any, path: str | Path) -> Path:
    """Save `result` into the folder `path` (created, or replaced if it holds only lazyflow
    outputs); return the folder."""
    with staged_folder(Path(path), "save") as folder:
        write_result(result, folder)
    return Path(path)


def read_result(path: str | Path, names: Collection[str]) -> dict[str, Any]:
    """The fields of the result saved in folder `path` (by `save_result` or `lazyflow run`),
    by name; each must be one of `names` (the result class's fields)."""
    folder = Path(path)
    meta = folder / RESULT_JSON
    if not meta.is_file():
        raise DataError(f"load_result: {folder} has no {RESULT_JSON}; not a saved result")
    try:
        record = json.loads(meta.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(f"load_result: cannot read {meta}: {exc}") from exc
    if not isinstance(record, Mapping) or record.get("format") != FORMAT:
        raise DataError(f"load_result: {meta} is not a lazyflow result of format {FORMAT}")
    values: dict[str, Any] = {}
    for name in record["frames"]:
        try:
            values[name] = pl.read_parquet(folder / f"{name}.parquet")
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise DataError(f"load_result: cannot read {name}.parquet in {folder}: {exc}") from exc
    values |= {k: _decode(v, k) for k, v in record["fields"].items()}
    unknown = set(values).difference(names)
    if unknown:
        raise DataError(f"load_result: {meta} has fields this lazyflow does not know: {unknown}")
    return values


def report_result(
    result: ReportedResult,
    path: str | Path,
    frame: pl.DataFrame | None = None,
    pipeline: Sequence[Any] | None = None,
    title: str = "lazyflow backtest",
) -> Path:
    """Write the tear sheet of `result` into folder `path` (atomically); return the page.

    `frame` (the signals) adds the universe chart; `pipeline` (a `Pipeline` or its stages)
    is listed in the parameters, each stage with the parameters that differ from defaults.
    """
    from lazyflow.report import write_report

    parameters: dict[str, Any] = {}
    if pipeline is not None:
        stages = getattr(pipeline, "stages", pipeline)
        parameters["stages"] = [stage_settings(s) for s in stages]
    parameters["backtest"] = result.params()
    with staged_folder(Path(path), "report") as folder:
        write_report(folder, frame, result, title=title, parameters=parameters)
    return Path(path) / "report.html"


def describe_result(result: ReportedResult) -> str:
    """``BacktestResult(first..last, n dates: total return +57.8%, ...)``."""
    metrics = result.metrics
    if metrics.height == 0:
        return "BacktestResult(no dates)"
    date = metrics.columns[0]
    stats = result.summary()
    shown = ", ".join(f"{k} {format_stat(k, stats[k])}" for k in HEADLINE if k in stats)
    span = f"{metrics[date].min()}..{metrics[date].max()}, {metrics.height:,} dates"
    return f"BacktestResult({span}: {shown})"


def _encode(value: Any, where: str) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        cls = type(value)
        fields = {f.name: _encode(getattr(value, f.name), where) for f in dataclasses.fields(value)}
        return {"__class__": f"{cls.__module__}:{cls.__qualname__}", "fields": fields}
    if isinstance(value, Mapping):
        return {str(k): _encode(v, where) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v, where) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise DataError(f"save_result: field '{where}' holds a {type(value).__name__}, not savable")


def _decode(value: Any, where: str) -> Any:
    if isinstance(value, Mapping) and "__class__" in value:
        module, _, name = str(value["__class__"]).partition(":")
        if module != "lazyflow" and not module.startswith("lazyflow."):
            raise DataError(f"load_result: field '{where}' names a class outside lazyflow")
        cls = importlib.import_module(module)
        for part in name.split("."):
            cls = getattr(cls, part)
        return cls(**{k: _decode(v, where) for k, v in value["fields"].items()})
    if isinstance(value, Mapping):
        return {k: _decode(v, where) for k, v in value.items()}
    return value
