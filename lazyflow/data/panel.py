"""`scan_panel`: a daily panel on disk (CSV or Parquet) as a lazy, typed LazyFrame.

The result always names its keys ``date`` (``pl.Date``) and ``symbol``
(``pl.String``), puts them first, and keeps every other column of the file in
file order. Only the schema is read here; rows are read when the plan runs (a CSV file
through `CsvSource`: numbers parsed by the CSV reader, text only for columns that need it).
"""

from __future__ import annotations

import datetime as dt
import glob
import re
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import polars as pl
from polars.io.plugins import register_io_source

from lazyflow.data.dates import DATE_RANGE, FIRST_DATE, LAST_DATE
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

EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()
#: A CSV read error: the reader's ("at column 'x' (column number 3)") or a strict parse's.
FAILED_COLUMN = re.compile(r"at column '(.+?)' \(column number|failed in column '(.+?)'")
PRINTABLE_DAYS = 200_000 * 365  # |years| well inside what Polars' date conversions accept
TICKS_PER_DAY = {"ms": 86_400_000, "us": 86_400_000_000, "ns": 86_400_000_000_000}

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

    `path`: a CSV or Parquet file, a folder of Parquet files or a glob (``~`` expanded).

    Steps: apply `rename` (file name -> new name), then rename `date_col` and
    `symbol_col` (names after `rename`) to ``date`` and ``symbol``; a rename
    that would give two columns one name is a `SchemaError`. Dates may be
    ``Date``, ``Datetime`` (its calendar date, in its own time zone) or ISO strings
    ("2024-01-02", "2024-01-02T00:00:00", "2024-01-02 00:00:00.5"); strings are
    parsed strictly, so a malformed date fails the query when it runs instead
    of turning into null. Dates must lie in 1970-01-01..2200-12-31
    (`lazyflow.data.dates`); one outside fails the query naming the file's column
    and the value (nanosecond stamps read as milliseconds, year 55969, included),
    before Polars could panic on it. Symbols are cast to String. Each column in `required`
    must exist; the panel's numeric columns (open, high, low, close, volume,
    dollar_volume, funding_rate) that exist must be numbers (or, in a CSV
    file, text) and become Float64. Text is parsed strictly: "1.5", " 2 ",
    "1e-5" and "inf" are numbers; "", "NA", "N/A", "NaN", "null", "None" and
    "-" (any case), and any other text that parses to NaN, are missing; other
    text fails the query when it runs, naming the column and the values. So a
    marker like "N/A" deep in a CSV file is a missing value, not a parse error.

    Rows are kept as they are unless `dedupe` is "first" or "last": then only
    the first or last row (in file order) of each (date, symbol) pair is kept.
    Without it, repeated pairs are an error in `backtest`, `Pipeline.audit`
    and `factor_report`, which read the data and can count them.

    Raises `DataError` for a missing path, a path that is not a regular file or
    a folder (a device such as /dev/zero, a FIFO), an unreadable file or an unsupported
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
    frame = _scan(Path(path).expanduser(), rename, date_col, symbol_col)
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
    source = {new: old for old, new in rename.items()}.get(date_col, date_col)
    steps = _date_steps(schema["date"], schema, source)
    exprs = [pl.col("symbol").cast(pl.String)]
    for col in NUMERIC_COLUMNS:
        if col in schema:
            dtype = schema[col]  # an all-null column (dtype Null) is fine too
            if not (dtype.is_numeric() or dtype == pl.Null):
                raise SchemaError(STAGE, col, _numeric_problem(schema[col]), schema)
            exprs.append(_number_expr(col, schema[col]))
    rest = [c for c in schema if c not in ("date", "symbol")]
    for step in steps:  # one step at a time: the range check reads the parsed dates
        frame = frame.with_columns(step)
    frame = frame.with_columns(exprs).select("date", "symbol", *rest)
    if dedupe is None:
        return frame
    return frame.unique(subset=["date", "symbol"], keep=dedupe, maintain_order=True)


