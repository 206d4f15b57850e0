"""The HTML tear sheet: charts exist and are non-empty PNGs, the page explains the run."""

import re
import shutil
import sys
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

import lazyflow as lf
from lazyflow.report import universe_counts, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run():
    panel = lf.synthetic_panel(n_symbols=30, n_days=150, seed=4)
    frame = lf.presets.carry()(panel.lazy()).collect()
    result = lf.backtest(frame, lf.presets.seed_allocator(), **lf.presets.SEED_BACKTEST)
    return frame, result


def images(page: str) -> list[str]:
    return re.findall(r'<img src="([^"]+)"', page)


def test_report_refers_to_images_that_exist_and_are_pngs(tmp_path, run):
    frame, result = run
    path = write_report(tmp_path, frame, result, title="Carry <test>", parameters={"k": "v & w"})
    assert path == tmp_path / "report.html"
    page = path.read_text()
    sources = images(page)
    # NAV, drawdown, rolling Sharpe, histogram, universe, exposure, turnover, volatility,
    # attribution
    assert len(sources) == 9
    for src in sources:
        png = tmp_path / src
        data = png.read_bytes()
        assert data.startswith(PNG_MAGIC), src
        assert len(data) > 5_000, src  # a drawn chart, not an empty canvas
    # title and parameters are escaped; the date range and the summary are stated
    assert "<title>Carry &lt;test&gt;</title>" in page
    assert "v &amp; w" in page
    metrics = result.metrics
    assert str(metrics["date"].min()) in page and str(metrics["date"].max()) in page
    for key in result.summary():
        assert f'<th title="{key}">' in page


def test_universe_chart_needs_the_universe_column(tmp_path, run):
    frame, result = run
    page = write_report(tmp_path, frame.drop("is_universe"), result).read_text()
    assert len(images(page)) == 8
    assert "universe.png" not in page


def test_universe_counts_match_a_loop(run):
    frame, _ = run
    frame = frame.with_columns(
        pl.when(pl.col("symbol") == frame["symbol"][0]).then(None).otherwise(pl.col("is_universe"))
    )  # a null flag counts as not in the universe
    inside, outside = Counter(), Counter()
    for date, flag in zip(frame["date"].to_list(), frame["is_universe"].to_list(), strict=True):
        (inside if flag else outside)[date] += 1
    counts = universe_counts(frame)
    assert counts["date"].to_list() == sorted(set(frame["date"].to_list()))
    assert counts["in_universe"].to_list() == [inside[d] for d in counts["date"].to_list()]
    assert counts["out"].to_list() == [outside[d] for d in counts["date"].to_list()]


def test_dropped_rows_are_listed(tmp_path, run):
    frame, _ = run
    held = frame.filter(pl.col("is_universe"))["symbol"].mode()[0]
    broken = frame.with_columns(
        pl.when(pl.col("symbol") == held)
        .then(float("nan"))
        .otherwise(pl.col("vol_fcst"))
        .alias("vol_fcst")
    )
    result = lf.backtest(broken, lf.presets.seed_allocator(), **lf.presets.SEED_BACKTEST)
    assert result.dropped["bad_vol"] > 0
    page = write_report(tmp_path, broken, result).read_text()
    section = page.split("Rows dropped as untradable")[1].split("</div>")[0]
    for reason, rows in result.dropped.items():
        assert f"<th>{reason}</th><td>{rows:,}</td>" in section


def test_missing_matplotlib_is_a_clear_error(tmp_path, run, monkeypatch):
    frame, result = run
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.dates", None)
    with pytest.raises(lf.LazyflowError, match=r"pip install 'lazyflow\[plot\]'"):
        write_report(tmp_path, frame, result)


@pytest.fixture(scope="module")
def tear_sheet(run, tmp_path_factory):
    """The report of `run` drawn once through `result.report`, with the pipeline listed."""
    frame, result = run
    return result.report(tmp_path_factory.mktemp("tear"), frame=frame, pipeline=lf.presets.carry())


def test_tear_sheet_tables_are_in_the_page(tear_sheet, run):
    _, result = run
    page = tear_sheet.read_text()
    for heading in ("Monthly returns", "Statistics per year", "Worst drawdowns"):
        assert f"<h2>{heading}</h2>" in page
    assert "rolling_sharpe.png" in page and "returns_histogram.png" in page
    # the summary is formatted for people: total return as a signed percentage
    total = result.summary()["total_return"]
    assert f"<td>{total * 100:+.1f}%</td>" in page
    assert "cost per year, of NAV" in page
    # coloured monthly cells: a gain green, a loss red
    assert "rgba(46,160,67," in page and "rgba(203,36,49," in page
    assert "VolumeUniverse(min_decile=9)" in page  # the pipeline


