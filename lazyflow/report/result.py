"""`ReportedResult`: what the report reads of a backtest result (`BacktestResult` has it all),
so that the report never imports the backtest."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import polars as pl

from lazyflow.portfolio.attribution import Attribution


class ReportedResult(Protocol):
    """A backtest's outputs and settings as the report, `repr` and the tear sheet read them."""

    @property
    def metrics(self) -> pl.DataFrame: ...

    @property
    def dropped(self) -> Mapping[str, int]: ...

    @property
    def init_nav(self) -> float: ...

    @property
    def periods_per_year(self) -> float: ...

    @property
    def cost_model(self) -> str: ...

    def attribution(self) -> Attribution: ...

    def params(self) -> dict[str, Any]: ...

    def summary(self, periods_per_year: float | None = None) -> dict[str, float]: ...
