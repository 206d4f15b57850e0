"""TOML run configs: parsing, the None convention, every error path, the example files."""

import dataclasses
import tomllib
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

import lazyflow as lf
from lazyflow.config import load_config, parse_config, stage_registry

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def parse(text: str, base_dir: Path | None = None):
    return parse_config(tomllib.loads(text), base_dir=base_dir)


def config_error(text: str, *fragments: str) -> str:
    with pytest.raises(lf.ConfigError) as err:
        parse(text)
    message = str(err.value)
    for fragment in fragments:
        assert fragment in message, message
    return message


def test_registry_is_every_exported_stage_class():
    registry = stage_registry()
    assert registry["FundingCarry"] is lf.FundingCarry
    assert set(registry) >= {
        "LogReturns", "VolumeUniverse", "FundingCarry", "Deciles",
        "SigmoidTarget", "EwmaVol", "RangeSpread", "DropNulls",
    }  # fmt: skip
    assert "Stage" not in registry


def test_stages_in_order_with_parameters_and_coercion():
    config = parse(
        """
        [[stages]]
        type = "VolumeUniverse"
        window = 20
        dollar_volume_col = false   # None: dollar volume from close * volume
        [[stages]]
        type = "FundingCarry"
        winsor = 0                  # an integer is a fine float
        mask = "is_universe"
        [[stages]]
        type = "SigmoidTarget"
        keep_deciles = [1, 2, 9, 10]
        [[stages]]
        type = "DropNulls"
        columns = ["close", "spread"]
        """
    )
    assert config.stages == (
        lf.VolumeUniverse(window=20, dollar_volume_col=None),
        lf.FundingCarry(winsor=0.0, mask="is_universe"),
        lf.SigmoidTarget(keep_deciles=(1, 2, 9, 10)),
        lf.DropNulls(columns=("close", "spread")),
    )
    assert isinstance(config.stages[1].winsor, float)
    assert isinstance(config.stages[2].keep_deciles, tuple)
    assert config.data == lf.config.DataConfig()  # the synthetic panel by default
    assert config.output_dir is None


def test_false_means_none_only_for_optional_parameters():
    config_error(
        '[[stages]]\ntype = "VolumeUniverse"\nwindow = false',
        "stages[1].window",
        "expected an integer",
    )
    config_error('[[stages]]\ntype = "LogReturns"\nprice_col = false', "stages[1].price_col")
    assert parse('[[stages]]\ntype = "FundingCarry"\nmask = false').stages[0].mask is None


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("[foo]\nx = 1", ("foo: unknown section", "allowed: data, stages")),
        ('[[stages]]\ntype = "FundingCarry"\nwinsr = 0.1', ("stages[1].winsr", "winsor")),
        ('[[stages]]\ntype = "FundingCarry"\nwinsor = "x"', ("stages[1].winsor", "a number")),
        ('[[stages]]\ntype = "VolumeUniverse"\nwindow = 2.5', ("stages[1].window", "integer")),
        ('[[stages]]\ntype = "VolumeUniverse"\nwindow = true', ("stages[1].window", "integer")),
        ('[[stages]]\ntype = "Deciles"\ndescending = 1', ("stages[1].descending", "true or false")),
        ('[[stages]]\ntype = "SigmoidTarget"\nkeep_deciles = [1, "x"]', ("keep_deciles[1]",)),
        ('[[stages]]\ntype = "DropNulls"\ncolumns = "close"', ("stages[1].columns", "list")),
        (
            '[[stages]]\ntype = "LogReturns"\n[[stages]]\ntype = "FundingCarry"\nwinsor = 0.7',
            ("stages[2]", "FundingCarry", "winsor", "[0, 0.5)"),
        ),
        ('[[stages]]\ntype = "EwmaVol"\nshort_span = 90\nlong_span = 21', ("stages[1]", "short")),
        ('[[stages]]\ntype = "Nope"', ("stages[1].type", "unknown stage 'Nope'", "FundingCarry")),
        ("[[stages]]\nwindow = 3", ("stages[1].type: missing", "VolumeUniverse")),
        ('stages = "LogReturns"', ("stages", "[[stages]]")),
        ("data = 3", ("[data] must be a table",)),
        ('[data]\nsource = "excel"', ("data.source", "synthetic, csv, parquet, binance")),
        ('[data]\nsource = "csv"', ("data.path: required",)),
        ('[data]\nsource = "csv"\npath = "x.csv"\nn_days = 3', ("data.n_days", "path, rename")),
        ('[data]\nsource = "synthetic"\npath = "x.csv"', ("data.path", "n_symbols")),
        ('[data]\nn_symbols = "many"', ("data.n_symbols", "an integer")),
        ('[data]\nsource = "csv"\npath = "x"\nrename = { a = 1 }', ("data.rename.a", "string")),
        ("[allocator]\nlambda = 2", ("allocator.lambda", "lambda_risk")),
        ('[allocator]\nmax_pos = "big"', ("allocator.max_pos", "a number")),
        ("[backtest]\ncost = 0.1", ("backtest.cost", "cost_per_dollar")),
        ('[backtest]\ninclude_funding = "yes"', ("backtest.include_funding", "true or false")),
        ("[backtest]\nframe = 1", ("backtest.frame", "unknown")),
        ("[output]\ndir = 3", ("output.dir", "a string")),
        ("[factor]\nscor = 1", ("factor.scor", "unknown", "score, quantile_col, horizons")),
        ("factor = 1", ("[factor] must be a table",)),
        ('[factor]\nenabled = "no"', ("factor.enabled", "true or false")),
        ("[factor]\nhorizons = 5", ("factor.horizons", "a list of integers")),
        ("[factor]\nhorizons = [1, 1]", ("factor", "horizons", "distinct")),
        ("[factor]\nhorizons = []", ("factor", "horizons", "non-empty")),
        ("[factor]\nhorizons = [5, -1]", ("factor", "horizons", "-1")),
        ("[factor]\nrolling_window = 0", ("factor", "rolling_window", ">= 1")),
        ("[factor]\nperiods_per_year = 0", ("factor", "periods_per_year", "> 0")),
        ("[factor]\nmask = 3", ("factor.mask", "a string or false")),
        (
            '[[stages]]\ntype = "ForwardReturns"\n[[stages]]\ntype = "DropNulls"',
            ("stages[1]", "label stage", "stages[2] DropNulls"),
        ),
        (
            '[[stages]]\ntype = "ForwardReturns"\n[[stages]]\ntype = "ForwardReturns"',
            ("ForwardReturns appears in stages[1] and stages[2]",),
        ),
        (
            '[[stages]]\ntype = "ForwardReturns"\nhorizons = [1, 2]\n[factor]\nhorizons = [2, 5]',
            ("factor.horizons", "[5]", "stages[1] ForwardReturns"),
        ),
        ('[backtest]\ntarget_col = "fwd_ret_5"', ("backtest.target_col", "label column")),
        (
            '[[stages]]\ntype = "ForwardReturns"\noutput_prefix = "y"\n[backtest]\ntradable = "y1"',
            ("backtest.tradable", "'y1'", "label column"),
        ),
        ('[output]\nfolder = "x"', ("output.folder", "allowed: dir")),
    ],
)
def test_config_errors_name_the_key_and_what_is_allowed(text, fragments):
    config_error(text, *fragments)


