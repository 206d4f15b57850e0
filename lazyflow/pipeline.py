"""`Pipeline`: an ordered tuple of stages that builds one lazy query plan.

`DeclaredStage` is what a pipeline needs from a stage that declares its columns (the built-in
stages' base `lazyflow.Stage` is one): this module depends on no stage, so the stages, the
pipeline and the audit import one another in one direction only.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence

import polars as pl

from lazyflow.audit import Audit, audit
from lazyflow.errors import ConfigError, DataError, SchemaError
from lazyflow.reprs import pipeline_repr
from lazyflow.schema import Kind, SchemaStep

StageLike = Callable[[pl.LazyFrame], pl.LazyFrame]


class StageClass(type):
    """The type of stage classes: ``Deciles >> EwmaVol()`` (a class where an instance belongs)
    builds a `Pipeline`, which raises the `ConfigError` that says so, not a TypeError."""

    def __rshift__(cls, other: StageLike) -> Pipeline:
        return Pipeline([cls, other])

    def __rrshift__(cls, other: StageLike) -> Pipeline:
        return Pipeline([other, cls])


class DeclaredStage(metaclass=StageClass):
    """A stage that declares the columns it needs, so a pipeline checks a schema before any data
    is read. ``a >> b`` composes stages into a `Pipeline`. Subclasses implement `inputs`,
    `validate` and `transform` (see `lazyflow.Stage`)."""

    @property
    def name(self) -> str:
        return type(self).__name__

    def inputs(self) -> dict[str, Kind]:
        """Columns this stage reads, with the kind of dtype each must have."""
        raise NotImplementedError

    def validate(self, schema: Mapping[str, pl.DataType]) -> pl.Schema:
        """Check parameters and input columns against `schema`; return the output schema."""
        raise NotImplementedError

    def transform(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """The lazy transform itself; assumes `validate` has passed."""
        raise NotImplementedError

    def for_schema(self, schema: Mapping[str, pl.DataType]) -> DeclaredStage:
        """This stage resolved against `schema` (a stage whose inputs depend on it overrides)."""
        return self

    def check_upstream(self, earlier: Sequence[DeclaredStage]) -> None:
        """Check this stage against the declared stages before it in a pipeline (`earlier`, in
        pipeline order); raise `ConfigError` on a mismatch. Called by `Pipeline.validate`."""

    def __rshift__(self, other: StageLike) -> Pipeline:
        return Pipeline([self, other])

    def __rrshift__(self, other: StageLike) -> Pipeline:
        return Pipeline([other, self])


def stage_name(stage: StageLike) -> str:
    """A readable name for a declared stage or a plain callable."""
    if isinstance(stage, DeclaredStage):
        return stage.name
    return getattr(stage, "__name__", type(stage).__name__)


class Pipeline:
    """An ordered tuple of stages; calling it on a LazyFrame returns one LazyFrame.

    ``Pipeline([a, b, c])`` and ``a >> b >> c`` are the same pipeline. Plain
    callables (``lambda f: f.drop_nulls()``) are stages too; nested pipelines
    are flattened.
    """

    def __init__(self, stages: Iterable[StageLike]) -> None:
        if callable(stages) or not isinstance(stages, Iterable):
            raise ConfigError(
                f"Pipeline: expected a list of stages, got {type(stages).__name__} {stages!r}"
            )
        flat: list[StageLike] = []
        for stage in stages:
            if isinstance(stage, Pipeline):
                flat.extend(stage.stages)
            elif isinstance(stage, type):
                raise ConfigError(
                    f"Pipeline: got the class {stage.__name__}, expected a stage instance "
                    f"(write {stage.__name__}(...), with its parameters)"
                )
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
        return pipeline_repr(self.stages)

    def validate(self, schema: Mapping[str, pl.DataType]) -> pl.Schema:
        """Walk `schema` through every stage without reading data; return the final schema.

        Raises `SchemaError` naming the stage and the missing or mistyped column, and
        `ConfigError` for a bad parameter or a stage at odds with the built-in stages
        before it (`Stage.check_upstream`).
        """
        current = pl.Schema(schema)
        earlier: list[DeclaredStage] = []
        for stage in self.stages:
            current = _stage_schema(stage, current)
            if isinstance(stage, DeclaredStage):
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
                if isinstance(stage, DeclaredStage)
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
            if isinstance(stage, DeclaredStage):
                frame = stage.transform(frame)
            else:
                frame = stage_output(stage, frame, "Pipeline")
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
        plans = self.plans(panel)
        return audit(plans, self.schema_flow(plans[0].collect_schema()), tradable, **columns)

    def explain(self, frame: pl.LazyFrame | pl.DataFrame, optimized: bool = True) -> str:
        """The (optimised) Polars plan of this pipeline applied to `frame`, as text."""
        return self(frame).explain(optimized=optimized)


def read_schema(frame: pl.LazyFrame, caller: str) -> pl.Schema:
    """`frame`'s schema; a Polars failure (a file gone or unreadable) is a `DataError`."""
    try:
        return frame.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataError(f"{caller}: cannot read the frame's schema: {exc}") from exc


def stage_output(stage: StageLike, frame: pl.LazyFrame, caller: str) -> pl.LazyFrame:
    """`stage(frame)` as a LazyFrame; `ConfigError` (for `caller`) when a plain callable
    returns something else (a function that forgot its ``return``)."""
    out = stage(frame)
    if not isinstance(out, pl.LazyFrame | pl.DataFrame):
        raise ConfigError(
            f"{caller}: stage {stage_name(stage)} returned {type(out).__name__}, "
            "expected a LazyFrame"
        )
    return out.lazy()


def _stage_schema(stage: StageLike, schema: pl.Schema) -> pl.Schema:
    if isinstance(stage, DeclaredStage):
        return stage.validate(schema)
    try:
        return stage_output(stage, pl.LazyFrame(schema=schema), "Pipeline").collect_schema()
    except pl.exceptions.ColumnNotFoundError as exc:
        found = re.search(r'column "([^"]*)"', str(exc))
        column = found.group(1) if found else "?"
        raise SchemaError(stage_name(stage), column, "is missing", schema) from exc
    except pl.exceptions.PolarsError as exc:
        first_line = str(exc).splitlines()[0]
        raise SchemaError(
            stage_name(stage), "?", f"could not be resolved ({first_line})", schema
        ) from exc