def _scan(path: Path, rename: dict[str, str], date_col: str, symbol_col: str) -> pl.LazyFrame:
    """Pick the reader from the path; a CSV file is read by a `CsvSource`."""
    text = str(path)
    if path.is_dir():
        files = sorted(p for s in PARQUET_SUFFIXES for p in path.rglob(f"*{s}"))
        if not files:
            raise DataError(f"{STAGE}: directory {text} holds no parquet files ({SUPPORTED})")
        _regular_files(files)
        return pl.scan_parquet(files)
    if glob.has_magic(text):
        files = sorted(glob.glob(text, recursive=True))
        if not files:
            raise DataError(f"{STAGE}: no file matches {text}")
        _regular_files([Path(f) for f in files])
    elif not path.exists():
        raise DataError(f"{STAGE}: file {text} does not exist")
    else:
        _regular_files([path])
    name = path.name.lower()
    if name.endswith(PARQUET_SUFFIXES):
        return pl.scan_parquet(path)
    if not name.endswith(CSV_SUFFIXES):
        raise DataError(f"{STAGE}: cannot read {text}: unsupported format; supported: {SUPPORTED}")
    header = _schema(pl.scan_csv(path), path)
    _unique_header(path, header)
    back = {new: old for old, new in rename.items()}
    date, symbol = back.get(date_col, date_col), back.get(symbol_col, symbol_col)
    numeric = tuple(c for c in header if c in {back.get(n, n) for n in NUMERIC_COLUMNS})
    typed = {date: pl.Date(), symbol: pl.String()} | dict.fromkeys(numeric, pl.Float64())
    schema = pl.Schema((c, typed.get(c, t)) for c, t in header.items())
    return register_io_source(
        CsvSource(text, schema, date if date in header else None, numeric),
        schema=schema,
        is_pure=True,
        explain_name="scan_panel",
    )


class CsvSource:
    """A CSV panel file, read when the plan runs (a Polars IO source).

    The fast reading: the CSV reader parses the panel's number columns as Float64 (text that
    parses to NaN, "NaN" or "nan", is missing), and the date column as "YYYY-MM-DD" text, the
    whole string. A column that does not read that way (date-times, " 2 ", "N/A", "12,5") is
    read again and parsed as `_text_date` and `_number_expr` say: missing markers are null, the
    rest must parse or the query fails naming the value. Columns found to need it are
    remembered for later reads.
    """

    def __init__(
        self, path: str, schema: pl.Schema, date: str | None, numeric: tuple[str, ...]
    ) -> None:
        self.path, self.schema, self.date, self.numeric = path, schema, date, numeric
        self.parsed = (*numeric, date) if date is not None else numeric  # may fall back to text
        self.text: set[str] = set()  # columns of `parsed` that hold text

    def __call__(
        self,
        with_columns: list[str] | None,
        predicate: pl.Expr | None,
        n_rows: int | None,
        batch_size: int | None,
    ) -> Iterator[pl.DataFrame]:
        columns = list(self.schema) if with_columns is None else with_columns
        columns = columns or list(self.schema)[:1]  # no columns asked: the rows still count
        while True:
            plan = self._plan(columns, n_rows)
            try:
                frame = plan.collect() if predicate is None else plan.filter(predicate).collect()
                break
            except (pl.exceptions.ComputeError, pl.exceptions.InvalidOperationError) as exc:
                found = FAILED_COLUMN.search(str(exc))  # the reader's or the date parser's
                failed = {found.group(1) or found.group(2)} if found else set(self.parsed)
                if not (failed & set(self.parsed)) - self.text:
                    raise
                self.text |= failed & set(self.parsed)
        yield frame.select(with_columns) if with_columns is not None else frame

    def _plan(self, columns: list[str], n_rows: int | None) -> pl.LazyFrame:
        text = [c for c in self.parsed if c in self.text and c in columns]
        overrides = dict(self.schema) | dict.fromkeys(self.text, pl.String())
        if self.date is not None:
            overrides[self.date] = pl.String()
        typed = [c for c in self.numeric if c in columns and c not in self.text]
        day = [] if self.date not in columns or self.date in self.text else [self.date]
        return (
            pl.scan_csv(self.path, schema_overrides=overrides, n_rows=n_rows)
            .select(columns)
            .with_columns(
                pl.col(typed).fill_nan(None),
                pl.col(day).str.to_date("%Y-%m-%d", strict=True),
                *(_text_date(c) if c == self.date else _number_expr(c, pl.String) for c in text),
            )
        )


