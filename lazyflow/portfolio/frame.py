"""Loading and checking a frame for `backtest` and `backtest_grid`.

`load` checks the schema, collects the frame once and returns a `Panel`: numpy arrays in
(date, symbol) order with dates and symbols as integer codes. `tradable_rows` splits its rows
into tradable ones and drop counts; `check_parameters`, `roles`, `column_kinds` and
`check_columns` are the checks both entry points share.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from lazyflow.costs import check_costs
from lazyflow.errors import ConfigError, DataError, SchemaError, collect
from lazyflow.numbers import finite_number
from lazyflow.portfolio.allocator import BufferedAllocator
from lazyflow.portfolio.checks import ROW_REASONS, drop_reason, reason_codes
from lazyflow.schema import Kind, unused_name

#: The column `load` collects `checks.drop_reason` into.
REASON_COLUMN = "__drop_reason"


@dataclass(frozen=True)
class Panel:
    """The collected frame as numpy arrays in (date, symbol) order, with integer codes."""

    dates: pl.Series  # the distinct dates, sorted; `day` indexes them
    symbols: pl.Series  # the distinct symbols (strings), sorted; `code` indexes them
    day: np.ndarray
    code: np.ndarray
    key: np.ndarray  # day * len(symbols) + code, increasing; int32 while (days + 1) * symbols fit
    values: dict[str, np.ndarray]  # target, vol, spread, close, [funding], reason (codes)
    price_ok: np.ndarray  # finite close > 0


def load(
    frame: pl.DataFrame | pl.LazyFrame,
    date_col: str,
    symbol_col: str,
    names: dict[str, str],
    tradable: str | None,
) -> Panel:
    """Check the schema, collect once, code dates and symbols, sort by (date, symbol)."""
    lazy = frame.lazy()
    check_columns(lazy.collect_schema(), column_kinds(date_col, symbol_col, names, tradable))
    reason = drop_reason(names["target"], names["vol"], names["spread"], names["close"], tradable)
    reason_col = unused_name([date_col, symbol_col, *names.values()], REASON_COLUMN)
    data = collect(
        lazy.select(
            pl.col(date_col),
            pl.col(symbol_col).cast(pl.Categorical),  # strings hashed once, to integer ids
            *[pl.col(c).cast(pl.Float64) for c in dict.fromkeys(names.values())],
            reason.alias(reason_col),
        ),
        "backtest",
    )
    if data.height == 0:
        raise DataError(
            "backtest: the frame has no rows (Pipeline.audit shows which stage removed them)"
        )
    for column in (date_col, symbol_col):
        nulls = data[column].null_count()
        if nulls:
            rows = data.filter(pl.col(column).is_null()).select(date_col, symbol_col).head(3)
            raise DataError(
                f"backtest: column '{column}' has {nulls} null values, e.g. in rows "
                f"{', '.join(f'({d}, {s})' for d, s in rows.rows())}; drop them first "
                "(lf.DropNulls)"
            )

    dates = data[date_col].unique().sort()
    if len(dates) < 2:
        raise DataError(f"backtest: the frame needs at least 2 dates, it has {len(dates)}")
    symbols, code = _symbol_codes(data[symbol_col])
    day = _dense_index(data[date_col].to_physical().to_numpy(), dates.to_physical().to_numpy())
    small = (len(dates) + 1) * len(symbols) < 2**31  # int32 keys: faster sorts and searches
    width = np.int32 if small else np.int64
    key = day.astype(width) * len(symbols) + code.astype(width)
    columns = {role: data[name] for role, name in names.items()} | {"reason": data[reason_col]}
    if not bool(np.all(key[1:] > key[:-1])):  # not in (date, symbol) order: sort once
        # one multi-threaded Polars sort of every column by the integer key, in the lazy
        # engine (which gathers the columns in parallel, chunked or not): 0.16 s at 2.6 M
        # shuffled rows against 0.48 s for numpy's argsort then a gather. The keys are
        # distinct (or an error below), so any sort gives the one order
        key_col = unused_name([*names, "reason"], "key")
        table = (
            pl.DataFrame([column.alias(role) for role, column in columns.items()])
            .lazy()
            .with_columns(pl.Series(key_col, key))
            .sort(key_col)
            .collect()
        )
        key = table[key_col].to_numpy()
        day, code = (key // len(symbols)).astype(np.int64), (key % len(symbols)).astype(np.int64)
        dup = np.flatnonzero(key[1:] == key[:-1])
        if len(dup):
            examples = ", ".join(
                f"({dates[int(day[k])]}, {symbols[int(code[k])]})" for k in dup[:3]
            )
            raise DataError(
                f"backtest: {len(dup)} duplicate ({date_col}, {symbol_col}) rows, e.g. {examples}; "
                "keep the last row of each with lf.scan_panel(..., dedupe='last')"
            )
        columns = {role: table[role] for role in columns}
    values = {role: columns[role].to_numpy() for role in names}
    values["reason"] = reason_codes(columns["reason"])
    close = values["close"]
    price_ok = np.isfinite(close) & (close > 0)
    return Panel(dates, symbols, day, code, key, values, price_ok)


def tradable_rows(panel: Panel) -> tuple[np.ndarray, dict[str, int]]:
    """Rows that may trade, and the others counted under the first check they fail."""
    codes = panel.values["reason"]
    counts = np.bincount(codes, minlength=len(ROW_REASONS) + 1).tolist()
    return codes == len(ROW_REASONS), dict(zip(ROW_REASONS, counts, strict=False))


def roles(
    include_funding: bool,
    target_col: str,
    vol_col: str,
    spread_col: str,
    price_col: str,
    funding_col: str,
) -> dict[str, str]:
    """The numeric columns `load` reads, by role (funding only when it is included)."""
    names = {"target": target_col, "vol": vol_col, "spread": spread_col, "close": price_col}
    return names | ({"funding": funding_col} if include_funding else {})


def column_kinds(
    date_col: str, symbol_col: str, names: dict[str, str], tradable: str | None
) -> dict[str, Kind | None]:
    """The columns `load` reads, each with the kind of dtype it must have (see `check_columns`)."""
    kinds: dict[str, Kind | None] = {date_col: None, symbol_col: Kind.SYMBOL}
    kinds |= dict.fromkeys(names.values(), Kind.NUMERIC)
    return kinds | ({tradable: Kind.BOOL} if tradable is not None else {})


def check_columns(schema: pl.Schema, kinds: dict[str, Kind | None]) -> None:
    """Every column present, with an accepted dtype (None: a date, datetime or integer)."""
    for column, kind in kinds.items():
        if column not in schema:
            raise SchemaError("backtest", column, "is missing", schema)
        dtype = schema[column]
        ok = kind.accepts(dtype) if kind is not None else dtype.is_temporal() or dtype.is_integer()
        if not ok:
            expected = kind.value if kind is not None else "date, datetime or integer"
            raise SchemaError(
                "backtest", column, f"has dtype {dtype}, expected a {expected} column", schema
            )


def check_frame(frame: object, where: str = "backtest") -> None:
    """`ConfigError` unless `frame` is a Polars DataFrame or LazyFrame."""
    if not isinstance(frame, pl.DataFrame | pl.LazyFrame):
        raise ConfigError(
            f"{where}: parameter 'frame' must be a polars DataFrame or LazyFrame (the pipeline's "
            f"output), got {_show(frame)}"
        )


def _show(value: object) -> str:
    if isinstance(value, type):
        return f"the class {value.__name__} (an instance is expected)"
    return f"{value!r} ({type(value).__name__})"


def check_parameters(allocator: BufferedAllocator, o: Mapping[str, Any]) -> None:
    """`ConfigError` unless the allocator and `backtest`'s keyword arguments `o` are valid:
    numbers finite (0 <= cost_per_dollar < 1, init_nav > 0, periods_per_year > 0), flags
    bools, column names strings, costs a `lazyflow.costs` cost, progress a callable."""
    if not isinstance(allocator, BufferedAllocator):
        raise ConfigError(
            f"backtest: parameter 'allocator' must be a BufferedAllocator, got {_show(allocator)}"
        )
    allocator.check()
    for name, low, high in [
        ("cost_per_dollar", 0.0, 1.0),
        ("init_nav", None, math.inf),
        ("periods_per_year", None, math.inf),
    ]:
        value = o[name]
        number = finite_number(value)
        ok = number is not None and number < high and (number > 0 if low is None else number >= low)
        if not ok:
            rule = "a finite number > 0" if low is None else f"a number in [{low:g}, {high:g})"
            raise config_error(name, f"must be {rule}", value)
    for name in ("include_funding", "drift"):
        if not isinstance(o[name], bool):
            raise config_error(name, "must be a bool", o[name])
    for name in ("date_col", "symbol_col", "target_col", "vol_col", "spread_col", "price_col",
                 "funding_col"):  # fmt: skip
        if not isinstance(o[name], str):
            raise config_error(name, "must be a column name (a string)", o[name])
    if o["tradable"] is not None and not isinstance(o["tradable"], str):
        raise config_error("tradable", "must be None or a column name (a string)", o["tradable"])
    check_costs(o["costs"])
    if o["progress"] is not None and not callable(o["progress"]):
        raise config_error("progress", "must be None or a callable(done, total)", o["progress"])


def config_error(parameter: str, problem: str, value: object) -> ConfigError:
    """The `ConfigError` for a bad `backtest` argument."""
    return ConfigError(f"backtest: parameter '{parameter}' {problem}, got {value!r}")


def _symbol_codes(column: pl.Series) -> tuple[pl.Series, np.ndarray]:
    """The distinct symbols as sorted strings, and each row's position among them.

    `column` is Categorical: its integer ids go through lookup tables (a row holding each id,
    then each id's position among the sorted symbols), so no string is touched per row.
    """
    ids = column.to_physical().to_numpy()
    row = np.full(int(ids.max()) + 1, -1, dtype=np.int64)
    row[ids] = np.arange(len(ids))
    symbols = column.gather(row[row >= 0]).cast(pl.String).sort()
    table = np.zeros(len(row), dtype=np.int64)
    table[symbols.cast(pl.Categorical).to_physical().to_numpy()] = np.arange(len(symbols))
    return symbols, table[ids]


def _dense_index(values: np.ndarray, uniques: np.ndarray) -> np.ndarray:
    """The position of each of `values` in `uniques` (sorted integers that hold them all).

    A lookup table when the span of `uniques` is small (daily dates), else a binary search.
    """
    lo, span = int(uniques[0]), int(uniques[-1]) - int(uniques[0]) + 1
    if span > 2 * len(values) + 4096:
        return np.searchsorted(uniques, values)
    table = np.zeros(span, dtype=np.int64)
    table[uniques - lo] = np.arange(len(uniques))
    return table[values - lo]
