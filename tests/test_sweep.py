"""Parameter sweeps: the grid scan against `lf.backtest` per configuration, grid building,
`lf.sweep` (local engine, shared frames, parameter columns), errors."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import math
import pickle
import sys

import numpy as np
import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lazyflow as lf
import lazyflow.portfolio.grid as grid_module
import lazyflow.sweeps as sweep_module
from lazyflow.portfolio.allocator import desired_weights, grid_settings, rebalance_step
from lazyflow.portfolio.grid import GRID_METRICS

START = dt.date(2024, 1, 1)


def messy_panel(seed: int, n_sym: int = 7, n_days: int = 40) -> pl.DataFrame:
    """A signal frame with missing rows, untradable flags and a few bad values."""
    rng = np.random.default_rng(seed)
    n = n_sym * n_days
    day = np.repeat(np.arange(n_days), n_sym)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.04, (n_days, n_sym)), axis=0)).ravel()
    vol = rng.uniform(0.01, 0.08, n)
    vol[rng.uniform(size=n) < 0.03] = np.nan
    frame = pl.DataFrame(
        {
            "date": [START + dt.timedelta(days=int(d)) for d in day],
            "symbol": [f"S{i}" for i in np.tile(np.arange(n_sym), n_days)],
            "target_position": rng.uniform(-0.9, 0.9, n),
            "vol_fcst": vol,
            "spread": rng.uniform(0.0005, 0.02, n),
            "close": close,
            "funding_rate": np.where(rng.uniform(size=n) < 0.03, np.nan, rng.normal(1e-4, 4e-4, n)),
            "is_universe": rng.uniform(size=n) > 0.2,
        }
    )
    return frame.filter(pl.Series(rng.uniform(size=n) > 0.15))


allocators = st.builds(
    lf.BufferedAllocator,
    lambda_risk=st.floats(0.5, 20.0),
    gamma_cost=st.floats(0.0, 2.0),
    max_pos=st.floats(0.05, 1.0),
    gross_cap=st.floats(0.2, 3.0),
    turnover_cap=st.none() | st.floats(0.0, 1.0),
    ignore_open=st.booleans(),
    vol_target=st.none() | st.floats(0.05, 1.0),
    periods_per_year=st.sampled_from([365, 252]),
)


def assert_close(got: np.ndarray, want: np.ndarray, what: str) -> None:
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12, err_msg=what)


def assert_matches_backtests(result: lf.GridResult, frame: pl.DataFrame, **kwargs) -> None:
    """Column j of every grid metric, the drop counts and the summary are lf.backtest's."""
    summary = result.summary()
    for j, alloc in enumerate(result.allocators):
        one = lf.backtest(frame, alloc, **kwargs)
        for name in GRID_METRICS:
            assert_close(result.metrics[name][:, j], one.metrics[name].to_numpy(), name)
        assert {k: int(v[j]) for k, v in result.dropped.items()} == one.dropped
        for key, value in one.summary().items():
            assert_close(np.array(summary[key][j]), np.array(value), key)


# ------------------------------------------------------------------ the grid scan


@given(
    grid=st.lists(allocators, min_size=1, max_size=5),
    seed=st.integers(0, 10_000),
    cost=st.sampled_from([0.0, 0.001]),
    funding=st.booleans(),
)
def test_grid_equals_backtest_per_configuration(grid, seed, cost, funding):
    frame = messy_panel(seed)
    kwargs = {"cost_per_dollar": cost, "include_funding": funding, "init_nav": 2.0}
    result = lf.backtest_grid(frame, grid, **kwargs)
    assert result.dates.to_list() == sorted(frame["date"].unique().to_list())[:-1]
    assert_matches_backtests(result, frame, **kwargs)


def test_blocks_give_the_same_result(monkeypatch):
    frame = messy_panel(3, n_sym=9, n_days=60)
    grid = lf.grid_allocators(
        lf.presets.seed_allocator(),
        {"lambda_risk": [0.5, 2, 8], "turnover_cap": [None, 0.2], "ignore_open": [True, False]},
    )
    calls = []
    run_scan = grid_module.run_scan
    monkeypatch.setattr(
        grid_module, "run_scan", lambda *a, **k: calls.append(1) or run_scan(*a, **k)
    )
    whole = lf.backtest_grid(frame, grid, cost_per_dollar=0.0005)
    assert len(calls) == 1  # twelve configurations, one pass over the dates
    monkeypatch.setattr(grid_module, "GRID_CELLS", 1)  # blocks of one configuration
    blocked = lf.backtest_grid(frame, grid, cost_per_dollar=0.0005)
    assert len(calls) == 1 + 12
    for name in GRID_METRICS:
        assert_close(blocked.metrics[name], whole.metrics[name], name)
    assert_matches_backtests(blocked, frame, cost_per_dollar=0.0005)


