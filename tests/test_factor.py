"""Factor analytics: per-date statistics and factor_report against plain python + scipy."""

import datetime as dt
import math
from collections import defaultdict

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

import lazyflow as lf
from lazyflow.factor import (
    FactorAnalysis,
    factor_report,
    forward_return_columns,
)
from lazyflow.ordered import with_correlation
from lazyflow.stages.labels import ForwardReturns, label_columns

stats = pytest.importorskip("scipy.stats")

START = dt.date(2022, 3, 1)
HORIZONS = (1, 3)
TOL = {"rel": 1e-10, "abs": 1e-10}


def factor_panel(
    seed: int, n_symbols: int = 10, n_days: int = 8, missing: float = 0.15
) -> pl.DataFrame:
    """A shuffled panel with tied, null, NaN and infinite scores and returns, and a mask."""
    rng = np.random.default_rng(seed)
    rows = []

    def noisy(value: float) -> float | None:
        u = rng.random()
        return None if u < 0.07 else math.nan if u < 0.1 else math.inf if u < 0.12 else value

    for d in range(n_days):
        for s in range(n_symbols):
            if rng.random() < missing:
                continue
            rows.append(
                {
                    "date": START + dt.timedelta(days=d),
                    "symbol": f"S{s}",
                    "carry_score": noisy(float(rng.integers(-3, 4)) / 2),  # many ties
                    "decile_carry": None if rng.random() < 0.08 else int(rng.integers(1, 5)),
                    "fwd_ret_1": noisy(round(float(rng.normal(0, 0.05)), 2)),
                    "fwd_ret_3": noisy(float(rng.normal(0, 0.1))),
                    "in_universe": None if rng.random() < 0.05 else bool(rng.random() < 0.85),
                }
            )
    schema = {
        "date": pl.Date,
        "symbol": pl.String,
        "carry_score": pl.Float64,
        "decile_carry": pl.Int32,
        "fwd_ret_1": pl.Float64,
        "fwd_ret_3": pl.Float64,
        "in_universe": pl.Boolean,
    }
    return pl.DataFrame(rows, schema=schema).sample(fraction=1.0, shuffle=True, seed=seed)


# ---------------------------------------------------------------- reference


def ok(x) -> bool:
    return x is not None and math.isfinite(x)


def corr(xs, ys, spearman: bool = False):
    if len(xs) < 2 or len(set(xs)) < 2 or len(set(ys)) < 2:
        return None
    fn = stats.spearmanr if spearman else stats.pearsonr
    return float(fn(xs, ys)[0])


def mean(xs):
    return sum(xs) / len(xs) if xs else None


class Reference:
    """The module's definitions, computed row by row."""

    def __init__(self, frame: pl.DataFrame, mask: str | None, spans: bool = True) -> None:
        rows = frame.rows(named=True)
        self.dates = sorted({r["date"] for r in rows})
        self.gaps = span_gaps(rows, self.dates, mask) if spans else None
        kept = [r for r in rows if mask is None or r[mask] is True]
        self.by_date = defaultdict(list)
        for r in kept:
            self.by_date[r["date"]].append(r)
        labels = [r["decile_carry"] for r in kept if r["decile_carry"] is not None]
        self.top, self.bottom = max(labels), min(labels)

    def ic(self, date, h, spearman=False):
        pairs = [
            (r["carry_score"], r[f"fwd_ret_{h}"])
            for r in self.by_date[date]
            if ok(r["carry_score"]) and ok(r[f"fwd_ret_{h}"])
        ]
        return corr([p[0] for p in pairs], [p[1] for p in pairs], spearman)

    def quantile_mean(self, date, h, q, demeaned=False):
        present = [
            r for r in self.by_date[date] if r["decile_carry"] is not None and ok(r[f"fwd_ret_{h}"])
        ]
        centre = mean([r[f"fwd_ret_{h}"] for r in present]) if demeaned else 0.0
        return mean([r[f"fwd_ret_{h}"] - centre for r in present if r["decile_carry"] == q])

    def spread(self, date, h):
        top, bottom = (
            self.quantile_mean(date, h, self.top),
            self.quantile_mean(date, h, self.bottom),
        )
        return None if top is None or bottom is None else top - bottom

    def ranks(self, date) -> dict[str, float]:
        scored = [r for r in self.by_date[date] if ok(r["carry_score"])]
        ranks = stats.rankdata([r["carry_score"] for r in scored])
        return {r["symbol"]: float(k) for r, k in zip(scored, ranks, strict=True)}

    def rank_autocorr(self, i):
        if i == 0:
            return None
        now, before = self.ranks(self.dates[i]), self.ranks(self.dates[i - 1])
        common = sorted(set(now) & set(before))
        return corr([now[s] for s in common], [before[s] for s in common])

    def members(self, date, q) -> set[str]:
        return {r["symbol"] for r in self.by_date[date] if r["decile_carry"] == q}

    def turnover(self, i, q):
        if i == 0:
            return None
        now = self.members(self.dates[i], q)
        return len(now - self.members(self.dates[i - 1], q)) / len(now)


