"""`panels(...)`: a hypothesis strategy of small raw panels (needs ``lazyflow[testing]``)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping

import numpy as np
import polars as pl

from lazyflow.data import PANEL_COLUMNS
from lazyflow.errors import ConfigError

try:
    from hypothesis import strategies as st
    from hypothesis.strategies import SearchStrategy
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise ImportError(
        "lazyflow.testing.panels needs hypothesis: pip install 'lazyflow[testing]' "
        "(the checks in lazyflow.testing work without it)"
    ) from exc

#: The first date a drawn panel can hold.
START = dt.date(2021, 1, 1)

Range = int | tuple[int, int]

#: An `extra` column drawn by a strategy, with its dtype: ``(dtype, strategy)``.
Drawn = tuple[pl.DataType | type[pl.DataType], SearchStrategy]


def panels(
    n_symbols: Range = (1, 6),
    n_dates: Range = (1, 12),
    *,
    gaps: bool = True,
    ties: bool = True,
    nulls: float = 0.05,
    nans: float = 0.02,
    infs: float = 0.02,
    extra: Mapping[str, pl.DataType | type[pl.DataType] | SearchStrategy | Drawn] | None = None,
    shuffle: bool = True,
) -> SearchStrategy[pl.DataFrame]:
    """Raw panels: `PANEL_COLUMNS` (date, symbol, open, high, low, close, volume,
    dollar_volume, funding_rate), then the `extra` columns, one row per (date, symbol).

    - `n_symbols`, `n_dates`: a number or an inclusive (min, max) range. Symbols are
      ``S0, S1, ...``; dates start at 2021-01-01.
    - `gaps`: dates with calendar gaps, symbols listed late and delisted early, and about
      one (date, symbol) cell in ten missing in between. ``False``: consecutive dates and
      every symbol on every date.
    - `ties`: numbers from a coarse grid (closes 1..20, volumes 0..20, funding -10..10 bps),
      so equal values on a date are common. ``False``: open, close, volume, funding and
      float `extra` columns each hold distinct values (high, low and dollar volume derive
      from them).
    - `nulls`, `nans`, `infs`: each numeric cell is, independently, null with probability
      `nulls`, NaN with `nans` and +inf or -inf with `infs` (integer, boolean and string
      `extra` columns only take nulls; keys are never bad). The rates add up to at most 1. Which
      cells are bad comes from one drawn seed, so shrinking reduces it as a whole.
    - `extra`: column name -> a Polars dtype (boolean: a mask; integer: a group 0..3;
      float: a score, -10..10 in whole numbers, or distinct multiples of 0.001 in
      -1000..1000 without ties; string: a label g0..g3) or a hypothesis strategy of one
      row's value (drawn as is, no bad cells added), or a pair ``(dtype, strategy)`` that
      also fixes the column's dtype: inferred from the draws, a column of
      ``st.none() | st.floats()`` is Null whenever every draw is None.
    - `shuffle`: rows in a random order (else sorted by date, symbol).

    Prices are consistent: ``low <= min(open, close)``, ``high >= max(open, close)``,
    ``low > 0``; ``dollar_volume = close * volume`` (bad cells aside). The defaults keep a
    panel to at most 72 rows, so a check of a pipeline on it takes milliseconds. Keep panels
    to a few hundred rows: every value is a hypothesis draw, and hypothesis refuses
    examples much larger than that (use `lf.synthetic_panel` for big panels).
    """
    sym_lo, sym_hi = bounds("n_symbols", n_symbols)
    date_lo, date_hi = bounds("n_dates", n_dates)
    rates = {"null": nulls, "nan": nans, "inf": infs}
    for name, rate in rates.items():
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise ConfigError(f"panels: parameter '{name}s' must be a rate in [0, 1], got {rate!r}")
    if sum(rates.values()) > 1:
        raise ConfigError(f"panels: the rates nulls + nans + infs add up to more than 1: {rates}")
    extra = dict(extra or {})
    for name, kind in extra.items():
        if name in PANEL_COLUMNS:
            raise ConfigError(f"panels: extra column {name!r} is a panel column")
        if isinstance(kind, tuple) and len(kind) == 2:
            if not (is_dtype(kind[0]) and isinstance(kind[1], SearchStrategy)):
                raise ConfigError(
                    f"panels: extra column {name!r} must be a (dtype, strategy) pair, got {kind!r}"
                )
        elif not isinstance(kind, SearchStrategy) and extra_values(kind, True) is None:
            raise ConfigError(
                f"panels: extra column {name!r} must be a boolean, integer, float or string "
                f"dtype, a hypothesis strategy or a (dtype, strategy) pair, got {kind!r}"
            )

    @st.composite
    def draw_panel(draw) -> pl.DataFrame:
        symbols = draw(st.integers(sym_lo, sym_hi), label="n_symbols")
        n = draw(st.integers(date_lo, date_hi), label="n_dates")
        if gaps:
            offsets = sorted(draw(st.sets(st.integers(0, 3 * n), min_size=n, max_size=n)))
        else:
            offsets = list(range(n))
        cells = []
        for s in range(symbols):
            first, last = 0, n - 1
            if gaps and n > 1:
                first = draw(st.integers(0, n - 1), label="listed")
                last = n - 1 - draw(st.integers(0, n - 1 - first), label="delisted")
            for d in range(first, last + 1):
                if not gaps or draw(st.integers(0, 9)) < 9:
                    cells.append((offsets[d], s))
        cells = cells or [(offsets[0], 0)]
        rows = len(cells)

        def numbers(lo: int, hi: int, wide: int) -> list[int]:
            if ties:
                return draw(st.lists(st.integers(lo, hi), min_size=rows, max_size=rows))
            return draw(
                st.lists(
                    st.integers(lo * wide, hi * wide), min_size=rows, max_size=rows, unique=True
                )
            )

        scale = 1 if ties else 1000
        close = [c / scale for c in numbers(1, 20, 1000)]
        opens = [c / scale for c in numbers(1, 20, 1000)]
        up, down = (
            draw(st.lists(st.integers(0, 3), min_size=rows, max_size=rows)) for _ in range(2)
        )
        volume = [float(v) / scale for v in numbers(0, 20, 1000)]
        columns: dict[str, list] = {
            "date": [START + dt.timedelta(days=d) for d, _ in cells],
            "symbol": [f"S{s}" for _, s in cells],
            "open": opens,
            "high": [max(o, c) + u / 4 for o, c, u in zip(opens, close, up, strict=True)],
            "low": [min(o, c) / (1 + w / 4) for o, c, w in zip(opens, close, down, strict=True)],
            "close": close,
            "volume": volume,
            "dollar_volume": [c * v for c, v in zip(close, volume, strict=True)],
            "funding_rate": [f * 1e-4 / scale for f in numbers(-10, 10, 1000)],
        }
        schema = dict(PANEL_COLUMNS)
        for name, kind in extra.items():
            if isinstance(kind, SearchStrategy | tuple):
                dtype, strategy = kind if isinstance(kind, tuple) else (None, kind)
                values = draw(st.lists(strategy, min_size=rows, max_size=rows))
                columns[name] = pl.Series(name, values, dtype=dtype)
                continue
            dtype = kind() if isinstance(kind, type) else kind
            schema[name] = dtype
            values = draw(
                st.lists(
                    extra_values(dtype, ties),
                    min_size=rows,
                    max_size=rows,
                    unique=not ties and dtype.is_float(),
                )
            )
            columns[name] = [float(v) / scale for v in values] if dtype.is_float() else values
        if any(rates.values()):
            # which cells are bad: independent draws at the exact rates, from one seed
            rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="bad cells"))
            for name, dtype in schema.items():
                if name in ("date", "symbol") or name not in columns:
                    continue
                u, sign = rng.random(rows), rng.random(rows) < 0.5
                columns[name] = [
                    spoil(v, x, neg, dtype.is_float(), rates)
                    for v, x, neg in zip(columns[name], u, sign, strict=True)
                ]
        frame = pl.DataFrame(columns, schema_overrides=schema)
        if shuffle:
            return frame[draw(st.permutations(range(rows)), label="row order")]
        return frame.sort("date", "symbol")

    return draw_panel()


def bounds(name: str, value: Range) -> tuple[int, int]:
    """`value` (a number or a (min, max) range) as an inclusive range of positive integers."""
    pair = (value, value) if isinstance(value, int) else value
    if not isinstance(pair, tuple | list) or len(pair) != 2:
        pair = (None, None)
    lo, hi = pair
    for v in (lo, hi):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ConfigError(
                f"panels: parameter '{name}' must be a positive integer or a (min, max) range "
                f"of them, got {value!r}"
            )
    if lo > hi:
        raise ConfigError(f"panels: parameter '{name}' has min {lo} > max {hi}")
    return lo, hi


def is_dtype(dtype: object) -> bool:
    """Whether `dtype` is a Polars dtype, an instance or a class."""
    if isinstance(dtype, type):
        return issubclass(dtype, pl.DataType)
    return isinstance(dtype, pl.DataType)


def extra_values(dtype: pl.DataType | type[pl.DataType], ties: bool) -> SearchStrategy | None:
    """The strategy of one value of an `extra` column of `dtype`; None if unsupported."""
    if not is_dtype(dtype):
        return None
    if isinstance(dtype, type):
        dtype = dtype()
    if dtype == pl.Boolean:
        return st.booleans()
    if dtype.is_integer():
        return st.integers(0, 3)
    if dtype.is_float():
        return st.integers(-10, 10) if ties else st.integers(-(10**6), 10**6)
    if dtype == pl.String:
        return st.sampled_from(["g0", "g1", "g2", "g3"])
    return None


def spoil(value: object, u: float, negative: bool, is_float: bool, rates: dict[str, float]):
    """`value`, or the bad value that the cell's uniform draw `u` picks: null below the null
    rate, then NaN and then +-inf (by `negative`) within the next two rates; a non-float
    column only turns null."""
    if u < rates["null"]:
        return None
    if not is_float or u >= sum(rates.values()):
        return value
    if u < rates["null"] + rates["nan"]:
        return math.nan
    return -math.inf if negative else math.inf
