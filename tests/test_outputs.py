"""Atomic outputs: a folder holds one complete run or the previous one, never a mix; --out is
checked before any work (exit 2); failures, SIGINT and SIGTERM leave the old output intact."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import lazyflow as lf
from lazyflow import cli
from lazyflow.cli import run as run_commands
from lazyflow.cli import sweep as sweep_commands
from lazyflow.outputs import check_folder, staged_file, staged_folder

SMALL = ["--symbols", "20", "--days", "90", "-q"]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


def leftovers(parent: Path) -> list[str]:
    return [p.name for p in parent.iterdir() if ".lazyflow-tmp-" in p.name]


@pytest.fixture
def old_output(tmp_path):
    """A complete earlier output (lazyflow's file names), to be protected by failing runs."""
    out = tmp_path / "out"
    (out / "report_files").mkdir(parents=True)
    for name in ("signals.parquet", "metrics.parquet", "summary.json", "report.html"):
        (out / name).write_bytes(f"earlier {name}".encode())
    (out / "report_files" / "nav.png").write_bytes(b"earlier chart")
    return out, snapshot(out)


def test_staged_folder_replaces_only_on_success(tmp_path):
    target = tmp_path / "t"
    with staged_folder(target) as tmp:
        (tmp / "report.html").write_text("one")
    assert snapshot(target) == {"report.html": b"one"}
    umask = os.umask(0o022)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o777 & ~umask  # as mkdir makes a folder
    with pytest.raises(RuntimeError), staged_folder(target) as tmp:
        (tmp / "report.html").write_text("two")
        (tmp / "summary.json").write_text("{}")
        raise RuntimeError("late failure")
    assert snapshot(target) == {"report.html": b"one"}
    with pytest.raises(KeyboardInterrupt), staged_folder(target) as tmp:
        (tmp / "metrics.parquet").write_text("x")
        raise KeyboardInterrupt
    assert snapshot(target) == {"report.html": b"one"}
    with staged_folder(target) as tmp:
        (tmp / "sweep.parquet").write_text("new")
    assert snapshot(target) == {"sweep.parquet": b"new"}  # no file of the earlier run
    assert leftovers(tmp_path) == []


def test_staged_file_is_replaced_atomically(tmp_path):
    target = tmp_path / "panel.parquet"
    target.write_text("old")
    with pytest.raises(ValueError), staged_file(target) as tmp:
        tmp.write_text("half")
        raise ValueError
    assert target.read_text() == "old"
    with staged_file(target) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new" and leftovers(tmp_path) == []
    umask = os.umask(0o022)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask
    with pytest.raises(lf.ConfigError, match="is a folder"), staged_file(tmp_path):
        pass


def test_out_checks(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(lf.ConfigError, match="not a folder"):
        check_folder(afile, "--out")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(lf.ConfigError, match=r"did not write \(notes.txt\)"):
        check_folder(mine, "--out")
    with pytest.raises(lf.ConfigError, match="not a folder"):
        check_folder(afile / "below", "--out")  # a file where a parent folder belongs
    assert (mine / "notes.txt").read_text() == "keep me"


def chattr(flag: str, path: Path) -> bool:
    if shutil.which("chattr") is None:
        return False
    return subprocess.run(["chattr", flag, str(path)], capture_output=True).returncode == 0


@pytest.mark.parametrize("where", ["target", "parent"])
def test_an_immutable_folder_is_refused_before_any_work(tmp_path, capsys, monkeypatch, where):
    parent = tmp_path / "p"
    target = parent / "out"
    target.mkdir(parents=True)
    locked = target if where == "target" else parent
    if not chattr("+i", locked):
        pytest.skip("chattr +i is not available here")
    try:
        monkeypatch.setattr(run_commands, "backtest", lambda *a, **k: pytest.fail("work started"))
        assert cli.main(["demo", *SMALL, "--out", str(target)]) == 2
        assert "cannot write there" in capsys.readouterr().err
    finally:
        chattr("-i", locked)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_refused(tmp_path, capsys):
    target = tmp_path / "ro"
    target.mkdir()
    target.chmod(0o500)
    try:
        assert cli.main(["demo", *SMALL, "--out", str(target)]) == 2
        assert "cannot write there" in capsys.readouterr().err
    finally:
        target.chmod(0o700)


def test_out_an_existing_file_exits_2_before_any_work(tmp_path, capsys, monkeypatch):
    afile = tmp_path / "report.txt"
    afile.write_text("x")
    monkeypatch.setattr(run_commands, "backtest", lambda *a, **k: pytest.fail("work started"))
    assert cli.main(["demo", *SMALL, "--out", str(afile)]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
    assert afile.read_text() == "x"


def test_a_run_that_fails_late_leaves_the_old_output(old_output, monkeypatch, capsys):
    out, before = old_output

    def broken_report(*args, **kwargs):
        raise lf.LazyflowError("write_report: cannot draw dates in year 1")

    monkeypatch.setattr(run_commands, "write_report", broken_report)
    assert cli.main(["demo", *SMALL, "--seed", "2", "--out", str(out)]) == 1
    assert "year 1" in capsys.readouterr().err
    assert snapshot(out) == before
    assert leftovers(out.parent) == []


def test_an_internal_error_and_a_panic_leave_the_old_output(old_output, monkeypatch, capsys):
    import polars as pl

    out, before = old_output
    for exc in (ZeroDivisionError("oops"), pl.exceptions.PanicException("rust panicked")):

        def fail(*args, exc=exc, **kwargs):
            raise exc

        monkeypatch.setattr(run_commands, "write_result", fail)
        assert cli.main(["demo", *SMALL, "--seed", "3", "--out", str(out)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "internal error" in err and "Traceback" not in err
        assert snapshot(out) == before


def test_a_sweep_that_fails_late_leaves_the_old_output(tmp_path, monkeypatch, capsys):
    out = tmp_path / "sw"
    out.mkdir()
    (out / "sweep.parquet").write_bytes(b"an earlier sweep")
    stages = "".join(
        f'[[stages]]\ntype = "{name}"\n'
        for name in ("DropNulls", "LogReturns", "VolumeUniverse", "FundingCarry", "Deciles",
                     "SigmoidTarget", "EwmaVol", "RangeSpread")
    )  # fmt: skip
    config = tmp_path / "s.toml"
    config.write_text(
        f"[data]\nn_symbols = 15\nn_days = 80\n{stages}[allocator]\nlambda_risk = [1.0, 2.0]\n"
    )

    def boom(*args, **kwargs):  # after sweep.parquet is written, as a duplicate grid value was
        raise lf.LazyflowError("write_sweep_report: crashed after all the work")

    monkeypatch.setattr(sweep_commands, "write_sweep_report", boom)
    assert cli.main(["sweep", str(config), "--out", str(out), "--jobs", "1"]) == 1
    assert "crashed after all the work" in capsys.readouterr().err
    assert snapshot(out) == {"sweep.parquet": b"an earlier sweep"}
    assert leftovers(tmp_path) == []


def start_demo(out: Path, days: int = 1600) -> subprocess.Popen:
    code = "import sys; from lazyflow.cli import main; sys.exit(main(sys.argv[1:]))"
    argv = ["demo", "--symbols", "300", "--days", str(days), "--seed", "4", "--out", str(out)]
    env = os.environ | {"PYTHONPATH": str(Path(lf.__file__).parent.parent)}
    return subprocess.Popen(
        [sys.executable, "-c", code, *argv, "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )


def wait_for_staging(parent: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    """Until the run has checked --out and started its work (its staging folder exists)."""
    deadline = time.monotonic() + timeout
    while not leftovers(parent):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the run never started"
        time.sleep(0.05)


@pytest.mark.parametrize(("sig", "code", "word"), [(signal.SIGTERM, 143, "terminated"),
                                                  (signal.SIGINT, 130, "interrupted")])  # fmt: skip
def test_a_signal_mid_run_leaves_the_old_output(old_output, sig, code, word):
    out, before = old_output
    proc = start_demo(out)
    wait_for_staging(out.parent, proc)
    time.sleep(0.5)
    os.killpg(proc.pid, sig)  # the whole process group, as a terminal or a supervisor does
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert proc.returncode == code, err
    assert err.strip() == f"lazyflow: error: {word}"
    assert snapshot(out) == before
    assert leftovers(out.parent) == []


def test_ingest_checks_out_first_and_keeps_the_old_panel(tmp_path, capsys, monkeypatch):
    import lazyflow.data.binance as binance

    panel = tmp_path / "panel.parquet"
    panel.write_bytes(b"the earlier panel")
    monkeypatch.setattr(binance, "load_um_daily", lambda *a, **k: pytest.fail("work started"))
    assert cli.main(["ingest", "binance", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "is a folder" in capsys.readouterr().err

    def broken(*args, **kwargs):
        raise lf.DataError("load_um_daily: a corrupt zip")

    monkeypatch.setattr(binance, "load_um_daily", broken)
    assert cli.main(["ingest", "binance", str(tmp_path), "--out", str(panel)]) == 1
    assert panel.read_bytes() == b"the earlier panel" and leftovers(tmp_path) == []
