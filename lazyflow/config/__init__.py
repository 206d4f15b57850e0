"""Run configurations in TOML: data source, stages in order, allocator, backtest, output.

    [data]                      # source = "synthetic" | "csv" | "parquet" | "binance"
    source = "csv"
    path = "panel.csv"          # relative to the config file
    rename = { ticker = "symbol" }

    [[stages]]                  # one table per stage, in pipeline order
    type = "VolumeUniverse"     # a class exported by lazyflow.stages
    window = 30                 # its dataclass fields, by name

    [[stages]]                  # a factor of the algebra (lazyflow.algebra.parse)
    type = "Factor"
    name = "momentum"
    term = "cs.rank(ts.pct_change(close, 30))"
    mask = "is_universe"

    [factor]                    # FactorConfig: the factor analysis (IC, quantiles, turnover)
    score = "carry_score"
    horizons = [1, 5, 20]

    [allocator]                 # BufferedAllocator fields
    [backtest]                  # keyword arguments of lf.backtest
    [[backtest.costs]]          # optional cost models (lazyflow.costs), added to the fee
    type = "SquareRootImpact"
    coef = 0.5
    [capacity]                  # optional: the capacity curve in the report
    navs = [1e5, 1e6, 1e7]      # starting NAVs in dollars
    [output]
    dir = "out/run"             # relative to the working directory

TOML has no null. Omit a key to keep its default; set an optional parameter (a
non-boolean one whose type allows None, e.g. ``turnover_cap``, ``vol_target``,
``mask``, ``keep_deciles``) to ``false`` to switch it off (None).

Every unknown key, wrong type or bad value raises `ConfigError` naming the key
path (``stages[3].winsor``, counting stages from 1) and what is allowed.

Labels (stages with ``is_label``, e.g. ``ForwardReturns``) look forward and are
for analytics only: a config may list them only after every other stage, and no
[backtest] column may name one of their columns. When the stages have no
``ForwardReturns``, the factor analysis appends ``ForwardReturns(horizons)``.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl

from lazyflow.config.stages import parse_stages, stage_registry
from lazyflow.config.toml import read_toml
from lazyflow.config.values import (
    NOT_CONFIGURABLE,
    build,
    check_keys,
    choices,
    coerce,
    keyword_arguments,
    show,
)
from lazyflow.costs import Cost, from_settings
from lazyflow.data import scan_panel, synthetic_panel
from lazyflow.data.panel import CSV_SUFFIXES, PARQUET_SUFFIXES
from lazyflow.errors import ConfigError, DataError
from lazyflow.factor import ROLLING_WINDOW, FactorAnalysis, check_settings
from lazyflow.pipeline import Pipeline
from lazyflow.portfolio import BufferedAllocator, backtest
from lazyflow.portfolio.capacity import check_navs
from lazyflow.reprs import stage_settings
from lazyflow.stages.base import Stage
from lazyflow.stages.labels import ForwardReturns, check_horizons, label_columns
from lazyflow.version import __version__

__all__ = [
    "DataConfig",
    "FactorConfig",
    "RunConfig",
    "load_config",
    "parse_config",
    "read_toml",
    "stage_registry",
]

SECTIONS = ("data", "stages", "factor", "allocator", "backtest", "capacity", "output")


#: Horizons of the ForwardReturns stage that the factor analysis appends by default.
DEFAULT_HORIZONS = (1, 5, 20)


#: The [data] keys that each source accepts (besides `source`).
SOURCE_KEYS: dict[str, tuple[str, ...]] = {
    "synthetic": ("n_symbols", "n_days", "seed"),
    "csv": ("path", "rename", "date_col", "symbol_col", "dedupe"),
    "parquet": ("path", "rename", "date_col", "symbol_col", "dedupe"),
    "binance": ("path", "symbols", "interval"),
}


SOURCES = tuple(SOURCE_KEYS)


@dataclass(frozen=True)
class DataConfig:
    """Where the panel comes from; `path` is absolute once parsed from a file."""

    source: Literal["synthetic", "csv", "parquet", "binance"] = "synthetic"
    path: str | None = None
    rename: dict[str, str] | None = None
    date_col: str = "date"
    symbol_col: str = "symbol"
    dedupe: Literal["first", "last"] | None = None
    symbols: tuple[str, ...] | None = None
    interval: str | None = None
    n_symbols: int = 300
    n_days: int = 1600
    seed: int = 0

    def scan(self) -> pl.LazyFrame:
        """The panel as a LazyFrame (files are scanned lazily where the reader allows)."""
        if self.source == "synthetic":
            try:
                panel = synthetic_panel(
                    n_symbols=self.n_symbols, n_days=self.n_days, seed=self.seed
                )
            except ConfigError as exc:
                raise ConfigError(f"data: {exc}") from exc
            return panel.lazy()
        assert self.path is not None  # parse_config requires it for file sources
        if not Path(self.path).exists():
            raise DataError(f"data.path: no such file or directory: {self.path}")
        self._check_file_kind()
        if self.source == "binance":
            from lazyflow.data.binance import load_um_daily

            syms = list(self.symbols) if self.symbols is not None else None
            return load_um_daily(self.path, symbols=syms, interval=self.interval).lazy()
        return scan_panel(
            self.path,
            rename=self.rename,
            date_col=self.date_col,
            symbol_col=self.symbol_col,
            dedupe=self.dedupe,
        )

    def _check_file_kind(self) -> None:
        """`ConfigError` unless `path` is what `source` reads: a CSV file for "csv", a
        Parquet file or a folder of them for "parquet" (`scan_panel` reads either)."""
        path = Path(str(self.path))
        if self.source == "csv" and (path.is_dir() or not path.name.lower().endswith(CSV_SUFFIXES)):
            what = "a CSV file (.csv, .csv.gz)"
        elif self.source == "parquet" and not (
            path.is_dir() or path.name.lower().endswith(PARQUET_SUFFIXES)
        ):
            what = "a Parquet file (.parquet, .pq) or a folder of them"
        else:
            return
        raise ConfigError(f"data.path: {path} is not {what}, as source '{self.source}' reads")

    def settings(self) -> dict[str, Any]:
        """The source and the keys it uses (those that are set)."""
        keys = SOURCE_KEYS[self.source]
        return {"source": self.source} | {
            k: getattr(self, k) for k in keys if getattr(self, k) is not None
        }


@dataclass(frozen=True)
class FactorConfig:
    """The [factor] section: how to judge `score` against forward returns (`lazyflow.factor`).

    `quantile_col` holds the score's integer quantile labels (top minus bottom is
    the highest label minus the lowest). `horizons`, in rows of each symbol (days
    on a daily panel): None takes those of the config's ForwardReturns stage, else
    `DEFAULT_HORIZONS`. `mask` (a boolean column) restricts every cross-section.
    `rolling_window`: dates in the trailing mean of the IC; `periods_per_year`
    annualises the spread. `enabled = false` leaves the factor analysis out of
    ``run`` and ``demo`` (``lazyflow factor`` always runs it).
    """

    enabled: bool = True
    score: str = "carry_score"
    quantile_col: str = "decile_carry"
    horizons: tuple[int, ...] | None = None
    mask: str | None = None
    rolling_window: int = ROLLING_WINDOW
    periods_per_year: float = 365.0

    def check(self) -> None:
        if self.horizons is not None:
            check_horizons(self.horizons, "factor")
        check_settings(self.rolling_window, self.periods_per_year, "factor")


@dataclass(frozen=True)
class RunConfig:
    """A parsed config: build the panel, the pipeline and the allocator from it."""

    data: DataConfig
    stages: tuple[Stage, ...]
    allocator: BufferedAllocator
    backtest: dict[str, Any]
    output_dir: Path | None = None
    factor: FactorConfig = FactorConfig()
    capacity_navs: tuple[float, ...] = ()  # [capacity] navs: the report's capacity curve

    def pipeline(self, labels: bool = False) -> Pipeline:
        """The configured stages; with `labels`, plus `label_stage()` at the end unless
        the stages already hold it. Labels only add columns: the other columns and the
        rows are the same either way."""
        label = self.label_stage()
        added = labels and label not in self.stages
        return Pipeline([*self.stages, label] if added else self.stages)

    def label_stage(self) -> ForwardReturns:
        """The config's ForwardReturns stage, else ``ForwardReturns(horizons)`` with the
        [factor] horizons (default `DEFAULT_HORIZONS`)."""
        for stage in self.stages:
            if isinstance(stage, ForwardReturns):
                return stage
        return ForwardReturns(horizons=self.factor.horizons or DEFAULT_HORIZONS)

    def analysis(self) -> FactorAnalysis:
        """The [factor] analysis, reading the forward returns of `label_stage()`."""
        label = self.label_stage()
        return FactorAnalysis(
            score=self.factor.score,
            quantile_col=self.factor.quantile_col,
            horizons=tuple(self.factor.horizons or label.horizons),
            prefix=label.output_prefix,
            date_col=label.date_col,
            symbol_col=label.symbol_col,
            mask=self.factor.mask,
        )

    def parameters(self) -> dict[str, Any]:
        """The run as plain data: lazyflow's version, the data source, the stages (type and
        non-default parameters), every allocator field and every backtest setting."""
        defaults = _backtest_defaults()
        return {
            "lazyflow": __version__,
            "data": self.data.settings(),
            "stages": [stage_settings(stage) for stage in self.stages],
            "factor": self.factor_parameters(),
            "allocator": dataclasses.asdict(self.allocator),
            "backtest": {k: _plain(self.backtest.get(k, v)) for k, v in defaults.items()},
        } | ({"capacity": {"navs": list(self.capacity_navs)}} if self.capacity_navs else {})

    def factor_parameters(self) -> dict[str, Any]:
        """The [factor] settings, horizons resolved."""
        horizons = self.analysis().horizons
        return dataclasses.asdict(self.factor) | {"horizons": horizons}


def _plain(value: Any) -> Any:
    """A cost model as its config tables; other values as they are."""
    return value.settings() if isinstance(value, Cost) else value


def _backtest_defaults() -> dict[str, Any]:
    return {
        p.name: p.default
        for p in inspect.signature(backtest).parameters.values()
        if p.name not in NOT_CONFIGURABLE
    }


def load_config(path: str | Path) -> RunConfig:
    """Read and parse a TOML config file; relative data paths resolve against its folder."""
    path = Path(path)
    return parse_config(read_toml(path), base_dir=path.parent)


def parse_config(raw: Mapping[str, Any], base_dir: Path | None = None) -> RunConfig:
    """Parse a config mapping (as `tomllib` returns it); see the module docstring."""
    check_keys(raw, SECTIONS, "", "section")
    for section in ("data", "allocator", "backtest", "capacity", "output"):
        if section in raw and not isinstance(raw[section], Mapping):
            raise ConfigError(f"[{section}] must be a table, got {show(raw[section])}")
    data = _parse_data(raw.get("data", {}), base_dir)
    stage_list = parse_stages(raw.get("stages", []), base_dir)
    factor = FactorConfig(**keyword_arguments(FactorConfig, raw.get("factor", {}), "factor"))
    factor.check()
    allocator = build(BufferedAllocator, raw.get("allocator", {}), "allocator")
    bt_table = dict(raw.get("backtest", {}))
    cost_tables = bt_table.pop("costs", None)
    bt = keyword_arguments(backtest, bt_table, "backtest", skip=NOT_CONFIGURABLE)
    if cost_tables is not None:
        bt["costs"] = from_settings(cost_tables, "backtest.costs")
    capacity = raw.get("capacity", {})
    check_keys(capacity, ("navs",), "capacity.", "key")
    navs = check_navs(capacity["navs"], "capacity.navs") if "navs" in capacity else ()
    output = raw.get("output", {})
    check_keys(output, ("dir",), "output.", "key")
    out_dir = Path(coerce(output["dir"], str, "output.dir")) if "dir" in output else None
    config = RunConfig(data, stage_list, allocator, bt, out_dir, factor, navs)
    _check_labels(config)
    return config


def _check_labels(config: RunConfig) -> None:
    """Labels look forward, so they may feed the factor analysis and nothing else:
    label stages come after every other stage, there is at most one ForwardReturns,
    its horizons cover [factor] horizons, and no [backtest] column is a label column."""
    stages = config.stages
    labels = [i for i, stage in enumerate(stages, start=1) if stage.is_label]
    others = [i for i, stage in enumerate(stages, start=1) if not stage.is_label]
    if labels and others and others[-1] > labels[0]:
        i, j = labels[0], next(j for j in others if j > labels[0])
        raise ConfigError(
            f"stages[{i}]: {stages[i - 1].name} is a label stage (it looks forward) and "
            f"must come after every other stage; stages[{j}] {stages[j - 1].name} follows it"
        )
    forward = [i for i in labels if isinstance(stages[i - 1], ForwardReturns)]
    if len(forward) > 1:
        where = " and ".join(f"stages[{i}]" for i in forward)
        raise ConfigError(f"stages: ForwardReturns appears in {where}; list it once")
    label = config.label_stage()
    missing = set(config.factor.horizons or ()) - set(label.horizons)
    if missing:
        raise ConfigError(
            f"factor.horizons: {sorted(missing)} not among the horizons {label.horizons} of "
            f"stages[{forward[0]}] ForwardReturns; add them there"
        )
    columns = label_columns(config.pipeline(labels=True))
    for key, value in config.backtest.items():
        if isinstance(value, str) and value in columns:
            raise ConfigError(
                f"backtest.{key}: {value!r} is a label column (a forward return); labels are "
                "for the factor analysis only"
            )


def _parse_data(table: Mapping[str, Any], base_dir: Path | None) -> DataConfig:
    source = table.get("source", "synthetic")
    if source not in SOURCES:
        raise ConfigError(f"data.source: {show(source)} is not one of {choices(SOURCES)}")
    check_keys(table, ("source", *SOURCE_KEYS[source]), "data.", f"key for source '{source}'")
    hints = typing.get_type_hints(DataConfig)
    values = {k: coerce(v, hints[k], f"data.{k}") for k, v in table.items()}
    if source != "synthetic":
        if "path" not in values:
            raise ConfigError(f"data.path: required for source '{source}'")
        if not values["path"]:
            raise ConfigError("data.path: empty; give the data's file or folder")
        path = Path(values["path"]).expanduser()
        values["path"] = str(path if base_dir is None or path.is_absolute() else base_dir / path)
    return DataConfig(**values)
