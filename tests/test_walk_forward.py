"""`lf.walk_forward`: windows, choices against a brute-force recomputation, one continuous
out-of-sample book (== `lf.backtest` when nothing switches), and no look-ahead."""

from __future__ import annotations

import datetime as dt
import math
import sys

import numpy as np
import polars as pl
import pytest

import lazyflow as lf
from lazyflow.walk_forward import walk_forward

PIPES = lf.grid_pipelines(lf.presets.carry(), {"SigmoidTarget": {"k": [0.5, 3.0]}})
ALLOCS = lf.grid_allocators(
    lf.presets.seed_allocator(), {"lambda_risk": [0.5, 8.0], "gamma_cost": [0.0, 1.0]}
)
KW = {"cost_per_dollar": 0.001}


@pytest.fixture(scope="module")
def panel() -> pl.DataFrame:
    return lf.synthetic_panel(n_symbols=25, n_days=220, seed=3)


@pytest.fixture(scope="module")
def walked(panel):
    return walk_forward(panel, PIPES, ALLOCS, train=50, test=30, purge=2, backtest_kw=KW)


def test_windows_are_rolling_spans_of_rebalance_dates(panel, walked):
    dates = PIPES[0](panel).collect()["date"].unique().sort()[:-1]  # rebalance dates
    w = walked.windows
    assert w["window"].to_list() == list(range(w.height))
    for i, row in enumerate(w.iter_rows(named=True)):
        start = 50 + 2 + 30 * i
        assert row["test_start"] == dates[start]
        assert row["test_end"] == dates[min(start + 30, dates.len()) - 1]
        assert row["train_end"] == dates[start - 3] and row["train_start"] == dates[start - 52]
    assert walked.metrics["date"].to_list() == dates[52:].to_list()
    expanding = walk_forward(
        panel, PIPES[0], ALLOCS[:2], train=50, test=60, purge=0, expanding=True, backtest_kw=KW
    )
    assert set(expanding.windows["train_start"]) == {dates[0]}


def test_choice_is_the_best_training_sharpe_recomputed_by_hand(panel, walked):
    returns = {}
    for p, pipe in enumerate(PIPES):
        frame = pipe(panel).collect()
        for a, alloc in enumerate(ALLOCS):
            metrics = lf.backtest(frame, alloc, **KW).metrics
            returns[p * len(ALLOCS) + a] = (metrics["date"], metrics["daily_return"].to_numpy())
    for row in walked.windows.iter_rows(named=True):
        sharpes = []
        for c in range(len(returns)):
            dates, r = returns[c]
            inside = ((dates >= row["train_start"]) & (dates <= row["train_end"])).to_numpy()
            x = r[inside]
            sharpes.append(x.mean() / x.std(ddof=1) * math.sqrt(365))
        assert row["config"] == int(np.argmax(sharpes))
        assert row["is_sharpe"] == pytest.approx(max(sharpes), rel=1e-9)
        assert row["config"] == row["pipeline"] * len(ALLOCS) + row["allocator"]
    assert walked.windows["config"].n_unique() > 1  # the test switches configurations


@pytest.mark.parametrize("drift", [True, False])
def test_one_configuration_is_one_continuous_backtest(panel, drift):
    """Nothing to choose: the book is `lf.backtest` from the first test date, positions
    carried across windows (a restart per window would trade the whole book again)."""
    kw = KW | {"drift": drift}
    result = walk_forward(panel, PIPES[0], ALLOCS[0], train=40, test=25, backtest_kw=kw)
    frame = PIPES[0](panel).collect()
    start = result.metrics["date"][0]
    want = lf.backtest(frame.filter(pl.col("date") >= start), ALLOCS[0], **kw).metrics
    for column in ("nav", "daily_return", "turnover_pct", "gross_exposure", "cost"):
        np.testing.assert_allclose(
            result.metrics[column].to_numpy(), want[column].to_numpy(), rtol=1e-12, atol=1e-15
        )
    second = result.windows["test_start"][1]
    turnover = result.metrics.filter(pl.col("date") == second)["turnover_pct"][0]
    gross = result.metrics.filter(pl.col("date") == second)["gross_exposure"][0]
    assert turnover < 0.5 * gross  # carried, not rebuilt from zero
    assert result.summary["sharpe"] == pytest.approx(
        lf.backtest(frame.filter(pl.col("date") >= start), ALLOCS[0], **kw).summary()["sharpe"]
    )


