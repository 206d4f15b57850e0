"""The tear sheet's tables against hand computations: monthly returns from a known NAV path,
drawdown periods on a constructed path, per-year statistics, rolling Sharpe, moments, drag;
and the formatting of statistics for people."""

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lazyflow as lf
from lazyflow import tearsheet
from lazyflow.report.format import format_number, format_stat, summary_lines


def metrics_of(dates, nav, cost=None, funding=None):
    nav = np.asarray(nav, dtype=float)
    n = len(nav)
    before = np.concatenate([[1.0], nav[:-1]])
    with np.errstate(divide="ignore", invalid="ignore"):
        daily = nav / before - 1.0
    return pl.DataFrame(
        {
            "date": dates,
            "nav": nav,
            "daily_return": daily,
            "drawdown": nav / np.maximum.accumulate(np.maximum(nav, 1.0)) - 1.0,
            "turnover_pct": np.full(n, 0.1),
            "gross_exposure": np.ones(n),
            "net_exposure": np.zeros(n),
            "cost": np.zeros(n) if cost is None else np.asarray(cost, float),
            "funding_pnl": np.zeros(n) if funding is None else np.asarray(funding, float),
        }
    )


def test_monthly_returns_from_a_known_nav_path():
    # five dates over three months and two years; init NAV 1
    dates = [dt.date(2023, 11, 29), dt.date(2023, 11, 30), dt.date(2023, 12, 15),
             dt.date(2024, 1, 2), dt.date(2024, 1, 31)]  # fmt: skip
    nav = [1.10, 1.21, 0.99, 1.089, 1.1979]
    table = tearsheet.monthly_returns(metrics_of(dates, nav), init_nav=1.0)
    assert table["year"].to_list() == [2023, 2024]
    # Nov 2023: 1.21/1.00 - 1; Dec 2023: 0.99/1.21 - 1; Jan 2024: 1.1979/0.99 - 1
    assert table.row(0, named=True)["Nov"] == pytest.approx(0.21)
    assert table.row(0, named=True)["Dec"] == pytest.approx(0.99 / 1.21 - 1)
    assert table.row(1, named=True)["Jan"] == pytest.approx(1.1979 / 0.99 - 1)
    assert table.row(0, named=True)["Year"] == pytest.approx(-0.01)  # 0.99 / 1.00
    assert table.row(1, named=True)["Year"] == pytest.approx(1.1979 / 0.99 - 1)
    # months without dates are null, and the months compound to the year
    assert table.row(0, named=True)["Jan"] is None and table.row(1, named=True)["Feb"] is None
    assert (1 + table["Nov"][0]) * (1 + table["Dec"][0]) - 1 == pytest.approx(table["Year"][0])
    assert table.columns == ["year", *tearsheet.MONTHS, "Year"]


def test_monthly_returns_start_from_init_nav_and_stop_at_ruin():
    dates = [dt.date(2024, 1, 5), dt.date(2024, 2, 5), dt.date(2024, 3, 5)]
    table = tearsheet.monthly_returns(metrics_of(dates, [2.0, 0.0, 0.0]), init_nav=4.0)
    assert table["Jan"][0] == pytest.approx(-0.5)  # 2 / 4
    assert table["Feb"][0] == pytest.approx(-1.0)
    assert table["Mar"][0] is None  # the NAV before March is 0: no return


def test_drawdown_periods_on_a_constructed_path():
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(12)]
    #       0     1    2    3    4    5    6    7    8    9    10   11
    nav = [0.9, 1.0, 1.2, 1.1, 0.96, 1.2, 1.3, 1.196, 1.3, 1.25, 1.3, 1.274]
    table = tearsheet.drawdown_periods(metrics_of(days, nav), init_nav=1.0, top=5)
    rows = table.rows(named=True)
    # deepest: peak day 2 (1.2), valley day 4 (0.96: -20%), recovered day 5, 2 dates under
    assert rows[0] == {"peak": days[2], "valley": days[4], "recovery": days[5],
                       "depth": pytest.approx(0.96 / 1.2 - 1), "dates": 2}  # fmt: skip
    # from the start (init_nav 1 is the high): day 0, recovered day 1 (1.0 >= 1.0)
    assert rows[1] == {"peak": None, "valley": days[0], "recovery": days[1],
                       "depth": pytest.approx(-0.1), "dates": 1}  # fmt: skip
    # peak 6 (1.3) -> 7 (-8%), recovered 8; 8 -> 9 (-3.8%), recovered 10; 10 -> 11, not yet
    assert rows[2] == {"peak": days[6], "valley": days[7], "recovery": days[8],
                       "depth": pytest.approx(-0.08), "dates": 1}  # fmt: skip
    assert rows[3] == {"peak": days[8], "valley": days[9], "recovery": days[10],
                       "depth": pytest.approx(1.25 / 1.3 - 1), "dates": 1}  # fmt: skip
    assert rows[4] == {"peak": days[10], "valley": days[11], "recovery": None,
                       "depth": pytest.approx(-0.02), "dates": 1}  # fmt: skip
    assert len(tearsheet.drawdown_periods(metrics_of(days, nav), 1.0, top=2)) == 2
    assert tearsheet.drawdown_periods(metrics_of(days[:2], [1.0, 1.1]), 1.0).height == 0


