"""`benchmarks.bench_accounting` runs at a tiny size and reports both comparisons (no timing
is asserted)."""

from __future__ import annotations

import json

from benchmarks.bench_accounting import TARGETS, main


def test_bench_accounting_runs(tmp_path, capsys):
    out = tmp_path / "accounting.json"
    assert main(["--workload", "30x60", "--repeat", "1", "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert set(result["best_s"]) == {"weights", "drift", "impact_backtest", "capacity_5_navs"}
    assert result["drift_ratio"] > 0 and result["capacity_ratio"] > 0
    printed = capsys.readouterr().out
    assert all(key in printed for key in TARGETS)
