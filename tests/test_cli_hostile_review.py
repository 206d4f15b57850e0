"""Hostile review of the command line, configs and data loading: each test is a bug found by
feeding the CLI, a config or `scan_panel` bad input (one clear error, nothing silent)."""

import os
from pathlib import Path

import polars as pl
import pytest

import lazyflow as lf
from lazyflow.cli import main

CSV_RUN = """
[data]
source = "csv"
path = "panel.csv"

[[stages]]
type = "LogReturns"

[factor]
enabled = false

[output]
dir = "out"
"""


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("lazyflow: error: "), err
    return lines[0]


def panel_csv(path: Path, column: str | None = None, text: str = "") -> Path:
    """A small panel CSV; with `column`, one row holds `text` there instead."""
    frame = lf.data.synthetic_panel(n_symbols=4, n_days=12, seed=1)
    if column is not None:
        value = pl.when(pl.int_range(pl.len()) == 5).then(pl.lit(text))
        frame = frame.with_columns(value.otherwise(pl.col(column).cast(pl.String)).alias(column))
    frame.write_csv(path)
    return path


@pytest.mark.parametrize(
    ("column", "text", "fragment"),
    [
        ("close", "1,234.5", "'close'"),
        ("date", "2024-02-30", "'date'"),
        ("date", "1969-12-31", "outside"),
    ],
)
def test_bad_csv_text_is_a_lazyflow_error_not_a_polars_error(
    tmp_path, capsys, column, text, fragment
):
    # the CLI collected the plan itself: a raw Polars error with its expression dump
    panel_csv(tmp_path / "panel.csv", column, text)
    (tmp_path / "run.toml").write_text(CSV_RUN)
    assert main(["run", str(tmp_path / "run.toml"), "-q", "--out", str(tmp_path / "o")]) == 1
    line = one_line(capsys.readouterr().err)
    assert line.startswith("lazyflow: error: signals: ")  # a DataError, not a Polars exception
    assert "This error occurred" not in line
    assert fragment in line
    assert not (tmp_path / "o").exists()


def test_a_repeated_csv_header_name_is_an_error(tmp_path):
    # Polars renames the repeat to close_duplicated_0: the second column was ignored silently
    path = panel_csv(tmp_path / "panel.csv")
    lines = path.read_text().splitlines()
    path.write_text("\n".join([lines[0] + ",close"] + [f"{line},1" for line in lines[1:]]) + "\n")
    with pytest.raises(lf.SchemaError, match=r"'close'.*twice"):
        lf.scan_panel(path)


def test_a_huge_synthetic_panel_is_refused_before_any_work():
    # n_symbols = 10**13 in a config: the process was killed for memory
    with pytest.raises(lf.ConfigError, match="n_symbols"):
        lf.data.synthetic_panel(n_symbols=10**13, n_days=100)


def test_synthetic_dates_stay_in_the_supported_range():
    # n_days = 100000 from 2019 ran to 2293, past the dates lazyflow accepts
    with pytest.raises(lf.ConfigError, match="2200-12-31"):
        lf.data.synthetic_panel(n_symbols=2, n_days=100_000)


def test_out_a_symlink_loop_is_a_usage_error(tmp_path, capsys):
    loop = tmp_path / "loop"
    os.symlink(loop, loop)
    code = main(["demo", "-q", "--symbols", "4", "--days", "10", "--out", str(loop)])
    line = one_line(capsys.readouterr().err)
    assert code == 2
    assert "--out" in line and "internal error" not in line


@pytest.mark.parametrize(
    ("path", "fragment"), [('""', "data.path: empty"), ('"."', "source 'csv'")]
)
def test_a_csv_source_reads_a_csv_file(tmp_path, capsys, path, fragment):
    # path = "" read the config's folder, and a csv source read any parquet files in a folder
    panel_csv(tmp_path / "panel.csv")
    lf.data.synthetic_panel(n_symbols=3, n_days=5).write_parquet(tmp_path / "stray.parquet")
    config = tmp_path / "run.toml"
    config.write_text(CSV_RUN.replace('"panel.csv"', path))
    assert main(["run", str(config), "-q", "--out", str(tmp_path / "o")]) != 0
    assert fragment in one_line(capsys.readouterr().err)


def test_a_config_with_a_utf8_byte_order_mark_reads(tmp_path):
    # Windows editors start UTF-8 files with a BOM: it was "invalid TOML ... line 1, column 1"
    config = tmp_path / "run.toml"
    config.write_bytes(b"\xef\xbb\xbf" + CSV_RUN.encode())
    assert lf.config.load_config(config).data.source == "csv"