def test_sweep_report_parameters_show_the_grid_and_integers():
    from lazyflow.report.sweep import grid_parameters

    parameters = {
        "stages": [{"type": "EwmaVol", "short_span": 21.0}, {"type": "SigmoidTarget", "k": 0.5},
                   {"type": "Deciles"}, {"type": "Deciles", "n_quantiles": 5}],
        "allocator": {"lambda_risk": 0.5, "gamma_cost": 0.3},
        "grids": {"stage.SigmoidTarget.k": [0.5, 1.0, 2.0], "allocator.lambda_risk": [0.5, 1.0],
                  "stage.3.Deciles.n_quantiles": [5, 10]},
    }  # fmt: skip
    shown = grid_parameters(parameters)
    assert shown["stages"] == [
        {"type": "EwmaVol", "short_span": 21},
        {"type": "SigmoidTarget", "k": [0.5, 1, 2]},
        {"type": "Deciles"},
        {"type": "Deciles", "n_quantiles": [5, 10]},
    ]
    assert shown["allocator"] == {"lambda_risk": [0.5, 1], "gamma_cost": 0.3}
    assert "grids" not in shown
    assert type(shown["stages"][0]["short_span"]) is int
    assert parameters["stages"][1]["k"] == 0.5  # the input is not changed


def screenshot(page: Path, png: Path) -> None:
    import subprocess

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--window-size=1200,2400", f"--screenshot={png}", page.as_uri()],
        capture_output=True, timeout=120, check=True,
    )  # fmt: skip


@pytest.mark.skipif(
    not (shutil.which("chromium") or shutil.which("chromium-browser")),
    reason="headless Chromium (Debian's chromium package) is not installed",
)
def test_report_renders_in_headless_chromium(tmp_path, tear_sheet):
    from matplotlib.image import imread

    png = tmp_path / "shot.png"
    screenshot(tear_sheet, png)
    pixels = imread(png)[..., :3]
    assert pixels.shape[0] >= 2000 and pixels.shape[1] >= 1100
    # non-blank: many pixels are not the white background, in many colours (charts, tables)
    inked = (pixels < 0.9).any(axis=-1)
    assert inked.mean() > 0.05
    colours = {tuple(p) for p in (pixels[::7, ::7] * 255).astype(int).reshape(-1, 3)}
    assert len(colours) > 200
    # the lower half holds the tables and charts too, not only the top
    assert inked[pixels.shape[0] // 2 :].mean() > 0.02


@pytest.mark.parametrize("n_sym", [1, 5, 25])
def test_top_and_bottom_symbols_never_list_a_symbol_twice(n_sym):
    """With fewer than 20 symbols the 'bottom 10' must not repeat the winners of the top."""
    import datetime as dt
    import re as regex

    from lazyflow.report.attribution import TOP_N, _ranking

    days = [dt.date(2024, 1, 1) + dt.timedelta(days=d) for d in range(6)]
    frame = pl.DataFrame(
        {
            "date": [d for d in days for _ in range(n_sym)],
            "symbol": [f"S{k:02d}" for _ in days for k in range(n_sym)],
            "target_position": [(-1.0) ** k * 0.5 for _ in days for k in range(n_sym)],
            "vol_fcst": 0.02,
            "spread": 0.001,
            "close": [100.0 + d * (k - 2) for d in range(6) for k in range(n_sym)],
            "funding_rate": 0.0,
            "is_universe": True,
        }
    )
    html = _ranking(lf.backtest(frame, lf.BufferedAllocator(max_pos=1.0)).attribution())
    listed = regex.findall(r"<td>(S\d\d)</td>", html)
    assert len(listed) == len(set(listed)) == min(n_sym, 2 * TOP_N)


def test_the_capacity_curve_is_drawn_in_nav_order():
    """navs given out of order ([1e9, 1e5, 1e7]) must not draw a zigzag: the curve and the
    table go by increasing NAV."""
    from matplotlib.figure import Figure

    from lazyflow.report.capacity import capacity_html

    table = pl.DataFrame(
        {
            "init_nav": [1e9, 1e5, 1e7],
            **{c: [3.0, 1.0, 2.0] for c in ("sharpe", "cagr", "cost_drag", "avg_turnover")},
            **{c: [0.0, 0.0, 0.0] for c in ("total_return", "max_drawdown", "total_cost")},
        }
    )
    figure = Figure()

    def chart(name, draw, **kwargs):
        draw(figure)
        return ""

    html = capacity_html(chart, table, "test costs")
    for ax in figure.axes:
        for line in ax.get_lines():
            xs = list(line.get_xdata())
            assert xs == sorted(xs)
    navs = [float(v.replace(",", "")) for v in re.findall(r"<tr><td>([\d.e+,]+)</td>", html)]
    assert navs == sorted(navs) and len(navs) == 3