def test_drawdown_periods_agree_with_the_metrics_drawdown(backtest_result):
    metrics = backtest_result.metrics
    periods = tearsheet.drawdown_periods(metrics, backtest_result.init_nav, top=1)
    assert periods["depth"][0] == pytest.approx(metrics["drawdown"].min(), rel=1e-12)
    # a loop over the rows: the number of dates under water in all periods
    under = int((metrics["drawdown"] < 0).sum())
    every = tearsheet.drawdown_periods(metrics, backtest_result.init_nav, top=10_000)
    assert every["dates"].sum() == under


@pytest.fixture(scope="module")
def backtest_result():
    panel = lf.synthetic_panel(n_symbols=30, n_days=420, seed=6)
    frame = lf.presets.carry()(panel.lazy()).collect()
    return lf.backtest(frame, lf.presets.seed_allocator(), **lf.presets.SEED_BACKTEST)


def test_yearly_stats_are_each_year_as_its_own_backtest(backtest_result):
    r = backtest_result
    table = tearsheet.yearly_stats(r.metrics, r.init_nav, r.periods_per_year)
    navs = r.metrics["nav"].to_list()
    years = [d.year for d in r.metrics["date"].to_list()]
    start = r.init_nav
    for row in table.iter_rows(named=True):
        idx = [i for i, y in enumerate(years) if y == row["year"]]
        nav = np.array([navs[i] for i in idx])
        returns = r.metrics["daily_return"].to_numpy()[idx]
        assert row["total_return"] == pytest.approx(nav[-1] / start - 1, rel=1e-12)
        assert row["n_days"] == len(idx)
        high, worst = start, 0.0
        for value in nav:  # the drawdown within the year, from the year's starting NAV
            high = max(high, value)
            worst = min(worst, value / high - 1)
        assert row["max_drawdown"] == pytest.approx(worst, rel=1e-12, abs=1e-15)
        if len(idx) > 1:
            sharpe = returns.mean() / returns.std(ddof=1) * math.sqrt(365)
            assert row["sharpe"] == pytest.approx(sharpe, rel=1e-9)
        start = nav[-1]
    # the years compound to the total return
    growth = float(np.prod(1 + table["total_return"].to_numpy()))
    assert growth - 1 == pytest.approx(r.summary()["total_return"], rel=1e-9)


def test_rolling_sharpe_matches_numpy(backtest_result):
    r = backtest_result.metrics["daily_return"].to_numpy()
    sharpe = tearsheet.rolling_sharpe(backtest_result.metrics, 90, 365).to_list()
    assert all(v is None for v in sharpe[:89])
    for end in (89, 200, len(r) - 1):
        window = r[end - 89 : end + 1]
        want = window.mean() / window.std(ddof=1) * math.sqrt(365)
        assert sharpe[end] == pytest.approx(want, rel=1e-9)


def test_return_moments_match_the_definitions():
    r = np.array([0.01, -0.02, 0.03, 0.0, 0.05, -0.01, np.nan])
    frame = pl.DataFrame({"daily_return": r})
    x = r[:-1]
    d = x - x.mean()
    m2, m3, m4 = (d**2).mean(), (d**3).mean(), (d**4).mean()
    got = tearsheet.return_moments(frame)
    assert got["skew"] == pytest.approx(m3 / m2**1.5)
    assert got["kurtosis"] == pytest.approx(m4 / m2**2 - 3)
    assert math.isnan(tearsheet.return_moments(pl.DataFrame({"daily_return": [0.1, 0.1]}))["skew"])


def test_annual_drag_is_independent_of_the_nav_level():
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(4)]
    # cost is 0.1% of the NAV it was paid on, whatever that NAV is
    small = metrics_of(days, [1.0, 2.0, 4.0, 8.0], cost=[0.001, 0.001, 0.002, 0.004])
    drag = tearsheet.annual_drag(small, 1.0, 365)
    assert drag["annual_cost"] == pytest.approx(0.001 * 365)
    large = metrics_of(days, [1.0, 2.0, 4.0, 8.0], cost=[0.001, 0.001, 0.002, 0.004])
    large = large.with_columns(pl.col("nav", "cost") * 1000)
    assert tearsheet.annual_drag(large, 1000.0, 365)["annual_cost"] == pytest.approx(0.365)
    funding = metrics_of(days, [1.0] * 4, funding=[0.0, 0.0002, 0.0, 0.0002])
    assert tearsheet.annual_drag(funding, 1.0, 365)["annual_funding"] == pytest.approx(0.0365)


