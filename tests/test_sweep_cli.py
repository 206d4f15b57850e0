"""Sweep configs (grids in [allocator] and [[stages]], the [sweep] section), `lazyflow sweep`
end to end against `lf.sweep`, and the report's heatmap cells."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import numpy as np
import polars as pl
import pytest

import lazyflow as lf
from lazyflow.cli import main
from lazyflow.report import heatmap_cells
from lazyflow.sweep_config import load_sweep_config, parse_sweep_config

STAGES = """
[[stages]]
type = "DropNulls"
[[stages]]
type = "LogReturns"
[[stages]]
type = "VolumeUniverse"
window = 10
min_decile = [6, 8]
[[stages]]
type = "FundingCarry"
[[stages]]
type = "Deciles"
[[stages]]
type = "SigmoidTarget"
k = 2.0
keep_deciles = [[1, 10], [1, 2, 9, 10]]
[[stages]]
type = "EwmaVol"
short_span = 10
long_span = 30
[[stages]]
type = "RangeSpread"
"""

CONFIG = f"""
[data]
source = "synthetic"
n_symbols = 30
n_days = 150
seed = 7
{STAGES}
[allocator]
lambda_risk = [0.5, 4.0]
gamma_cost = 0.05
max_pos = 0.3
turnover_cap = [false, 0.2]

[backtest]
cost_per_dollar = 0.001

[sweep]
metric = "cagr"
heatmap = ["allocator.lambda_risk", "stage.SigmoidTarget.keep_deciles"]

