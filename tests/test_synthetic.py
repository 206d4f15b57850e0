"""synthetic_panel: determinism, schema, OHLC consistency and the model's stated properties."""

import datetime as dt
import itertools
import re
from collections import defaultdict

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lazyflow as lf
from lazyflow.data import synthetic

PANEL = lf.synthetic_panel(n_symbols=150, n_days=700, seed=7)


def by_symbol(frame: pl.DataFrame) -> dict[str, list[tuple]]:
    """symbol -> rows (day number, open, high, low, close, volume, dollar_volume, funding)."""
    out = defaultdict(list)
    for row in frame.iter_rows():
        out[row[1]].append((row[0].toordinal(), *row[2:]))
    return out


SERIES = by_symbol(PANEL)


def check_invariants(frame: pl.DataFrame, n_symbols: int, n_days: int, start: dt.date) -> None:
    assert frame.schema == pl.Schema(lf.PANEL_COLUMNS)
    keys = list(zip(frame["date"].to_list(), frame["symbol"].to_list(), strict=True))
    assert keys == sorted(keys), "not sorted by (date, symbol)"
    assert len(set(keys)) == len(keys), "duplicate (date, symbol)"
    assert frame["symbol"].n_unique() == n_symbols
    assert frame["date"].min() == start
    assert frame["date"].max() == start + dt.timedelta(days=n_days - 1)
    first_day = frame.filter(pl.col("date") == start)["symbol"].to_list()
    assert first_day[: min(n_symbols, 2)] == ["BTCUSDT", "ETHUSDT"][: min(n_symbols, 2)]
    o, h, lo, c, v, dv = (
        frame[x].to_numpy() for x in lf.PANEL_COLUMNS if x not in ("date", "symbol", "funding_rate")
    )
    for x in (o, h, lo, c, v, dv, frame["funding_rate"].to_numpy()):
        assert np.isfinite(x).all()
    assert (lo > 0).all() and (v > 0).all() and (dv > 0).all()
    assert (lo <= np.minimum(o, c)).all() and (np.maximum(o, c) <= h).all()
    np.testing.assert_allclose(dv, v * (h + lo + c) / 3, rtol=1e-12)


def test_deterministic_and_seeded():
    a = lf.synthetic_panel(40, 120, seed=3)
    assert a.equals(lf.synthetic_panel(40, 120, seed=3))
    assert not a.equals(lf.synthetic_panel(40, 120, seed=4))


def test_schema_order_and_ohlc():
    check_invariants(PANEL, 150, 700, dt.date(2019, 9, 1))


def test_symbols_and_start():
    frame = lf.synthetic_panel(12, 5, seed=0, start=dt.date(2021, 1, 1))
    names = frame["symbol"].unique(maintain_order=True).to_list()
    assert names[:2] == ["BTCUSDT", "ETHUSDT"]
    assert all(re.fullmatch(r"S\d{4}USDT", s) for s in names[2:])
    assert frame["date"].min() == dt.date(2021, 1, 1)
    assert frame.equals(lf.synthetic_panel(12, 5, seed=0, start="2021-01-01"))
    assert lf.synthetic_panel(1, 3)["symbol"].to_list() == ["BTCUSDT"] * 3


def test_open_is_previous_close():
    opens, closes = [], []
    for rows in SERIES.values():
        for prev, cur in itertools.pairwise(rows):
            if cur[0] == prev[0] + 1:
                opens.append(cur[1])
                closes.append(prev[4])
    assert len(opens) > 0.9 * PANEL.height
    np.testing.assert_allclose(opens, closes, rtol=1e-9)