def span_gaps(rows: list[dict], dates: list, mask: str | None) -> dict[int, int]:
    """Null (in place) each forward return whose symbol's h-th next row is not h dates of
    the calendar later; return the count of such rows inside the mask per horizon."""
    index = {d: i for i, d in enumerate(dates)}
    by_symbol = defaultdict(list)
    for r in rows:
        by_symbol[r["symbol"]].append(r)
    gaps = dict.fromkeys(HORIZONS, 0)
    for own in by_symbol.values():
        own.sort(key=lambda r: r["date"])
        for k, r in enumerate(own):
            for h in HORIZONS:
                if k + h < len(own) and index[own[k + h]["date"]] != index[r["date"]] + h:
                    r[f"fwd_ret_{h}"] = None
                    gaps[h] += mask is None or r[mask] is True
    return gaps


def assert_close(got, expected, label=""):
    if expected is None:
        assert got is None, label
    else:
        assert got is not None, label
        assert got == pytest.approx(expected, **TOL), label


# ---------------------------------------------------------------- per-date statistics


@pytest.mark.parametrize(
    ("seed", "mask"), [(0, None), (1, "in_universe"), (2, None), (3, "in_universe")]
)
def test_by_date_matches_scipy(seed, mask):
    frame = factor_panel(seed)
    ref = Reference(frame, mask)
    out = FactorAnalysis(mask=mask).by_date(frame.lazy())
    assert isinstance(out, pl.LazyFrame)
    got = out.collect()
    assert got.columns == ["date", "horizon", "n", "ic", "rank_ic", "spread"]
    assert got.height == len(ref.dates) * len(HORIZONS)
    nulls = 0
    for row in got.iter_rows(named=True):
        date, h = row["date"], row["horizon"]
        label = f"{date} h={h}"
        assert_close(row["ic"], ref.ic(date, h), label)
        assert_close(row["rank_ic"], ref.ic(date, h, spearman=True), label)
        assert_close(row["spread"], ref.spread(date, h), label)
        nulls += row["spread"] is None
    assert nulls < got.height  # the panel is not degenerate


@pytest.mark.parametrize(("seed", "mask"), [(4, None), (5, "in_universe")])
def test_by_quantile_matches_reference(seed, mask):
    frame = factor_panel(seed)
    ref = Reference(frame, mask)
    got = FactorAnalysis(mask=mask).by_quantile(frame).collect()
    raw = FactorAnalysis(mask=mask, demeaned=False).by_quantile(frame).collect()
    for table, demeaned in ((got, True), (raw, False)):
        expected = {
            (d, h, q): ref.quantile_mean(d, h, q, demeaned)
            for d in ref.dates
            for h in HORIZONS
            for q in range(1, 5)
            if ref.quantile_mean(d, h, q) is not None
        }
        assert {(r[0], r[1], r[2]) for r in table.rows()} == set(expected)
        for d, h, q, _, value in table.rows():
            assert_close(value, expected[(d, h, q)])


