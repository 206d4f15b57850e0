"""The command line's traps: global flags before the command, factor's own folder, sweep
configs given to run, near misses, hostile config paths, panics as one-line errors."""

import os
import subprocess
import sys
import threading
from pathlib import Path

import polars as pl
import pytest

import lazyflow as lf
from lazyflow.cli import main
from lazyflow.cli import run as run_commands

CONFIG = """
[data]
n_symbols = 20
n_days = 90
seed = 3

[[stages]]
type = "DropNulls"
[[stages]]
type = "LogReturns"
[[stages]]
type = "VolumeUniverse"
window = 10
[[stages]]
type = "FundingCarry"
[[stages]]
type = "Deciles"
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

[output]
dir = "out/run"
"""


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("lazyflow: error: ")
    return lines[0]


def write(tmp_path: Path, text: str, name: str = "c.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("flag", ["--debug", "--quiet", "-q"])
def test_global_flags_go_before_the_command(tmp_path, capsys, flag):
    bad = write(tmp_path, CONFIG.replace("k = 2.0", "k = 'steep'"))
    code = main([flag, "run", str(bad)])
    err = capsys.readouterr().err
    assert code == 2
    assert ("Traceback" in err) is (flag == "--debug")
    assert err.strip().splitlines()[-1].startswith("lazyflow: error: stages[6].k")


def test_factor_has_its_own_default_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = write(tmp_path, CONFIG)
    assert main(["--quiet", "run", str(config)]) == 0  # --quiet before the command
    assert capsys.readouterr().out == ""
    run_report = (tmp_path / "out" / "run" / "report.html").read_text()
    assert main(["factor", str(config), "-q"]) == 0
    assert (tmp_path / "out" / "run" / "report.html").read_text() == run_report  # untouched
    factor_dir = tmp_path / "out" / "run-factor"
    assert (factor_dir / "factor.parquet").exists() and (factor_dir / "report.html").exists()
    assert not (factor_dir / "metrics.parquet").exists()


@pytest.mark.parametrize(
    "text",
    [
        CONFIG.replace("lambda_risk = 2.0", "lambda_risk = [1.0, 2.0]"),  # no [sweep] table
        CONFIG.replace("k = 2.0", "k = [1.0, 2.0]"),
        CONFIG + '\n[sweep]\nmetric = "sharpe"\n',  # a [sweep] table, no grid
    ],
)
def test_a_sweep_config_given_to_run_says_use_sweep(tmp_path, capsys, text):
    config = write(tmp_path, text)
    for command in ("run", "factor", "explain"):
        assert main([command, str(config)]) == 2
        line = one_line(capsys.readouterr().err)
        assert f"lazyflow sweep {config}" in line, line


def test_a_plain_config_error_gets_no_sweep_hint(tmp_path, capsys):
    config = write(tmp_path, CONFIG.replace("lambda_risk = 2.0", "lambda_risk = 'big'"))
    assert main(["run", str(config)]) == 2
    assert "lazyflow sweep" not in capsys.readouterr().err


@pytest.mark.parametrize(
    ("old", "new", "fragments"),
    [
        ("k = 2.0", "kk = 2.0", ["stages[6].kk", "did you mean 'k'?"]),
        ('type = "Deciles"', 'type = "Decile"', ["stages[5].type", "did you mean 'Deciles'?"]),
        ("lambda_risk = 2.0", "lamda_risk = 2.0", ["allocator.lamda_risk", "'lambda_risk'"]),
        ("[output]", "[outptu]", ["outptu", "did you mean 'output'?"]),
        ("seed = 3", "sed = 3", ["data.sed", "did you mean 'seed'?"]),
    ],
)
def test_near_misses_suggest_the_nearest_name(tmp_path, capsys, old, new, fragments):
    config = write(tmp_path, CONFIG.replace(old, new))
    assert main(["run", str(config)]) == 2
    line = one_line(capsys.readouterr().err)
    for fragment in fragments:
        assert fragment in line, line


def test_near_miss_for_winsor(tmp_path, capsys):
    config = write(
        tmp_path, CONFIG.replace('type = "FundingCarry"', 'type = "FundingCarry"\nwinsr = 0.1')
    )
    assert main(["run", str(config)]) == 2
    assert "did you mean 'winsor'?" in capsys.readouterr().err


def test_non_utf8_and_deeply_nested_configs_exit_2(tmp_path, capsys):
    latin = tmp_path / "latin.toml"
    latin.write_bytes(CONFIG.replace("[output]", "# caf\xe9\n[output]").encode("latin-1"))
    assert main(["run", str(latin)]) == 2
    assert "not UTF-8" in one_line(capsys.readouterr().err)
    for depth in (40, 5000):
        nested = write(tmp_path, "x = " + "[" * depth + "]" * depth + "\n", f"n{depth}.toml")
        assert main(["run", str(nested)]) == 2
        assert "nested" in one_line(capsys.readouterr().err)


def test_a_config_path_must_be_a_regular_file(tmp_path, capsys):
    assert main(["run", "/dev/zero"]) == 2
    assert "not a regular file" in one_line(capsys.readouterr().err)
    assert main(["sweep", str(tmp_path)]) == 2  # a folder
    assert "not a regular file" in one_line(capsys.readouterr().err)


def test_a_fifo_config_does_not_hang(tmp_path):
    fifo = tmp_path / "config.toml"
    os.mkfifo(fifo)
    code = "import sys; from lazyflow.cli import main; sys.exit(main(sys.argv[1:]))"
    env = os.environ | {"PYTHONPATH": str(Path(lf.__file__).parent.parent)}
    done = subprocess.run(
        [sys.executable, "-c", code, "run", str(fifo)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 2
    assert "not a regular file" in one_line(done.stderr)


def test_a_polars_panic_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    def panic(*args, **kwargs):
        raise pl.exceptions.PanicException("year 55969 is out of range")

    monkeypatch.setattr(run_commands, "backtest", panic)
    assert main(["demo", "--symbols", "20", "--days", "90", "--out", str(tmp_path / "o")]) == 1
    line = one_line(capsys.readouterr().err)
    assert "internal error" in line and "PanicException" in line and "55969" in line
    assert not (tmp_path / "o").exists()  # nothing written
    assert main(["--debug", "demo", "--symbols", "20", "--days", "90", "--out", str(tmp_path)]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_main_restores_the_sigterm_handler():
    import signal

    before = signal.getsignal(signal.SIGTERM)
    main(["run", "/nonexistent.toml"])
    assert signal.getsignal(signal.SIGTERM) is before
    # from a thread (no signal handlers there) the CLI still runs
    codes = []
    thread = threading.Thread(target=lambda: codes.append(main(["run", "/nonexistent.toml"])))
    thread.start()
    thread.join()
    assert codes == [1]


MOMENTUM = '''
from dataclasses import dataclass

import polars as pl

import lazyflow as lf
from lazyflow.schema import Kind


@dataclass(frozen=True)
class Momentum(lf.Stage):
    """close / close `window` rows ago - 1, per symbol."""

    window: int = 5
    output_col: str = "momentum"

    def check(self):
        self.number("window", low=1, integer=True)

    def inputs(self):
        return {"close": Kind.NUMERIC, "date": Kind.DATE, "symbol": Kind.SYMBOL}

    def outputs(self):
        return {self.output_col: pl.Float64}

    def transform(self, frame):
        value = pl.col("close") / pl.col("close").shift(self.window) - 1
        return frame.with_columns(value.over("symbol", order_by="date").alias(self.output_col))


class NotAStage:
    pass
'''


def test_a_custom_stage_in_a_config(tmp_path, capsys):
    (tmp_path / "mysignals.py").write_text(MOMENTUM)
    text = CONFIG.replace(
        '[[stages]]\ntype = "RangeSpread"',
        '[[stages]]\ntype = "RangeSpread"\n[[stages]]\ntype = "mysignals:Momentum"\nwindow = 3',
    )
    config = write(tmp_path, text)
    out = tmp_path / "o"
    assert main(["run", str(config), "--out", str(out), "-q"]) == 0
    signals = pl.read_parquet(out / "signals.parquet")
    assert "momentum" in signals.columns
    assert "Momentum(window=3)" in (out / "report.html").read_text()
    # its fields are checked like a built-in's
    for bad, fragment in (
        ("window = 'x'", "stages[9].window: expected an integer, got 'x'"),
        ("window = 0", "stages[9]: Momentum: parameter 'window' must be an integer in [1, "),
        ("windw = 3", "did you mean 'window'?"),
    ):
        assert main(["run", str(write(tmp_path, text.replace("window = 3", bad))), "-q"]) == 2
        assert fragment in one_line(capsys.readouterr().err)


@pytest.mark.parametrize(
    ("kind", "fragment"),
    [
        ("mysignals:NotAStage", "is not a lazyflow stage"),
        ("mysignals:pl", "is not a lazyflow stage"),
        ("mysignals:Momentun", "did you mean 'Momentum'?"),
        ("nosuchmodule_xyz:Thing", "cannot import module 'nosuchmodule_xyz'"),
        ("RangeSpred", "did you mean 'RangeSpread'?"),
    ],
)
def test_a_custom_stage_that_is_not_a_stage_is_refused(tmp_path, capsys, kind, fragment):
    (tmp_path / "mysignals.py").write_text(MOMENTUM)
    text = CONFIG.replace('type = "RangeSpread"', f'type = "{kind}"')
    assert main(["run", str(write(tmp_path, text))]) == 2
    line = one_line(capsys.readouterr().err)
    assert "stages[8].type" in line and fragment in line, line


def test_a_custom_stage_takes_grids_in_a_sweep_config(tmp_path):
    from lazyflow.sweep_config import load_sweep_config

    (tmp_path / "mysignals.py").write_text(MOMENTUM)
    text = CONFIG + '\n[[stages]]\ntype = "mysignals:Momentum"\nwindow = [3, 5]\n'
    config = load_sweep_config(write(tmp_path, text))
    assert config.swept() == ["stage.Momentum.window"]
    assert [p.stages[-1].window for p in config.pipelines()] == [3, 5]
