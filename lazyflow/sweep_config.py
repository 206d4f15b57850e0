"""Sweep configurations: a run config (`lazyflow.config`) whose parameters may be grids.

    [allocator]
    lambda_risk = [0.5, 1, 2, 4]        # a grid: one configuration per value
    gamma_cost = 0.3                    # a fixed value
    turnover_cap = [false, 0.3]         # false is None, as in a run config

    [[stages]]
    type = "SigmoidTarget"
    k = [0.5, 1, 2]                     # a scalar parameter: a list is a grid
    keep_deciles = [[1, 10], [1, 2, 9, 10]]   # a list-valued parameter: a list of lists is
                                        # a grid, a flat list ([1, 10]) is one value

    [sweep]                             # all optional
    engine = "local"                    # or "ray"
    n_jobs = 2                          # local worker processes (default: the CPU count)
    address = "ray://head:10001"        # Ray cluster (default: a local instance)
    metric = "sharpe"                   # the statistic of the report's heatmap
    heatmap = ["allocator.lambda_risk", "stage.SigmoidTarget.k"]   # its two axes

    [walk_forward]                      # optional: lf.walk_forward over the same grid
    train = 365                         # training window, rebalance dates
    test = 90                           # test window, rebalance dates
    step = 90                           # default: test
    purge = 1                           # dates between training and test (default 0)
    metric = "sharpe"                   # chosen by (default: sharpe)
    expanding = false                   # true: train on every date so far

Grids are allowed in [allocator] and in [[stages]] tables; the configurations are their
cartesian product (stages first, in order, then the allocator; the first key varies
slowest). Every grid value is checked as the parameter's own value would be, naming the key
and the value's position (``stages[6].k[2]``). The heatmap's axes are result columns
(`lf.sweep`'s names) of two swept parameters; by default the first two swept parameters.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lazyflow.config import RunConfig, parse_config
from lazyflow.config.stages import stage_class
from lazyflow.config.toml import read_toml
from lazyflow.config.values import check_keys, coerce, keyword_arguments, show
from lazyflow.errors import ConfigError
from lazyflow.grids import check_distinct, grid_allocators, grid_pipelines, stage_column
from lazyflow.pipeline import Pipeline
from lazyflow.portfolio.allocator import BufferedAllocator
from lazyflow.portfolio.summary import SUMMARY_INPUTS, summary_stats
from lazyflow.sweeps import ENGINES
from lazyflow.walk_forward import check_settings

#: The keys of the [sweep] section.
SWEEP_KEYS = ("engine", "n_jobs", "address", "metric", "heatmap")
#: The keys of the [walk_forward] section and their types.
WALK_FORWARD_KEYS = {
    "train": int,
    "test": int,
    "step": int | None,
    "purge": int,
    "metric": str,
    "expanding": bool,
}
#: Statistics a heatmap may show: `BacktestResult.summary`'s.
METRICS = (
    *summary_stats(dict.fromkeys(SUMMARY_INPUTS, np.ones(2)), 1.0, 365),
    "sharpe_psr",
    "dsr",
)


@dataclass(frozen=True)
class SweepConfig:
    """A parsed sweep config: the base run (each grid at its first value) and the grids.

    `stage_grid` maps a 0-based stage position to ``{parameter: values}``; `allocator_grid`
    maps allocator fields to values (values coerced as in a run config).
    """

    run: RunConfig
    stage_grid: dict[int, dict[str, list]]
    allocator_grid: dict[str, list]
    engine: str = "local"
    n_jobs: int | None = None
    address: str | None = None
    metric: str = "sharpe"
    heatmap: tuple[str, ...] | None = None
    #: `lf.walk_forward`'s keyword arguments (train, test, ...) from [walk_forward], or None.
    walk_forward: dict[str, Any] | None = None

    def pipelines(self) -> list[Pipeline]:
        """Every combination of the stage grids (the run's stages, without labels)."""
        return grid_pipelines(self.run.pipeline(), self.stage_grid)

    def allocators(self) -> list[BufferedAllocator]:
        """Every combination of the allocator grid."""
        return grid_allocators(self.run.allocator, self.allocator_grid)

    def swept(self) -> list[str]:
        """Result columns of the parameters with two values or more, in the table's order."""
        stages = self.run.stages
        columns = [
            stage_column(stages, i, name)
            for i, grid in sorted(self.stage_grid.items())
            for name, values in grid.items()
            if len(values) > 1
        ]
        return columns + [f"allocator.{k}" for k, v in self.allocator_grid.items() if len(v) > 1]

    def axes(self) -> tuple[str, ...]:
        """The heatmap's axes: `heatmap`, else the first two swept parameters (fewer when
        fewer are swept)."""
        return self.heatmap if self.heatmap is not None else tuple(self.swept()[:2])

    def parameters(self) -> dict[str, Any]:
        """The base run's parameters, the grids and the sweep settings, as plain data."""
        stages = self.run.stages
        grids = {
            stage_column(stages, i, name): values
            for i, grid in sorted(self.stage_grid.items())
            for name, values in grid.items()
        } | {f"allocator.{k}": v for k, v in self.allocator_grid.items()}
        settings = {"engine": self.engine, "n_jobs": self.n_jobs, "address": self.address}
        extra = {} if self.walk_forward is None else {"walk_forward": self.walk_forward}
        return self.run.parameters() | {"grids": grids, "sweep": settings} | extra


def load_sweep_config(path: str | Path) -> SweepConfig:
    """Read and parse a sweep config file (relative data paths resolve against its folder)."""
    path = Path(path)
    return parse_sweep_config(read_toml(path), base_dir=path.parent)


def parse_sweep_config(raw: Mapping[str, Any], base_dir: Path | None = None) -> SweepConfig:
    """Parse a sweep config mapping (as `tomllib` returns it); see the module docstring."""
    raw = dict(raw)
    settings = raw.pop("sweep", {})
    walk = _walk_forward(raw.pop("walk_forward", None))
    if not isinstance(settings, Mapping):
        raise ConfigError(f"[sweep] must be a table, got {show(settings)}")
    check_keys(settings, SWEEP_KEYS, "sweep.", "key")
    if "capacity" in raw:
        raise ConfigError("[capacity]: a sweep does not draw capacity curves; use lazyflow run")
    allocator_table = raw.get("allocator", {})
    allocator_grid: dict[str, list] = {}
    if isinstance(allocator_table, Mapping):
        fixed, allocator_grid = _grids(BufferedAllocator, allocator_table, "allocator")
        raw["allocator"] = fixed
    stage_grid: dict[int, dict[str, list]] = {}
    tables = raw.get("stages", [])
    if isinstance(tables, list) and all(isinstance(t, Mapping) for t in tables):
        fixed_tables = []
        for i, table in enumerate(tables):
            cls = _stage_class(table.get("type"), base_dir)  # None: parse_config says why
            fixed, grid = _grids(cls, table, f"stages[{i + 1}]") if cls else (table, {})
            fixed_tables.append(fixed)
            if grid:
                stage_grid[i] = grid
        raw["stages"] = fixed_tables
    run = parse_config(raw, base_dir)
    config = SweepConfig(
        run=run,
        stage_grid=stage_grid,
        allocator_grid=allocator_grid,
        engine=_setting(settings, "engine", typing.Literal[ENGINES], "local"),
        n_jobs=_setting(settings, "n_jobs", int | None, None),
        address=_setting(settings, "address", str | None, None),
        metric=_setting(settings, "metric", typing.Literal[METRICS], "sharpe"),
        heatmap=_setting(settings, "heatmap", tuple[str, ...] | None, None),
        walk_forward=walk,
    )
    if config.n_jobs is not None and config.n_jobs < 1:
        raise ConfigError(f"sweep.n_jobs: must be an integer >= 1, got {config.n_jobs}")
    if config.heatmap is not None:
        swept = config.swept()
        if len(config.heatmap) != 2 or not set(config.heatmap) <= set(swept):
            raise ConfigError(
                f"sweep.heatmap: must name two swept parameters, got {list(config.heatmap)}; "
                f"swept: {', '.join(swept) or '(none)'}"
            )
    return config


def _walk_forward(table: Any) -> dict[str, Any] | None:
    """The [walk_forward] table as `lf.walk_forward` keyword arguments, checked as
    `lf.walk_forward` checks them, or None without the table."""
    if table is None:
        return None
    if not isinstance(table, Mapping):
        raise ConfigError(f"[walk_forward] must be a table, got {show(table)}")
    check_keys(table, tuple(WALK_FORWARD_KEYS), "walk_forward.", "key")
    for key in ("train", "test"):
        if key not in table:
            raise ConfigError(f"walk_forward.{key}: missing (rebalance dates, an integer)")
    out = {k: coerce(v, WALK_FORWARD_KEYS[k], f"walk_forward.{k}") for k, v in table.items()}
    defaults = {"step": None, "purge": 0, "metric": "sharpe", "expanding": False}
    check_settings(**(defaults | out))
    return out


def _grids(cls: type, table: Mapping[str, Any], where: str) -> tuple[dict, dict[str, list]]:
    """Split a table into fixed values (each grid at its first value, so `parse_config`
    checks the rest as usual) and grids, every grid value coerced and checked."""
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    keys = [k for k, v in table.items() if k in fields and _is_grid(v, hints[k])]
    for key in keys:
        if not table[key]:
            raise ConfigError(f"{where}.{key}: an empty list is not a grid")
    fixed = {k: table[k][0] if k in keys else v for k, v in table.items()}
    params = {k: v for k, v in fixed.items() if k != "type"}
    grids = {}
    for key in keys:
        values = []
        for j, item in enumerate(table[key]):
            coerce(item, hints[key], f"{where}.{key}[{j}]")  # names the bad item
            obj = cls(**keyword_arguments(cls, params | {key: item}, where))
            try:
                obj.check()
            except ConfigError as exc:
                raise ConfigError(f"{where}.{key}[{j}]: {exc}") from exc
            values.append(getattr(obj, key))
        check_distinct(values, f"{where}.{key}")
        grids[key] = values
    return fixed, grids


def _stage_class(kind: Any, base_dir: Path | None) -> type | None:
    """The stage class a ``[[stages]] type`` names (a user's too), or None if it names none."""
    try:
        return stage_class(kind, "stages", base_dir)
    except ConfigError:
        return None


def _is_grid(value: Any, hint: Any) -> bool:
    """A list is a grid for a scalar parameter; for a list-valued one, a list of lists is."""
    if not isinstance(value, list):
        return False
    options = typing.get_args(hint) if typing.get_origin(hint) in _UNIONS else (hint,)
    listed = any(typing.get_origin(o) in (tuple, list) or o in (tuple, list) for o in options)
    return not listed or (bool(value) and all(isinstance(v, list) for v in value))


_UNIONS = (typing.Union, types.UnionType)


def _setting(settings: Mapping[str, Any], key: str, hint: Any, default: Any) -> Any:
    if key not in settings:
        return default
    return coerce(settings[key], hint, f"sweep.{key}")
