"""`audit`: where a pipeline's rows go, so nothing is lost silently.

`Pipeline.audit(panel)` runs the pipeline once (one `pl.collect_all` over the plan after each
stage) and returns two tables:

- `Audit.stages`: for the input panel (step 0, stage "input") and after each stage, the rows
  in the frame and, for each column the stage adds, how many rows carry a usable value (not
  null; for floats also not NaN or +-inf) and how many do not. A stage that removes rows
  (`DropNulls`) shows the rows it left.
- `Audit.dates`: per date of the pipeline's output, the rows, how many may trade and, for the
  others, the first check each failed: the same checks (`portfolio.checks.drop_reason`) and
  the same counting as `backtest(...).dropped`, so `Audit.dropped` equals the backtest's first
  five counts on the same frame. (``no_next_price`` and ``no_next_funding`` count held
  positions, which only the backtest knows.)

The keys must be clean for either table to mean anything: an empty panel, a (date, symbol)
pair on more than one row (in the panel or the output) and a null date or symbol in the
output are `DataError`s that give the count and example rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from lazyflow.errors import DataError, SchemaError, collect_all
from lazyflow.portfolio.checks import REASON, ROW_REASONS, drop_reason
from lazyflow.schema import Kind, SchemaStep, unused_name

CALLER = "Pipeline.audit"

#: How many example rows an error message shows.
EXAMPLES = 3

#: The columns of `Audit.dates` besides the date.
DATES_COLUMNS = ("rows", "tradable", *ROW_REASONS)


@dataclass(frozen=True)
class Audit:
    """What `Pipeline.audit` found (see the module docstring).

    stages: step, stage, column, rows, usable, missing (one row per added column; a stage that
    adds none has one row with a null column). dates: date, rows, tradable and one count per
    reason in ROW_REASONS.
    """

    stages: pl.DataFrame
    dates: pl.DataFrame

    @property
    def dropped(self) -> dict[str, int]:
        """Untradable rows by reason over all dates (`backtest(...).dropped`'s row reasons)."""
        return {reason: int(self.dates[reason].sum()) for reason in ROW_REASONS}


def audit(
    plans: Sequence[pl.LazyFrame],
    flow: Sequence[SchemaStep],
    tradable: str | None = "is_universe",
    *,
    date_col: str = "date",
    symbol_col: str = "symbol",
    target_col: str = "target_position",
    vol_col: str = "vol_fcst",
    spread_col: str = "spread",
    price_col: str = "close",
) -> Audit:
    """Row accounting of a pipeline from its `plans` (the panel, then the plan after each stage:
    `Pipeline.plans`) and its schema `flow` (`Pipeline.schema_flow`), with `backtest`'s column
    names and defaults.

    Raises `SchemaError` when the output lacks a column the tradability checks need (pass
    ``tradable=None`` when the pipeline has no universe flag) and `DataError` for an empty
    panel, repeated (date, symbol) pairs or null keys in the output.
    """
    out_schema = plans[-1].collect_schema()
    kinds = {date_col: Kind.ANY, symbol_col: Kind.ANY}
    if tradable is not None:
        kinds[tradable] = Kind.BOOL
    kinds |= dict.fromkeys((target_col, vol_col, spread_col, price_col), Kind.NUMERIC)
    _check_columns(out_schema, kinds, tradable)
    if date_col in DATES_COLUMNS:
        problem = "is also the name of a column of Audit.dates: rename it"
        raise SchemaError(CALLER, date_col, problem, out_schema)

    keys = [date_col, symbol_col]
    columns = [dict(plans[0].collect_schema())] + [
        {c: out for c, out in plans[k + 1].collect_schema().items() if c in step.adds}
        for k, step in enumerate(flow)
    ]
    rows_col = unused_name((c for cols in columns for c in cols), "__rows")
    counts = [
        plan.select(pl.len().cast(pl.Int64).alias(rows_col), *_usable(cols))
        for plan, cols in zip(plans, columns, strict=True)
    ]
    reason = drop_reason(target_col, vol_col, spread_col, price_col, tradable)
    per_date = (
        plans[-1]
        .group_by(date_col)
        .agg(
            pl.len().cast(pl.Int64).alias(DATES_COLUMNS[0]),
            reason.is_null().sum().cast(pl.Int64).alias(DATES_COLUMNS[1]),
            *(
                (reason == pl.lit(r, dtype=REASON)).sum().cast(pl.Int64).alias(r)
                for r in ROW_REASONS
            ),
        )
        .sort(date_col)
    )
    *counted, dates, in_dups, out_dups, null_keys = collect_all(
        [
            *counts,
            per_date,
            _repeated(plans[0].drop_nulls(keys), keys),
            _repeated(plans[-1], keys),
            plans[-1].filter(pl.any_horizontal(pl.col(keys).is_null())).head(EXAMPLES),
        ],
        CALLER,
    )
    if counted[0][rows_col][0] == 0:
        raise DataError(f"{CALLER}: the panel has no rows")
    _check_repeated(in_dups, keys, "the panel")
    _check_repeated(out_dups, keys, "the pipeline's output")
    if null_keys.height:
        rows = ", ".join(str(r) for r in null_keys.select(keys).head(EXAMPLES).rows())
        raise DataError(
            f"{CALLER}: the pipeline's output has rows with a null {date_col} or {symbol_col}, "
            f"e.g. {rows}; drop them first (DropNulls(columns=('{date_col}', '{symbol_col}')))"
        )
    names = ["input", *(step.stage for step in flow)]
    return Audit(stages=_stage_table(names, columns, counted, rows_col), dates=dates)


def _check_columns(schema: pl.Schema, kinds: Mapping[str, Kind], tradable: str | None) -> None:
    for column, kind in kinds.items():
        if column not in schema:
            hint = " (pass tradable=None if the pipeline has no flag)" if column == tradable else ""
            raise SchemaError(
                CALLER, column, f"is missing from the pipeline's output{hint}", schema
            )
        if not kind.accepts(schema[column]):
            problem = f"has dtype {schema[column]}, expected a {kind.value} column"
            raise SchemaError(CALLER, column, problem, schema)


def _usable(columns: Mapping[str, pl.DataType]) -> list[pl.Expr]:
    """Per column: rows with a value that is not null (and, for floats, finite)."""
    exprs = []
    for name, dtype in columns.items():
        col = pl.col(name)
        ok = col.is_finite() if dtype.is_float() else col.is_not_null()
        exprs.append(ok.sum().cast(pl.Int64).alias(name))
    return exprs


def _repeated(frame: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """The (date, symbol) pairs on more than one row, then their row count, sorted."""
    n = unused_name(keys, "n")
    return frame.group_by(keys).agg(pl.len().alias(n)).filter(pl.col(n) > 1).sort(keys)


def _check_repeated(repeated: pl.DataFrame, keys: list[str], where: str) -> None:
    if repeated.height == 0:
        return
    extra = int(repeated[:, -1].sum()) - repeated.height
    shown = ", ".join(f"({d}, {s}) x{n}" for d, s, n in repeated.head(EXAMPLES).rows())
    raise DataError(
        f"{CALLER}: {where} has {extra} duplicate ({keys[0]}, {keys[1]}) rows "
        f"({repeated.height} pairs), e.g. {shown}; keep the last row of each with "
        "lf.scan_panel(..., dedupe='last')"
    )


def _stage_table(
    names: list[str],
    columns: list[dict[str, pl.DataType]],
    counted: list[pl.DataFrame],
    rows_col: str,
) -> pl.DataFrame:
    records = []
    for step, (name, cols, row) in enumerate(zip(names, columns, counted, strict=True)):
        rows = int(row[rows_col][0])
        for column in cols or [None]:
            usable = None if column is None else int(row[column][0])
            missing = None if usable is None else rows - usable
            records.append((step, name, column, rows, usable, missing))
    return pl.DataFrame(
        records,
        schema={
            "step": pl.Int64,
            "stage": pl.String,
            "column": pl.String,
            "rows": pl.Int64,
            "usable": pl.Int64,
            "missing": pl.Int64,
        },
        orient="row",
    )
