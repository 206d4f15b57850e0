"""`download` (lf.data.binance.download, `lazyflow download binance`) against a miniature
archive served on 127.0.0.1 by the tests: paginated listing, checksums, a symbol that
delists mid-range, a file that 404s, a wrong checksum, a 503, a stalled transfer."""

from __future__ import annotations

import hashlib
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest
from binance_fixtures import (
    FUNDING_HEADER,
    KLINE_HEADER,
    ArchiveServer,
    epoch_ms,
    funding_path,
    funding_rows,
    kline_path,
    kline_rows,
    write_file,
)

import lazyflow as lf
from lazyflow.cli import main
from lazyflow.config import load_config
from lazyflow.data.binance import load_um_daily
from lazyflow.data.download import DownloadSummary, download

TODAY = date(2024, 3, 15)  # the last complete day is 2024-03-14
FAST = {"timeout": 5.0, "retries": 2, "backoff": 0.0, "jobs": 4, "progress": False}
UM = "data/futures/um"


def key(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def month_klines(root: Path, symbol: str, seed: int, months: list[str], days: dict | None = None):
    for i, month in enumerate(months):
        first = date.fromisoformat(month + "-01")
        n = (days or {}).get(month, 28)
        write_file(
            kline_path(root, symbol, "1d", month),
            kline_rows(seed + i, epoch_ms(first), n, "1d"),
            KLINE_HEADER,
        )
        write_file(
            funding_path(root, symbol, month),
            funding_rows(seed + 50 + i, epoch_ms(first), 3 * n, 8),
            FUNDING_HEADER,
        )


def daily_klines(root: Path, symbol: str, seed: int, first: date, last: date) -> None:
    day = first
    while day <= last:
        write_file(
            kline_path(root, symbol, "1d", day.isoformat()),
            kline_rows(seed + day.toordinal(), epoch_ms(day), 1, "1d"),
            KLINE_HEADER,
        )
        day = date.fromordinal(day.toordinal() + 1)


@pytest.fixture
def archive(tmp_path: Path):
    """The miniature archive, its server, and the keys a default download should fetch."""
    src = tmp_path / "archive"
    months = ["2023-12", "2024-01", "2024-02"]
    month_klines(src, "AAAUSDT", 10, months)
    daily_klines(src, "AAAUSDT", 20, date(2024, 3, 1), date(2024, 3, 15))  # the 15th: too new
    write_file(kline_path(src, "AAAUSDT", "1h", "2024-01"), kline_rows(1, 0, 24, "1h"), None)
    month_klines(src, "BBBUSDT", 30, months[:2], {"2024-01": 10})  # delisted on 2024-01-10
    month_klines(src, "CCCUSDT", 40, months)
    daily_klines(src, "DDDUSDT", 50, date(2024, 3, 5), date(2024, 3, 14))  # listed in March
    daily_klines(src, "EEEUSDT", 60, date(2024, 2, 20), date(2024, 3, 14))  # Feb not published
    write_file(kline_path(src, "FFFUSDT", "1h", "2024-01"), kline_rows(2, 0, 24, "1h"), None)
    running = kline_path(src, "CCCUSDT", "1d", "2024-03")  # a mirror's partial month: not taken
    write_file(running, kline_rows(3, epoch_ms(date(2024, 3, 1)), 14, "1d"), KLINE_HEADER)
    month_klines(src, "BTCUSDT_240329", 70, months[1:2])  # a delivery contract
    month_klines(src, "ETHBUSD", 80, months[1:2])  # another margin asset
    server = ArchiveServer(src, page_size=3)
    absent = f"{UM}/monthly/klines/CCCUSDT/1d/CCCUSDT-1d-2024-01.zip"
    wrong = f"{UM}/monthly/fundingRate/CCCUSDT/CCCUSDT-fundingRate-2024-02.zip"
    retried = f"{UM}/monthly/klines/AAAUSDT/1d/AAAUSDT-1d-2024-01.zip"
    server.absent.add(absent)
    (src / (wrong + ".CHECKSUM")).write_text("0" * 64 + "  x.zip\n")
    server.errors[retried] = [503]
    expected = sorted(
        k
        for k in server.archive_keys()
        if k.endswith(".zip")
        and "USDT_" not in k
        and "ETHBUSD" not in k
        and "/1h/" not in k
        and "2024-03-15" not in k
        and k not in (absent, wrong, key(running, src))
    )
    yield {"src": src, "server": server, "expected": expected, "absent": absent, "wrong": wrong}
    server.close()


def run(archive: dict, out: Path, **options) -> DownloadSummary:
    return download(out, base_url=archive["server"].url, today=TODAY, **(FAST | options))


def test_full_download_then_load(archive: dict, tmp_path: Path, capsys) -> None:
    out, server = tmp_path / "out", archive["server"]
    summary = run(archive, out, progress=True)
    bars = capsys.readouterr().err
    assert (
        "listing 6 symbols [" in bars
        and f"downloading {len(archive['expected']) + 2} files [" in bars
    )
    assert sorted(summary.fetched) == archive["expected"]
    assert summary.missing == {archive["absent"]: "HTTP 404"}
    assert list(summary.failed) == [archive["wrong"]]
    assert summary.skipped == [] and summary.bytes_fetched > 0
    assert str(summary).startswith(f"fetched {len(archive['expected'])} files")
    # the archive's own layout, byte for byte, each zip beside its checksum; no leftovers
    written = sorted(key(p, out) for p in out.rglob("*") if p.is_file())
    assert written == sorted(
        [*archive["expected"], *(k + ".CHECKSUM" for k in archive["expected"])]
    )
    for k in written:
        assert (out / k).read_bytes() == (archive["src"] / k).read_bytes()
    # load_um_daily reads the folder as it is: the same panel as the source files
    panel = load_um_daily(out)
    assert panel.equals(load_um_daily([archive["src"] / k for k in archive["expected"]]))
    assert set(panel["symbol"]) == {"AAAUSDT", "BBBUSDT", "CCCUSDT", "DDDUSDT", "EEEUSDT"}
    assert panel["date"].max() == date(2024, 3, 14)
    bbb = panel.filter(pl.col("symbol") == "BBBUSDT")  # delisted mid-range, still there
    assert bbb["date"].max() == date(2024, 1, 10)
    # the listing was paged: some requests carried a continuation token
    assert any("continuation-token" in r for r in server.requests)


def test_incremental_runs_fetch_only_what_is_missing_or_newer(archive: dict, tmp_path: Path):
    out, server = tmp_path / "out", archive["server"]
    first = run(archive, out)
    server.requests.clear()
    second = run(archive, out)
    assert second.fetched == [] and sorted(second.skipped) == sorted(first.fetched)
    # only the listing, and the two files that never arrived, were asked for again
    files = {r.lstrip("/").removesuffix(".CHECKSUM") for r in server.file_requests()}
    assert files == {archive["absent"], archive["wrong"]}
    # Binance republishes a month: a later run fetches that file (and its checksum) only
    republished = kline_path(archive["src"], "AAAUSDT", "1d", "2024-02")
    write_file(republished, kline_rows(99, epoch_ms(date(2024, 2, 1)), 29, "1d"), KLINE_HEADER)
    later = datetime(2024, 3, 10, tzinfo=UTC)
    k = key(republished, archive["src"])
    server.modified[k] = server.modified[k + ".CHECKSUM"] = later
    third = run(archive, out)
    assert third.fetched == [k]
    assert (out / k).read_bytes() == republished.read_bytes()
    assert load_um_daily(out, symbols="AAAUSDT").filter(pl.col("date") == date(2024, 2, 29)).height


def test_interrupted_transfer_then_resumed(archive: dict, tmp_path: Path) -> None:
    """The server stalls half way through a file; the client times out, nothing that looks
    complete is left; the next run fetches exactly that file."""
    out, server = tmp_path / "out", archive["server"]
    stalled = f"{UM}/monthly/klines/BBBUSDT/1d/BBBUSDT-1d-2023-12.zip"
    server.stall.add(stalled)
    summary = run(archive, out, timeout=0.3, retries=1)
    assert "timed out after 2 attempts" in summary.failed[stalled]
    assert not (out / stalled).exists()
    assert not list(out.rglob("*.part"))
    assert load_um_daily(out, symbols="BBBUSDT")["date"].min() == date(2024, 1, 1)
    server.stall.clear()
    resumed = run(archive, out)
    # what failed (only the stalled file, unless a busy machine slowed another past 0.3 s)
    assert stalled in resumed.fetched
    assert set(resumed.fetched) == set(summary.failed) - {archive["wrong"]}
    assert (out / stalled).read_bytes() == (archive["src"] / stalled).read_bytes()
    assert load_um_daily(out).equals(
        load_um_daily([archive["src"] / k for k in archive["expected"]])
    )


def test_server_errors_are_retried_with_a_limit(archive: dict, tmp_path: Path) -> None:
    server = archive["server"]
    retried = f"{UM}/monthly/klines/AAAUSDT/1d/AAAUSDT-1d-2024-01.zip"
    summary = run(archive, tmp_path / "a", symbols="AAAUSDT")
    assert retried in summary.fetched
    assert server.file_requests().count("/" + retried) == 2  # a 503, then the file
    # errors that outlast the retries (5xx and 429), and a status that is not retried
    keys = [f"{UM}/monthly/klines/AAAUSDT/1d/AAAUSDT-1d-{m}.zip" for m in ("2023-12", "2024-02")]
    server.errors[keys[0]] = [500, 502, 503]
    server.errors[keys[1]] = [429, 429, 429]
    forbidden = f"{UM}/monthly/fundingRate/AAAUSDT/AAAUSDT-fundingRate-2023-12.zip"
    server.errors[forbidden] = [403]
    server.requests.clear()
    summary = run(archive, tmp_path / "b", symbols="AAAUSDT")
    assert summary.failed[keys[0]].endswith("HTTP 503 after 3 attempts")
    assert summary.failed[keys[1]].endswith("HTTP 429 after 3 attempts")
    assert summary.failed[forbidden].endswith(": HTTP 403")
    assert server.file_requests().count("/" + forbidden) == 1


def test_checksum_mismatch_fetched_twice_then_reported(archive: dict, tmp_path: Path) -> None:
    out, server = tmp_path / "out", archive["server"]
    wrong = archive["wrong"]
    summary = run(archive, out, symbols=["CCCUSDT"])
    assert summary.failed[wrong].startswith("checksum mismatch: sha256 ")
    assert "says " + "0" * 64 in summary.failed[wrong]
    assert server.file_requests().count("/" + wrong) == 2
    assert not (out / wrong).exists() and not (out / (wrong + ".CHECKSUM")).exists()
    # a checksum that is not a digest, and a zip whose bytes changed under its checksum
    other = f"{UM}/monthly/fundingRate/CCCUSDT/CCCUSDT-fundingRate-2023-12.zip"
    (archive["src"] / (other + ".CHECKSUM")).write_text("garbage\n")
    corrupted = archive["src"] / f"{UM}/monthly/klines/CCCUSDT/1d/CCCUSDT-1d-2024-02.zip"
    corrupted.write_bytes(corrupted.read_bytes()[:-1] + b"!")
    summary = run(archive, tmp_path / "again", symbols=["CCCUSDT"])
    assert "does not start with a sha256 digest" in summary.failed[other]
    assert summary.failed[key(corrupted, archive["src"])].startswith("checksum mismatch")
    digest = hashlib.sha256(corrupted.read_bytes()).hexdigest()
    assert digest in summary.failed[key(corrupted, archive["src"])]


def test_symbols_and_date_range(archive: dict, tmp_path: Path) -> None:
    summary = run(
        archive, tmp_path / "a", symbols=["AAAUSDT", "BBBUSDT"], start="2024-01", end="2024-02"
    )
    assert sorted(summary.fetched) == [
        f"{UM}/monthly/fundingRate/AAAUSDT/AAAUSDT-fundingRate-2024-01.zip",
        f"{UM}/monthly/fundingRate/AAAUSDT/AAAUSDT-fundingRate-2024-02.zip",
        f"{UM}/monthly/fundingRate/BBBUSDT/BBBUSDT-fundingRate-2024-01.zip",
        f"{UM}/monthly/klines/AAAUSDT/1d/AAAUSDT-1d-2024-01.zip",
        f"{UM}/monthly/klines/AAAUSDT/1d/AAAUSDT-1d-2024-02.zip",
        f"{UM}/monthly/klines/BBBUSDT/1d/BBBUSDT-1d-2024-01.zip",
    ]
    # the current month: daily files up to the last complete day; a late month: daily too
    summary = run(archive, tmp_path / "b", symbols="EEEUSDT", start="2024-02")
    days = sorted(k.rsplit("-1d-", 1)[1][:10] for k in summary.fetched)
    assert days[0] == "2024-02-20" and days[-1] == "2024-03-14" and len(days) == 24
    summary = run(archive, tmp_path / "c", symbols="AAAUSDT", start="2024-03")
    assert len(summary.fetched) == 14  # March 1-14 daily klines; no funding file yet
    # a delivery contract by name is fine; bad options are config errors
    assert run(archive, tmp_path / "d", symbols="BTCUSDT_240329").fetched
    with pytest.raises(lf.DataError, match="no 1d klines for FFFUSDT, ZZZUSDT"):
        run(archive, tmp_path / "e", symbols=["AAAUSDT", "ZZZUSDT", "FFFUSDT"])
    for bad, match in (
        ({"start": "2024-13"}, "start='2024-13'"),
        ({"start": "2024-02", "end": "2024-01"}, "start=2024-02 is after end=2024-01"),
        ({"symbols": "btc/../usdt"}, "not an archive symbol"),
        ({"symbols": []}, "'symbols' is empty"),
        ({"interval": "1w"}, "interval='1w'"),
        ({"jobs": 0}, "'jobs' must be an integer >= 1"),
    ):
        with pytest.raises(lf.ConfigError, match=match):
            run(archive, tmp_path / "f", **bad)


def test_cli_download_binance(archive: dict, tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    url = archive["server"].url
    argv = [
        "download",
        "binance",
        "--out",
        str(out),
        "--base-url",
        url,
        "--symbols",
        "AAAUSDT,BBBUSDT",
    ]
    argv += ["--start", "2023-12", "--end", "2024-02", "--timeout", "5", "--jobs", "2"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "fetched 10 files" in text and "missing 0, failed 0" in text
    assert load_um_daily(out)["symbol"].unique().sort().to_list() == ["AAAUSDT", "BBBUSDT"]
    assert main(argv) == 0
    assert "fetched 0 files" in capsys.readouterr().out
    # failures: exit 1, each named on stderr
    argv = ["download", "binance", "--out", str(out), "--base-url", url, "--symbols", "CCCUSDT"]
    assert main([*argv, "--end", "2024-02", "--retries", "0", "--quiet"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"{archive['wrong']}: checksum mismatch" in captured.err
    assert main([*argv, "--start", "24-01"]) == 2


def test_listing_url_and_bad_listings(archive: dict, tmp_path: Path) -> None:
    assert lf.data.binance.download is download
    url = archive["server"].url
    # the listing may come from elsewhere than the files (here: the same server, by name)
    summary = run(archive, tmp_path / "a", symbols="BBBUSDT", list_url=url + "/")
    assert len(summary.fetched) == 4
    with pytest.raises(lf.DataError, match=r"listing .*/nowhere answered 404"):
        run(archive, tmp_path / "b", symbols="BBBUSDT", list_url=url + "/nowhere")
    some_zip = f"{url}/{archive['expected'][0]}"
    with pytest.raises(lf.DataError, match="is not S3 ListObjectsV2 XML"):
        run(archive, tmp_path / "c", symbols="BBBUSDT", list_url=some_zip)
    with pytest.raises(lf.DataError, match=r"cannot list .*connection error"):
        run(archive, tmp_path / "d", list_url="http://127.0.0.1:9", retries=0)


def test_example_config_runs_on_a_downloaded_folder(archive: dict, tmp_path: Path) -> None:
    """examples/binance_carry.toml reads ../data/binance: download there, then run its
    pipeline and backtest (what `lazyflow run` does before writing the report)."""
    run(archive, tmp_path / "data" / "binance")
    example = Path(__file__).parents[1] / "examples" / "binance_carry.toml"
    config_path = tmp_path / "examples" / example.name
    config_path.parent.mkdir()
    config_path.write_text(example.read_text())
    config = load_config(config_path)
    frame = config.pipeline()(config.data.scan()).collect()
    assert set(frame["symbol"]) == {"AAAUSDT", "BBBUSDT", "CCCUSDT"}  # those with funding
    assert frame["date"].max() == date(2024, 2, 28)  # March has no funding file yet
    result = lf.backtest(frame, config.allocator, **config.backtest)
    assert result.metrics.height > 0 and all(v is not None for v in result.summary().values())


def test_stop_ends_a_stalled_transfer(archive: dict, tmp_path: Path) -> None:
    """An interrupt sets `stop`: a worker blocked on a slow server gives up at its next
    chunk or attempt instead of waiting out every retry."""
    import threading

    import httpx

    from lazyflow.data.fetch import Fetcher, Stopped

    server = archive["server"]
    stalled = archive["expected"][0]
    server.stall.add(stalled)
    stop = threading.Event()
    with httpx.Client(timeout=0.2) as client:
        fetcher = Fetcher(client, retries=1000, backoff=0.0, stop=stop)
        threading.Timer(0.5, stop.set).start()
        with pytest.raises(Stopped):
            fetcher.get_file(f"{server.url}/{stalled}", tmp_path / "x.part")
    assert 1 <= len([r for r in server.requests if stalled in r]) < 1000


def test_without_httpx_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)  # `import httpx` raises ImportError
    with pytest.raises(lf.ConfigError, match=r"pip install 'lazyflow\[download\]'"):
        download(tmp_path, "BTCUSDT", base_url="http://127.0.0.1:9")
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("jobs", "8"),
        ("jobs", 2.5),
        ("jobs", True),
        ("retries", 2.5),
        ("retries", None),
        ("timeout", float("nan")),
        ("timeout", float("inf")),
        ("timeout", "30"),
        ("backoff", float("nan")),
        ("backoff", float("inf")),
        ("out", 7),
        ("today", "2024-03-05"),
    ],
)
def test_wrong_option_types_are_config_errors_before_any_request(
    tmp_path: Path, option: str, value: object
) -> None:
    """Checked before anything is listed or written (the base URL is never contacted)."""
    options = {"out": tmp_path / "out", "base_url": "http://127.0.0.1:9", "progress": False}
    with pytest.raises(lf.ConfigError, match=f"download: parameter '{option}'"):
        download(symbols="BTCUSDT", **{**options, option: value})
    assert not (tmp_path / "out").exists() or option == "out"


def test_an_out_that_is_a_file_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    with pytest.raises(lf.ConfigError, match=r"download: parameter 'out'.*not a folder"):
        download(tmp_path / "taken", "BTCUSDT", base_url="http://127.0.0.1:9", progress=False)
