"""The command line end to end on a small synthetic panel: outputs, exit codes, one-line errors."""

import io
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

import lazyflow as lf
from lazyflow.cli import main

N_SYMBOLS, N_DAYS = 40, 200
OUTPUTS = ("signals.parquet", "book.parquet", "metrics.parquet", "summary.json", "report.html")

SMALL_CONFIG = f"""
[data]
source = "synthetic"
n_symbols = {N_SYMBOLS}
n_days = {N_DAYS}
seed = 5

[[stages]]
type = "DropNulls"
[[stages]]
type = "LogReturns"
[[stages]]
type = "VolumeUniverse"
window = 10
min_decile = 6
[[stages]]
type = "FundingCarry"
mask = "is_universe"
[[stages]]
type = "Deciles"
mask = "is_universe"
[[stages]]
type = "SigmoidTarget"
k = 2.0
[[stages]]
type = "EwmaVol"
short_span = 10
long_span = 30
[[stages]]
type = "RangeSpread"

[allocator]
lambda_risk = 2.0
gamma_cost = 0.3
max_pos = 0.2
gross_cap = 1.5
turnover_cap = false
vol_target = false

[backtest]
cost_per_dollar = 0.001
include_funding = false

[output]
dir = "out/small"
"""


def run_cli(*argv, capsys=None):
    code = main([str(a) for a in argv])
    if capsys is None:
        return code, "", ""
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    args = ["demo", "--symbols", N_SYMBOLS, "--days", N_DAYS, "--seed", 2, "--out", out, "-q"]
    assert main([str(a) for a in args]) == 0
    return out


def test_demo_writes_every_output(demo_dir):
    for name in OUTPUTS:
        assert (demo_dir / name).stat().st_size > 0, name
    signals = pl.read_parquet(demo_dir / "signals.parquet")
    assert {"carry_score", "decile_carry", "target_position", "vol_fcst", "spread"} <= set(
        signals.columns
    )
    record = json.loads((demo_dir / "summary.json").read_text())
    assert set(record) == {"summary", "parameters", "dropped"}
    stages = record["parameters"]["stages"]
    assert [s["type"] for s in stages] == [type(s).__name__ for s in lf.presets.carry().stages]
    assert {"type": "VolumeUniverse", "min_decile": 9} in stages  # non-default parameters
    assert record["parameters"]["lazyflow"] == lf.__version__
    assert record["parameters"]["data"] == {
        "source": "synthetic", "n_symbols": N_SYMBOLS, "n_days": N_DAYS, "seed": 2
    }  # fmt: skip
    assert record["parameters"]["allocator"]["turnover_cap"] == 0.3
    assert record["parameters"]["backtest"]["cost_per_dollar"] == 0.0005


def test_demo_matches_the_python_api(demo_dir):
    panel = lf.synthetic_panel(n_symbols=N_SYMBOLS, n_days=N_DAYS, seed=2)
    frame = lf.presets.carry()(panel.lazy()).collect()  # no labels: the backtest's frame
    options = {**lf.presets.SEED_BACKTEST, "drift": True}  # the carry preset drifts
    result = lf.backtest(frame, lf.presets.seed_allocator(), **options)
    # the signals gain the forward returns (one plan) and nothing else changes
    with_labels = (lf.presets.carry() >> lf.ForwardReturns())(panel.lazy()).collect()
    assert pl.read_parquet(demo_dir / "signals.parquet").equals(with_labels)
    assert with_labels.drop(lf.label_columns([lf.ForwardReturns()])).equals(frame)
    assert pl.read_parquet(demo_dir / "metrics.parquet").equals(result.metrics)
    assert pl.read_parquet(demo_dir / "book.parquet").equals(result.book)
    record = json.loads((demo_dir / "summary.json").read_text())
    assert record["dropped"] == result.dropped
    want = result.summary()
    assert set(record["summary"]) == set(want)
    for key, value in want.items():
        if math.isfinite(value):
            assert record["summary"][key] == pytest.approx(value, rel=1e-12), key
        else:
            assert record["summary"][key] is None, key  # strict JSON: no NaN or inf