[output]
dir = "out/sweep"
"""


def parse(text: str):
    return parse_sweep_config(tomllib.loads(text))


def test_lists_are_grids_for_scalars_and_lists_of_lists_for_list_parameters():
    config = parse(CONFIG)
    assert config.stage_grid == {
        2: {"min_decile": [6, 8]},
        5: {"keep_deciles": [(1, 10), (1, 2, 9, 10)]},
    }
    assert config.allocator_grid == {"lambda_risk": [0.5, 4.0], "turnover_cap": [None, 0.2]}
    assert config.run.allocator.lambda_risk == 0.5  # the base run: each grid's first value
    assert config.metric == "cagr" and config.engine == "local"
    assert config.swept() == [
        "stage.VolumeUniverse.min_decile",
        "stage.SigmoidTarget.keep_deciles",
        "allocator.lambda_risk",
        "allocator.turnover_cap",
    ]
    assert config.axes() == ("allocator.lambda_risk", "stage.SigmoidTarget.keep_deciles")
    pipes, allocs = config.pipelines(), config.allocators()
    assert len(pipes) == 4 and len(allocs) == 4
    assert [(p.stages[2].min_decile, p.stages[5].keep_deciles) for p in pipes] == [
        (6, (1, 10)),
        (6, (1, 2, 9, 10)),
        (8, (1, 10)),
        (8, (1, 2, 9, 10)),
    ]
    assert all(a.gamma_cost == 0.05 and a.max_pos == 0.3 for a in allocs)
    flat = parse(
        CONFIG.replace("keep_deciles = [[1, 10], [1, 2, 9, 10]]", "keep_deciles = [1, 10]").replace(
            '"stage.SigmoidTarget.keep_deciles"]', '"allocator.turnover_cap"]'
        )
    )
    assert 5 not in flat.stage_grid and flat.run.stages[5].keep_deciles == (1, 10)


def test_default_heatmap_axes_are_the_first_two_swept_parameters():
    text = CONFIG.replace(
        'heatmap = ["allocator.lambda_risk", "stage.SigmoidTarget.keep_deciles"]\n', ""
    )
    assert parse(text).axes() == (
        "stage.VolumeUniverse.min_decile",
        "stage.SigmoidTarget.keep_deciles",
    )
    one = parse(
        text.replace("min_decile = [6, 8]", "min_decile = 6")
        .replace("keep_deciles = [[1, 10], [1, 2, 9, 10]]", "")
        .replace("turnover_cap = [false, 0.2]", "")
    )
    assert one.swept() == ["allocator.lambda_risk"] and one.axes() == ("allocator.lambda_risk",)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "lambda_risk = [0.5, 4.0]",
            "lambda_risk = [0.5, -1.0]",
            r"allocator.lambda_risk\[1\]: BufferedAllocator: parameter 'lambda_risk'",
        ),
        (
            "lambda_risk = [0.5, 4.0]",
            'lambda_risk = [0.5, "x"]',
            r"allocator.lambda_risk\[1\]: expected a number",
        ),
        ("lambda_risk = [0.5, 4.0]", "lambda_risk = []", "allocator.lambda_risk: an empty list"),
        (
            "min_decile = [6, 8]",
            "min_decile = [6, 11]",
            r"stages\[3\].min_decile\[1\]: VolumeUniverse: parameter 'min_decile'",
        ),
        ('metric = "cagr"', 'metric = "alpha"', "sweep.metric: expected one of"),
        ('metric = "cagr"', 'engine = "spark"', "sweep.engine: expected one of local, ray"),
        ('metric = "cagr"', "n_jobs = 0", "sweep.n_jobs: must be an integer >= 1"),
        ('metric = "cagr"', "workers = 2", "sweep.workers: unknown key"),
        (
            '"stage.SigmoidTarget.keep_deciles"]',
            '"allocator.max_pos"]',
            "sweep.heatmap: must name two swept parameters",
        ),
        (
            "cost_per_dollar = 0.001",
            "cost_per_dollar = [0.001, 0.002]",
            "backtest.cost_per_dollar: expected a number",
        ),
    ],
)
def test_config_errors_name_the_key_and_the_grid_position(old, new, message):
    assert old in CONFIG
    with pytest.raises(lf.ConfigError, match=message):
        parse(CONFIG.replace(old, new))


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sweep")
    path = folder / "sweep.toml"
    path.write_text(CONFIG, encoding="utf-8")
    out = folder / "out"  # not the config's folder: an output folder is replaced whole
    assert main(["sweep", str(path), "--out", str(out), "--jobs", "1", "-q"]) == 0
    return out


def test_sweep_command_writes_lf_sweeps_table(swept):
    table = pl.read_parquet(swept / "sweep.parquet")
    config = parse(CONFIG)
    panel = lf.synthetic_panel(n_symbols=30, n_days=150, seed=7)
    want = lf.sweep(
        panel, config.pipelines(), config.allocators(), {"cost_per_dollar": 0.001}, n_jobs=1
    )
    assert table.equals(want)
    assert table.height == 16 and table["config"].to_list() == list(range(16))


def test_sweep_report_has_the_heatmap_and_the_best_configurations(swept):
    page = (swept / "report.html").read_text(encoding="utf-8")
    assert (swept / "report_files" / "sweep_heatmap.png").stat().st_size > 0
    assert 'src="report_files/sweep_heatmap.png"' in page
    assert "averaged over stage.VolumeUniverse.min_decile, allocator.turnover_cap" in page
    assert "Best 10 configurations by cagr" in page
    table = pl.read_parquet(swept / "sweep.parquet")
    best = table.sort("cagr", descending=True).row(0, named=True)
    assert f"<td>{best['config']}</td>" in page


def test_sweep_prints_the_best_configuration(tmp_path, capsys):
    path = tmp_path / "s.toml"
    path.write_text(CONFIG.replace('"out/sweep"', f'"{tmp_path / "o"}"'), encoding="utf-8")
    assert main(["sweep", str(path), "--jobs", "1"]) == 0
    out = capsys.readouterr().out
    assert "16 configurations (4 pipelines x 4 allocators)" in out
    assert "best cagr" in out and "sweep.parquet, report.html" in out


def test_sweep_config_errors_exit_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(CONFIG.replace("lambda_risk = [0.5, 4.0]", "lambda_risk = [0.5, 0]"))
    assert main(["sweep", str(path), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [err[0]] and "allocator.lambda_risk[1]" in err[0]


def test_heatmap_cells_are_means_over_the_other_parameters():
    rng = np.random.default_rng(0)
    table = pl.DataFrame(
        {
            "a": [0.5, 1.0, 2.0] * 4,
            "b": [[1, 10]] * 6 + [[1, 2, 9, 10]] * 6,
            "c": [None, 0.2] * 6,
            "m": rng.normal(size=12),
        }
    ).with_columns(m=pl.when(pl.int_range(12) == 3).then(float("nan")).otherwise("m"))
    x, y, cells = heatmap_cells(table, ["a", "b"], "m")
    assert x == ["0.5", "1", "2"] and y == ["1,10", "1,2,9,10"]
    rows = table.to_dicts()
    for i, b in enumerate([[1, 10], [1, 2, 9, 10]]):
        for j, a in enumerate([0.5, 1.0, 2.0]):
            values = [r["m"] for r in rows if r["a"] == a and r["b"] == b and math.isfinite(r["m"])]
            assert cells[i, j] == pytest.approx(sum(values) / len(values))
    x1, y1, one = heatmap_cells(table, ["c"], "m")
    assert x1 == ["none", "0.2"] and y1 == [""] and one.shape == (1, 2)


def test_example_sweep_config_is_a_grid_over_the_carry_preset():
    config = load_sweep_config(Path(__file__).parent.parent / "examples" / "sweep.toml")
    pipelines, allocators = config.pipelines(), config.allocators()
    assert len(pipelines) == 3
    assert len(allocators) == 12
    assert config.axes() == ("allocator.lambda_risk", "allocator.gamma_cost")
    base = lf.presets.carry().stages
    assert [type(s) for s in pipelines[0].stages] == [type(s) for s in base]
    assert sorted(p.stages[5].k for p in pipelines) == [0.5, 1.0, 2.0]