def test_factor_section_defaults_and_labels():
    config = parse("")
    assert config.factor == lf.config.FactorConfig()
    assert config.label_stage() == lf.ForwardReturns(horizons=(1, 5, 20))
    assert config.pipeline().stages == ()
    assert config.pipeline(labels=True).stages == (lf.ForwardReturns(horizons=(1, 5, 20)),)
    config = parse(
        '[[stages]]\ntype = "LogReturns"\n'
        '[factor]\nscore = "s"\nquantile_col = "q"\nhorizons = [3, 1]\nmask = "m"\n'
        "rolling_window = 7\nperiods_per_year = 252\nenabled = false"
    )
    assert config.factor == lf.config.FactorConfig(
        enabled=False, score="s", quantile_col="q", horizons=(3, 1), mask="m",
        rolling_window=7, periods_per_year=252.0,
    )  # fmt: skip
    assert config.pipeline(labels=True).stages == (
        lf.LogReturns(),
        lf.ForwardReturns(horizons=(3, 1)),
    )
    assert config.analysis() == lf.FactorAnalysis(
        score="s", quantile_col="q", horizons=(3, 1), mask="m"
    )
    assert config.parameters()["factor"]["horizons"] == (3, 1)
    # a label stage listed last is fine, and the [factor] horizons pick some of its horizons
    config = parse(
        '[[stages]]\ntype = "LogReturns"\n[[stages]]\ntype = "ForwardReturns"\n'
        "horizons = [1, 2, 3]\n[factor]\nhorizons = [2]"
    )
    assert config.pipeline(labels=True).stages == config.stages
    assert config.analysis().horizons == (2,)


def test_bad_synthetic_size_names_the_data_section():
    with pytest.raises(lf.ConfigError, match=r"^data: .*n_days"):
        parse("[data]\nn_days = 0").data.scan()


