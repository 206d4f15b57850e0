"""The factor section: `lazyflow factor`, the [factor] config section, the report's charts,
and the backtest of `run` left unchanged by the forward returns added to its plan."""

import re

import polars as pl
import pytest

import lazyflow as lf
from lazyflow.cli import main
from lazyflow.config import load_config
from lazyflow.factor import FactorAnalysis
from lazyflow.report import (
    FactorSection,
    factor_summary_rows,
    format_factor_summary,
    write_report,
)
from lazyflow.report.factor import FACTOR_ROWS

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
FACTOR_CHARTS = ("factor_ic", "factor_quantiles", "factor_spread", "factor_decay")
BACKTEST_OUTPUTS = ("signals.parquet", "book.parquet", "metrics.parquet", "summary.json")

CONFIG = """
[data]
source = "synthetic"
n_symbols = 30
n_days = 160
seed = 7

[[stages]]
type = "LogReturns"
[[stages]]
type = "VolumeUniverse"
window = 10
min_decile = 5
[[stages]]
type = "FundingCarry"
[[stages]]
type = "Deciles"
n_quantiles = 5
[[stages]]
type = "SigmoidTarget"
n_quantiles = 5
[[stages]]
type = "EwmaVol"
short_span = 10
long_span = 30
[[stages]]
type = "RangeSpread"

[factor]
horizons = [1, 4, 12]
mask = "is_universe"
rolling_window = 5
periods_per_year = 252

[allocator]
lambda_risk = 2.0
gamma_cost = 0.3

[output]
dir = "out/factor"
"""