def _changed_after(panel: pl.DataFrame, cut: dt.date, seed: int = 0) -> pl.DataFrame:
    """`panel` with every close and funding rate dated after `cut` changed."""
    noise = pl.Series(np.random.default_rng(seed).uniform(0.5, 1.5, panel.height))
    later = pl.col("date") > cut
    return panel.with_columns(
        close=pl.when(later).then(pl.col("close") * noise).otherwise(pl.col("close")),
        funding_rate=pl.when(later).then(-pl.col("funding_rate")).otherwise(pl.col("funding_rate")),
    )


@pytest.mark.parametrize("window", [0, 2, 4])
def test_no_look_ahead(panel, walked, window):
    """Changing every price and funding after a test window's end (and its marking date)
    leaves that window's choice and the book up to its end unchanged; changing them after
    its training window (and that window's marking date) leaves its choice unchanged."""
    w = walked.windows.row(window, named=True)
    run = {"train": 50, "test": 30, "purge": 2, "backtest_kw": KW}
    again = walk_forward(
        _changed_after(panel, w["test_end"] + dt.timedelta(days=1)), PIPES, ALLOCS, **run
    )
    assert again.windows.head(window + 1).equals(walked.windows.head(window + 1))
    upto = pl.col("date") <= w["test_end"]
    assert (
        again.metrics.filter(upto)
        .drop("best_nav")
        .equals(walked.metrics.filter(upto).drop("best_nav"))
    )
    assert not again.metrics.equals(walked.metrics)  # the change did reach later dates
    trained = _changed_after(panel, w["train_end"] + dt.timedelta(days=1), seed=1)
    choice = walk_forward(trained, PIPES, ALLOCS, **run).windows.row(window, named=True)
    assert (choice["config"], choice["is_metric"]) == (w["config"], w["is_metric"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"train": 1, "test": 5}, "'train' must be an integer >= 2"),
        ({"train": 20, "test": 0}, "'test' must be an integer >= 1"),
        ({"train": 20, "test": 5, "step": 6}, "'step' (6) must be <= test (5)"),
        ({"train": 20, "test": 5, "purge": -1}, "'purge' must be an integer >= 0"),
        ({"train": 20, "test": 5, "metric": "alpha"}, "'metric' must be one of"),
        ({"train": 20, "test": 5, "expanding": 1}, "'expanding' must be True or False"),
        ({"train": 2.5, "test": 5}, "'train' must be an integer"),
    ],
)
def test_bad_parameters(panel, kwargs, message):
    with pytest.raises(lf.ConfigError) as err:
        walk_forward(panel, PIPES[0], ALLOCS[0], **kwargs)
    assert message in str(err.value) and "walk_forward" in str(err.value)


def test_allocators_must_share_the_rebalance_steps_fields(panel, monkeypatch):
    module = sys.modules["lazyflow.walk_forward"]  # lf.walk_forward is the function
    monkeypatch.setattr(module, "backtest_grid", None)  # no work may start
    capped = lf.grid_allocators(lf.presets.seed_allocator(), {"turnover_cap": [None, 0.1]})
    with pytest.raises(lf.ConfigError, match=r"allocators\[1\]\.turnover_cap differs"):
        walk_forward(panel, PIPES[0], capped, train=20, test=5)


def test_too_few_dates_is_a_data_error(panel):
    with pytest.raises(lf.DataError, match="leave no test window"):
        walk_forward(panel, PIPES[0], ALLOCS[0], train=300, test=5)