def test_staggered_listings_and_delistings():
    counts = PANEL.group_by("date").len().sort("date")["len"].to_numpy()
    assert counts[0] < 0.05 * 150
    quarter = counts[len(counts) // 4]
    assert counts[-1] > 3 * quarter > 3 * counts[0]
    last_day = max(rows[-1][0] for rows in SERIES.values())
    delisted = [s for s, rows in SERIES.items() if rows[-1][0] < last_day]
    assert 1 <= len(delisted) <= 0.25 * 150
    assert "BTCUSDT" not in delisted and "ETHUSDT" not in delisted


def test_missing_days_are_few_and_inside():
    gaps = sum(rows[-1][0] - rows[0][0] + 1 - len(rows) for rows in SERIES.values())
    assert 0 < gaps < 0.01 * PANEL.height
    # the majors are listed on day 0 and never delisted: their first and last rows stay
    for major in ("BTCUSDT", "ETHUSDT"):
        days = [r[0] for r in SERIES[major]]
        assert days[0] == dt.date(2019, 9, 1).toordinal()
        assert days[-1] == dt.date(2019, 9, 1).toordinal() + 699


def test_fat_tails_and_volume_dispersion():
    z, medians = [], []
    for rows in SERIES.values():
        closes = np.array([r[4] for r in rows])
        if len(rows) > 50:
            r = np.diff(np.log(closes))
            z.extend((r - r.mean()) / r.std())
        medians.append(np.median([r[6] for r in rows]))
    z = np.array(z)
    excess_kurtosis = (z**4).mean() - 3
    assert excess_kurtosis > 2
    assert max(medians) / min(medians) > 1e3  # orders of magnitude across symbols


def test_funding_size_and_persistence():
    f = PANEL["funding_rate"].to_numpy()
    base = 3 * synthetic.BASE_RATE
    assert np.median(f) == pytest.approx(base)  # calm markets print the 0.01% base rate
    assert 0.2 < np.mean(np.isclose(f, base, rtol=0, atol=1e-12)) < 0.9
    assert 1e-4 < f.mean() < 1e-3
    assert 0.02 < np.mean(f < 0) < 0.25
    assert np.abs(f).max() <= 3 * synthetic.CAP + 1e-15
    num = den = 0.0
    for rows in SERIES.values():
        x = np.array([r[7] for r in rows])
        if len(x) > 30:
            x = x - x.mean()
            num += (x[1:] * x[:-1]).sum()
            den += (x * x).sum()
    assert 0.5 < num / den < 0.95  # pooled lag-1 autocorrelation of daily funding
    levels = [np.mean([r[7] for r in rows]) for rows in SERIES.values() if len(rows) > 100]
    assert np.std(levels) > 5e-5  # symbols differ in their funding level


def test_funding_predicts_next_day_return_weakly():
    nxt: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for rows in SERIES.values():
        for prev, cur in itertools.pairwise(rows):
            if cur[0] == prev[0] + 1:
                nxt[prev[0]].append((prev[7], np.log(cur[4] / prev[4])))
    f, r = [], []
    for pairs in nxt.values():
        if len(pairs) > 1:
            fs, rs = np.array(pairs).T
            f.extend(fs - fs.mean())
            r.extend(rs - rs.mean())
    ic = np.corrcoef(f, r)[0, 1]
    assert -0.08 < ic < -0.005


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n_symbols": 0}, "n_symbols"),
        ({"n_symbols": 2.5}, "n_symbols"),
        ({"n_symbols": True}, "n_symbols"),
        ({"n_days": 1}, "n_days"),
        ({"seed": -1}, "seed"),
        ({"seed": None}, "seed"),
        ({"start": "2019-13-01"}, "start"),
        ({"start": dt.datetime(2020, 1, 1)}, "start"),
    ],
)
def test_bad_arguments(kwargs, name):
    with pytest.raises(lf.ConfigError, match=f"synthetic_panel: parameter '{name}'"):
        lf.synthetic_panel(**kwargs)


def test_ar1_matches_recursion():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((200, 3))
    x0 = np.array([0.5, -1.0, 2.0])
    want = np.empty_like(noise)
    state = x0.copy()
    for t in range(len(noise)):
        state = 0.9 * state + noise[t]
        want[t] = state
    np.testing.assert_allclose(synthetic._ar1(noise.copy(), 0.9, x0), want, rtol=1e-9, atol=1e-12)


@given(
    n_symbols=st.integers(1, 25),
    n_days=st.integers(2, 60),
    seed=st.integers(0, 2**32 - 1),
)
def test_invariants_hold_for_any_size(n_symbols, n_days, seed):
    frame = lf.synthetic_panel(n_symbols, n_days, seed=seed)
    check_invariants(frame, n_symbols, n_days, dt.date(2019, 9, 1))