@pytest.mark.parametrize(("seed", "mask"), [(6, None), (7, "in_universe")])
def test_rank_autocorrelation_and_turnover_match_reference(seed, mask):
    frame = factor_panel(seed, missing=0.3)
    ref = Reference(frame, mask)
    analysis = FactorAnalysis(mask=mask)
    autocorr = analysis.rank_autocorrelation(frame).collect()
    assert autocorr["date"].to_list() == ref.dates
    for i, value in enumerate(autocorr["rank_autocorr"]):
        assert_close(value, ref.rank_autocorr(i), str(ref.dates[i]))
    turnover = analysis.turnover(frame).collect()
    index = {d: i for i, d in enumerate(ref.dates)}
    expected = {(d, q) for d in ref.dates for q in range(1, 5) if ref.members(d, q)}
    assert {(d, q) for d, q, _, _ in turnover.rows()} == expected
    for d, q, n, value in turnover.rows():
        assert n == len(ref.members(d, q))
        assert_close(value, ref.turnover(index[d], q), f"{d} q={q}")


def test_turnover_counts_a_gap_as_new():
    """A name absent on the frame's previous date is new, even if it was in q before."""
    days = [START + dt.timedelta(days=i) for i in range(3)]
    frame = pl.DataFrame(
        {
            "date": [days[0], days[0], days[1], days[2], days[2]],
            "symbol": ["a", "b", "b", "a", "b"],
            "carry_score": [1.0, 2.0, 2.0, 1.0, 2.0],
            "decile_carry": [1, 2, 2, 1, 2],
            "fwd_ret_1": [0.1, 0.2, 0.3, 0.4, 0.5],
        }
    )
    got = FactorAnalysis().turnover(frame).collect()
    assert got.rows() == [
        (days[0], 1, 1, None),
        (days[0], 2, 1, None),
        (days[1], 2, 1, 0.0),
        (days[2], 1, 1, 1.0),
        (days[2], 2, 1, 0.0),
    ]
    autocorr = FactorAnalysis().rank_autocorrelation(frame).collect()
    assert autocorr["n"].to_list() == [0, 1, 1]


def test_with_correlation_over_date():
    frame = factor_panel(8)
    ref = Reference(frame, None, spans=False)
    lazy = frame.lazy()
    got = with_correlation(lazy, "carry_score", "fwd_ret_1", ["date"], "ic")
    got = with_correlation(got, "carry_score", "fwd_ret_1", ["date"], "rank_ic", rank=True)
    got = got.collect()
    assert got.columns == [*frame.columns, "ic", "rank_ic"]
    for date, ic, rank_ic in got.select("date", "ic", "rank_ic").unique().rows():
        assert_close(ic, ref.ic(date, 1))
        assert_close(rank_ic, ref.ic(date, 1, spearman=True))


# ---------------------------------------------------------------- report and tables


def newey_west(xs, lags):
    """The HAC t-stat of the mean, written out: Bartlett weights 1 - l / (lags + 1)."""
    n, m = len(xs), sum(xs) / len(xs)
    s = 0.0
    for lag in range(min(lags, n - 1) + 1):
        gamma = sum((xs[t] - m) * (xs[t - lag] - m) for t in range(lag, n)) / n
        s += gamma if lag == 0 else 2 * (1 - lag / (lags + 1)) * gamma
    return m / math.sqrt(s / n)


def series_stats(values, name, lags):
    xs = [v for v in values if v is not None]
    n = len(xs)
    std = float(np.std(xs, ddof=1)) if n > 1 else None
    ir = mean(xs) / std if std else None
    return {
        f"{name}_mean": mean(xs),
        f"{name}_std": std,
        f"{name}_ir": ir,
        f"{name}_tstat": None if ir is None else newey_west(xs, lags),
        f"{name}_tstat_naive": None if ir is None else ir * math.sqrt(n),
        f"{name}_positive": sum(x > 0 for x in xs) / n if n else None,
        f"{name}_dates": float(n),
    }


