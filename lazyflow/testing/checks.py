"""Property checks of a stage on a panel: causal, row order, rows preserved, schema, mask.

A *stage* is anything lazyflow accepts as one: a `Stage` instance, a `Pipeline`, or a
plain callable ``LazyFrame -> LazyFrame``. A *panel* is a DataFrame (or LazyFrame) with
one row per (date, symbol); `panels` draws such panels with hypothesis. Each check runs
the stage, compares bit for bit (`lazyflow.testing.compare`) and raises `AssertionError`
naming the check, the stage, the column, the first offending (date, symbol) in key order
and the two values; it returns None when the property holds. A panel that is not one row
per (date, symbol) is a `DataError`, a check called with bad arguments a `ConfigError`.
"""

from __future__ import annotations

import copy
import datetime as dt
import pickle
from collections.abc import Iterable, Sequence
from functools import cached_property

import numpy as np
import polars as pl

from lazyflow.errors import ConfigError, DataError
from lazyflow.pipeline import Pipeline, StageLike, stage_name, stage_output
from lazyflow.schema import unused_name
from lazyflow.stages.base import Stage
from lazyflow.stages.labels import label_columns
from lazyflow.testing.compare import (
    differences,
    differs,
    first_difference,
    key_difference,
    last_bit_hint,
    show,
    sort_by_keys,
)


def describe(stage: StageLike) -> str:
    """How messages name `stage`: a Stage by its repr (parameters included), a pipeline by
    its stages' names, a plain callable by its qualified name."""
    if isinstance(stage, Pipeline):
        return "Pipeline(" + " >> ".join(describe_short(s) for s in stage.stages) + ")"
    if isinstance(stage, Stage):
        return repr(stage)
    return describe_short(stage)


def describe_short(stage: StageLike) -> str:
    return (
        stage_name(stage)
        if isinstance(stage, Stage)
        else getattr(stage, "__qualname__", stage_name(stage))
    )


#: The column that numbers the cases stacked for one comparison (see `Subject.compare`;
#: `unused_name` picks another when a compared frame has a column of that name).
CASE = "_lazyflow_testing_case"


