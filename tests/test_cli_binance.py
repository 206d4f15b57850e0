"""`lazyflow ingest binance` and the `binance` config source, on archive files written here."""

from datetime import date

import polars as pl
import pytest
from binance_fixtures import (
    KLINE_HEADER,
    epoch_ms,
    funding_path,
    funding_rows,
    kline_path,
    kline_rows,
    reference_bars,
    reference_funding,
    write_file,
)

import lazyflow as lf
from lazyflow.cli import main

SYMBOLS = ["AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT", "EEEUSDT", "FFFUSDT"]


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """Six symbols: January 2024 in a monthly 1d kline file, February 1-10 in daily files
    (the later ones without a header), 8-hourly funding for both months."""
    root = tmp_path_factory.mktemp("archive")
    rows = {}
    for i, symbol in enumerate(SYMBOLS):
        klines = kline_rows(i, epoch_ms(date(2024, 1, 1)), 41, "1d")
        write_file(kline_path(root, symbol, "1d", "2024-01"), klines[:31], KLINE_HEADER)
        for day, bar in enumerate(klines[31:], start=1):
            header = KLINE_HEADER if day <= 5 else None
            write_file(kline_path(root, symbol, "1d", f"2024-02-{day:02d}"), [bar], header)
        funding = funding_rows(100 + i, epoch_ms(date(2024, 1, 1)), 3 * 41, 8)
        write_file(funding_path(root, symbol, "2024-01"), funding[:93], None)
        write_file(funding_path(root, symbol, "2024-02"), funding[93:], None)
        rows[symbol] = (klines, funding)
    return root / "data", rows


def test_ingest_writes_the_panel(archive, tmp_path, capsys):
    root, rows = archive
    out = tmp_path / "panels" / "panel.parquet"
    assert main(["ingest", "binance", str(root), "--out", str(out)]) == 0
    assert "246 rows, 6 symbols, 2024-01-01 to 2024-02-10" in capsys.readouterr().out
    panel = pl.read_parquet(out)
    assert panel.equals(lf.data.binance.load_um_daily(root))
    assert panel.height == len(SYMBOLS) * 41
    klines, funding = rows["CCCUSDT"]
    bars, fund = reference_bars(klines), reference_funding(funding)
    got = panel.filter(pl.col("symbol") == "CCCUSDT").sort("date")
    assert got["date"].to_list() == sorted(bars)
    assert got["close"].to_list() == pytest.approx([bars[d]["close"] for d in sorted(bars)])
    assert got["funding_rate"].to_list() == pytest.approx([fund[d] for d in sorted(bars)])


def test_ingest_symbols_subset(archive, tmp_path):
    root, _ = archive
    out = tmp_path / "panel.parquet"
    assert (
        main(
            [
                "ingest",
                "binance",
                str(root),
                "--out",
                str(out),
                "--symbols",
                "AAAUSDT,FFFUSDT",
                "-q",
            ]
        )
        == 0
    )
    assert sorted(pl.read_parquet(out)["symbol"].unique().to_list()) == ["AAAUSDT", "FFFUSDT"]


def test_ingest_errors_are_data_errors(tmp_path, capsys):
    assert main(["ingest", "binance", str(tmp_path / "nowhere"), "--out", str(tmp_path / "p")]) == 1
    assert "nowhere" in capsys.readouterr().err
    broken = tmp_path / "broken"
    bad = kline_path(broken, "AAAUSDT", "1d", "2024-01")
    write_file(bad, kline_rows(0, epoch_ms(date(2024, 1, 1)), 3, "1d"), KLINE_HEADER)
    bad.with_name(bad.name + ".CHECKSUM").write_text("0" * 64 + f"  {bad.name}\n")
    code = main(["ingest", "binance", str(broken), "--out", str(tmp_path / "p.parquet")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and err[0].startswith("lazyflow: error: ")
    assert bad.name in err[0]


def test_binance_source_in_a_config(archive, tmp_path, capsys):
    root, _ = archive
    config = tmp_path / "binance.toml"
    config.write_text(
        f"""
[data]
source = "binance"
path = "{root}"
symbols = {SYMBOLS[:5]!r}

[[stages]]
type = "LogReturns"
[[stages]]
type = "VolumeUniverse"
window = 5
min_decile = 1
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
short_span = 3
long_span = 10
[[stages]]
type = "RangeSpread"

[allocator]
max_pos = 0.5

[output]
dir = "{tmp_path / "out"}"
""".replace("'", '"')
    )
    assert main(["explain", str(config)]) == 0
    assert "VolumeUniverse" in capsys.readouterr().out
    assert main(["run", str(config), "-q"]) == 0
    signals = pl.read_parquet(tmp_path / "out" / "signals.parquet")
    assert sorted(signals["symbol"].unique().to_list()) == SYMBOLS[:5]
    assert pl.read_parquet(tmp_path / "out" / "metrics.parquet").height == 40