@given(grid=st.lists(allocators, min_size=2, max_size=5), seed=st.integers(0, 10_000))
def test_grid_steps_are_each_allocators_steps(grid, seed):
    """desired_weights and rebalance_step on a grid: column j is allocator j's 1-D step."""
    rng = np.random.default_rng(seed)
    n = 11
    target, vol = rng.uniform(-1, 1, n), rng.uniform(0.01, 0.1, n)
    spread, is_new = rng.uniform(0.0005, 0.02, n), rng.uniform(size=n) < 0.3
    bounds = np.array([0, 4, 4, n])
    x_prev = rng.uniform(-0.3, 0.3, (n, len(grid)))
    s = grid_settings(grid)
    w2, buf2 = desired_weights(s, target[:, None], vol[:, None], spread[:, None], bounds)
    w2 = np.broadcast_to(w2, x_prev.shape)  # (n, 1) when no allocator has a vol target
    steps = [
        rebalance_step(s, x_prev[a:b], is_new[a:b, None], w2[a:b], buf2[a:b])
        for a, b in [(0, 4), (4, n)]
    ]
    for j, alloc in enumerate(grid):
        w, buf = alloc.desired(target, vol, spread, bounds)
        assert_close(w2[:, j], w, "w_desired")
        assert_close(buf2[:, j], buf, "buffer")
        for (a, b), two in zip([(0, 4), (4, n)], steps, strict=True):
            one = alloc.rebalance(x_prev[a:b, j], is_new[a:b], w[a:b], buf[a:b])
            for name, got, want in zip(one._fields, two, one, strict=True):
                assert_close(got[:, j], want, name)


def test_grid_errors_name_the_configuration():
    frame = messy_panel(0)
    bad = [lf.BufferedAllocator(), lf.BufferedAllocator(max_pos=-1.0)]
    with pytest.raises(lf.ConfigError, match=r"allocators\[1\]: .*'max_pos'"):
        lf.backtest_grid(frame, bad)
    with pytest.raises(lf.ConfigError, match="unknown backtest argument 'cost'"):
        lf.backtest_grid(frame, [lf.BufferedAllocator()], cost=0.1)
    with pytest.raises(lf.ConfigError, match="'init_nav'"):
        lf.backtest_grid(frame, [lf.BufferedAllocator()], init_nav=0.0)
    with pytest.raises(lf.ConfigError, match="no allocators"):
        lf.backtest_grid(frame, [])
    with pytest.raises(lf.SchemaError, match="spread"):
        lf.backtest_grid(frame.drop("spread"), [lf.BufferedAllocator()])


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning", "ignore:invalid:RuntimeWarning")
def test_non_finite_nav_is_backtests_error_for_that_configuration():
    crash = START + dt.timedelta(days=9)  # closes of 1e-308, then ~50: the NAV overflows
    frame = messy_panel(1).with_columns(
        close=pl.when(pl.col("date") == crash).then(1e-308).otherwise(pl.col("close"))
    )
    grid = [lf.BufferedAllocator(gamma_cost=0.0, max_pos=1.0, gross_cap=3.0)] * 2
    with pytest.raises(lf.DataError) as one:
        lf.backtest(frame, grid[0])
    with pytest.raises(lf.DataError, match=r"backtest_grid: allocators\[0\]: ") as many:
        lf.backtest_grid(frame, grid)
    assert str(one.value) in str(many.value)


# ------------------------------------------------------------------ grids


def test_grid_allocators_product_order_and_fixed_values():
    base = lf.presets.seed_allocator()
    grid = lf.grid_allocators(
        base, {"lambda_risk": [1, 2, 4], "vol_target": [None, 0.3], "max_pos": 0.1}
    )
    assert len(grid) == 6
    assert [(a.lambda_risk, a.vol_target) for a in grid] == [
        (lam, vt) for lam in (1, 2, 4) for vt in (None, 0.3)
    ]
    assert all(a.max_pos == 0.1 and a.gross_cap == base.gross_cap for a in grid)
    assert lf.grid_allocators() == [lf.BufferedAllocator()]


