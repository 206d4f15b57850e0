"""The local sweep engine's worker processes: a script that cannot start them never hangs
(it runs in process with one warning line, or raises ConfigError), an interrupt prints one
line, and the progress callback counts configurations."""

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import lazyflow as lf
from lazyflow.cli import main

ROOT = Path(lf.__file__).parent.parent
ENV = os.environ | {"PYTHONPATH": str(ROOT), "POLARS_MAX_THREADS": "1"}

#: The README's sweep snippet, as a user saves it: no `if __name__ == "__main__":`.
SNIPPET = """
import lazyflow as lf
panel = lf.synthetic_panel(n_symbols=20, n_days=90, seed=0)
grid = lf.sweep(
    panel.lazy(),
    lf.grid_pipelines(lf.presets.carry(), {"SigmoidTarget": {"k": [0.5, 1.0]}}),
    lf.grid_allocators(lf.presets.seed_allocator(), {"lambda_risk": [1.0, 2.0]}),
    backtest_kw=lf.presets.SEED_BACKTEST,
    n_jobs=2,
)
print("rows", grid.height, round(grid["sharpe"].sum(), 9))
"""


def python(args, stdin=None, timeout=180):
    return subprocess.run(
        [sys.executable, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,  # the old code hung here for ever
        env=ENV,
    )


def expected_line():
    panel = lf.synthetic_panel(n_symbols=20, n_days=90, seed=0)
    grid = lf.sweep(
        panel.lazy(),
        lf.grid_pipelines(lf.presets.carry(), {"SigmoidTarget": {"k": [0.5, 1.0]}}),
        lf.grid_allocators(lf.presets.seed_allocator(), {"lambda_risk": [1.0, 2.0]}),
        backtest_kw=lf.presets.SEED_BACKTEST,
        n_jobs=1,
    )
    return f"rows {grid.height} {round(grid['sharpe'].sum(), 9)}"


def warning_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr
    return [line for line in stderr.splitlines() if "SweepWarning" in line]


def test_an_unguarded_script_runs_in_process_with_one_warning(tmp_path):
    script = tmp_path / "snippet.py"
    script.write_text(SNIPPET)
    done = python([str(script)])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected_line()
    (line,) = warning_lines(done.stderr)
    assert "running in this process" in line and '__name__ == "__main__"' in line


def test_a_script_from_stdin_runs_in_process_with_one_warning():
    done = python(["-"], stdin=SNIPPET)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected_line()
    (line,) = warning_lines(done.stderr)
    assert "<stdin>" in line
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_guarded_script_uses_workers_without_a_warning(tmp_path):
    body = "\n".join("    " + line for line in SNIPPET.strip().splitlines())
    script = tmp_path / "guarded.py"
    script.write_text(f'if __name__ == "__main__":\n{body}\n')
    done = python([str(script)])
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == expected_line()
    assert warning_lines(done.stderr) == []


def test_workers_that_cannot_start_raise_config_error_not_a_hang(tmp_path):
    # defeat the check of the main script: the workers re-run the sweep and must stop
    script = tmp_path / "net.py"
    script.write_text(
        "import lazyflow.sweep_workers as workers\n"
        "workers._why_workers_cannot_start = lambda: None\n"
        + SNIPPET.replace("grid = lf.sweep(", "try:\n  grid = lf.sweep(").replace(
            "print(", "except lf.ConfigError as exc:\n  print('ConfigError', exc)\nelse:\n  print("
        )
    )
    done = python([str(script)])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ConfigError sweep: the worker processes stopped")
    assert '__name__ == "__main__"' in done.stdout


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in text.split()]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs /proc")
def test_an_interrupt_during_a_sweep_prints_one_line(tmp_path):
    config = tmp_path / "s.toml"
    config.write_text(
        "[data]\nn_symbols = 150\nn_days = 900\n"
        '[[stages]]\ntype = "LogReturns"\n[[stages]]\ntype = "VolumeUniverse"\n'
        '[[stages]]\ntype = "FundingCarry"\n[[stages]]\ntype = "Deciles"\n'
        '[[stages]]\ntype = "SigmoidTarget"\nk = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0]\n'
        '[[stages]]\ntype = "EwmaVol"\n[[stages]]\ntype = "RangeSpread"\n'
        "[allocator]\nlambda_risk = [1.0, 2.0]\n"
    )
    out = tmp_path / "out"
    code = "import sys; from lazyflow.cli import main; sys.exit(main(sys.argv[1:]))"
    argv = ["sweep", str(config), "--out", str(out), "--jobs", "2", "-q"]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while len(children(proc.pid)) < 3:  # the resource tracker and two workers
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no workers started"
        time.sleep(0.05)
    time.sleep(1.0)
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches every process of the group
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the sweep finished before the interrupt")
    assert proc.returncode == 130
    assert err.strip() == "lazyflow: error: interrupted", err
    assert not out.exists()


def test_sweep_reports_progress_in_configurations():
    panel = lf.synthetic_panel(n_symbols=15, n_days=60, seed=1)
    calls = []
    lf.sweep(
        panel.lazy(),
        lf.grid_pipelines(lf.presets.carry(), {"SigmoidTarget": {"k": [0.5, 1.0, 2.0]}}),
        lf.grid_allocators(lf.presets.seed_allocator(), {"lambda_risk": [1.0, 2.0]}),
        lf.presets.SEED_BACKTEST,
        n_jobs=1,
        progress=lambda done, total: calls.append((done, total)),
    )
    assert calls == [(0, 6), (2, 6), (4, 6), (6, 6)]
    with pytest.raises(lf.ConfigError, match="progress"):
        lf.sweep(panel.lazy(), lf.presets.carry(), lf.BufferedAllocator(), progress="yes")


def test_the_sweep_command_shows_a_bar_with_time_left(tmp_path, monkeypatch):
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    config = tmp_path / "s.toml"
    config.write_text(
        '[data]\nn_symbols = 15\nn_days = 60\n[[stages]]\ntype = "DropNulls"\n'
        '[[stages]]\ntype = "LogReturns"\n[[stages]]\ntype = "VolumeUniverse"\n'
        '[[stages]]\ntype = "FundingCarry"\n[[stages]]\ntype = "Deciles"\n'
        '[[stages]]\ntype = "SigmoidTarget"\nk = [0.5, 1.0, 2.0]\n'
        '[[stages]]\ntype = "EwmaVol"\n[[stages]]\ntype = "RangeSpread"\n'
    )
    stderr = Terminal()
    monkeypatch.setattr(sys, "stderr", stderr)
    assert main(["sweep", str(config), "--out", str(tmp_path / "o"), "--jobs", "1"]) == 0
    text = stderr.getvalue()
    assert "sweep: 3 configurations [" in text and "3/3" in text


def test_the_bar_estimates_the_time_left():
    from lazyflow.progress import Progress, format_seconds

    stream = io.StringIO()
    bar = Progress("sweep", stream=stream, enabled=True, interval=0.0)
    bar._start -= 10.0  # 10 s spent on the first quarter
    bar(1, 4)
    assert "1/4" in stream.getvalue() and "about 30s left" in stream.getvalue()
    bar(4, 4)
    assert stream.getvalue().endswith("4/4  10.0s\x1b[K")  # no estimate when done
    assert [format_seconds(s) for s in (4.4, 65, 7500)] == ["4s", "1m05s", "2h05m"]
