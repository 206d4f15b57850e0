"""Plain-python references of the notebook's formulas, and test panels, for the stage tests.

Every reference loops over symbols or dates in python on a collected frame and
returns one value per row, in the frame's row order (None for null), so a test
can compare it with a stage's output column. The tests at the bottom check the
references themselves on hand-computed cases.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections import defaultdict

import numpy as np
import polars as pl

DAY0 = dt.date(2021, 1, 1)


def random_panel(
    n_symbols: int = 8,
    n_days: int = 40,
    seed: int = 0,
    p_missing: float = 0.15,
    p_null: float = 0.0,
) -> pl.DataFrame:
    """A shuffled Binance-like panel with missing (date, symbol) rows and optional nulls.

    Columns: date, symbol, close, high, low, volume, dollar_volume (integers, so
    rolling sums are exact and ties are real), funding_rate (a few distinct values).
    """
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_symbols):
        price = float(np.exp(rng.normal(0, 2)))
        for d in range(n_days):
            price *= float(np.exp(rng.normal(0, 0.05)))
            if rng.random() < p_missing:
                continue
            high = price * (1 + 0.03 * rng.random())
            low = price * (1 - 0.03 * rng.random())
            volume = int(rng.integers(1, 50))
            rows.append(
                {
                    "date": DAY0 + dt.timedelta(days=d),
                    "symbol": f"S{s:02d}",
                    "close": price,
                    "high": high,
                    "low": low,
                    "volume": float(volume),
                    "dollar_volume": float(volume * int(rng.integers(1, 4)) * 1000),
                    "funding_rate": float(rng.integers(-6, 7)) * 1e-4,
                }
            )
    frame = pl.DataFrame(rows)
    if p_null:
        frame = frame.with_columns(
            pl.when(pl.Series(rng.random(frame.height) >= p_null)).then(pl.col(c)).alias(c)
            for c in ("close", "dollar_volume", "funding_rate")
        )
    return frame.sample(fraction=1.0, shuffle=True, seed=seed)


def by_symbol(frame: pl.DataFrame, symbol: str = "symbol", date: str = "date") -> list[list[int]]:
    """Row indices of each symbol, in date order."""
    groups: dict[str, list[int]] = defaultdict(list)
    for i, key in enumerate(frame[symbol].to_list()):
        groups[key].append(i)
    dates = frame[date].to_list()
    return [sorted(idx, key=lambda i: dates[i]) for idx in groups.values()]


def by_date(frame: pl.DataFrame, date: str = "date") -> list[list[int]]:
    """Row indices of each date."""
    groups: dict[object, list[int]] = defaultdict(list)
    for i, key in enumerate(frame[date].to_list()):
        groups[key].append(i)
    return list(groups.values())


def avg_rank(values: list[float], descending: bool = False) -> list[float]:
    """Average-ties rank (1-based) of each value among `values`."""
    sign = -1.0 if descending else 1.0
    out = []
    for v in values:
        below = sum(1 for u in values if sign * u < sign * v)
        equal = sum(1 for u in values if u == v)
        out.append(below + (equal + 1) / 2)
    return out


def quantile_nearest(values: list[float], q: float) -> float:
    """Polars' "nearest" quantile: the sorted value at index round-half-up(q * (n - 1))."""
    ordered = sorted(values)
    pos = q * (len(ordered) - 1)
    return ordered[math.floor(pos) + (1 if pos - math.floor(pos) >= 0.5 else 0)]


def ref_log_returns(
    frame: pl.DataFrame, price: str = "close", calendar: bool = False, date: str = "date"
) -> list[float | None]:
    """ln p_t - ln p_prev per symbol; prev is the previous row, or with `calendar` the
    previous row only when it is on the previous distinct date of the frame."""
    out: list[float | None] = [None] * frame.height
    p = frame[price].to_list()
    dates = frame[date].to_list()
    position = {d: i for i, d in enumerate(sorted(set(dates)))}

    def ok(x):
        return x is not None and math.isfinite(x) and x > 0

    for idx in by_symbol(frame):
        for prev, cur in itertools.pairwise(idx):
            adjacent = position[dates[prev]] == position[dates[cur]] - 1
            if ok(p[prev]) and ok(p[cur]) and (adjacent or not calendar):
                out[cur] = math.log(p[cur]) - math.log(p[prev])
    return out


def ref_universe(
    frame: pl.DataFrame,
    window: int,
    min_decile: int,
    dollar: list[float | None],
    mask: list[bool | None] | None = None,
) -> tuple[list, list, list]:
    """The seed's VolumeFilter: (trail_volume, volume_decile, is_universe) per row."""
    trail: list[float | None] = [None] * frame.height
    for idx in by_symbol(frame):
        for k, i in enumerate(idx):
            seen = [dollar[j] for j in idx[max(0, k - window + 1) : k + 1] if dollar[j] is not None]
            trail[i] = sum(seen) / len(seen) if seen else None
    decile: list[int | None] = [None] * frame.height
    for idx in by_date(frame):
        live = [i for i in idx if trail[i] is not None and (mask is None or mask[i])]
        ranks = avg_rank([trail[i] for i in live], descending=True)
        for i, r in zip(live, ranks, strict=True):
            decile[i] = max(1, 10 - math.floor((r - 1) * 10 / len(live)))
    universe = [d is not None and d >= min_decile for d in decile]
    return trail, decile, universe


