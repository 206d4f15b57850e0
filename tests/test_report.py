"""The HTML tear sheet: charts exist and are non-empty PNGs, the page explains the run."""

import re
import sys
from collections import Counter

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
    assert len(sources) == 7  # NAV, drawdown, universe, exposure, turnover, volatility, attribution
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
        assert f"<th>{key}</th>" in page


def test_universe_chart_needs_the_universe_column(tmp_path, run):
    frame, result = run
    page = write_report(tmp_path, frame.drop("is_universe"), result).read_text()
    assert len(images(page)) == 6
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
