"""Portfolio construction and backtesting: the one stateful step."""

from lazyflow.portfolio.allocator import BufferedAllocator
from lazyflow.portfolio.attribution import Attribution
from lazyflow.portfolio.backtest import BacktestResult, backtest
from lazyflow.portfolio.capacity import capacity
from lazyflow.portfolio.grid import GridResult, backtest_grid

__all__ = [
    "Attribution",
    "BacktestResult",
    "BufferedAllocator",
    "GridResult",
    "backtest",
    "backtest_grid",
    "capacity",
]