def test_demo_prints_a_summary_table_and_no_bar_off_a_terminal(tmp_path, capsys):
    argv = ["demo", "--symbols", 20, "--days", 120, "--preset", "seed_carry", "--out", tmp_path]
    code, out, err = run_cli(*argv, capsys=capsys)
    assert code == 0
    assert err == ""  # stderr is not a terminal here: no progress bar
    record = json.loads((tmp_path / "summary.json").read_text())
    assert {"type": "Deciles", "descending": True} in record["parameters"]["stages"]
    summary = record["summary"]
    first = next(iter(summary))
    assert any(line.startswith(first) for line in out.splitlines())
    assert "report.html" in out


def test_progress_bar_on_a_terminal_and_quiet(tmp_path, monkeypatch, capsys):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for quiet, expect_bar in ((False, True), (True, False)):
        stderr = Terminal()
        monkeypatch.setattr(sys, "stderr", stderr)
        argv = ["demo", "--symbols", 20, "--days", 120, "--out", tmp_path / str(quiet)]
        assert main([str(a) for a in argv + (["--quiet"] if quiet else [])]) == 0
        text = stderr.getvalue()
        assert ("backtest [" in text and "100%" in text) is expect_bar, text
        assert ("computing signals" in text) is expect_bar
        out = capsys.readouterr().out
        assert (out != "") is not quiet


