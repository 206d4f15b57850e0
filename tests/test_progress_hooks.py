"""Long computations report progress through one API, ``progress(done, total)`` (issue 18):
the Binance loader counts files, walk_forward its steps, capacity the dates of its walk."""

from __future__ import annotations

from datetime import date

import pytest
from binance_fixtures import (
    FUNDING_HEADER,
    KLINE_HEADER,
    epoch_ms,
    funding_path,
    funding_rows,
    kline_path,
    kline_rows,
    write_file,
)

import lazyflow as lf
from lazyflow.data.binance import load_um_daily


def recorder() -> tuple[list[tuple[int, int]], object]:
    calls: list[tuple[int, int]] = []
    return calls, lambda done, total: calls.append((done, total))


def assert_counts_up_to_the_total(calls: list[tuple[int, int]]) -> None:
    assert calls, "progress was never called"
    dones = [d for d, _ in calls]
    assert dones == sorted(dones) and len({t for _, t in calls}) == 1
    assert calls[-1][0] == calls[-1][1] > 0


def test_the_binance_loader_counts_files(tmp_path):
    jan, feb = epoch_ms(date(2024, 1, 1)), epoch_ms(date(2024, 2, 1))
    for i, symbol in enumerate(("BTCUSDT", "ETHUSDT", "SOLUSDT")):
        write_file(
            kline_path(tmp_path, symbol, "1d", "2024-01"),
            kline_rows(i, jan, 31, "1d"),
            KLINE_HEADER,
        )
        write_file(
            kline_path(tmp_path, symbol, "1d", "2024-02"), kline_rows(i, feb, 29, "1d"), None
        )
        write_file(
            funding_path(tmp_path, symbol, "2024-01"), funding_rows(i, jan, 93, 8), FUNDING_HEADER
        )
    calls, progress = recorder()
    load_um_daily(tmp_path, progress=progress)
    assert_counts_up_to_the_total(calls)
    assert calls == [(3, 9), (6, 9), (9, 9)]  # one call per symbol, files read so far


def test_walk_forward_counts_its_steps():
    panel = lf.synthetic_panel(n_symbols=12, n_days=90, seed=3)
    pipelines = lf.grid_pipelines(lf.presets.carry(), {"FundingCarry": {"winsor": [0.05, 0.1]}})
    calls, progress = recorder()
    lf.walk_forward(panel, pipelines, lf.BufferedAllocator(), train=30, test=20, progress=progress)
    assert_counts_up_to_the_total(calls)
    assert calls[-1] == (3, 3)  # two pipelines, then the out-of-sample book


def test_capacity_counts_the_dates_of_its_walk():
    frame = lf.presets.carry()(lf.synthetic_panel(n_symbols=12, n_days=60, seed=4).lazy()).collect()
    calls, progress = recorder()
    lf.capacity(frame, lf.BufferedAllocator(), navs=[1e5, 1e6], progress=progress)
    assert_counts_up_to_the_total(calls)


@pytest.mark.parametrize("bad", ["yes", 3])
def test_a_progress_that_is_not_callable_is_a_config_error(tmp_path, bad):
    with pytest.raises(lf.ConfigError, match="progress"):
        load_um_daily(tmp_path, progress=bad)
    panel = lf.synthetic_panel(n_symbols=5, n_days=40, seed=1)
    with pytest.raises(lf.ConfigError, match="progress"):
        lf.walk_forward(
            panel, lf.presets.carry(), lf.BufferedAllocator(), train=10, test=5, progress=bad
        )