def test_invalid_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[data\nsource = 1")
    with pytest.raises(lf.ConfigError, match=r"bad\.toml: invalid TOML"):
        load_config(bad)
    with pytest.raises(lf.DataError, match=r"missing\.toml"):
        load_config(tmp_path / "missing.toml")


def test_relative_data_path_resolves_against_the_config_file(tmp_path):
    folder = tmp_path / "cfg"
    folder.mkdir()
    config_file = folder / "run.toml"
    config_file.write_text('[data]\nsource = "parquet"\npath = "panel.parquet"\n')
    config = load_config(config_file)
    assert config.data.path == str(folder / "panel.parquet")
    with pytest.raises(lf.DataError, match=r"data.path: no such file"):
        config.data.scan()


def test_csv_source_with_rename(tmp_path):
    panel = lf.synthetic_panel(n_symbols=5, n_days=20, seed=1)
    panel.rename({"symbol": "ticker"}).write_csv(tmp_path / "panel.csv")
    (tmp_path / "run.toml").write_text(
        '[data]\nsource = "csv"\npath = "panel.csv"\nrename = { ticker = "symbol" }\n'
    )
    scanned = load_config(tmp_path / "run.toml").data.scan()
    assert isinstance(scanned, pl.LazyFrame)
    got = scanned.collect().sort("date", "symbol")
    assert got["symbol"].to_list() == panel.sort("date", "symbol")["symbol"].to_list()
    assert got["close"].to_list() == pytest.approx(panel.sort("date", "symbol")["close"].to_list())


def test_csv_source_dedupe(tmp_path):
    panel = lf.synthetic_panel(n_symbols=5, n_days=20, seed=1)
    repeated = panel.head(3).with_columns(pl.col("close") * 2)
    pl.concat([panel, repeated]).write_csv(tmp_path / "panel.csv")
    text = '[data]\nsource = "csv"\npath = "panel.csv"\n'
    (tmp_path / "keep.toml").write_text(text)
    assert load_config(tmp_path / "keep.toml").data.scan().collect().height == panel.height + 3
    (tmp_path / "last.toml").write_text(text + 'dedupe = "last"\n')
    got = load_config(tmp_path / "last.toml").data.scan().collect()
    assert got.height == panel.height
    first_rows = got.join(repeated.select("date", "symbol"), on=["date", "symbol"])
    assert sorted(first_rows["close"]) == pytest.approx(sorted(repeated["close"]))
    (tmp_path / "bad.toml").write_text(text + 'dedupe = "newest"\n')
    with pytest.raises(lf.ConfigError, match=r"data.dedupe: expected one of first, last"):
        load_config(tmp_path / "bad.toml")


@pytest.mark.parametrize(("name", "preset"), [("seed_carry", "seed_carry"), ("carry", "carry")])
def test_example_configs_build_the_presets(name, preset):
    config = load_config(EXAMPLES / f"{name}.toml")
    expected = getattr(lf.presets, preset)()
    assert config.stages == expected.stages
    assert config.allocator == lf.presets.seed_allocator()
    for key, value in lf.presets.SEED_BACKTEST.items():
        # the seed config keeps the notebook's weight carry; carry drifts (the default)
        assert config.backtest[key] == (value if key != "drift" else name != "seed_carry")
    assert config.data.source == "synthetic"
    assert config.analysis() == lf.FactorAnalysis(horizons=(1, 5, 20))
    assert config.pipeline(labels=True).stages == (*expected.stages, lf.ForwardReturns())
    # same outputs on a small panel
    panel = lf.synthetic_panel(n_symbols=30, n_days=120, seed=3).lazy()
    got = config.pipeline()(panel).collect()
    want = expected(panel).collect()
    assert got.equals(want)


# Property: any stage written out as a TOML table parses back to an equal stage.


def _toml_value(value) -> str:
    if value is None:
        return "false"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value + '"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return repr(value)


def _value_for(hint: str, draw):
    optional = "None" in hint
    base = hint.replace(" | None", "")
    if optional and draw(st.booleans()):
        return None
    names = st.text("abcdefghij_", min_size=1, max_size=8)
    if base == "bool":
        return draw(st.booleans())
    if base == "int":
        return draw(st.integers(-5, 400))
    if base == "float":
        return draw(st.floats(-1e6, 1e6, allow_nan=False).filter(lambda x: x != 0) | st.just(0.0))
    if base == "str":
        return draw(names)
    if base == "tuple[int, ...]":
        return tuple(draw(st.lists(st.integers(1, 10), min_size=1, max_size=4)))
    if base == "tuple[str, ...]":
        return tuple(draw(st.lists(names, min_size=1, max_size=3)))
    if base == "Term | str":  # Factor's formula
        return draw(st.sampled_from(["close", "cs.rank(ts.delta(close, 5))", "ts.mean(x, -1)"]))
    raise AssertionError(f"no strategy for {hint}")


@st.composite
def stage_tables(draw):
    name = draw(st.sampled_from(sorted(stage_registry())))
    cls = stage_registry()[name]
    fields = [f for f in dataclasses.fields(cls) if f.init]
    required = [f for f in fields if f.default is dataclasses.MISSING]  # Factor's name, term
    optional = [f for f in fields if f not in required]
    chosen = required + (
        draw(st.lists(st.sampled_from(optional), unique_by=lambda f: f.name)) if optional else []
    )
    values = {f.name: _value_for(str(f.type), draw) for f in chosen}
    return cls, values


@given(stage_tables())
def test_any_stage_round_trips_through_toml(table):
    cls, values = table
    lines = [f'type = "{cls.__name__}"'] + [f"{k} = {_toml_value(v)}" for k, v in values.items()]
    text = "[[stages]]\n" + "\n".join(lines)
    try:
        stage = cls(**values)
        stage.check()
    except lf.ConfigError:
        config_error(text, "stages[1]", cls.__name__)  # the config reports the same bad value
        return
    (got,) = parse(text).stages
    assert got == stage
    for key, value in values.items():
        assert type(getattr(got, key)) is type(value)
