"""Independent references for the factor algebra tests: random panels and plain numpy /
Python versions of every operator (no lazyflow code)."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl

import lazyflow as lf

TOL = 1e-10


def random_panel(seed: int, n_symbols: int = 6, n_days: int = 40) -> pl.DataFrame:
    """Symbols with gaps (missing dates), ties (values rounded), nulls, NaN, inf, a mask with
    nulls and a group column; rows shuffled."""
    rng = np.random.default_rng(seed)
    keys = [
        (dt.date(2024, 1, 1) + dt.timedelta(days=d), f"S{s}")
        for s in range(n_symbols)
        for d in range(n_days)
        if rng.random() > 0.15
    ]
    n = len(keys)

    def values(loc: float) -> list[float | None]:
        v = (loc + rng.normal(size=n) * 2).round(1)
        out: list[float | None] = v.tolist()
        for i in range(n):
            u = rng.random()
            if u < 0.03:
                out[i] = None
            elif u < 0.05:
                out[i] = math.nan
            elif u < 0.06:
                out[i] = math.inf
        return out

    mask = [None if rng.random() < 0.05 else bool(rng.random() < 0.8) for _ in range(n)]
    frame = pl.DataFrame(
        {
            "date": [k[0] for k in keys],
            "symbol": [k[1] for k in keys],
            "x": values(0.0),
            "y": values(1.0),
            "p": values(10.0),
            "m": mask,
            "g": rng.integers(0, 3, size=n).tolist(),
        },
        schema_overrides={"x": pl.Float64, "y": pl.Float64, "p": pl.Float64},
    )
    return frame.sample(fraction=1.0, shuffle=True, seed=seed)


def compute(frame: pl.DataFrame, term: lf.Term | str, mask: str | None = None) -> np.ndarray:
    """The factor column as float numpy (NaN for null), in `frame`'s row order."""
    out = lf.Factor("f", term, mask=mask)(frame.lazy()).collect()
    return out["f"].to_numpy().astype(float)


def _finite(v: object) -> bool:
    return v is not None and math.isfinite(v)


def per_symbol(frame: pl.DataFrame, columns: list[str], fn, d: int) -> np.ndarray:
    """fn(list of windows, one per column) over each symbol's last d rows in date order;
    NaN until d rows or when a value in a window is missing."""
    out = np.full(frame.height, np.nan)
    indexed = frame.with_row_index("_i").sort("symbol", "date")
    for _, g in indexed.group_by("symbol", maintain_order=True):
        rows = g["_i"].to_list()
        cols = [g[c].to_list() for c in columns]
        for j in range(d - 1, len(rows)):
            windows = [c[j - d + 1 : j + 1] for c in cols]
            if all(_finite(v) for w in windows for v in w):
                value = fn(*[np.array(w, dtype=float) for w in windows])
                out[rows[j]] = value if value is not None and math.isfinite(value) else np.nan
    return out


def ewm_reference(frame: pl.DataFrame, column: str, span: float) -> np.ndarray:
    """Adjusted EWMA over each symbol's present values, NaN on rows without a value."""
    a = 2 / (span + 1)
    out = np.full(frame.height, np.nan)
    indexed = frame.with_row_index("_i").sort("symbol", "date")
    for _, g in indexed.group_by("symbol", maintain_order=True):
        rows, vals = g["_i"].to_list(), g[column].to_list()
        for j, v in enumerate(vals):
            if not _finite(v):
                continue
            num = den = 0.0
            for i in range(j + 1):
                if _finite(vals[i]):
                    w = (1 - a) ** (j - i)
                    num += w * vals[i]
                    den += w
            out[rows[j]] = num / den
    return out


def average_ranks(v: np.ndarray) -> np.ndarray:
    """1-based ranks, ties get their average."""
    ranks = np.empty(len(v))
    for i, value in enumerate(v):
        below = sum(1 for u in v if u < value)
        equal = sum(1 for u in v if u == value)
        ranks[i] = below + (equal + 1) / 2
    return ranks


def per_date(
    frame: pl.DataFrame, column: str, fn, mask: str | None, by: tuple[str, ...] = ("date",)
) -> np.ndarray:
    """fn(values) per date (or `by` group) over the finite values inside `mask`."""
    out = np.full(frame.height, np.nan)
    indexed = frame.with_row_index("_i")
    for _, g in indexed.group_by(list(by)):
        keep = [
            (i, v)
            for i, v, m in zip(
                g["_i"].to_list(),
                g[column].to_list(),
                g[mask].to_list() if mask else [True] * g.height,
                strict=True,
            )
            if _finite(v) and m
        ]
        if not keep:
            continue
        result = fn(np.array([v for _, v in keep], dtype=float))
        for (i, _), r in zip(keep, result, strict=True):
            out[i] = r
    return out


def nearest_quantile(v: np.ndarray, q: float) -> float:
    """Polars' quantile with interpolation "nearest": sorted[round half away((n - 1) q)]."""
    return float(np.sort(v)[math.floor((len(v) - 1) * q + 0.5)])


def assert_close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """Same nulls, values within TOL * max(1, |want|)."""
    assert np.array_equal(np.isnan(got), np.isnan(want)), (
        f"{what}: null pattern differs at rows {np.flatnonzero(np.isnan(got) != np.isnan(want))}"
    )
    ok = ~np.isnan(want)
    err = np.abs(got[ok] - want[ok]) / np.maximum(1.0, np.abs(want[ok]))
    assert err.size == 0 or err.max() <= TOL, f"{what}: max relative error {err.max()}"