def ref_carry(
    frame: pl.DataFrame,
    winsor: float,
    standardize: bool,
    annualize: bool = False,
    periods_per_year: int = 365,
    mask: list[bool | None] | None = None,
) -> list[float | None]:
    """The seed's CryptoCarryFactor: -funding, winsorised, standardised per date."""
    funding = frame["funding_rate"].to_list()
    out: list[float | None] = [None] * frame.height
    for idx in by_date(frame):
        live = [
            i
            for i in idx
            if funding[i] is not None and math.isfinite(funding[i]) and (mask is None or mask[i])
        ]
        if not live:
            continue
        raw = [-(funding[i] * periods_per_year if annualize else funding[i]) for i in live]
        lo, hi = quantile_nearest(raw, winsor), quantile_nearest(raw, 1 - winsor)
        clipped = [min(max(v, lo), hi) for v in raw]
        if standardize:
            if len(clipped) < 2:
                continue
            # exact sums rounded once (lazyflow's `exact_sum`; the seed added in row order)
            mean = math.fsum(clipped) / len(clipped)
            std = math.sqrt(math.fsum((v - mean) ** 2 for v in clipped) / (len(clipped) - 1))
            clipped = [(v - mean) / (std + 1e-8) for v in clipped]
        for i, v in zip(live, clipped, strict=True):
            out[i] = v
    return out


def ref_deciles(
    frame: pl.DataFrame,
    score: str,
    n_quantiles: int = 10,
    descending: bool = False,
    mask: list[bool | None] | None = None,
) -> list[int | None]:
    """The seed's assign_deciles (its ranking is `descending=True`)."""
    s = frame[score].to_list()
    out: list[int | None] = [None] * frame.height
    for idx in by_date(frame):
        live = [
            i
            for i in idx
            if s[i] is not None and not math.isnan(s[i]) and (mask is None or mask[i])
        ]
        if len(live) < 2:
            continue
        ranks = avg_rank([s[i] for i in live], descending=descending)
        for i, r in zip(live, ranks, strict=True):
            out[i] = math.floor((r - 1) * n_quantiles / len(live)) + 1
    return out


def ref_sigmoid(
    deciles: list[int | None],
    k: float,
    x_offset: float,
    y_min: float,
    y_max: float,
    lo: float,
    hi: float,
    keep: tuple[int, ...] | None = None,
) -> tuple[list, list]:
    """The seed's carry_decile_to_target_sigmoid with static lo/hi: (alpha, target) per row."""
    alphas, targets = [], []
    for d in deciles:
        if d is None or (keep is not None and d not in keep):
            alphas.append(None)
            targets.append(None)
            continue
        a = 2 * (d - lo) / (hi - lo) - 1
        alphas.append(a)
        targets.append(y_min + (y_max - y_min) / (1 + math.exp(-k * (a - x_offset))))
    return alphas, targets


def ewma_adjusted(values: list[float | None], span: float) -> list[float | None]:
    """Polars' ewm_mean(adjust=True, ignore_nulls=False): null rows stay null; weights
    decay with row distance: v[t] = sum (1-a)^(t-i) x_i / sum (1-a)^(t-i) over non-null i <= t."""
    a = 2 / (span + 1)
    out: list[float | None] = []
    for t, x in enumerate(values):
        if x is None:
            out.append(None)
            continue
        pairs = [((1 - a) ** (t - i), v) for i, v in enumerate(values[: t + 1]) if v is not None]
        out.append(sum(w * v for w, v in pairs) / sum(w for w, _ in pairs))
    return out


def ref_ewma_vol(
    frame: pl.DataFrame,
    returns: list[float | None],
    short_span: float,
    long_span: float,
    weight: float,
    annualise: bool = False,
    periods_per_year: int = 365,
) -> list[float | None]:
    """The seed's EMARealizedVol: sqrt(w*v_s[t-1] + (1-w)*v_l[t-1]) per symbol."""
    out: list[float | None] = [None] * frame.height
    scale = math.sqrt(periods_per_year) if annualise else 1.0
    for idx in by_symbol(frame):
        r2 = [None if returns[i] is None else returns[i] ** 2 for i in idx]
        v_s, v_l = ewma_adjusted(r2, short_span), ewma_adjusted(r2, long_span)
        for k in range(1, len(idx)):
            if v_s[k - 1] is not None:
                out[idx[k]] = math.sqrt(weight * v_s[k - 1] + (1 - weight) * v_l[k - 1]) * scale
    return out


def assert_matches(actual: list, expected: list, rtol: float = 1e-12, atol: float = 1e-12) -> None:
    """Same nulls, and values equal to `rtol`/`atol` (exactly for ints and bools)."""
    assert len(actual) == len(expected)
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        if e is None or a is None:
            assert a is None and e is None, f"row {i}: got {a}, expected {e}"
        elif isinstance(e, float):
            assert math.isclose(a, e, rel_tol=rtol, abs_tol=atol), f"row {i}: got {a}, expected {e}"
        else:
            assert a == e, f"row {i}: got {a}, expected {e}"


# -- the references themselves, on cases worked by hand ---------------------------------


def test_avg_rank_and_nearest_quantile():
    assert avg_rank([3.0, 1.0, 3.0, 2.0]) == [3.5, 1.0, 3.5, 2.0]
    assert avg_rank([3.0, 1.0, 3.0, 2.0], descending=True) == [1.5, 4.0, 1.5, 3.0]
    assert quantile_nearest([4.0, 1.0, 3.0], 0.25) == 3.0  # pos 0.5 rounds up
    assert quantile_nearest([4.0, 1.0, 3.0, 2.0, 5.0], 0.05) == 1.0
    assert quantile_nearest([4.0, 1.0, 3.0, 2.0, 5.0], 0.95) == 5.0


def test_ewma_reference_by_hand():
    # a = 0.5: [1] -> 1; [1, None, 4] -> (0.25*1 + 4) / 1.25 = 3.4
    assert ewma_adjusted([None, 1.0, None, 4.0], span=3) == [None, 1.0, None, 3.4]