@pytest.mark.parametrize(("seed", "mask", "ppy"), [(9, None, 365), (10, "in_universe", 252)])
def test_factor_report_matches_reference(seed, mask, ppy):
    frame = factor_panel(seed, n_days=12)
    ref = Reference(frame, mask)
    expected = {}
    for h in HORIZONS:
        spreads = [ref.spread(d, h) for d in ref.dates]
        per_horizon = {
            **series_stats([ref.ic(d, h) for d in ref.dates], "ic", h - 1),
            **series_stats([ref.ic(d, h, spearman=True) for d in ref.dates], "rank_ic", h - 1),
            **series_stats([None if s is None else s * 1e4 for s in spreads], "spread_bps", h - 1),
            "spread_annual": mean([s for s in spreads if s is not None]) / h * ppy,
            "gap_nulls": ref.gaps[h],
        }
        expected.update({(k, h, None): v for k, v in per_horizon.items()})
        for q in range(1, 5):
            means = [ref.quantile_mean(d, h, q, demeaned=True) for d in ref.dates]
            expected[("return_bps", h, q)] = mean([m * 1e4 for m in means if m is not None])
    for q in range(1, 5):
        values = [ref.turnover(i, q) for i, d in enumerate(ref.dates) if ref.members(d, q)]
        expected[("turnover", None, q)] = mean([v for v in values if v is not None])
    autocorr = [ref.rank_autocorr(i) for i in range(len(ref.dates))]
    expected[("rank_autocorr", None, None)] = mean([v for v in autocorr if v is not None])

    report = factor_report(frame.lazy(), mask=mask, periods_per_year=ppy)
    assert report.schema == pl.Schema(
        {"metric": pl.String, "horizon": pl.Int64, "quantile": pl.Int64, "value": pl.Float64}
    )
    got = {(m, h, q): v for m, h, q, v in report.rows()}
    assert len(got) == report.height
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert_close(got[key], value, str(key))


def test_tables_daily_rolling_and_cumulative():
    frame = factor_panel(11, n_days=15)
    ref = Reference(frame, None)
    tables = FactorAnalysis().tables(frame, rolling_window=4)
    for h in HORIZONS:
        daily = tables.daily.filter(pl.col("horizon") == h)
        assert daily["date"].to_list() == ref.dates
        ics = [ref.ic(d, h) for d in ref.dates]
        cumulative = 0.0
        for i, row in enumerate(daily.iter_rows(named=True)):
            window = [x for x in ics[max(0, i - 3) : i + 1] if x is not None]
            assert_close(row["ic_rolling"], mean(window), f"{h} {i}")
            spread = ref.spread(ref.dates[i], h)
            cumulative += 0.0 if spread is None else spread / h
            assert_close(row["cumulative_spread"], cumulative)
    by_horizon = tables.by_horizon
    assert by_horizon["horizon"].to_list() == list(HORIZONS)
    decay = {h: m for h, m in by_horizon.select("horizon", "rank_ic_mean").rows()}
    for h in HORIZONS:
        expected = mean([x for d in ref.dates if (x := ref.ic(d, h, spearman=True)) is not None])
        assert_close(decay[h], expected)
    assert tables.quantile_returns.columns == ["horizon", "quantile", "mean_bps", "dates"]
    assert tables.summary.equals(factor_report(frame))


def test_custom_column_names_and_explicit_horizons():
    frame = factor_panel(12)
    renamed = frame.rename(
        {
            "date": "day",
            "symbol": "ticker",
            "carry_score": "value",
            "decile_carry": "bucket",
            "fwd_ret_3": "r3",
            "fwd_ret_1": "r1",
        }
    ).with_columns(r7=pl.lit(0.0))
    report = factor_report(
        renamed,
        score="value",
        quantile_col="bucket",
        horizons=(3,),
        date_col="day",
        symbol_col="ticker",
        prefix="r",
    )
    base = factor_report(frame).filter(pl.col("horizon").is_null() | (pl.col("horizon") == 3))
    assert report.equals(base)
    assert (
        FactorAnalysis(
            score="value", quantile_col="bucket", prefix="r", date_col="day", symbol_col="ticker"
        )
        .by_date(renamed)
        .collect_schema()
        .names()[0]
        == "day"
    )


