"""`scan_panel`: a daily panel on disk (CSV or Parquet) as a lazy, typed LazyFrame.

The result always names its keys ``date`` (``pl.Date``) and ``symbol``
(``pl.String``), puts them first, and keeps every other column of the file in
file order. Only the schema is read here; rows are read when the plan runs.
"""

from __future__ import annotations

import glob
from collections.abc import Mapping, Sequence
from pathlib import Path

import polars as pl

from lazyflow.errors import ConfigError, DataError, SchemaError
from lazyflow.schema import Kind

#: The canonical panel: column name -> dtype. `synthetic_panel` produces exactly
#: these columns; `scan_panel` checks (and casts to Float64) the numeric ones present.
PANEL_COLUMNS: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "symbol": pl.String(),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Float64(),
    "dollar_volume": pl.Float64(),
    "funding_rate": pl.Float64(),
}

NUMERIC_COLUMNS = tuple(c for c, t in PANEL_COLUMNS.items() if t.is_numeric())

#: ISO-8601 date or date-time, optionally with fractional seconds and a trailing "Z".
ISO_DATE = r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?Z?)?$"

CSV_SUFFIXES = (".csv", ".csv.gz")
PARQUET_SUFFIXES = (".parquet", ".pq")
SUPPORTED = (
    "csv (.csv, .csv.gz), parquet (.parquet, .pq), "
    "a directory of parquet files or a glob of csv/parquet files"
)

STAGE = "scan_panel"

#: Text read as a missing number (after stripping spaces; case-insensitive).
MISSING_TEXT = ("", "na", "n/a", "nan", "null", "none", "-")

#: `scan_panel(dedupe=...)`: which row of a repeated (date, symbol) pair to keep.
DEDUPE = ("first", "last")


def scan_panel(
    path: str | Path,
    rename: Mapping[str, str] | None = None,
    date_col: str = "date",
    symbol_col: str = "symbol",
    required: str | Sequence[str] = ("close",),
    dedupe: str | None = None,
) -> pl.LazyFrame:
    """Scan a panel file lazily and return ``[date: Date, symbol: String, ...]``.

    Steps: apply `rename` (file name -> new name), then rename `date_col` and
    `symbol_col` (names after `rename`) to ``date`` and ``symbol``; a rename
    that would give two columns one name is a `SchemaError`. Dates may be
    ``Date``, ``Datetime`` (its calendar date, in its own time zone) or ISO strings
    ("2024-01-02", "2024-01-02T00:00:00", "2024-01-02 00:00:00.5"); strings are
    parsed strictly, so a malformed date fails the query when it runs instead
    of turning into null. Symbols are cast to String. Each column in `required`
    must exist; the panel's numeric columns (open, high, low, close, volume,
    dollar_volume, funding_rate) that exist must be numbers (or, in a CSV
    file, text) and become Float64. Text is parsed strictly: "1.5", " 2 ",
    "1e-5" and "inf" are numbers; "", "NA", "N/A", "NaN", "null", "None" and
    "-" (any case) are missing; other text fails the query when it runs, naming
    the column and the values. So a marker like "N/A" deep in a CSV file is a
    missing value, not a parse error.

    Rows are kept as they are unless `dedupe` is "first" or "last": then only
    the first or last row (in file order) of each (date, symbol) pair is kept.
    Without it, repeated pairs are an error in `backtest`, `Pipeline.audit`
    and `factor_report`, which read the data and can count them.

    Raises `DataError` for a missing path, an unreadable file or an unsupported
    format, `SchemaError` for a missing or mistyped column and `ConfigError`
    when `date_col` equals `symbol_col` or `dedupe` is not None, "first" or "last".
    """
    rename = dict(rename or {})
    required = (required,) if isinstance(required, str) else tuple(required)
    if date_col == symbol_col:
        raise ConfigError(f"{STAGE}: date_col and symbol_col are both '{date_col}'")
    if dedupe is not None and dedupe not in DEDUPE:
        raise ConfigError(
            f"{STAGE}: parameter 'dedupe' must be None, 'first' or 'last', got {dedupe!r}"
        )
    frame = _scan(Path(path), rename, date_col, symbol_col)
    schema = _schema(frame, path)

    frame, schema = _rename(frame, schema, rename, " (named in rename)")
    frame, schema = _rename(frame, schema, {date_col: "date", symbol_col: "symbol"}, "")
    for col in required:
        if col not in schema:
            raise SchemaError(STAGE, col, "is missing (required)", schema)

    symbol = schema["symbol"]
    if not (Kind.SYMBOL.accepts(symbol) or symbol.is_integer()):
        raise SchemaError(
            STAGE, "symbol", f"has dtype {symbol}, expected strings or integer ids", schema
        )
    exprs = [_date_expr(schema["date"], schema), pl.col("symbol").cast(pl.String)]
    csv = not Path(path).is_dir() and str(path).lower().endswith(CSV_SUFFIXES)
    for col in NUMERIC_COLUMNS:
        if col in schema:
            dtype = schema[col]  # an all-null column (dtype Null) is fine too
            if not (dtype.is_numeric() or dtype == pl.Null or (csv and dtype == pl.String)):
                raise SchemaError(STAGE, col, _numeric_problem(schema[col]), schema)
            exprs.append(_number_expr(col, schema[col]))
    rest = [c for c in schema if c not in ("date", "symbol")]
    frame = frame.with_columns(exprs).select("date", "symbol", *rest)
    if dedupe is None:
        return frame
    return frame.unique(subset=["date", "symbol"], keep=dedupe, maintain_order=True)


