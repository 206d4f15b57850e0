"""`lf.sweep(engine="ray")` on a local Ray instance gives the local engine's table."""

from __future__ import annotations

import polars as pl
import pytest

import lazyflow as lf

ray = pytest.importorskip("ray")


def test_sweep_starts_and_stops_its_own_ray_when_none_is_running():
    assert not ray.is_initialized()
    panel = lf.synthetic_panel(n_symbols=20, n_days=60, seed=3)
    grid = {"lambda_risk": [1.0, 2.0]}
    table = lf.sweep(panel, lf.presets.carry(), grid, engine="ray", address=None)
    assert not ray.is_initialized()
    assert table.equals(lf.sweep(panel, lf.presets.carry(), grid, n_jobs=1))


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for the module (starting Ray takes seconds)."""
    ray.init(num_cpus=2, include_dashboard=False)
    yield
    ray.shutdown()


def test_ray_engine_gives_the_local_table(local_ray):
    panel = lf.synthetic_panel(n_symbols=40, n_days=160, seed=4)
    pipelines = lf.grid_pipelines(
        lf.presets.carry(),
        {"FundingCarry": {"winsor": [0.02, 0.1]}, "SigmoidTarget": {"k": [0.5, 2.0]}},
    )
    allocators = lf.grid_allocators(
        lf.presets.seed_allocator(), {"lambda_risk": [0.5, 4.0], "vol_target": [None, 0.3]}
    )
    local = lf.sweep(panel, pipelines, allocators, lf.presets.SEED_BACKTEST, n_jobs=1)
    on_ray = lf.sweep(panel.lazy(), pipelines, allocators, lf.presets.SEED_BACKTEST, engine="ray")
    assert ray.is_initialized()  # an initialised Ray is used as it is, not shut down
    assert on_ray.equals(local)
    assert on_ray.height == 16 and on_ray["config"].to_list() == list(range(16))


def test_ray_task_errors_reach_the_caller(local_ray):
    # the schema is fine but the frame has one date only: the backtest's DataError
    panel = lf.synthetic_panel(n_symbols=20, n_days=40, seed=1)
    one_day = panel.filter(pl.col("date") == pl.col("date").max())
    with pytest.raises(lf.DataError, match="at least 2 dates"):
        lf.sweep(one_day, lf.presets.carry(), lf.BufferedAllocator(), engine="ray")
