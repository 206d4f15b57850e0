"""Results you can keep: save/load round trip bit for bit, result.report for any pipeline,
short reprs of results and pipelines."""

import dataclasses
import json

import numpy as np
import polars as pl
import pytest

import lazyflow as lf
from lazyflow.reprs import LINE_WIDTH, stage_settings


@pytest.fixture(scope="module")
def run():
    panel = lf.synthetic_panel(n_symbols=25, n_days=160, seed=8)
    pipeline = lf.presets.carry()
    frame = pipeline(panel.lazy()).collect()
    # a NaN vol on a held symbol: the book gets null buffers and a forced exit
    held = frame.filter(pl.col("is_universe"))["symbol"].mode()[0]
    frame = frame.with_columns(
        pl.when((pl.col("symbol") == held) & (pl.col("date") == frame["date"].max()))
        .then(float("nan"))
        .otherwise(pl.col("vol_fcst"))
        .alias("vol_fcst")
    )
    result = lf.backtest(frame, lf.presets.seed_allocator(), **lf.presets.SEED_BACKTEST)
    return pipeline, frame, result


def bits(frame: pl.DataFrame) -> dict:
    """Every column as raw bytes (floats by their bits, so NaN payloads and -0.0 count)."""
    out = {}
    for name, column in zip(frame.columns, frame.get_columns(), strict=True):
        if column.dtype == pl.Float64:
            values = column.to_numpy(allow_copy=True)
            out[name] = (values.view(np.uint64).tobytes(), column.is_null().to_list())
        else:
            out[name] = column.to_list()
    return out


def test_save_and_load_round_trip_bit_for_bit(tmp_path, run):
    _, _, result = run
    assert result.metrics["vol_realized_d"].is_null().any()  # nulls survive too
    path = result.save(tmp_path / "kept")
    loaded = lf.load_result(path)
    for name in ("metrics", "book"):
        saved, back = getattr(result, name), getattr(loaded, name)
        assert back.schema == saved.schema
        assert back.equals(saved, null_equal=True)
        assert bits(back) == bits(saved), name
    for field in dataclasses.fields(result):
        if field.name not in ("metrics", "book"):
            assert getattr(loaded, field.name) == getattr(result, field.name), field.name
            assert type(getattr(loaded, field.name)) is type(getattr(result, field.name))
    assert loaded.summary() == pytest.approx(result.summary(), nan_ok=True)
    record = json.loads((path / "result.json").read_text())
    assert record["lazyflow"] == lf.__version__ and record["frames"] == ["metrics", "book"]


def test_load_result_errors(tmp_path):
    with pytest.raises(lf.DataError, match=r"no result\.json"):
        lf.load_result(tmp_path)
    (tmp_path / "result.json").write_text("{not json")
    with pytest.raises(lf.DataError, match="cannot read"):
        lf.load_result(tmp_path)
    record = {"format": 1, "frames": [], "fields": {"x": {"__class__": "os:system"}}}
    (tmp_path / "result.json").write_text(json.dumps(record))
    with pytest.raises(lf.DataError, match="outside lazyflow"):
        lf.load_result(tmp_path)  # a saved file never imports arbitrary code


def double_close(frame: pl.LazyFrame) -> pl.LazyFrame:  # a plain-callable stage
    return frame.with_columns(close2=pl.col("close") * 2)


def test_report_of_a_custom_pipeline_lists_it(tmp_path, run):
    _, _, result = run
    pipeline = lf.presets.carry() >> double_close
    page = result.report(tmp_path / "rep", pipeline=pipeline).read_text()
    assert "SigmoidTarget(k=1.0, y_min=-0.9, y_max=0.9)" in page
    assert "double_close" in page
    assert "Monthly returns" in page and "Worst drawdowns" in page
    assert "universe.png" not in page  # no signals frame: no universe chart


def test_repr_of_a_result_is_short(run):
    _, _, result = run
    text = repr(result)
    assert "\n" not in text and len(text) < 200
    metrics = result.metrics
    assert str(metrics["date"].min()) in text and str(metrics["date"].max()) in text
    assert f"{metrics.height:,} dates" in text
    assert f"total_return {result.summary()['total_return'] * 100:+.1f}%" in text


def test_repr_of_a_pipeline_shows_only_changed_parameters():
    short = lf.LogReturns() >> lf.Deciles(n_quantiles=5)
    assert repr(short) == "LogReturns() >> Deciles(n_quantiles=5)"
    long = lf.presets.carry()
    text = repr(long)
    lines = text.splitlines()
    assert lines[0] == "Pipeline([" and lines[-1] == "])"
    assert len(lines) == len(long.stages) + 2
    assert "    VolumeUniverse(min_decile=9)," in lines
    assert "window=" not in text  # VolumeUniverse's window is the default
    assert len(" >> ".join(line.strip(" ,") for line in lines[1:-1])) > LINE_WIDTH
    # the long form is Python that rebuilds the same pipeline
    rebuilt = eval(text, {"Pipeline": lf.Pipeline, **{n: getattr(lf, n) for n in dir(lf)}})
    assert rebuilt.stages == long.stages


def test_stage_settings_tell_a_bool_from_a_number():
    assert stage_settings(lf.Deciles(descending=True)) == {"type": "Deciles", "descending": True}
    assert stage_settings(double_close) == {"type": "double_close"}