def test_forward_return_columns():
    schema = {
        c: pl.Float64
        for c in ("fwd_ret_20", "fwd_ret_1", "fwd_ret_0", "fwd_ret_05", "fwd_ret_x", "x_fwd_ret_2")
    }
    assert forward_return_columns(schema, "fwd_ret_") == {1: "fwd_ret_1", 20: "fwd_ret_20"}


def test_with_forward_returns_stage_end_to_end():
    """ForwardReturns feeds the report; a perfect-foresight score has IC 1."""
    rng = np.random.default_rng(0)
    n_sym, n_days = 12, 30
    close = np.exp(np.cumsum(rng.normal(0, 0.03, (n_days, n_sym)), axis=0))
    panel = pl.DataFrame(
        {
            "date": np.repeat(np.arange(n_days), n_sym).astype("datetime64[D]"),
            "symbol": np.tile([f"S{i}" for i in range(n_sym)], n_days),
            "close": close.ravel(),
        }
    )
    frame = ForwardReturns(horizons=(1, 2))(panel.lazy()).with_columns(
        carry_score=pl.col("fwd_ret_1"),
        decile_carry=((pl.col("fwd_ret_1").rank().over("date") - 1) * 4 // 12 + 1).cast(pl.Int32),
    )
    report = factor_report(frame)
    value = {(m, h): v for m, h, _, v in report.rows()}
    assert value[("ic_mean", 1)] == pytest.approx(1.0)
    assert value[("rank_ic_mean", 1)] == pytest.approx(1.0)
    assert value[("rank_ic_dates", 1)] == n_days - 1
    assert value[("spread_bps_positive", 1)] == 1.0


def test_on_the_carry_pipeline():
    """The default names fit the carry preset; label_columns finds the label columns."""
    pipeline = lf.presets.carry() >> ForwardReturns()
    assert label_columns(pipeline) == ("fwd_ret_1", "fwd_ret_5", "fwd_ret_20")
    frame = pipeline(lf.synthetic_panel(n_symbols=30, n_days=60, seed=1))
    report = factor_report(frame, mask="is_universe")
    assert set(report.filter(pl.col("metric") == "ic_mean")["horizon"]) == {1, 5, 20}
    quantiles = report.filter(pl.col("metric") == "turnover")["quantile"].to_list()
    assert quantiles == sorted(quantiles)
    assert set(quantiles) <= set(range(1, 11))
    assert report.filter(pl.col("metric") == "ic_dates")["value"].min() > 10


# ---------------------------------------------------------------- properties


@given(seed=st.integers(0, 10_000))
def test_mask_equals_missing_values(seed):
    """Masking rows out equals emptying them (the rows stay: they keep the calendar of each
    symbol, so a forward return's span is judged the same way)."""
    frame = factor_panel(seed, n_symbols=8, n_days=6)
    out = ~pl.col("in_universe").fill_null(False)
    values = ("carry_score", "decile_carry", "fwd_ret_1", "fwd_ret_3")
    emptied = frame.with_columns(
        pl.when(out).then(None).otherwise(pl.col(c)).alias(c) for c in values
    )
    a = FactorAnalysis(mask="in_universe").tables(frame)
    b = FactorAnalysis().tables(emptied)
    for name in ("daily", "quantile_returns", "turnover", "rank_autocorr"):
        assert_frame_equal(getattr(a, name), getattr(b, name), rel_tol=1e-12, abs_tol=1e-14)
    # gap_nulls counts the rows inside the mask only
    ungapped = pl.col("metric") != "gap_nulls"
    assert_frame_equal(a.summary.filter(ungapped), b.summary.filter(ungapped), rel_tol=1e-12)


@given(seed=st.integers(0, 10_000), shuffle=st.integers(0, 10_000), masked=st.booleans())
def test_row_order_does_not_matter(seed, shuffle, masked):
    frame = factor_panel(seed, n_symbols=6, n_days=6)
    analysis = FactorAnalysis(mask="in_universe" if masked else None)
    a = analysis.tables(frame)
    b = analysis.tables(frame.sample(fraction=1.0, shuffle=True, seed=shuffle))
    for name in ("daily", "quantile_returns", "turnover", "rank_autocorr", "summary"):
        assert_frame_equal(getattr(a, name), getattr(b, name), rel_tol=1e-12, abs_tol=1e-14)


@given(
    seed=st.integers(0, 10_000),
    scale=st.floats(0.1, 10.0),
    shift=st.floats(-5.0, 5.0),
)
def test_ic_invariances(seed, scale, shift):
    """Pearson IC is affine invariant; rank IC monotone invariant; negation flips both."""
    frame = factor_panel(seed, n_symbols=8, n_days=5)
    analysis = FactorAnalysis()
    base = analysis.by_date(frame).collect()
    affine = analysis.by_date(frame.with_columns(pl.col("carry_score") * scale + shift)).collect()
    monotone = analysis.by_date(frame.with_columns(pl.col("carry_score").exp())).collect()
    flipped = analysis.by_date(frame.with_columns(-pl.col("carry_score"))).collect()
    for i, row in enumerate(base.iter_rows(named=True)):
        assert_close(affine["ic"][i], row["ic"])
        assert monotone["rank_ic"][i] == row["rank_ic"] or (
            monotone["rank_ic"][i] == pytest.approx(row["rank_ic"], abs=1e-12)
        )
        assert_close(flipped["ic"][i], None if row["ic"] is None else -row["ic"])
        assert_close(flipped["rank_ic"][i], None if row["rank_ic"] is None else -row["rank_ic"])
        for col in ("ic", "rank_ic"):
            assert row[col] is None or -1 - 1e-12 <= row[col] <= 1 + 1e-12


@given(seed=st.integers(0, 10_000), n_days=st.integers(2, 6))
def test_stable_factor_has_no_turnover_and_unit_autocorr(seed, n_days):
    """Every symbol present every day with the same score and quantile: turnover 0, autocorr 1."""
    rng = np.random.default_rng(seed)
    n = 7
    scores = rng.permutation(n).astype(float)
    frame = pl.DataFrame(
        {
            "date": np.repeat(np.arange(n_days), n).astype("datetime64[D]"),
            "symbol": np.tile([f"S{i}" for i in range(n)], n_days),
            "carry_score": np.tile(scores, n_days),
            "decile_carry": np.tile(scores.astype(int) % 3 + 1, n_days),
            "fwd_ret_1": rng.normal(size=n * n_days),
        }
    ).sample(fraction=1.0, shuffle=True, seed=seed)
    tables = FactorAnalysis().tables(frame)
    turnover = tables.turnover.sort("date")["turnover"].to_list()
    assert turnover[:3] == [None] * 3
    assert turnover[3:] == [0.0] * (3 * (n_days - 1))
    autocorr = tables.rank_autocorr["rank_autocorr"].to_list()
    assert autocorr[0] is None
    assert autocorr[1:] == pytest.approx([1.0] * (n_days - 1))


@given(seed=st.integers(0, 10_000))
def test_bounds(seed):
    tables = FactorAnalysis(mask="in_universe").tables(factor_panel(seed, missing=0.4))
    turnover = tables.turnover["turnover"].drop_nulls()
    assert ((turnover >= 0) & (turnover <= 1)).all()
    autocorr = tables.rank_autocorr["rank_autocorr"].drop_nulls()
    assert (autocorr.abs() <= 1 + 1e-12).all()


# ---------------------------------------------------------------- laziness and errors


def test_statistics_are_lazy(tmp_path):
    path = tmp_path / "frame.parquet"
    factor_panel(0).write_parquet(path)
    lazy = pl.scan_parquet(path)
    analysis = FactorAnalysis(mask="in_universe")
    plans = [
        analysis.by_date(lazy),
        analysis.by_quantile(lazy),
        analysis.turnover(lazy),
        analysis.rank_autocorrelation(lazy),
    ]
    path.unlink()  # building and explaining the plans must not read data
    for plan in plans:
        assert isinstance(plan, pl.LazyFrame)
        assert "date" in plan.collect_schema()
        assert plan.explain()


def test_schema_errors_name_function_and_column():
    frame = factor_panel(0)
    cases = [
        (frame.drop("carry_score"), {}, "carry_score", "is missing"),
        (frame.drop("fwd_ret_1", "fwd_ret_3"), {}, "fwd_ret_<h>", "matches no column"),
        (frame, {"horizons": (1, 7)}, "fwd_ret_7", "is missing"),
        (
            frame.with_columns(pl.col("decile_carry").cast(pl.Float64)),
            {},
            "decile_carry",
            "integer",
        ),
        (
            frame.with_columns(pl.col("in_universe").cast(pl.Int8)),
            {"mask": "in_universe"},
            "in_universe",
            "boolean",
        ),
        (frame.with_columns(pl.col("date").cast(pl.String)), {}, "date", "dtype String"),
    ]
    for data, kwargs, column, problem in cases:
        with pytest.raises(lf.SchemaError, match=problem) as err:
            factor_report(data, **kwargs)
        assert (err.value.stage, err.value.column) == ("factor_report", column)
    with pytest.raises(lf.SchemaError) as err:
        FactorAnalysis(score="nope").by_date(frame)
    assert err.value.stage == "FactorAnalysis.by_date"


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"horizons": ()}, "horizons"),
        ({"horizons": (0,)}, "horizons"),
        ({"horizons": (1, 1)}, "horizons"),
        ({"horizons": (True,)}, "horizons"),
        ({"periods_per_year": 0}, "periods_per_year"),
        ({"periods_per_year": math.nan}, "periods_per_year"),
    ],
)
def test_config_errors(kwargs, parameter):
    with pytest.raises(lf.ConfigError, match=f"factor_report: parameter '{parameter}'"):
        factor_report(factor_panel(0), **kwargs)


