"""`Pipeline`: an ordered tuple of stages that builds one lazy query plan."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from lazyflow.errors import ConfigError, DataError, SchemaError
from lazyflow.stages.base import Stage

if TYPE_CHECKING:
    from lazyflow.audit import Audit

StageLike = Callable[[pl.LazyFrame], pl.LazyFrame]


def stage_name(stage: StageLike) -> str:
    """A readable name for a built-in stage or a plain callable."""
    if isinstance(stage, Stage):
        return stage.name
    return getattr(stage, "__name__", type(stage).__name__)


@dataclass(frozen=True)
class SchemaStep:
    """One stage's place in the schema flow: what it needs and what it adds."""

    stage: str
    needs: dict[str, str]
    adds: dict[str, str]


class Pipeline:
    """An ordered tuple of stages; calling it on a LazyFrame returns one LazyFrame.

    ``Pipeline([a, b, c])`` and ``a >> b >> c`` are the same pipeline. Plain
    callables (``lambda f: f.drop_nulls()``) are stages too; nested pipelines
    are flattened.
    """

    def __init__(self, stages: Iterable[StageLike]) -> None:
        flat: list[StageLike] = []
        for stage in stages:
            if isinstance(stage, Pipeline):
                flat.extend(stage.stages)
            elif callable(stage):
                flat.append(stage)
            else:
                raise ConfigError(f"Pipeline: {stage!r} is not a stage (a LazyFrame -> LazyFrame)")
        self.stages: tuple[StageLike, ...] = tuple(flat)

    def __rshift__(self, other: StageLike) -> Pipeline:
        return Pipeline([*self.stages, other])

    def __rrshift__(self, other: StageLike) -> Pipeline:
        return Pipeline([other, *self.stages])

    def __len__(self) -> int:
        return len(self.stages)

    def __repr__(self) -> str:
        """Only the parameters that differ from their defaults; one stage per line when long."""
        from lazyflow.reprs import pipeline_repr

        return pipeline_repr(self.stages)

    def validate(self, schema: Mapping[str, pl.DataType]) -> pl.Schema:
        """Walk `schema` through every stage without reading data; return the final schema.

        Raises `SchemaError` naming the stage and the missing or mistyped column, and
        `ConfigError` for a bad parameter or a stage at odds with the built-in stages
        before it (`Stage.check_upstream`).
        """
        current = pl.Schema(schema)
        earlier: list[Stage] = []
        for stage in self.stages:
            current = _stage_schema(stage, current)
            if isinstance(stage, Stage):
                stage.check_upstream(tuple(earlier))
                earlier.append(stage)
        return current

    def schema_flow(self, schema: Mapping[str, pl.DataType]) -> list[SchemaStep]:
        """For each stage, the columns it needs and the columns it adds."""
        steps = []
        current = pl.Schema(schema)
        for stage in self.stages:
            after = _stage_schema(stage, current)
            needs = (
                {c: k.value for c, k in stage.for_schema(current).inputs().items()}
                if isinstance(stage, Stage)
                else {}
            )
            adds = {c: str(t) for c, t in after.items() if current.get(c) != t}
            steps.append(SchemaStep(stage_name(stage), needs, adds))
            current = after
        return steps

    def __call__(self, frame: pl.LazyFrame | pl.DataFrame) -> pl.LazyFrame:
        """Build the query plan: validate the schema, then chain every stage's transform."""
        return self.plans(frame)[-1]

    def plans(self, frame: pl.LazyFrame | pl.DataFrame) -> list[pl.LazyFrame]:
        """The query plan after each stage, `frame` itself first (validated as in `__call__`)."""
        if not isinstance(frame, pl.LazyFrame | pl.DataFrame):
            got = type(frame).__name__
            raise DataError(f"Pipeline: expected a polars LazyFrame or DataFrame, got {got}")
        frame = frame.lazy()
        self.validate(read_schema(frame, "Pipeline"))
        plans = [frame]
        for stage in self.stages:
            frame = stage.transform(frame) if isinstance(stage, Stage) else stage(frame)
            plans.append(frame)
        return plans

    def audit(
        self,
        panel: pl.LazyFrame | pl.DataFrame,
        tradable: str | None = "is_universe",
        **columns: str,
    ) -> Audit:
        """Row accounting of this pipeline on `panel`: usable values per stage and column,
        tradable rows per date and why the others are not. See `lazyflow.audit.audit`."""
        from lazyflow.audit import audit

        return audit(self, panel, tradable, **columns)

    def explain(self, frame: pl.LazyFrame | pl.DataFrame, optimized: bool = True) -> str:
        """The (optimised) Polars plan of this pipeline applied to `frame`, as text."""
        return self(frame).explain(optimized=optimized)


def read_schema(frame: pl.LazyFrame, caller: str) -> pl.Schema:
    """`frame`'s schema; a Polars failure (a file gone or unreadable) is a `DataError`."""
    try:
        return frame.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataError(f"{caller}: cannot read the frame's schema: {exc}") from exc


def _stage_schema(stage: StageLike, schema: pl.Schema) -> pl.Schema:
    if isinstance(stage, Stage):
        return stage.validate(schema)
    try:
        return stage(pl.LazyFrame(schema=schema)).collect_schema()
    except pl.exceptions.ColumnNotFoundError as exc:
        found = re.search(r'column "([^"]*)"', str(exc))
        column = found.group(1) if found else "?"
        raise SchemaError(stage_name(stage), column, "is missing", schema) from exc
    except pl.exceptions.PolarsError as exc:
        first_line = str(exc).splitlines()[0]
        raise SchemaError(
            stage_name(stage), "?", f"could not be resolved ({first_line})", schema
        ) from exc