def test_grid_pipelines_by_name_or_position_lists_are_grids_tuples_are_values():
    base = lf.presets.carry()
    pipes = lf.grid_pipelines(
        base,
        {"FundingCarry": {"winsor": [0.01, 0.05]}, 4: {"n_quantiles": [5, 10], "mask": None}},
    )
    assert len(pipes) == 4
    got = [(p.stages[3].winsor, p.stages[4].n_quantiles) for p in pipes]
    assert got == [(0.01, 5), (0.01, 10), (0.05, 5), (0.05, 10)]
    assert all(p.stages[:3] == base.stages[:3] and p.stages[5:] == base.stages[5:] for p in pipes)
    fixed = lf.grid_pipelines(base, {"SigmoidTarget": {"x_offset": 0.5}})
    assert len(fixed) == 1 and fixed[0].stages[5].x_offset == 0.5


@pytest.mark.parametrize(
    ("grid", "message"),
    [
        ({"Nope": {"k": [1]}}, "'Nope' is not a stage"),
        ({9: {"k": [1]}}, "position 9 is not in 0..7"),
        ({"SigmoidTarget": {"kk": [1]}}, "unknown parameter 'kk'"),
        ({"SigmoidTarget": {"k": []}}, "'k' has an empty list"),
        ({"SigmoidTarget": [1]}, "must be a mapping"),
    ],
)
def test_grid_pipelines_errors(grid, message):
    with pytest.raises(lf.ConfigError, match=message):
        lf.grid_pipelines(lf.presets.carry(), grid)


def test_grid_pipelines_ambiguous_class_needs_a_position():
    base = lf.Pipeline([lf.Deciles(), lf.Deciles(score_col="x", output_col="dx")])
    with pytest.raises(lf.ConfigError, match=r"positions \[0, 1\]"):
        lf.grid_pipelines(base, {"Deciles": {"n_quantiles": [5]}})
    assert lf.grid_pipelines(base, {1: {"n_quantiles": [5]}})[0].stages[1].n_quantiles == 5


# ------------------------------------------------------------------ lf.sweep


@pytest.fixture(scope="module")
def small_panel() -> pl.DataFrame:
    return lf.synthetic_panel(n_symbols=40, n_days=160, seed=2)


PIPELINES = lf.grid_pipelines(
    lf.presets.carry(),
    {"VolumeUniverse": {"min_decile": [7, 9]}, "SigmoidTarget": {"k": [1.0, 3.0]}},
)
ALLOCATORS = lf.grid_allocators(
    lf.presets.seed_allocator(), {"lambda_risk": [0.5, 4.0], "turnover_cap": [None, 0.1]}
)


def test_sweep_rows_are_backtests_of_each_configuration(small_panel):
    table = lf.sweep(small_panel, PIPELINES, ALLOCATORS, lf.presets.SEED_BACKTEST, n_jobs=1)
    n = len(ALLOCATORS)
    assert table.height == len(PIPELINES) * n
    assert table["config"].to_list() == list(range(table.height))
    assert table.columns[:5] == [
        "config",
        "pipeline",
        "allocator",
        "stage.VolumeUniverse.min_decile",
        "stage.SigmoidTarget.k",
    ]
    for row in table.iter_rows(named=True):
        pipe, alloc = PIPELINES[row["pipeline"]], ALLOCATORS[row["allocator"]]
        assert row["config"] == row["pipeline"] * n + row["allocator"]
        assert row["stage.VolumeUniverse.min_decile"] == pipe.stages[2].min_decile
        assert row["stage.SigmoidTarget.k"] == pipe.stages[5].k
        for field, value in dataclasses.asdict(alloc).items():
            assert row[f"allocator.{field}"] == value
        frame = pipe(small_panel).collect()
        want = lf.backtest(frame, alloc, **lf.presets.SEED_BACKTEST).summary()
        for key, value in want.items():
            assert math.isclose(row[key], value, rel_tol=1e-12, abs_tol=1e-12), key


def test_sweep_process_pool_gives_the_same_table(small_panel):
    one = lf.sweep(small_panel, PIPELINES[:2], ALLOCATORS, n_jobs=1)
    pool = lf.sweep(small_panel.lazy(), PIPELINES[:2], ALLOCATORS, n_jobs=2)
    assert pool.equals(one)


def test_equal_pipelines_share_one_collected_frame(small_panel, monkeypatch):
    calls = []
    evaluate = sweep_module.evaluate
    monkeypatch.setattr(sweep_module, "evaluate", lambda *a: calls.append(a) or evaluate(*a))
    copy = lf.Pipeline(list(PIPELINES[0].stages))
    table = lf.sweep(small_panel, [PIPELINES[0], PIPELINES[1], copy], ALLOCATORS[:2], n_jobs=1)
    assert len(calls) == 2 and table.height == 6
    assert "stage.SigmoidTarget.k" in table.columns  # min_decile is 7 in all three: no column
    assert not any("min_decile" in c for c in table.columns)
    by = table.partition_by("pipeline", as_dict=True)
    assert by[(0,)].drop("config", "pipeline").equals(by[(2,)].drop("config", "pipeline"))


