"""Row order and thread count never change a bit, on a panel large enough (270k rows) that
Polars evaluates a plan in pieces: the built-in stages (`lf.presets.seed_carry()`),
`lf.ForwardReturns`, the `lf.cs` and `lf.ts` operators, the factor analysis,
`Pipeline.audit` and `lf.backtest`, each compared on the panel and its shuffle.

Polars divides a column by a literal as a multiplication by its reciprocal, except on a few
rows at the start of a piece, where it divides. In Polars 2.1 the pieces show in a plan
after a factor whose terms run on copies sorted by (symbol, date) (``ts.corr``,
``ts.rank``...), not in a plan of plain stages, so every plan below starts with such a
factor (`LAGGED`): a row-wise division by a literal anywhere after it gives bits that
depend on where a row lands, and these tests fail on it (checked by putting one in
`RangeSpread`, `SigmoidTarget`, `FundingCarry`, `ForwardReturns` and `ts.decay_linear`).
Divisions inside a window (``over`` a date or a symbol) did not show it. The factor terms
of the original fix (corr, zscore, mean, cov) and `lf.presets.carry()` alone are in
tests/test_large_row_order.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import lazyflow as lf
from lazyflow import cs, ts

KEY = ["date", "symbol"]
#: 269,646 rows (the synthetic panel lists symbols over time and drops a few rows).
N_SYMBOLS, N_DAYS, SEED = 600, 1000, 11
SHUFFLE_SEED = 7
#: A factor run on the sorted (symbol, date) layout: after it Polars evaluates the plan in
#: pieces, where a division by a literal shows. Every plan below starts with it.
LAGGED = lf.Factor("lagged", ts.corr("open", "volume", 10))
TABLES = ("daily", "quantile_returns", "by_horizon", "turnover", "rank_autocorr", "summary")


def make_panel() -> pl.DataFrame:
    """The synthetic panel with a group column (the symbol's last character before "USDT",
    null for "7": 11 groups and nulls) and a mask (dollar volume above the date's median)."""
    panel = lf.synthetic_panel(n_symbols=N_SYMBOLS, n_days=N_DAYS, seed=SEED)
    last = pl.col("symbol").str.strip_suffix("USDT").str.slice(-1)
    return panel.with_columns(
        sector=pl.when(last != "7").then(last),
        big=pl.col("dollar_volume") > pl.col("dollar_volume").median().over("date"),
    )


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    frame = make_panel()
    assert frame.height >= 250_000
    return frame


@pytest.fixture(scope="module")
def shuffled(panel: pl.DataFrame) -> pl.DataFrame:
    return panel.sample(fraction=1.0, shuffle=True, seed=SHUFFLE_SEED)


def same_bits(a: pl.DataFrame, b: pl.DataFrame, what: str = "") -> None:
    """Equal columns, nulls and values; floats bit for bit."""
    assert a.columns == b.columns, what
    assert a.height == b.height, what
    for column in a.columns:
        x, y = a[column], b[column]
        assert x.is_null().equals(y.is_null()), f"{what} {column}: nulls differ"
        if x.dtype.is_float():
            bits_x, bits_y = (s.fill_null(0.0).to_numpy().view(np.int64) for s in (x, y))
            differ = int(np.sum(bits_x != bits_y))
            assert differ == 0, f"{what} {column}: {differ} rows differ"
        else:
            assert x.equals(y), f"{what} {column}"


def same_output(pipeline: lf.Pipeline, panel: pl.DataFrame, shuffled: pl.DataFrame) -> None:
    base = pipeline(panel.lazy()).collect().sort(KEY)
    same_bits(base, pipeline(shuffled.lazy()).collect().sort(KEY))


def test_seed_carry(panel: pl.DataFrame, shuffled: pl.DataFrame) -> None:
    same_output(LAGGED >> lf.presets.seed_carry(), panel, shuffled)


def test_forward_returns(panel: pl.DataFrame, shuffled: pl.DataFrame) -> None:
    stages = [
        lf.ForwardReturns(
            horizons=(1, 5, 20), log=log, calendar=calendar, output_prefix=f"f{log:d}{calendar:d}_"
        )
        for log in (False, True)
        for calendar in (False, True)
    ]
    same_output(lf.Pipeline([LAGGED, *stages]), panel, shuffled)


CS_OPERATORS = {
    "rank": cs.rank,
    "zscore": cs.zscore,
    "demean": cs.demean,
    "winsorize": lambda x: cs.winsorize(x, 0.05),
    "scale": lambda x: cs.scale(x, 2.0),
    "quantile": lambda x: cs.quantile(x, 5),
    "neutralize": lambda x: cs.neutralize(x, "sector"),
}


def test_cs_operators(panel: pl.DataFrame, shuffled: pl.DataFrame) -> None:
    """Each operator, with and without a mask, on a raw column (run in the frame's own
    layout) and, added in one factor, on a many-lag term (the sorted layout; neutralize
    there: `test_neutralize_of_a_many_lag_term`)."""
    factors = [
        lf.Factor(f"{name}_{mask}", op(lf.col("funding_rate")), mask=mask)
        for name, op in CS_OPERATORS.items()
        for mask in (None, "big")
    ]
    lagged = ts.corr("close", "volume", 5)
    ops = [op for name, op in CS_OPERATORS.items() if name != "neutralize"]
    factors += [
        lf.Factor(f"sorted_{mask}", sum(op(lagged) for op in ops), mask=mask)
        for mask in (None, "big")
    ]
    same_output(lf.Pipeline([LAGGED, *factors]), panel, shuffled)


#: ``cs.neutralize`` in the sorted layout: its kernel nulls rows whose group is null, and must
#: read the group's sorted copy (it once read the frame's unsorted column by name, so rows
#: were nulled or kept by another row's group; without null groups nothing showed).
def test_neutralize_of_a_many_lag_term(panel: pl.DataFrame, shuffled: pl.DataFrame) -> None:
    lagged = ts.corr("close", "volume", 5)
    factors = [
        lf.Factor(f"neutralize_{mask}", cs.neutralize(lagged, "sector"), mask=mask)
        for mask in (None, "big")
    ]
    same_output(lf.Pipeline(factors), panel, shuffled)


def test_neutralize_of_a_many_lag_term_equals_it_in_two_steps() -> None:
    """Any size: the term in one factor (sorted layout) equals the many-lag term computed
    first and neutralised by a second factor (the frame's layout), and is null where the
    group is."""
    small = make_panel().filter(pl.col("date") < pl.date(2020, 1, 1))
    term = ts.corr("close", "volume", 5)
    one = lf.Factor("f", cs.neutralize(term, "sector"))(small.lazy()).collect()
    two = lf.Pipeline([lf.Factor("c", term), lf.Factor("f", cs.neutralize("c", "sector"))])
    assert one.filter(pl.col("sector").is_null())["f"].null_count() == small["sector"].null_count()
    same_bits(one, two(small.lazy()).collect().drop("c"))


def test_ts_operators(panel: pl.DataFrame, shuffled: pl.DataFrame) -> None:
    terms = {
        "delta": ts.delta("close", 5),
        "pct_change": ts.pct_change("close", 5),
        "product": ts.product(lf.col("close") / ts.delay("close", 1), 10),
        "std": ts.std("close", 10),
        "ewm_mean": ts.ewm_mean("funding_rate", 10.0),
        "decay_linear": ts.decay_linear("close", 10),
        "argmax": ts.argmax("close", 10),
        "rank": ts.rank("volume", 10),
    }
    factors = [lf.Factor(name, term) for name, term in terms.items()]
    same_output(lf.Pipeline([LAGGED, *factors]), panel, shuffled)


def signal_pipeline() -> lf.Pipeline:
    """`LAGGED`, the carry preset and forward returns: the frame the analytics read."""
    return LAGGED >> lf.presets.carry() >> lf.ForwardReturns(horizons=(1, 5))


def test_factor_analysis(panel: pl.DataFrame, shuffled: pl.DataFrame) -> None:
    """Every table of `FactorAnalysis.tables` (`factor_report` is its summary), from the
    lazy plans."""
    analysis = lf.FactorAnalysis(mask="is_universe")
    a, b = (analysis.tables(signal_pipeline()(frame.lazy())) for frame in (panel, shuffled))
    for name in TABLES:
        same_bits(getattr(a, name), getattr(b, name), name)


def test_audit(panel: pl.DataFrame, shuffled: pl.DataFrame) -> None:
    pipeline = LAGGED >> lf.presets.carry()
    a, b = pipeline.audit(panel), pipeline.audit(shuffled)
    same_bits(a.stages, b.stages, "stages")
    same_bits(a.dates, b.dates, "dates")


def test_backtest(panel: pl.DataFrame, shuffled: pl.DataFrame) -> None:
    """The same book from a sorted frame, that frame shuffled, and the lazy plan on the
    shuffled panel (the square-root impact's ADV is a Polars window inside the backtest)."""
    pipeline = LAGGED >> lf.presets.carry()
    frame = pipeline(panel.lazy()).collect().sort(KEY)
    options = {
        "costs": lf.costs.HalfSpread("spread") + lf.costs.SquareRootImpact(coef=0.5),
        "init_nav": 1e7,
    }
    allocator = lf.presets.seed_allocator()
    base = lf.backtest(frame, allocator, **options)
    assert base.book.height > 10_000
    for other in (frame.sample(fraction=1.0, shuffle=True, seed=1), pipeline(shuffled.lazy())):
        result = lf.backtest(other, allocator, **options)
        same_bits(base.metrics, result.metrics, "metrics")
        same_bits(base.book, result.book, "book")
        assert base.dropped == result.dropped


SCRIPT = f"""
import sys
import polars as pl
import lazyflow as lf
from test_large_determinism import KEY, TABLES, make_panel, signal_pipeline
panel = make_panel()
if sys.argv[2] == "shuffled":
    panel = panel.sample(fraction=1.0, shuffle=True, seed=3)
plan = signal_pipeline()(panel.lazy())
plan.collect().sort(KEY).write_parquet(f"{{sys.argv[1]}}_frame.parquet")
tables = lf.FactorAnalysis(score="lagged", mask="is_universe").tables(plan)
for name in {TABLES!r}:
    getattr(tables, name).write_parquet(f"{{sys.argv[1]}}_{{name}}.parquet")
"""


def test_bit_identical_across_thread_counts(tmp_path: Path) -> None:
    """The carry preset, a corr factor and the factor analysis: the panel with one Polars
    thread, its shuffle with two."""
    outputs = []
    for threads, order in ((1, "sorted"), (2, "shuffled")):
        out = tmp_path / f"out_{threads}"
        env = os.environ | {"POLARS_MAX_THREADS": str(threads)}
        paths = [str(Path(__file__).parent), env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
        subprocess.run(
            [sys.executable, "-c", SCRIPT, str(out), order], env=env, check=True, timeout=300
        )
        outputs.append(
            {name: pl.read_parquet(f"{out}_{name}.parquet") for name in ("frame", *TABLES)}
        )
    for name in ("frame", *TABLES):
        same_bits(outputs[0][name], outputs[1][name], name)