def write_config(tmp_path: Path, text: str = SMALL_CONFIG, name: str = "run.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_run_from_config_and_out_override(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path)
    assert run_cli("run", config, "-q")[0] == 0
    for name in OUTPUTS:
        assert (tmp_path / "out" / "small" / name).stat().st_size > 0
    metrics = pl.read_parquet(tmp_path / "out" / "small" / "metrics.parquet")
    # the config's parameters reached the allocator: no vol target, gross capped at 1.5
    assert metrics["gross_exposure"].max() <= 1.5 + 1e-9
    assert metrics["cost"].sum() > 0
    assert metrics["funding_pnl"].abs().sum() == 0  # include_funding = false
    report = (tmp_path / "out" / "small" / "report.html").read_text()
    assert "run.toml" in report and "lambda_risk=2.0" in report


def test_run_with_a_csv_source_and_rename(tmp_path):
    panel = lf.synthetic_panel(n_symbols=20, n_days=120, seed=1)
    panel.rename({"symbol": "ticker"}).write_csv(tmp_path / "panel.csv")
    text = SMALL_CONFIG.replace(
        f'source = "synthetic"\nn_symbols = {N_SYMBOLS}\nn_days = {N_DAYS}\nseed = 5',
        'source = "csv"\npath = "panel.csv"\nrename = { ticker = "symbol" }',
    )
    config = write_config(tmp_path, text)
    assert run_cli("run", config, "--out", tmp_path / "o", "-q")[0] == 0
    signals = pl.read_parquet(tmp_path / "o" / "signals.parquet")
    assert signals["symbol"].n_unique() == 20


def test_explain_prints_schema_flow_and_plan(tmp_path, capsys):
    config = write_config(tmp_path)
    code, out, err = run_cli("explain", config, capsys=capsys)
    assert code == 0 and err == ""
    flow, plan = out.split("Optimised plan")
    for stage in ("DropNulls", "LogReturns", "VolumeUniverse", "FundingCarry", "EwmaVol"):
        assert stage in flow
    funding_line = next(line for line in flow.splitlines() if line.startswith("FundingCarry"))
    assert "funding_rate" in funding_line and "is_universe" in funding_line
    assert "carry_score (Float64)" in flow
    assert "carry_score" in plan
    # run's plan: the forward returns of the factor analysis come last
    last = [line for line in flow.splitlines() if line.strip()][-2:]
    assert last[0].startswith("ForwardReturns") and "close (numeric)" in last[0]
    assert "fwd_ret_1 (Float64), fwd_ret_5 (Float64), fwd_ret_20 (Float64)" in last[1]
    assert "fwd_ret_20" in plan


def test_demo_report_has_the_factor_section(demo_dir):
    page = (demo_dir / "report.html").read_text()
    assert 'id="factor"' in page
    assert len(re.findall(r'<img src="([^"]+)"', page)) == 11  # 7 backtest + 4 factor charts
    summary = pl.read_parquet(demo_dir / "factor.parquet")
    assert set(summary["horizon"].drop_nulls()) == {1, 5, 20}
    assert summary.columns == ["metric", "horizon", "quantile", "value"]
    daily = pl.read_parquet(demo_dir / "factor_daily.parquet")
    assert daily["date"].n_unique() == N_DAYS
    record = json.loads((demo_dir / "summary.json").read_text())
    assert record["parameters"]["factor"]["horizons"] == [1, 5, 20]


def assert_one_line_error(err: str, *fragments: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("lazyflow: error: ")
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["demo", "--symbols", "-3"],
        ["demo", "--preset", "nope"],
        ["run"],
        ["ingest", "binance", "somewhere"],  # --out is required
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    assert main(argv) == 2
    assert "usage: lazyflow" in capsys.readouterr().err


def test_help_exits_0(capsys):
    assert main(["--help"]) == 0
    assert "demo" in capsys.readouterr().out


def test_config_errors_exit_2_with_one_line(tmp_path, capsys):
    config = write_config(tmp_path, SMALL_CONFIG.replace("window = 10", "window = 10\nwindw = 3"))
    code, _, err = run_cli("run", config, capsys=capsys)
    assert code == 2
    assert_one_line_error(err, "stages[3].windw", "unknown parameter", "window")
    assert "Traceback" not in err

    config = write_config(tmp_path, "[data]\nsource = 3\n[output]\ndir = 'x'")
    assert run_cli("explain", config, capsys=capsys)[0] == 2

    no_out = write_config(tmp_path, SMALL_CONFIG.split("[output]")[0])
    code, _, err = run_cli("run", no_out, capsys=capsys)
    assert code == 2
    assert_one_line_error(err, "[output] dir", "--out")


def test_debug_adds_the_traceback(tmp_path, capsys):
    config = write_config(tmp_path, SMALL_CONFIG.replace("k = 2.0", "k = 'steep'"))
    code, _, err = run_cli("run", config, "--debug", capsys=capsys)
    assert code == 2
    assert "Traceback" in err
    assert err.strip().splitlines()[-1].startswith("lazyflow: error: stages[6].k")


def test_data_errors_exit_1(tmp_path, capsys):
    code, _, err = run_cli("run", tmp_path / "missing.toml", capsys=capsys)
    assert code == 1
    assert_one_line_error(err, "missing.toml")

    text = SMALL_CONFIG.replace('source = "synthetic"', 'source = "parquet"\npath = "gone.parquet"')
    text = text.replace(f"n_symbols = {N_SYMBOLS}\nn_days = {N_DAYS}\nseed = 5", "")
    code, _, err = run_cli("run", write_config(tmp_path, text), capsys=capsys)
    assert code == 1
    assert_one_line_error(err, "gone.parquet")

    # a panel without funding_rate: the pipeline names the stage and the column
    panel = lf.synthetic_panel(n_symbols=10, n_days=60, seed=0).drop("funding_rate")
    panel.write_parquet(tmp_path / "nofunding.parquet")
    text = text.replace("gone.parquet", "nofunding.parquet")
    code, _, err = run_cli("explain", write_config(tmp_path, text), capsys=capsys)
    assert code == 1
    assert_one_line_error(err, "FundingCarry", "funding_rate", "missing")


def test_console_script(tmp_path):
    script = shutil.which("lazyflow", path=str(Path(sys.executable).parent))
    assert script is not None, "the lazyflow console script is not installed in this venv"
    done = subprocess.run(
        [script, "demo", "--symbols", "20", "--days", "100", "--out", str(tmp_path), "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""
    assert (tmp_path / "report.html").exists()
    bad = subprocess.run(
        [script, "run", str(tmp_path / "nope.toml")], capture_output=True, text=True
    )
    assert bad.returncode == 1
    assert_one_line_error(bad.stderr, "nope.toml")