def test_sweep_allocator_grid_forms_and_unequal_pipelines(small_panel):
    other = lf.presets.seed_carry() >> (lambda f: f)
    table = lf.sweep(small_panel, [lf.presets.carry(), other], {"lambda_risk": [1, 2]}, n_jobs=1)
    assert table["allocator.lambda_risk"].to_list() == [1, 2, 1, 2]
    assert table["stages"].to_list()[::2] == [repr(lf.presets.carry()), repr(other)]
    single = lf.sweep(small_panel, lf.presets.carry(), lf.BufferedAllocator(), n_jobs=1)
    assert single.height == 1 and "stages" not in single.columns


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"engine": "dask"}, "engine must be one of local, ray"),
        ({"n_jobs": 0}, "'n_jobs' must be None or an integer >= 1"),
        ({"n_jobs": 2, "engine": "ray"}, "n_jobs is for engine='local'"),
        ({"address": "auto"}, "address is for engine='ray'"),
        ({"backtest_kw": {"progress": print}}, "may not set 'progress'"),
        ({"backtest_kw": {"fees": 1}}, "unknown backtest argument 'fees'"),
        (
            {"allocator_grid": [lf.BufferedAllocator(), lf.BufferedAllocator(gamma_cost=-1)]},
            r"allocators\[1\]",
        ),
        ({"allocator_grid": []}, "allocator_grid must be a non-empty list"),
        ({"pipeline_grid": [lf.presets.carry(), "x"]}, r"pipeline_grid\[1\] must be a Pipeline"),
        (
            {
                "pipeline_grid": lf.grid_pipelines(
                    lf.presets.carry(), {"FundingCarry": {"winsor": 0.7}}
                )
            },
            r"pipelines\[0\]: FundingCarry: parameter 'winsor'",
        ),
    ],
)
def test_sweep_errors_before_any_work(small_panel, monkeypatch, kwargs, message):
    monkeypatch.setattr(sweep_module, "evaluate", None)  # nothing may run
    args = {"pipeline_grid": lf.presets.carry(), "allocator_grid": lf.BufferedAllocator()} | kwargs
    with pytest.raises(lf.ConfigError, match=message):
        lf.sweep(small_panel, **args)


def test_sweep_schema_errors_name_the_stage_or_the_backtest(small_panel, monkeypatch):
    monkeypatch.setattr(sweep_module, "evaluate", None)
    with pytest.raises(lf.SchemaError, match="FundingCarry: column 'funding_rate'"):
        lf.sweep(small_panel.drop("funding_rate"), lf.presets.carry(), lf.BufferedAllocator())
    with pytest.raises(lf.SchemaError, match="backtest: column 'vol_fcst'"):
        lf.sweep(small_panel, lf.Pipeline(lf.presets.carry().stages[:6]), lf.BufferedAllocator())


def test_unpicklable_stage_needs_one_worker(small_panel):
    pipes = [lf.presets.carry() >> (lambda f: f), lf.presets.seed_carry()]
    with pytest.raises(lf.ConfigError, match="cannot be pickled"):
        lf.sweep(small_panel, pipes, lf.BufferedAllocator(), n_jobs=2)
    assert lf.sweep(small_panel, pipes, lf.BufferedAllocator(), n_jobs=1).height == 2


def test_a_factor_pipeline_goes_to_the_worker_processes(small_panel):
    """Terms pickle (as their constructor's arguments) and copy (as themselves): a sweep over
    Factor pipelines with two workers ran into `Term is immutable` in every worker, which
    died, and the sweep blamed the main script. Checked against n_jobs=1."""
    term = lf.cs.rank(lf.ts.delta("close", 5)) + lf.where(lf.col("close") > 1, 2.0, -1.0)
    again = pickle.loads(pickle.dumps(term))
    assert again == term and hash(again) == hash(term) and str(again) == str(term)
    assert copy.deepcopy(term) is term and copy.copy(term) is term
    pipes = [lf.presets.carry() >> lf.Factor("mom", term), lf.presets.seed_carry()]
    allocator = lf.BufferedAllocator()
    two = lf.sweep(small_panel, pipes, allocator, n_jobs=2)
    assert two.equals(lf.sweep(small_panel, pipes, allocator, n_jobs=1))


def test_ray_engine_without_ray_says_how_to_install(small_panel, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(lf.ConfigError, match=r"pip install 'lazyflow\[ray\]'"):
        lf.sweep(small_panel, lf.presets.carry(), lf.BufferedAllocator(), engine="ray")
