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
from benchmarks.bandwidth import STAGES
from benchmarks.bandwidth import main as bandwidth_main
from benchmarks.naive import disagreement, max_difference, naive_pipeline
from benchmarks.pandas_carry import pandas_carry
from benchmarks.primitives import BACK, CODE, by_symbol, primitives, sorted_layout
from benchmarks.primitives import main as primitives_main
from benchmarks.ratios import COMPARISONS, _notebook_e2e, shuffled
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


SMALL = lf.synthetic_panel(n_symbols=80, n_days=250, seed=3)
FRAME = lf.presets.carry()(SMALL.lazy()).collect()


def test_naive_pipeline_matches_the_carry_preset():
    """The notebook-style pipeline and lazyflow's plan compute the same columns (to 1e-9;
    carry deciles may differ only at scores of one date within 1e-12: `disagreement`)."""
    naive = naive_pipeline(SMALL)
    assert naive.columns == FRAME.columns
    assert naive.select("date", "symbol").equals(FRAME.select("date", "symbol"))
    assert disagreement(naive, FRAME) is None
    assert max_difference(naive, FRAME, ADDED[:5] + ADDED[-2:]) <= 1e-9


def test_pandas_peer_matches_the_carry_preset():
    """The pandas peer, timed against `carry()` in `benchmarks.ratios`, computes its columns."""
    peer = pl.from_pandas(pandas_carry(SMALL.to_pandas())).with_columns(
        pl.col("date").cast(pl.Date)
    )
    assert peer.columns == FRAME.columns
    assert peer.schema == FRAME.schema
    assert disagreement(peer, FRAME) is None
    assert max_difference(peer, FRAME, ADDED[:5] + ADDED[-2:], relative=True) <= 1e-9


def test_disagreement_sees_each_kind_of_difference():
    assert disagreement(FRAME, FRAME) is None
    nudged = FRAME.with_columns(pl.col("vol_fcst") * (1 + 1e-8))
    assert "float columns differ" in disagreement(nudged, FRAME)
    flipped = FRAME.with_columns(pl.col("is_universe").not_())
    assert disagreement(flipped, FRAME) == "is_universe differs"
    # a decile moved where the scores are far apart
    row = FRAME.with_row_index().filter(pl.col("decile_carry") == 1)["index"][0]
    moved = FRAME.with_columns(
        pl.when(pl.int_range(pl.len()) == row)
        .then(5)
        .otherwise("decile_carry")
        .alias("decile_carry")
    )
    assert "decile_carry differs away from ties" in disagreement(moved, FRAME)
    shifted = FRAME.with_columns(pl.col("alpha") + 1e-6)
    assert "alpha or target_position" in disagreement(shifted, FRAME)


def test_the_notebooks_code_runs_from_a_csv_file(tmp_path):
    path = tmp_path / "panel.csv"
    shuffled(SMALL).write_csv(path)
    nav = _notebook_e2e(path)
    frame = naive_pipeline(pl.read_csv(path).with_columns(pl.col("date").str.to_date()))
    assert disagreement(frame, FRAME) is None  # the file's order does not matter to it
    assert np.isfinite(nav) and nav > 0


