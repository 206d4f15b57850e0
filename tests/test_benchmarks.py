"""The large-universe benchmark (issue 5): the naive implementation and the harness.

Run with ``python -m pytest`` from the repository root (the `benchmarks` package is not
installed).
"""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

import lazyflow as lf
from benchmarks.__main__ import main, scaling
from benchmarks.naive import max_difference, naive_pipeline
from benchmarks.workloads import WORKLOADS, Workload, parse_workload

ADDED = [
    "log_returns",
    "trail_volume",
    "volume_decile",
    "is_universe",
    "carry_score",
    "decile_carry",
    "alpha",
    "target_position",
    "vol_fcst",
    "spread",
]


def test_naive_pipeline_matches_the_carry_preset():
    """The notebook-style pipeline and lazyflow's plan compute the same columns.

    Their per-date sums add in different orders, so scores may differ in the last bits, and
    a carry decile may then differ where scores of one date are within 1e-12 of each other
    (funding rates equal up to rounding): only there.
    """
    panel = lf.synthetic_panel(n_symbols=80, n_days=250, seed=3)
    naive = naive_pipeline(panel)
    # the naive pipeline's log returns span a row that drop_nulls removed, as the notebook's
    stages = [
        lf.LogReturns(calendar=False) if isinstance(s, lf.LogReturns) else s
        for s in lf.presets.carry().stages
    ]
    frame = lf.Pipeline(stages)(panel.lazy()).collect()
    assert naive.columns == frame.columns
    assert naive.select("date", "symbol").equals(frame.select("date", "symbol"))
    for column in ("volume_decile", "is_universe"):
        assert naive[column].equals(frame[column]), column
    assert max_difference(naive, frame, ADDED[:5] + ADDED[-2:]) <= 1e-9
    near_tie = (
        frame.sort("date", "carry_score")
        .with_columns(gap=pl.col("carry_score").diff().abs().over("date"))
        .with_columns(
            tie=(pl.col("gap") <= 1e-12) | (pl.col("gap").shift(-1).over("date") <= 1e-12)
        )
        .select("date", "symbol", "tie")
    )
    differ = (
        frame.select("date", "symbol", "decile_carry")
        .join(naive.select("date", "symbol", naive="decile_carry"), on=["date", "symbol"])
        .filter(pl.col("decile_carry") != pl.col("naive"))
        .join(near_tie, on=["date", "symbol"])
    )
    assert differ["tie"].all(), differ.filter(~pl.col("tie"))
    assert differ.height < frame.height // 100
    same = naive["decile_carry"] == frame["decile_carry"]
    for column in ("alpha", "target_position"):
        assert naive.filter(same)[column].equals(frame.filter(same)[column]), column


def test_max_difference_sees_values_keys_and_nulls():
    a = pl.DataFrame({"date": [1, 2], "symbol": ["A", "A"], "x": [1.0, 2.0]})
    assert max_difference(a, a, ["x"]) == 0.0
    assert max_difference(a, a.with_columns(pl.col("x") + 0.5), ["x"]) == 0.5
    assert max_difference(a, a.with_columns(x=pl.Series([1.0, None])), ["x"]) == np.inf
    assert max_difference(a, a.head(1), ["x"]) == np.inf


def test_parse_workload():
    assert parse_workload("w2") is WORKLOADS["W2"]
    assert WORKLOADS["W4"].opt_in and not WORKLOADS["W3"].opt_in
    assert parse_workload("120x30") == Workload("120x30", 120, 30)
    with pytest.raises(ValueError, match="W5"):
        parse_workload("W5")


def test_scaling_ratio():
    rows = [
        {"name": "W1", "us_per_row": 1.0, "cpu_us_per_row": 2.0},
        {"name": "W3", "us_per_row": 1.2, "cpu_us_per_row": 1.0},
        {"name": "W4", "us_per_row": 9.0, "cpu_us_per_row": 9.0},  # not a scaling workload
    ]
    assert scaling(rows) == {
        "us_per_row": {"W1": 1.0, "W3": 1.2},
        "us_per_row_max_over_min": pytest.approx(1.2),
        "cpu_us_per_row": {"W1": 2.0, "W3": 1.0},
        "cpu_us_per_row_max_over_min": pytest.approx(2.0),
        "linear": True,
    }
    rows[1]["us_per_row"] = 1.4
    assert not scaling(rows)["linear"]
    assert scaling(rows[:1]) is None


def test_harness_end_to_end(tmp_path, capsys):
    """Tiny workloads through the child processes: every source gives the same backtest."""
    rows = {}
    for source, extra in (("memory", ["--naive"]), ("parquet", []), ("sink", [])):
        out = tmp_path / f"{source}.json"
        argv = ["--workloads", "40x60", "--repeats", "2", "--source", source, *extra]
        main([*argv, "--json", str(out)])
        rows[source] = json.loads(out.read_text())["workloads"][0]
    printed = capsys.readouterr().out
    assert "| 40x60 | " in printed and "naive ratio" in printed
    n = lf.synthetic_panel(n_symbols=40, n_days=60, seed=0).height
    assert {r["rows"] for r in rows.values()} == {n}
    assert len({r["nav_end"] for r in rows.values()}) == 1
    assert [r["source"] for r in rows.values()] == ["memory", "parquet", "sink"]
    memory = rows["memory"]
    assert len(memory["e2e_s_runs"]) == 2
    assert memory["rows_per_s"] == pytest.approx(n / memory["e2e_s"])
    assert memory["naive_ratio"]["e2e_s"] == pytest.approx(
        memory["naive"]["e2e_s"] / memory["e2e_s"]
    )
    assert memory["peak_rss_mb"] >= memory["setup_rss_mb"] > 0
    assert "naive" not in rows["sink"] and rows["sink"]["file_mb"] > 0