@pytest.mark.parametrize(
    ("name", "value", "text"),
    [
        ("total_return", 8.2893, "+828.9%"),
        ("total_return", -0.0042, "-0.42%"),
        ("max_drawdown", -0.234, "-23.4%"),
        ("ann_vol", 0.2012, "20.1%"),
        ("sharpe", 1.2345, "1.23"),
        ("avg_gross", 1.5, "1.50x"),
        ("total_cost", 0.10812, "+0.1081"),
        ("n_days", 1599.0, "1,599"),
        ("sharpe", math.nan, "n/a"),
        ("calmar", math.inf, "+inf"),
        ("something_new", 0.5, "0.5000"),
    ],
)
def test_statistics_are_formatted_for_people(name, value, text):
    assert format_stat(name, value) == text


def test_summary_lines_align_labels_and_values():
    lines = summary_lines({"total_return": 8.2893, "n_days": 10.0})
    assert lines[0].startswith("total return") and lines[0].endswith("+828.9%")
    assert len({len(line) for line in lines}) == 1
    with pytest.raises(ValueError, match="unknown kind"):
        format_number(1.0, "furlongs")


@st.composite
def nav_paths(draw):
    """Random dates with gaps over up to three years and a NAV path with flats, new highs and
    an occasional ruin (NAV 0 for good)."""
    n = draw(st.integers(1, 60))
    gaps = draw(st.lists(st.integers(1, 40), min_size=n, max_size=n))
    start = dt.date(2020, 1, 1) + dt.timedelta(days=draw(st.integers(0, 400)))
    dates = [start + dt.timedelta(days=sum(gaps[: i + 1])) for i in range(n)]
    steps = draw(st.lists(st.sampled_from([-0.2, -0.05, 0.0, 0.03, 0.1]), min_size=n, max_size=n))
    nav, value = [], draw(st.sampled_from([0.5, 1.0, 2.0]))
    ruin = draw(st.one_of(st.none(), st.integers(0, n - 1)))
    for i, step in enumerate(steps):
        value = 0.0 if ruin is not None and i >= ruin else value * (1 + step)
        nav.append(value)
    return dates, nav, draw(st.sampled_from([0.5, 1.0, 2.0]))


@given(nav_paths())
def test_monthly_returns_and_drawdowns_match_loops(path):
    dates, nav, init_nav = path
    metrics = metrics_of(dates, nav)
    table = tearsheet.monthly_returns(metrics, init_nav)
    before, want_month, want_year = init_nav, {}, {}
    year_before = {}
    for i, (d, value) in enumerate(zip(dates, nav, strict=True)):
        prev = nav[i - 1] if i else init_nav
        if (d.year, d.month) not in want_month:
            before = prev
        year_before.setdefault(d.year, prev)
        want_month[(d.year, d.month)] = value / before - 1 if before > 0 else None
        start = year_before[d.year]
        want_year[d.year] = value / start - 1 if start > 0 else None
    for row in table.iter_rows(named=True):
        for m, name in enumerate(tearsheet.MONTHS, start=1):
            want = want_month.get((row["year"], m))
            assert (row[name] is None) == (want is None)
            if want is not None:
                assert row[name] == pytest.approx(want, rel=1e-12, abs=1e-15)
        want = want_year[row["year"]]
        assert row["Year"] == (None if want is None else pytest.approx(want, rel=1e-12))
    assert sorted(table["year"].to_list()) == sorted(want_year)
    # drawdowns: a loop over the rows finds the same runs under water
    periods = tearsheet.drawdown_periods(metrics, init_nav, top=10_000)
    high, runs, current = init_nav, [], None
    for i, value in enumerate(nav):
        if value < high:
            current = current or {"start": i, "low": i}
            if value < nav[current["low"]]:
                current["low"] = i
        else:
            if current:
                runs.append(current | {"end": i})
                current = None
            high = value
    if current:
        runs.append(current | {"end": None})
    assert periods.height == len(runs)
    got = {(r["valley"], r["dates"]) for r in periods.iter_rows(named=True)}
    want_runs = {(dates[r["low"]], (r["end"] or len(nav)) - r["start"]) for r in runs}
    assert got == want_runs
