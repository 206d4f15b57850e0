"""Honest sweep statistics: each configuration's PSR and DSR, the sweep's PBO, GridResult.pbo,
and duplicate grid values rejected before any work (issue 14, class 11)."""

from __future__ import annotations

import math
import tomllib

import numpy as np
import polars as pl
import pytest
import scipy.stats

import lazyflow as lf
import lazyflow.sweeps as sweep_module
from lazyflow import stats
from lazyflow.sweep_config import parse_sweep_config
from lazyflow.sweeps import sweep_result


@pytest.fixture(scope="module")
def result():
    panel = lf.synthetic_panel(n_symbols=30, n_days=180, seed=4)
    pipelines = lf.grid_pipelines(lf.presets.carry(), {"SigmoidTarget": {"k": [0.5, 2.0]}})
    allocators = lf.grid_allocators(lf.presets.seed_allocator(), {"lambda_risk": [0.5, 2.0, 8.0]})
    return panel, pipelines, allocators, sweep_result(panel, pipelines, allocators, n_jobs=1)


def _psr_scipy(x: np.ndarray, benchmark: float) -> float:
    sr = x.mean() / x.std(ddof=1)
    skew, kurt = scipy.stats.skew(x), scipy.stats.kurtosis(x, fisher=False)
    se = math.sqrt((1 - skew * sr + (kurt - 1) / 4 * sr**2) / (len(x) - 1))
    return float(scipy.stats.norm.cdf((sr - benchmark) / se))


def test_psr_and_dsr_of_each_configuration(result):
    panel, pipelines, allocators, res = result
    table = res.table
    assert table.columns[-2:] == ["sharpe_psr", "dsr"]
    n = len(allocators)
    daily = {}
    for row in table.iter_rows(named=True):
        frame = pipelines[row["pipeline"]](panel).collect()
        metrics = lf.backtest(frame, allocators[row["allocator"]]).metrics
        x = metrics["daily_return"].to_numpy()
        daily[row["config"]] = x
        np.testing.assert_allclose(res.returns[str(row["config"])].to_numpy(), x, rtol=1e-12)
        assert row["sharpe_psr"] == pytest.approx(_psr_scipy(x, 0.0), rel=1e-9)
        assert row["config"] == row["pipeline"] * n + row["allocator"]
    sharpes = np.array([x.mean() / x.std(ddof=1) for x in daily.values()])
    g, v, k = np.euler_gamma, sharpes.var(ddof=1), len(sharpes)
    sr_star = math.sqrt(v) * (
        (1 - g) * scipy.stats.norm.ppf(1 - 1 / k) + g * scipy.stats.norm.ppf(1 - 1 / (k * math.e))
    )
    for row in table.iter_rows(named=True):
        assert row["dsr"] == pytest.approx(_psr_scipy(daily[row["config"]], sr_star), rel=1e-9)
        assert row["dsr"] < row["sharpe_psr"]  # deflating against the best of 6 lowers it


def test_sweep_pbo_is_cscv_over_the_configurations_returns(result):
    *_, res = result
    matrix = res.returns.drop("date").to_numpy()
    assert res.returns.columns == ["date", *(str(c) for c in range(6))]
    want = stats.pbo(matrix, sweep_module.PBO_SPLITS)
    assert res.pbo is not None and res.pbo.pbo == want.pbo
    np.testing.assert_array_equal(res.pbo.lambdas, want.lambdas)
    assert "16 blocks" in res.pbo_note


def test_grid_result_pbo(result):
    panel, pipelines, allocators, res = result
    frame = pipelines[0](panel).collect()
    grid = lf.backtest_grid(frame, allocators)
    got = grid.pbo(8)
    want = stats.pbo(res.returns.select("0", "1", "2").to_numpy(), 8)
    assert got.pbo == want.pbo
    np.testing.assert_allclose(got.lambdas, want.lambdas)


def test_pbo_needs_enough_dates_and_configurations():
    panel = lf.synthetic_panel(n_symbols=20, n_days=25, seed=1)
    res = sweep_result(panel, lf.presets.carry(), {"lambda_risk": [1.0, 2.0]}, n_jobs=1)
    assert res.pbo is None and "at least 32 dates" in res.pbo_note
    one = sweep_result(panel, lf.presets.carry(), lf.BufferedAllocator(), n_jobs=1)
    assert one.pbo is None and "2 configurations" in one.pbo_note


