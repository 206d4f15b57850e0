"""Pipeline composition, schema validation and laziness."""

import datetime as dt

import polars as pl
import pytest

import lazyflow as lf
from lazyflow.schema import Kind
from lazyflow.stages.base import Stage


class AddOne(Stage):
    """A minimal declared stage used to test the pipeline machinery."""

    def __init__(self, column: str = "x", out: str = "x_plus") -> None:
        self.column = column
        self.out = out

    def inputs(self):
        return {self.column: Kind.NUMERIC}

    def outputs(self):
        return {self.out: pl.Float64}

    def transform(self, frame):
        return frame.with_columns((pl.col(self.column) + 1).cast(pl.Float64).alias(self.out))


def frame():
    return pl.LazyFrame({"x": [1, 2, 3], "s": ["a", "b", "c"]})


def test_rshift_builds_flat_pipeline():
    p = AddOne() >> AddOne("x_plus", "x2") >> (lambda f: f.drop_nulls())
    assert isinstance(p, lf.Pipeline)
    assert len(p) == 3
    q = lf.Pipeline([p, AddOne("x2", "x3")])
    assert len(q) == 4


def test_call_returns_lazyframe_and_computes():
    p = AddOne() >> AddOne("x_plus", "x2")
    out = p(frame())
    assert isinstance(out, pl.LazyFrame)
    assert out.collect()["x2"].to_list() == [3.0, 4.0, 5.0]


def test_validate_walks_schema():
    p = AddOne() >> AddOne("x_plus", "x2") >> (lambda f: f.with_columns(y=pl.lit(1)))
    schema = p.validate({"x": pl.Int64, "s": pl.String})
    assert list(schema) == ["x", "s", "x_plus", "x2", "y"]


def test_missing_column_names_stage_and_column():
    p = AddOne() >> AddOne("nope", "x2")
    with pytest.raises(lf.SchemaError) as err:
        p.validate({"x": pl.Int64})
    assert err.value.stage == "AddOne"
    assert err.value.column == "nope"
    assert "x_plus" in err.value.available
    assert "missing" in str(err.value)


def test_mistyped_column():
    with pytest.raises(lf.SchemaError, match="has dtype String"):
        AddOne("s").validate({"s": pl.String})


def test_plain_callable_errors_are_schema_errors():
    p = lf.Pipeline([lambda f: f.select("missing")])
    with pytest.raises(lf.SchemaError) as err:
        p.validate({"x": pl.Int64})
    assert err.value.stage == "<lambda>"
    assert err.value.column == "missing"


def test_pipeline_reads_no_data_until_collect(tmp_path):
    path = tmp_path / "x.csv"
    pl.DataFrame({"x": [1, 2]}).write_csv(path)
    lazy = pl.scan_csv(path)
    plan = (AddOne() >> AddOne("x_plus", "x2"))(lazy)
    path.unlink()  # data is gone: building and explaining the plan must not need it
    assert "x2" in plan.collect_schema()


def test_explain_returns_plan_text():
    text = (AddOne() >> AddOne("x_plus", "x2")).explain(frame())
    assert "x2" in text


def test_a_plain_stage_that_returns_no_frame_is_named():
    """A function that forgot its ``return`` is a ConfigError naming it, not an
    AttributeError on None."""

    def forgot_return(frame):
        frame.with_columns(x=pl.lit(1))

    panel = pl.DataFrame({"date": [dt.date(2024, 1, 1)], "symbol": ["A"], "close": [1.0]})
    with pytest.raises(lf.ConfigError, match="forgot_return returned NoneType"):
        lf.Pipeline([forgot_return])(panel)