def test_rolling_window_and_duplicates():
    frame = factor_panel(0)
    with pytest.raises(lf.ConfigError, match=r"FactorAnalysis\.tables: parameter 'rolling_window'"):
        FactorAnalysis().tables(frame, rolling_window=0)
    with pytest.raises(lf.DataError, match=r"2 rows share a \(date, symbol\) pair"):
        factor_report(pl.concat([frame, frame.head(1)]))
    with pytest.raises(lf.DataError, match="factor_report: the frame has no rows"):
        factor_report(frame.head(0))


def test_degenerate_frames_give_nulls_not_errors():
    frame = factor_panel(0)
    no_quantiles = factor_report(frame.with_columns(decile_carry=pl.lit(None, pl.Int32)))
    spread = no_quantiles.filter(pl.col("metric") == "spread_bps_mean")["value"]
    assert spread.null_count() == len(HORIZONS)
    assert no_quantiles.filter(pl.col("metric") == "return_bps").height == 0
    masked_out = factor_report(frame.with_columns(in_universe=False), mask="in_universe")
    assert masked_out.filter(pl.col("metric").str.ends_with("_dates"))["value"].sum() == 0


@pytest.mark.parametrize(
    ("call", "fragments"),
    [
        (lambda: factor_report(None), ("factor_report", "'frame'", "DataFrame or LazyFrame")),
        (lambda: factor_report([1, 2]), ("factor_report", "'frame'", "got list")),
        (lambda: FactorAnalysis().tables("x.parquet"), ("FactorAnalysis.tables", "'frame'")),
        (
            lambda: factor_report(factor_panel(0), horizons=(2**63,)),
            ("factor_report", "'horizons'", "in [1, 2147483647]", str(2**63)),
        ),
        (
            lambda: factor_report(factor_panel(0), horizons=(10**400,)),
            ("factor_report", "'horizons'", "in [1, "),
        ),
        (
            lambda: ForwardReturns(horizons=(2**63,))(factor_panel(0).lazy()),
            ("ForwardReturns", "'horizons'"),
        ),
        (
            lambda: factor_report(factor_panel(0), demeaned="yes"),
            ("factor_report", "'demeaned'"),
        ),
    ],
)
def test_wrong_types_and_huge_horizons_are_config_errors(call, fragments):
    with pytest.raises(lf.ConfigError) as err:
        call()
    for fragment in fragments:
        assert fragment in str(err.value)
