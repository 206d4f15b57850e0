"""lazyflow: a lazy Polars pipeline DSL for cross-sectional factor research and backtesting.

    import lazyflow as lf
    panel = lf.synthetic_panel(n_symbols=300, n_days=1600, seed=0)
    frame = lf.presets.carry()(panel.lazy()).collect()
    result = lf.backtest(frame, lf.BufferedAllocator(lambda_risk=2, gamma_cost=0.3))
"""

from lazyflow import costs, presets, testing
from lazyflow.algebra import Factor, Term, col, cs, lit, ts, where
from lazyflow.audit import Audit
from lazyflow.data import PANEL_COLUMNS, scan_panel, synthetic_panel
from lazyflow.errors import ConfigError, DataError, LazyflowError, SchemaError
from lazyflow.factor import FactorAnalysis, factor_report
from lazyflow.grids import grid_allocators, grid_pipelines
from lazyflow.pipeline import Pipeline
from lazyflow.portfolio import (
    Attribution,
    BacktestResult,
    BufferedAllocator,
    GridResult,
    backtest,
    backtest_grid,
    capacity,
)
from lazyflow.portfolio.backtest import load_result
from lazyflow.schema import Kind
from lazyflow.stages import (
    Deciles,
    DropNulls,
    EwmaVol,
    ForwardReturns,
    FundingCarry,
    LogReturns,
    RangeSpread,
    SigmoidTarget,
    Stage,
    VolumeUniverse,
)
from lazyflow.stages.labels import label_columns
from lazyflow.sweeps import SweepResult, sweep, sweep_result
from lazyflow.version import __version__
from lazyflow.walk_forward import WalkForwardResult, walk_forward

__all__ = [
    "PANEL_COLUMNS",
    "Attribution",
    "Audit",
    "BacktestResult",
    "BufferedAllocator",
    "ConfigError",
    "DataError",
    "Deciles",
    "DropNulls",
    "EwmaVol",
    "Factor",
    "FactorAnalysis",
    "ForwardReturns",
    "FundingCarry",
    "GridResult",
    "Kind",
    "LazyflowError",
    "LogReturns",
    "Pipeline",
    "RangeSpread",
    "SchemaError",
    "SigmoidTarget",
    "Stage",
    "SweepResult",
    "Term",
    "VolumeUniverse",
    "WalkForwardResult",
    "__version__",
    "backtest",
    "backtest_grid",
    "capacity",
    "col",
    "costs",
    "cs",
    "factor_report",
    "grid_allocators",
    "grid_pipelines",
    "label_columns",
    "lit",
    "load_result",
    "presets",
    "scan_panel",
    "sweep",
    "sweep_result",
    "synthetic_panel",
    "testing",
    "ts",
    "walk_forward",
    "where",
]