def _no_work(*args, **kwargs):
    raise AssertionError("the sweep started work")


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: lf.grid_pipelines(lf.presets.carry(), {"SigmoidTarget": {"k": [1.0, 1.0]}}),
            "SigmoidTarget (stage 5): parameter 'k' repeats the value 1.0",
        ),
        (
            lambda: lf.grid_pipelines(
                lf.presets.carry(), {"SigmoidTarget": {"keep_deciles": [(1, 10), (1, 10)]}}
            ),
            "parameter 'keep_deciles' repeats the value (1, 10)",
        ),
        (
            lambda: lf.grid_allocators(None, {"lambda_risk": [1, 2, 1.0]}),
            "grid_allocators: parameter 'lambda_risk' repeats the value 1.0 (positions 0 and 2)",
        ),
        (
            lambda: lf.sweep(lf.synthetic_panel(5, 5), lf.presets.carry(), {"max_pos": [0.2, 0.2]}),
            "parameter 'max_pos' repeats the value 0.2",
        ),
    ],
)
def test_duplicate_grid_values_are_config_errors_before_work(monkeypatch, call, message):
    monkeypatch.setattr(sweep_module, "evaluate", _no_work)
    with pytest.raises(lf.ConfigError) as err:
        call()
    assert message in str(err.value)


STAGES = """
[data]
source = "synthetic"
n_symbols = 10
n_days = 40
[[stages]]
type = "LogReturns"
[[stages]]
type = "VolumeUniverse"
[[stages]]
type = "FundingCarry"
[[stages]]
type = "Deciles"
[[stages]]
type = "SigmoidTarget"
k = [1.0, 2.0, 1]
[[stages]]
type = "EwmaVol"
[[stages]]
type = "RangeSpread"
"""


def test_duplicate_grid_values_in_a_config_file():
    with pytest.raises(lf.ConfigError, match=r"stages\[5\]\.k repeats the value 1\.0"):
        parse_sweep_config(tomllib.loads(STAGES))
    allocator = STAGES.replace("k = [1.0, 2.0, 1]", "k = 1.0") + (
        "[allocator]\nturnover_cap = [false, 0.3, false]\n"
    )
    with pytest.raises(lf.ConfigError, match=r"allocator\.turnover_cap repeats the value None"):
        parse_sweep_config(tomllib.loads(allocator))


def test_config_file_metric_may_be_the_deflated_sharpe():
    parsed = parse_sweep_config(
        tomllib.loads(
            STAGES.replace("k = [1.0, 2.0, 1]", "k = [1.0, 2.0]") + '[sweep]\nmetric = "dsr"\n'
        )
    )
    assert parsed.metric == "dsr"


SWEEP_CONFIG = STAGES.replace("k = [1.0, 2.0, 1]", "k = [0.5, 2.0]").replace(
    "n_days = 40", "n_days = 160"
) + ("[allocator]\nlambda_risk = [0.5, 4.0]\n[walk_forward]\ntrain = 40\ntest = 20\npurge = 1\n")


def test_sweep_command_reports_dsr_pbo_and_walk_forward(tmp_path, capsys):
    from lazyflow.cli import main

    path = tmp_path / "s.toml"
    path.write_text(SWEEP_CONFIG, encoding="utf-8")
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--jobs", "1"]) == 0
    printed = capsys.readouterr().out
    assert "deflated Sharpe ratio of the best" in printed
    assert "probability of backtest overfitting: " in printed and "walk-forward: " in printed
    config = parse_sweep_config(tomllib.loads(SWEEP_CONFIG))
    panel = lf.synthetic_panel(n_symbols=10, n_days=160, seed=0)
    want = sweep_result(panel, config.pipelines(), config.allocators(), n_jobs=1)
    assert pl.read_parquet(out / "sweep.parquet").equals(want.table)
    walk = lf.walk_forward(
        panel, config.pipelines(), config.allocators(), train=40, test=20, purge=1
    )
    assert pl.read_parquet(out / "walk_forward.parquet").equals(walk.metrics)
    assert pl.read_parquet(out / "walk_forward_windows.parquet").equals(walk.windows)
    page = (out / "report.html").read_text(encoding="utf-8")
    for fragment in ("deflated Sharpe ratio", f"PBO {want.pbo.pbo:.1%}", "Walk-forward"):
        assert fragment in page
    for chart in ("sweep_pbo", "walk_forward_nav"):
        assert (out / "report_files" / f"{chart}.png").stat().st_size > 0


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("purge = 1", "purge = 1\nwindow = 3", "walk_forward.window: unknown key"),
        ("train = 40\n", "", "walk_forward.train: missing"),
        ("purge = 1", "step = 30", "'step' (30) must be <= test (20)"),
        ("purge = 1", 'metric = "alpha"', "'metric' must be one of"),
        ("train = 40", 'train = "40"', "walk_forward.train"),
    ],
)
def test_walk_forward_table_errors(old, new, message):
    assert old in SWEEP_CONFIG
    with pytest.raises(lf.ConfigError) as err:
        parse_sweep_config(tomllib.loads(SWEEP_CONFIG.replace(old, new)))
    assert message in str(err.value)