def _scan(path: Path, rename: dict[str, str], date_col: str, symbol_col: str) -> pl.LazyFrame:
    """Pick the reader from the path; CSV keys and panel numbers are read as text."""
    text = str(path)
    if path.is_dir():
        files = sorted(p for s in PARQUET_SUFFIXES for p in path.rglob(f"*{s}"))
        if not files:
            raise DataError(f"{STAGE}: directory {text} holds no parquet files ({SUPPORTED})")
        return pl.scan_parquet(files)
    if glob.has_magic(text):
        files = sorted(glob.glob(text, recursive=True))
        if not files:
            raise DataError(f"{STAGE}: no file matches {text}")
    elif not path.exists():
        raise DataError(f"{STAGE}: file {text} does not exist")
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return pl.scan_parquet(path)
    if not name.endswith(CSV_SUFFIXES):
        raise DataError(f"{STAGE}: cannot read {text}: unsupported format; supported: {SUPPORTED}")
    header = _schema(pl.scan_csv(path), path)
    back = {new: old for old, new in rename.items()}
    keys = {back.get(c, c) for c in (date_col, symbol_col)}
    numeric = {back.get(c, c) for c in NUMERIC_COLUMNS}
    overrides: dict[str, pl.DataType] = {}
    for col in header:
        if col in keys or col in numeric:  # numbers: a later row may be "N/A" or "1.5"
            overrides[col] = pl.String()
    return pl.scan_csv(path, schema_overrides=overrides)


def _schema(frame: pl.LazyFrame, path: str | Path) -> pl.Schema:
    try:
        return frame.collect_schema()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataError(f"{STAGE}: cannot read {path}: {exc}") from exc


def _rename(
    frame: pl.LazyFrame, schema: pl.Schema, mapping: Mapping[str, str], note: str
) -> tuple[pl.LazyFrame, pl.Schema]:
    """`frame` and `schema` with columns renamed; every source must exist, no name twice."""
    for old in mapping:
        if old not in schema:
            raise SchemaError(STAGE, old, f"is missing{note}", schema)
    names = [mapping.get(c, c) for c in schema]
    for name in names:
        if names.count(name) > 1:
            raise SchemaError(STAGE, name, "would appear twice after renaming", schema)
    return frame.rename(dict(mapping)), pl.Schema(zip(names, schema.dtypes(), strict=True))


def _numeric_problem(dtype: pl.DataType) -> str:
    """Why a typed file's panel number column is refused, and how to fix text."""
    problem = f"has dtype {dtype}, expected a numeric column"
    if dtype == pl.String:
        problem += " (numbers stored as text: cast it to Float64 in the file, or use a CSV file)"
    return problem


def _number_expr(column: str, dtype: pl.DataType) -> pl.Expr:
    """`column` as Float64; text is stripped, MISSING_TEXT is null, the rest parsed strictly."""
    col = pl.col(column)
    if dtype != pl.String:
        return col.cast(pl.Float64)
    text = col.str.strip_chars()
    missing = text.str.to_lowercase().is_in(MISSING_TEXT)
    return pl.when(~missing).then(text).cast(pl.Float64, strict=True)


def _date_expr(dtype: pl.DataType, schema: pl.Schema) -> pl.Expr:
    """``date`` as pl.Date: Date kept, Datetime truncated, ISO strings parsed strictly."""
    col = pl.col("date")
    if dtype == pl.Date:
        return col
    if isinstance(dtype, pl.Datetime):
        return col.dt.date()
    if dtype == pl.String:
        # ISO strings keep their first 10 characters; anything else reaches the
        # strict parser whole, so the error names the offending value.
        day = pl.when(col.str.contains(ISO_DATE)).then(col.str.slice(0, 10)).otherwise(col)
        return day.str.to_date("%Y-%m-%d", strict=True)
    raise SchemaError(
        STAGE, "date", f"has dtype {dtype}, expected Date, Datetime or ISO date strings", schema
    )