class Subject:
    """One stage on one panel: the panel checked once, the stage's output collected once."""

    def __init__(
        self,
        check: str,
        stage: StageLike,
        panel: pl.DataFrame | pl.LazyFrame,
        date_col: str,
        symbol_col: str,
    ) -> None:
        if not callable(stage):
            raise ConfigError(f"{check}: {stage!r} is not a stage (a LazyFrame -> LazyFrame)")
        panel = panel.collect() if isinstance(panel, pl.LazyFrame) else panel
        if not isinstance(panel, pl.DataFrame):
            raise DataError(f"{check}: expected a polars DataFrame, got {type(panel).__name__}")
        for column in (date_col, symbol_col):
            if column not in panel.columns:
                raise DataError(f"{check}: the panel has no key column {column!r}")
        twice = panel.select(date_col, symbol_col).filter(pl.struct(pl.all()).is_duplicated())
        if twice.height:
            d, s = twice.row(0)
            raise DataError(
                f"{check}: the panel has {twice.height} rows sharing a (date, symbol), e.g. "
                f"({show(d)}, {show(s)}); the checks need one row per (date, symbol)"
            )
        self.check, self.stage, self.panel = check, stage, panel
        self.keys = (date_col, symbol_col)
        self.name = describe(stage)

    def run(self, panel: pl.DataFrame) -> pl.LazyFrame:
        """The stage's output on `panel`, from a fresh copy of the stage: one that kept state
        from an earlier run (fitted on the first panel it saw) would carry the full panel's
        information into the cut one and hide its look-ahead. A stage that cannot be copied
        runs as it is."""
        try:
            stage = copy.deepcopy(self.stage)
        except (TypeError, copy.Error, pickle.PicklingError):
            stage = self.stage
        return stage_output(stage, panel.lazy(), self.check)

    @cached_property
    def output(self) -> pl.DataFrame:
        """The stage's output on the panel as given."""
        return self.run(self.panel).collect()

    def fail(self, problem: str) -> AssertionError:
        return AssertionError(f"{self.check}: {self.name}: {problem}")

    def where(self, key: tuple) -> str:
        return "(" + ", ".join(f"{k}={show(v)}" for k, v in zip(self.keys, key, strict=True)) + ")"

    def has_keys(self, frame: pl.DataFrame, label: str) -> None:
        for column in self.keys:
            if column not in frame.columns:
                raise self.fail(f"the output {label} has no key column {column!r}")

    def compare(
        self,
        cases: Sequence[tuple[pl.DataFrame, pl.DataFrame, tuple[str, str]]],
        skip: Iterable[str] = (),
    ) -> None:
        """Raise unless, in each case ``(expected, actual, (how expected, how actual))``, the
        two outputs hold the same rows (by key, any order), the same columns and bit-identical
        values (columns in `skip` need only the same dtype). The cases are stacked and
        compared in one pass; the first case that differs is reported."""
        for expected, actual, (on_e, on_a) in cases:
            self.has_keys(expected, on_e)
            self.has_keys(actual, on_a)
            if expected.schema != actual.schema:
                raise self.fail(schema_problem(expected.schema, actual.schema, (on_e, on_a)))
        # a name no compared frame uses, so that no column of the stage is overwritten
        case_col = unused_name((c for e, a, _ in cases for c in (*e.columns, *a.columns)), CASE)
        keys = (case_col, *self.keys)
        expected, actual = (
            pl.concat(
                [
                    frame.with_columns(pl.lit(i, pl.Int32).alias(case_col))
                    for i, frame in enumerate(f)
                ]
            )
            for f in zip(*[case[:2] for case in cases], strict=True)
        )
        found = key_difference(expected, actual, keys)
        if found is not None:
            (case, *key), n_e, n_a, _ = found
            on_e, on_a = cases[case][2]
            n = key_difference(*cases[case][:2], self.keys)[3]
            raise self.fail(
                f"row {self.where(key)} appears {n_e} time(s) {on_e} but {n_a} {on_a} "
                f"({n} (date, symbol) keys differ)"
            )
        skip = {*skip, *keys}
        columns = [c for c in expected.columns if c not in skip]
        diff = first_difference(
            sort_by_keys(expected, keys), sort_by_keys(actual, keys), keys, columns
        )
        if diff is not None:
            case, *key = diff.key
            e, a, (on_e, on_a) = cases[case]
            n = differs(*(sort_by_keys(f, self.keys)[diff.column] for f in (e, a))).sum()
            raise self.fail(
                f"column {diff.column!r} at {self.where(key)} is {show(diff.expected)} "
                f"{on_e} but {show(diff.actual)} {on_a} ({n} row(s) differ)"
                + last_bit_hint(diff.expected, diff.actual)
            )

    # -- the checks --------------------------------------------------------------------

    def causal(self, cut: object = None) -> None:
        date = self.keys[0]
        dates = self.panel[date].drop_nulls().unique().sort()
        cuts = dates[:-1].to_list() if cut is None else as_dates(cut, self.check)
        if not cuts:
            return
        labels = label_columns(Pipeline([self.stage]))
        plans = [self.run(self.panel.filter(pl.col(date) <= t)) for t in cuts]
        cases = []
        for t, part in zip(cuts, pl.collect_all(plans), strict=True):
            self.has_keys(part, f"on the panel cut after {show(t)}")
            on_full = self.output.filter(pl.col(date) <= t)
            cases.append(
                (on_full, part, ("on the full panel", f"on the panel cut after {show(t)}"))
            )
        self.compare(cases, skip=labels)

    def row_order(self, seed: int = 0) -> None:
        if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**64:
            raise ConfigError(
                f"{self.check}: parameter 'seed' must be an integer in [0, 2**64), got {seed!r}"
            )
        panel = self.panel
        orders = {
            f"with the rows shuffled (seed={seed})": panel.sample(
                fraction=1.0, shuffle=True, seed=seed
            ),
            "with the rows reversed": panel.reverse(),
        }
        outputs = pl.collect_all([self.run(p) for p in orders.values()])
        self.compare(
            [
                (self.output, out, ("with the rows as given", label))
                for label, out in zip(orders, outputs, strict=True)
            ]
        )

    def preserves_rows(self) -> None:
        panel, out = self.panel, self.output
        for column, dtype in panel.schema.items():
            if column not in out.columns:
                raise self.fail(f"input column {column!r} ({dtype}) is missing from the output")
            if out.schema[column] != dtype:
                raise self.fail(
                    f"input column {column!r} is {dtype} in the panel but {out.schema[column]} "
                    "in the output"
                )
        keys = key_difference(panel, out, self.keys)
        if keys is not None:
            key, n_in, n_out, n = keys
            raise self.fail(
                f"row {self.where(key)} appears {n_in} time(s) in the panel but {n_out} in the "
                f"output ({panel.height} rows in, {out.height} out; {n} keys differ)"
            )
        moved = np.flatnonzero(differences(panel, out, self.keys).any(axis=1))
        if moved.size:
            i = int(moved[0])
            raise self.fail(
                f"rows are reordered: row {i} is {self.where(panel.select(self.keys).row(i))} in "
                f"the panel but {self.where(out.select(self.keys).row(i))} in the output "
                f"({moved.size} rows moved)"
            )
        columns = [c for c in panel.columns if c not in self.keys]
        diff = first_difference(panel, out, self.keys, columns)
        if diff is not None:
            raise self.fail(
                f"input column {diff.column!r} changes at {self.where(diff.key)}: "
                f"{show(diff.expected)} in the panel but {show(diff.actual)} in the output "
                f"({diff.n_rows} row(s) differ)"
            )

    def schema(self) -> None:
        declared = Pipeline([self.stage]).validate(self.panel.schema)
        produced = self.output.schema
        if declared != produced:
            labels = ("in the declared schema", "in the output")
            problem = schema_problem(declared, produced, labels)
            column = next((c for c in declared if declared[c] != produced.get(c)), None)
            out = self.output
            if column in produced and out.height and all(k in out.columns for k in self.keys):
                first = sort_by_keys(out, self.keys).row(0, named=True)
                key = tuple(first[k] for k in self.keys)
                problem += f", e.g. {show(first[column])} at {self.where(key)}"
            raise self.fail(problem)
        empty = self.run(self.panel.clear()).collect().schema
        if empty != declared:
            labels = ("in the declared schema", "in the output on the panel with no rows")
            raise self.fail(schema_problem(declared, empty, labels))

    def mask(self, mask: str, columns: str | Sequence[str] | None = None) -> None:
        panel = self.panel
        if mask not in panel.columns or panel.schema[mask] != pl.Boolean:
            got = panel.schema.get(mask, "absent")
            raise DataError(
                f"{self.check}: mask {mask!r} must be a boolean panel column, got {got}"
            )
        out = sort_by_keys(self.output, self.keys)
        if columns is None:
            columns = [c for c in out.columns if c not in panel.columns]
        columns = [columns] if isinstance(columns, str) else list(columns)
        if not all(isinstance(c, str) for c in columns):
            raise ConfigError(
                f"{self.check}: parameter 'columns' must be column names, got {columns!r}"
            )
        if not columns:
            raise ConfigError(
                f"{self.check}: {self.name} adds no column; name the masked ones with columns="
            )
        missing = [c for c in [mask, *columns] if c not in out.columns]
        if missing:
            raise self.fail(f"column {missing[0]!r} is missing from the output")
        inside = out[mask].fill_null(False)
        found = []
        for order, column in enumerate(columns):
            rows = np.flatnonzero((~inside & out[column].is_not_null()).to_numpy())
            if rows.size:
                found.append((int(rows[0]), order, column, rows.size))
        if found:
            i, _, column, n = min(found)
            raise self.fail(
                f"column {column!r} at {self.where(out.select(self.keys).row(i))} is "
                f"{show(out[column][i])} outside the mask {mask!r} ({mask}={show(out[mask][i])}) "
                f"but should be null ({n} row(s) outside the mask have a value)"
            )
        alone = self.run(panel.filter(pl.col(mask))).collect()
        selected = [*self.keys, *columns]
        self.has_keys(alone, "on the masked rows alone")
        self.compare(
            [
                (
                    alone.select(selected),
                    out.filter(inside).select(selected),
                    ("on the rows inside the mask alone", "on the whole panel"),
                )
            ]
        )


