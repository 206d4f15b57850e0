"""Factor stages in TOML configs, and examples/momentum.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

import lazyflow as lf
from lazyflow.config import load_config, parse_config

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_momentum_example_builds_and_runs() -> None:
    config = load_config(EXAMPLES / "momentum.toml")
    factor = config.stages[3]
    assert factor == lf.Factor("momentum", "cs.rank(ts.pct_change(close, 30))", mask="is_universe")
    panel = lf.synthetic_panel(n_symbols=40, n_days=90, seed=1).lazy()
    frame = config.pipeline()(panel).collect()
    want = lf.cs.rank(lf.ts.pct_change("close", 30))
    direct = lf.Factor("momentum", want, mask="is_universe")
    ref = (lf.DropNulls() >> lf.LogReturns() >> lf.VolumeUniverse(min_decile=9) >> direct)(panel)
    assert frame["momentum"].equals(ref.collect()["momentum"])
    assert frame["momentum"].drop_nulls().is_between(0, 1, closed="right").all()
    assert frame["decile_momentum"].drop_nulls().n_unique() > 5
    assert config.parameters()["stages"][3] == {
        "type": "Factor",
        "name": "momentum",
        "term": "cs.rank(ts.pct_change(close, 30))",
        "mask": "is_universe",
    }


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('term = "ts.mean(close, -3)"', "stages[1]: Factor 'f': parameter 'term'"),
        ('term = "ts.mean(close, 3"', "not a formula"),
        ('term = "os.system(1)"', "unknown function"),
        ("term = 3", "stages[1].term: expected Term or a string"),
    ],
)
def test_bad_factor_tables_raise_config_errors(table: str, message: str) -> None:
    raw = {"stages": [{"type": "Factor", "name": "f", **_toml_line(table)}]}
    with pytest.raises(lf.ConfigError) as err:
        parse_config(raw)
    assert message in str(err.value)


def _toml_line(line: str) -> dict:
    import tomllib

    return tomllib.loads(line)