def write(tmp_path, text=CONFIG, name="run.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def cli(*argv, capsys):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def python_api_frame(labels: bool) -> pl.DataFrame:
    """The config's signals built by hand with the Python API."""
    stages = [
        lf.LogReturns(),
        lf.VolumeUniverse(window=10, min_decile=5),
        lf.FundingCarry(),
        lf.Deciles(n_quantiles=5),
        lf.SigmoidTarget(n_quantiles=5),
        lf.EwmaVol(short_span=10, long_span=30),
        lf.RangeSpread(),
    ]
    if labels:
        stages.append(lf.ForwardReturns(horizons=(1, 4, 12)))
    panel = lf.synthetic_panel(n_symbols=30, n_days=160, seed=7)
    return lf.Pipeline(stages)(panel.lazy()).collect()


def pngs(page: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', page)


def assert_drawn(folder, sources):
    for src in sources:
        data = (folder / src).read_bytes()
        assert data.startswith(PNG_MAGIC), src
        assert len(data) > 5_000, src  # a drawn chart, not an empty canvas


@pytest.fixture(scope="module")
def factor_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("factor")
    config = write(folder)
    code = main(["factor", str(config), "--out", str(folder / "out"), "-q"])
    assert code == 0
    return folder / "out"


def test_factor_command_writes_tables_and_a_factor_only_report(factor_run):
    out = factor_run
    for name in BACKTEST_OUTPUTS:
        assert not (out / name).exists(), name  # no backtest
    page = (out / "report.html").read_text()
    sources = pngs(page)
    assert sources == [f"report_files/{c}.png" for c in FACTOR_CHARTS]
    assert_drawn(out, sources)
    assert 'id="factor"' in page and "Summary statistics" not in page
    assert "lazyflow factor: run.toml" in page
    assert "horizons=(1, 4, 12), mask=&#x27;is_universe&#x27;" in page  # the [factor] settings


def test_factor_tables_match_the_python_api(factor_run):
    frame = python_api_frame(labels=True)
    want = lf.factor_report(
        frame, quantile_col="decile_carry", mask="is_universe", periods_per_year=252
    )
    got = pl.read_parquet(factor_run / "factor.parquet")
    assert got.equals(want)
    assert set(got.filter(pl.col("horizon").is_not_null())["horizon"]) == {1, 4, 12}
    tables = FactorAnalysis(mask="is_universe").tables(frame, rolling_window=5)
    assert pl.read_parquet(factor_run / "factor_daily.parquet").equals(tables.daily)


def test_factor_command_prints_the_summary(tmp_path, capsys):
    config = write(tmp_path)
    code, out, err = cli("factor", config, "--out", tmp_path / "o", capsys=capsys)
    assert code == 0 and err == ""
    summary = pl.read_parquet(tmp_path / "o" / "factor.parquet")
    assert format_factor_summary(summary) in out
    ic = summary.filter(pl.col("metric") == "ic_mean").sort("horizon")["value"]
    line = next(row for row in out.splitlines() if row.startswith("IC mean"))
    assert line.split()[2:] == [f"{v:+.4f}" for v in ic]
    assert "turnover, top quantile (5)" in out and "rank autocorrelation" in out
    assert "factor.parquet" in out


def test_summary_rows_follow_the_tidy_table():
    frame = python_api_frame(labels=True)
    summary = lf.factor_report(frame, mask="is_universe", quantile_col="decile_carry")
    horizons, rows, other = factor_summary_rows(summary)
    assert horizons == [1, 4, 12]
    assert [label for label, _ in rows] == [label for label, _, _ in FACTOR_ROWS]
    for (label, values), (_, metric, spec) in zip(rows, FACTOR_ROWS, strict=True):
        want = summary.filter(pl.col("metric") == metric).sort("horizon")["value"].to_list()
        assert values == [spec.format(v) for v in want], label
    turnover = summary.filter(pl.col("metric") == "turnover").sort("quantile")
    assert other[0] == (
        f"turnover, top quantile ({turnover['quantile'][-1]})",
        f"{turnover['value'][-1]:.1%}",
    )
    assert other[1][0] == f"turnover, bottom quantile ({turnover['quantile'][0]})"
    assert other[2][0] == "rank autocorrelation"


def test_run_adds_the_factor_section_and_leaves_the_backtest_unchanged(tmp_path):
    on, off = tmp_path / "on", tmp_path / "off"
    assert main(["run", str(write(tmp_path)), "--out", str(on), "-q"]) == 0
    disabled = CONFIG.replace("[factor]\n", "[factor]\nenabled = false\n")
    assert main(["run", str(write(tmp_path, disabled, "off.toml")), "--out", str(off), "-q"]) == 0

    for name in ("metrics.parquet", "book.parquet"):
        assert pl.read_parquet(on / name).equals(pl.read_parquet(off / name)), name
    labels = ["fwd_ret_1", "fwd_ret_4", "fwd_ret_12"]
    signals_on = pl.read_parquet(on / "signals.parquet")
    signals_off = pl.read_parquet(off / "signals.parquet")
    assert signals_on.columns == signals_off.columns + labels
    assert signals_on.drop(labels).equals(signals_off)
    # the backtest of the labelled signals equals the Python API's, without labels
    config = load_config(write(tmp_path))
    want = lf.backtest(python_api_frame(labels=False), config.allocator, **config.backtest)
    assert pl.read_parquet(on / "metrics.parquet").equals(want.metrics)
    assert lf.backtest(signals_on, config.allocator).metrics.equals(want.metrics)

    page_on, page_off = (on / "report.html").read_text(), (off / "report.html").read_text()
    assert 'id="factor"' in page_on and 'id="factor"' not in page_off
    assert_drawn(on, pngs(page_on))
    assert all(f"report_files/{c}.png" in pngs(page_on) for c in FACTOR_CHARTS)
    assert (on / "factor.parquet").exists() and not (off / "factor.parquet").exists()
    assert "Summary statistics" in page_on


def test_a_configured_forward_returns_stage_is_used_not_duplicated(tmp_path, capsys):
    text = CONFIG.replace(
        "[factor]\nhorizons = [1, 4, 12]",
        '[[stages]]\ntype = "ForwardReturns"\nhorizons = [2, 6]\noutput_prefix = "ret_"\n[factor]',
    )
    config = load_config(write(tmp_path, text))
    assert config.pipeline(labels=True).stages == config.stages
    assert config.label_stage() == lf.ForwardReturns(horizons=(2, 6), output_prefix="ret_")
    analysis = config.analysis()
    assert (analysis.horizons, analysis.prefix) == ((2, 6), "ret_")
    got = cli("factor", tmp_path / "run.toml", "--out", tmp_path / "o", "-q", capsys=capsys)
    assert got == (0, "", "")  # --quiet: nothing on stdout or stderr
    summary = pl.read_parquet(tmp_path / "o" / "factor.parquet")
    assert set(summary["horizon"].drop_nulls()) == {2, 6}


@pytest.mark.parametrize(
    ("change", "code", "fragments"),
    [
        (("[factor]", "[factor]\nscor = 1"), 2, ("factor.scor", "unknown", "score")),
        (("horizons = [1, 4, 12]", "horizons = [0]"), 2, ("factor", "horizons", "0")),
        (("[factor]", '[factor]\nscore = "nope"'), 1, ("[factor]", "'nope'", "missing")),
        (("[factor]", '[factor]\nquantile_col = "carry_score"'), 1, ("carry_score", "integer")),
        (('mask = "is_universe"', 'mask = "gone"'), 1, ("'gone'", "missing")),
    ],
)
def test_factor_command_errors(tmp_path, capsys, change, code, fragments):
    config = write(tmp_path, CONFIG.replace(*change, 1))
    got, _, err = cli("factor", config, "--out", tmp_path / "o", capsys=capsys)
    assert got == code
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lazyflow: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert not (tmp_path / "o").exists()  # checked before anything is computed or written


def test_factor_command_needs_an_output_folder(tmp_path, capsys):
    config = write(tmp_path, CONFIG.split("[output]")[0])
    code, _, err = cli("factor", config, capsys=capsys)
    assert code == 2 and "--out" in err


def test_report_survives_empty_panels(tmp_path):
    """A horizon longer than the data and a quantile column that is all null draw
    every chart, with a note instead of an empty or broken panel."""
    frame = python_api_frame(labels=False)
    frame = (lf.ForwardReturns(horizons=(1, 500)))(frame.lazy()).collect()
    frame = frame.with_columns(pl.lit(None, pl.Int32).alias("decile_carry"))
    factor = FactorSection.compute(FactorAnalysis(horizons=(1, 500)), frame, rolling_window=5)
    page = write_report(tmp_path, frame, None, title="edge", factor=factor).read_text()
    assert_drawn(tmp_path, pngs(page))
    assert len(pngs(page)) == len(FACTOR_CHARTS)
    assert "n/a" in page  # horizon 500 has no statistics
    by_horizon = factor.tables.by_horizon
    assert by_horizon.filter(pl.col("horizon") == 500)["ic_dates"].item() == 0
    assert factor.tables.quantile_returns.height == 0


def test_report_needs_something_to_report(tmp_path):
    with pytest.raises(lf.LazyflowError, match="nothing to report"):
        write_report(tmp_path, python_api_frame(labels=False), None)


def test_run_names_the_factor_score_it_cannot_find(tmp_path, capsys):
    text = CONFIG.replace("[factor]", '[factor]\nscore = "momentum"')
    code, _, err = cli("run", write(tmp_path, text), "--out", tmp_path / "o", capsys=capsys)
    assert code == 1
    assert "'momentum' is missing" in err and "enabled = false" in err
    assert not (tmp_path / "o").exists()
    text = text.replace("[factor]", "[factor]\nenabled = false")
    assert cli("run", write(tmp_path, text), "--out", tmp_path / "o", "-q", capsys=capsys)[0] == 0