def schema_problem(expected: pl.Schema, actual: pl.Schema, labels: tuple[str, str]) -> str:
    """The first column whose name or dtype differs between two schemas, as a sentence."""
    on_e, on_a = labels
    for column, dtype in expected.items():
        if column not in actual:
            return f"column {column!r} is {dtype} {on_e} but absent {on_a}"
        if actual[column] != dtype:
            return f"column {column!r} is {dtype} {on_e} but {actual[column]} {on_a}"
    for column, dtype in actual.items():
        if column not in expected:
            return f"column {column!r} is absent {on_e} but {dtype} {on_a}"
    return f"the columns are in order {list(expected)} {on_e} but {list(actual)} {on_a}"


def as_dates(cut: object, check: str) -> list[dt.date]:
    """`cut` (a date or a sequence of dates) as a sorted list of distinct dates."""
    values = [cut] if isinstance(cut, dt.date) else cut
    if not isinstance(values, Iterable) or isinstance(values, str):
        raise ConfigError(f"{check}: parameter 'cut' must be a date or dates, got {cut!r}")
    values = list(values)
    for value in values:
        if not isinstance(value, dt.date):
            raise ConfigError(f"{check}: parameter 'cut' must hold dates, got {value!r}")
    return sorted(set(values))


# -- the public checks ----------------------------------------------------------------------