def _unique_header(path: Path, header: pl.Schema) -> None:
    """`SchemaError` when the CSV header repeats a name: Polars renames the repeat
    (``close_duplicated_0``), so the panel would silently read only the first column."""
    try:
        first = pl.scan_csv(path, has_header=False, n_rows=1, infer_schema=False).collect()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise DataError(f"{STAGE}: cannot read {path}: {exc}") from exc
    names = [str(name) for name in first.row(0)]
    for name in names:
        if names.count(name) > 1:
            raise SchemaError(STAGE, name, "appears twice in the file's header", header)


def _regular_files(files: list[Path]) -> None:
    """`DataError` unless every path is a regular file: a device (``/dev/zero``) reads without
    end and a FIFO blocks for ever, so they are refused before anything is opened."""
    for file in files:
        if not file.is_file():
            raise DataError(
                f"{STAGE}: {file} is not a regular file (a device, FIFO or socket would read "
                "without end or block); give a regular file or a folder of parquet files"
            )


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


def _text_date(column: str) -> pl.Expr:
    """ISO date text as pl.Date, strictly: ISO strings keep their first 10 characters; anything
    else reaches the strict parser whole, so the error names the offending value."""
    col = pl.col(column)
    day = pl.when(col.str.contains(ISO_DATE)).then(col.str.slice(0, 10)).otherwise(col)
    return day.str.to_date("%Y-%m-%d", strict=True)


def _date_steps(dtype: pl.DataType, schema: pl.Schema, source: str) -> list[pl.Expr]:
    """``date`` as pl.Date, in successive `with_columns` steps: Date kept, Datetime truncated,
    ISO strings parsed strictly; a date outside `FIRST_DATE`..`LAST_DATE` fails the query,
    naming the file's column `source` and the value."""
    col = pl.col("date")
    if dtype == pl.Date:
        return [_in_range(source)]
    if dtype == pl.String:
        return [_text_date("date"), _in_range(source)]
    if isinstance(dtype, pl.Datetime):
        # range-checked on the integer first: converting a far-away instant can panic Polars
        ticks, per_day = col.to_physical(), TICKS_PER_DAY[dtype.time_unit]
        first, last = (_days(d) for d in (FIRST_DATE, LAST_DATE))
        near = ticks.is_between((first - 1) * per_day, (last + 2) * per_day)  # any time zone
        day = pl.when(near).then(col).dt.date()
        bad = ~(near & day.is_between(FIRST_DATE, LAST_DATE))
        shown = pl.when(bad).then(ticks).cast(pl.String) + f" ({dtype.time_unit} since epoch)"
        return [_failing(day, bad, shown, source)]
    raise SchemaError(
        STAGE, "date", f"has dtype {dtype}, expected Date, Datetime or ISO date strings", schema
    )


def _in_range(source: str) -> pl.Expr:
    """The Date column ``date``, checked against `FIRST_DATE`..`LAST_DATE` (see `_failing`)."""
    day = pl.col("date")
    days = day.to_physical()
    bad = ~days.is_between(_days(FIRST_DATE), _days(LAST_DATE))
    calendar = days.is_between(-PRINTABLE_DAYS, PRINTABLE_DAYS)  # Polars can print it as a date
    shown = pl.coalesce(  # only bad rows are formatted: a far-away date panics Polars
        pl.when(bad & calendar).then(day).cast(pl.String),
        pl.when(bad).then(days).cast(pl.String) + " (days since 1970-01-01)",
    )
    return _failing(day, bad, shown, source)


def _failing(day: pl.Expr, bad: pl.Expr, shown: pl.Expr, source: str) -> pl.Expr:
    """`day` as ``date``, or a query error where `bad` is true that lists the `shown` values
    of those rows and names the file's column `source`; rows where `bad` is null are kept."""
    text = pl.when(bad).then(shown)  # named "date", so the error is "in column 'date'"
    message = pl.concat_str(text, pl.lit(f" ({STAGE}: column '{source}' outside {DATE_RANGE})"))
    failure = message.cast(pl.Int8, strict=True).cast(pl.Date)  # raises, listing the values
    return pl.when(bad).then(failure).otherwise(day).alias("date")


def _days(day: dt.date) -> int:
    """Days from 1970-01-01 to `day` (Polars' Date representation)."""
    return day.toordinal() - EPOCH_ORDINAL
