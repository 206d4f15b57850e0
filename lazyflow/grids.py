"""Grids of configurations for sweeps and walk-forward tests: `grid_pipelines` and
`grid_allocators` build them, the helpers check them (no duplicate values) and describe
which stage parameters differ between pipelines."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from lazyflow.errors import ConfigError
from lazyflow.pipeline import Pipeline, stage_name
from lazyflow.portfolio.allocator import BufferedAllocator
from lazyflow.stages.base import Stage


def grid_pipelines(base: Pipeline, grid: Mapping[str | int, Mapping[str, Any]]) -> list[Pipeline]:
    """`base` with every combination of the stage parameters in `grid`.

    `grid` maps a stage (its class name, when the class is in `base` once, or its 0-based
    position) to ``{parameter: value or list of values}``. Values are not checked here;
    `sweep` checks each pipeline against the panel's schema before it runs.
    """
    if not isinstance(base, Pipeline):
        raise ConfigError(f"grid_pipelines: base must be a Pipeline, got {base!r}")
    axes = []
    for key, params in mapping(grid, "grid_pipelines: grid").items():
        i = _position(base, key)
        stage = base.stages[i]
        where = f"grid_pipelines: {stage_name(stage)} (stage {i})"
        axes += [((i, name), values) for name, values in _axes(stage, params, where)]
    pipelines = []
    for combo in _product(axes):
        stages = list(base.stages)
        for i in {i for i, _ in combo}:
            changes = {name: value for (j, name), value in combo.items() if j == i}
            stages[i] = dataclasses.replace(stages[i], **changes)
        pipelines.append(Pipeline(stages))
    return pipelines


def grid_allocators(
    base: BufferedAllocator | None = None, grid: Mapping[str, Any] | None = None
) -> list[BufferedAllocator]:
    """`base` (default `BufferedAllocator()`) with every combination of ``{field: value or
    list of values}`` in `grid`."""
    base = BufferedAllocator() if base is None else base
    if not isinstance(base, BufferedAllocator):
        raise ConfigError(f"grid_allocators: base must be a BufferedAllocator, got {base!r}")
    axes = _axes(base, grid or {}, "grid_allocators")
    return [dataclasses.replace(base, **combo) for combo in _product(axes)]


def pipeline_list(grid: Pipeline | Sequence[Pipeline]) -> list[Pipeline]:
    pipelines = [grid] if isinstance(grid, Pipeline) else _sequence(grid, "pipeline_grid")
    for i, pipeline in enumerate(pipelines):
        if not isinstance(pipeline, Pipeline):
            raise ConfigError(f"sweep: pipeline_grid[{i}] must be a Pipeline, got {pipeline!r}")
    return pipelines


def allocator_list(
    grid: BufferedAllocator | Sequence[BufferedAllocator] | Mapping[str, Any],
) -> list[BufferedAllocator]:
    if isinstance(grid, BufferedAllocator):
        return [grid]
    if isinstance(grid, Mapping):
        return grid_allocators(BufferedAllocator(), grid)
    return _sequence(grid, "allocator_grid")


def _sequence(values: Any, name: str) -> list:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
        raise ConfigError(f"sweep: {name} must be a non-empty list, got {values!r}")
    return list(values)


def mapping(value: Any, where: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where} must be a mapping, got {value!r}")
    return value


def _position(base: Pipeline, key: str | int) -> int:
    """The position in `base` of the stage that a `grid_pipelines` key names."""
    n = len(base.stages)
    if isinstance(key, int) and not isinstance(key, bool):
        if not 0 <= key < n:
            raise ConfigError(f"grid_pipelines: stage position {key} is not in 0..{n - 1}")
        i = key
    else:
        hits = [i for i, stage in enumerate(base.stages) if stage_name(stage) == key]
        if len(hits) != 1:
            names = ", ".join(stage_name(s) for s in base.stages)
            problem = "is not a stage of" if not hits else f"is at positions {hits} of"
            raise ConfigError(
                f"grid_pipelines: {key!r} {problem} the pipeline ({names}); name a stage that "
                "is there once, or give its 0-based position"
            )
        i = hits[0]
    if not (isinstance(base.stages[i], Stage) and dataclasses.is_dataclass(base.stages[i])):
        raise ConfigError(f"grid_pipelines: stage {i} ({base.stages[i]!r}) has no parameters")
    return i


def _axes(obj: Any, params: Mapping[str, Any], where: str) -> list[tuple[str, list]]:
    """``(parameter, values)`` pairs of a grid over the dataclass `obj`'s init fields."""
    fields = [f.name for f in dataclasses.fields(obj) if f.init]
    axes = []
    for name, value in mapping(params, where).items():
        if name not in fields:
            raise ConfigError(
                f"{where}: unknown parameter '{name}'; parameters: {', '.join(fields)}"
            )
        values = value if isinstance(value, list) else [value]
        if not values:
            raise ConfigError(f"{where}: parameter '{name}' has an empty list of values")
        check_distinct(values, f"{where}: parameter '{name}'")
        axes.append((name, values))
    return axes


def check_distinct(values: Sequence[Any], what: str) -> None:
    """`ConfigError` (``what`` repeats ...) when two of a grid's `values` are equal: they
    would make the same configuration twice."""
    for j, value in enumerate(values):
        for i in range(j):
            if values[i] == value:
                raise ConfigError(
                    f"{what} repeats the value {value!r} (positions {i} and {j}); each grid "
                    "value must be distinct"
                )


def _product(axes: Sequence[tuple[Any, list]]) -> list[dict[Any, Any]]:
    """Every combination of the axes' values, the first axis varying slowest."""
    keys = [key for key, _ in axes]
    return [
        dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(v for _, v in axes))
    ]


def distinct_pipelines(pipelines: list[Pipeline]) -> tuple[list[Pipeline], list[int]]:
    """The distinct pipelines (same stages, in order), and which one each pipeline is."""
    distinct: list[Pipeline] = []
    which = []
    for pipeline in pipelines:
        same = [d for d, seen in enumerate(distinct) if seen.stages == pipeline.stages]
        if not same:
            distinct.append(pipeline)
        which.append(same[0] if same else len(distinct) - 1)
    return distinct, which


def stage_parameters(pipelines: list[Pipeline]) -> pl.DataFrame:
    """One row per pipeline: its position and each stage parameter that differs between them."""
    columns: dict[str, pl.Series] = {"pipeline": pl.Series(range(len(pipelines)), dtype=pl.Int64)}
    if len({tuple(type(s) for s in p.stages) for p in pipelines}) > 1:
        return pl.DataFrame(columns | {"stages": pl.Series([repr(p) for p in pipelines])})
    first = pipelines[0].stages
    for i, stage in enumerate(first):
        if not (isinstance(stage, Stage) and dataclasses.is_dataclass(stage)):
            continue
        for field in dataclasses.fields(stage):
            values = [getattr(p.stages[i], field.name) for p in pipelines]
            if any(v != values[0] for v in values):
                column = stage_column(first, i, field.name)
                columns[column] = pl.Series(values, strict=False)
    return pl.DataFrame(columns)


def stage_column(stages: Sequence[Any], i: int, parameter: str) -> str:
    """The result column of parameter `parameter` of ``stages[i]``: ``stage.<Class>.<param>``,
    or ``stage.<i>.<Class>.<param>`` when the class is in `stages` more than once."""
    names = [stage_name(s) for s in stages]
    label = names[i] if names.count(names[i]) == 1 else f"{i}.{names[i]}"
    return f"stage.{label}.{parameter}"