def check_causal(
    stage: StageLike,
    panel: pl.DataFrame | pl.LazyFrame,
    cut: dt.date | Sequence[dt.date] | None = None,
    *,
    date_col: str = "date",
    symbol_col: str = "symbol",
) -> None:
    """No look-ahead: for each cut date T, the stage on the panel's rows dated <= T gives,
    bit for bit, its output on the whole panel restricted to dates <= T (same rows, same
    columns, same values). ``cut=None`` tries every date of the panel but the last (one run
    of the stage per date: on a long panel pass a few dates); a date or a sequence of dates
    tries those. The output columns of label stages (``is_label``,
    e.g. `ForwardReturns`), which look ahead on purpose, are exempt (their dtype still
    counts)."""
    Subject("check_causal", stage, panel, date_col, symbol_col).causal(cut)


def check_row_order(
    stage: StageLike,
    panel: pl.DataFrame | pl.LazyFrame,
    seed: int = 0,
    *,
    date_col: str = "date",
    symbol_col: str = "symbol",
) -> None:
    """Row-order independence: the panel shuffled (with `seed`) and the panel reversed give,
    once sorted by (date, symbol), bit-identical output to the panel as given."""
    Subject("check_row_order", stage, panel, date_col, symbol_col).row_order(seed)


def check_preserves_rows(
    stage: StageLike,
    panel: pl.DataFrame | pl.LazyFrame,
    *,
    date_col: str = "date",
    symbol_col: str = "symbol",
) -> None:
    """The stage only adds columns: the output has the panel's rows in the panel's order
    (none dropped, duplicated or moved), and every input column with its dtype and its
    values bit for bit."""
    Subject("check_preserves_rows", stage, panel, date_col, symbol_col).preserves_rows()


def check_schema(
    stage: StageLike,
    panel: pl.DataFrame | pl.LazyFrame,
    *,
    date_col: str = "date",
    symbol_col: str = "symbol",
) -> None:
    """The declared schema is the produced one: names, order and dtypes.

    Declared is what ``Pipeline([stage]).validate(panel.schema)`` returns, i.e. before any
    data is read: a `Stage`'s ``validate`` (the panel's columns plus its ``outputs()``), a
    pipeline's stage by stage, and for a plain callable the schema Polars infers for its
    plan on an empty frame with the panel's schema (what a pipeline relies on). Produced
    is the schema of the collected output, on the panel and on the panel with no rows (a
    date range or a fold may hold none). A dtype mismatch on the panel shows the output's
    value on its first row (in key order)."""
    Subject("check_schema", stage, panel, date_col, symbol_col).schema()


def check_mask(
    stage: StageLike,
    panel: pl.DataFrame | pl.LazyFrame,
    mask: str,
    columns: str | Sequence[str] | None = None,
    *,
    date_col: str = "date",
    symbol_col: str = "symbol",
) -> None:
    """The stage respects the boolean column `mask` in its `columns` (a name or names;
    default: every column it adds): rows where the mask is false or null get null, and rows
    where it is true get, bit for bit, the values the stage gives on the panel holding only
    those rows.

    The second half is the definition of a cross-sectional mask (zipline's ``mask=``). A
    time-series stage passes it only when the mask is constant per symbol (whole symbols in
    or out), because removing a symbol's rows changes its history."""
    Subject("check_mask", stage, panel, date_col, symbol_col).mask(mask, columns)


def check_stage(
    stage: StageLike,
    panel: pl.DataFrame | pl.LazyFrame,
    mask: str | None = None,
    *,
    mask_columns: Sequence[str] | None = None,
    preserves_rows: bool = True,
    seed: int = 0,
    cut: dt.date | Sequence[dt.date] | None = None,
    date_col: str = "date",
    symbol_col: str = "symbol",
) -> None:
    """Every check that applies, in order: schema, rows preserved (unless
    ``preserves_rows=False``, for a pipeline that filters rows on purpose such as the
    presets, which start with `DropNulls`), row order, causal, and the mask check when
    `mask` is given (on `mask_columns`). The stage's output on the panel is computed once."""
    if not isinstance(preserves_rows, bool):
        raise ConfigError(
            f"check_stage: parameter 'preserves_rows' must be True or False, got {preserves_rows!r}"
        )
    subject = Subject("check_stage", stage, panel, date_col, symbol_col)
    checks = {
        "check_schema": subject.schema,
        "check_preserves_rows": subject.preserves_rows if preserves_rows else None,
        "check_row_order": lambda: subject.row_order(seed),
        "check_causal": lambda: subject.causal(cut),
        "check_mask": None if mask is None else lambda: subject.mask(mask, mask_columns),
    }
    for name, check in checks.items():
        if check is not None:
            subject.check = f"check_stage ({name})"
            check()