def test_max_difference_sees_values_keys_and_nulls():
    a = pl.DataFrame({"date": [1, 2], "symbol": ["A", "A"], "x": [1.0, 2.0]})
    assert max_difference(a, a, ["x"]) == 0.0
    assert max_difference(a, a.with_columns(pl.col("x") + 0.5), ["x"]) == 0.5
    assert max_difference(a, a.with_columns(x=pl.Series([1.0, None])), ["x"]) == np.inf
    assert max_difference(a, a.head(1), ["x"]) == np.inf
    big = a.with_columns(pl.col("x") * 1e9)
    gap = max_difference(big, big.with_columns(pl.col("x") + 1.0), ["x"], relative=True)
    assert gap == pytest.approx(1 / (1e9 + 1))  # the largest of 1 / (1e9 + 1), 1 / (2e9 + 1)


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
    sources = ("memory", "parquet", "sink", "csv", "parquet-symbol")
    for source, extra in ((s, ["--naive"] if s in ("memory", "csv") else []) for s in sources):
        out = tmp_path / f"{source}.json"
        argv = ["--workloads", "40x60", "--repeats", "2", "--source", source, *extra]
        main([*argv, "--json", str(out)])
        rows[source] = json.loads(out.read_text())["workloads"][0]
    printed = capsys.readouterr().out
    assert "| 40x60 | " in printed and "naive ratio" in printed
    n = lf.synthetic_panel(n_symbols=40, n_days=60, seed=0).height
    assert {r["rows"] for r in rows.values()} == {n}
    assert len({r["nav_end"] for r in rows.values()}) == 1
    assert [r["source"] for r in rows.values()] == list(sources)
    memory = rows["memory"]
    assert len(memory["e2e_s_runs"]) == 2
    assert memory["rows_per_s"] == pytest.approx(n / memory["e2e_s"])
    assert memory["naive_ratio"]["e2e_s"] == pytest.approx(
        memory["naive"]["e2e_s"] / memory["e2e_s"]
    )
    assert memory["peak_rss_mb"] >= memory["setup_rss_mb"] > 0
    assert "naive" not in rows["sink"] and rows["sink"]["file_mb"] > 0
    assert rows["csv"]["naive"]["nav_end"] == memory["naive"]["nav_end"]  # the file's data


def test_ratios_end_to_end(tmp_path, capsys):
    """Every comparison at a tiny size, in a child process, each side timed `--repeats` times."""
    out = tmp_path / "ratios.json"
    main(["--ratios", "--workloads", "40x60", "--repeats", "3", "--json", str(out)])
    row = json.loads(out.read_text())["workloads"][0]
    assert list(row["comparisons"]) == list(COMPARISONS)
    for name, c in row["comparisons"].items():
        assert len(c["lazyflow_runs"]) == len(c["other_runs"]) == 3, name
        top, bottom = (c["lazyflow_s"], c["other_s"])
        if not COMPARISONS[name].lazyflow_on_top:
            top, bottom = bottom, top
        assert c["ratio"] == pytest.approx(top / bottom)
    assert "| 40x60 | 1,146 | pandas: carry() collect vs pandas peer |" in capsys.readouterr().out


def test_floor_model_and_stage_times(capsys):
    """`benchmarks.bandwidth` at a tiny size: the floor is bytes / bandwidth, every stage of
    the carry preset and the backtest gets a time."""
    bandwidth_main(["--workload", "30x40", "--mib", "8", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "bandwidth, one thread: copy" in out
    assert all(f"| {s.stage} | {s.bytes_per_row():.1f} | {s.passes} |" in out for s in STAGES)
    for stage in [*lf.presets.carry().stages, "backtest"]:
        assert f"| {getattr(stage, 'name', stage)} | " in out
    load = next(s for s in STAGES if s.stage == "backtest load")
    assert load.bytes_per_row() == 5 * 8 + 8 + 2 / 8 + 1 / 8  # five floats, keys, flags, reason


def test_primitives_floor_sums_its_rows(capsys):
    """`benchmarks.primitives` at a tiny size: one row per primitive in both orders, their sum,
    the pipeline and the pandas peer's target."""
    primitives_main(["--workload", "30x40", "--repeats", "1", "--pandas"])
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "ms" in line]
    names = [line.split(" | ")[0][2:] for line in rows]
    layout = [*sorted_layout(), "**sum: the floor with that layout**"]
    assert names == [*primitives(), "**sum: the floor**", "carry() collected", *layout]
    assert "issue 15's target (pandas / 10)" in out


def test_the_sorted_layout_computes_the_same_windows():
    """The layout `benchmarks.primitives` times: a window without ``order_by`` on the rows
    sorted by (symbol, date), gathered back, is the ``over(symbol, order_by=date)`` window
    on the shuffled panel."""
    panel = parse_workload("30x40").panel().sample(fraction=1.0, shuffle=True, seed=3)
    window = pl.col("close").ewm_mean(span=5) - pl.col("close").shift(2)
    laid_out = by_symbol(panel)
    got = laid_out.select(window.over(CODE).gather(pl.col(BACK)))
    want = panel.select(lf.exprs.per_symbol(window, "symbol", "date"))
    assert got.to_series().equals(want.to_series())
