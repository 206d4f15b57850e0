"""Portfolio construction and backtesting: the one stateful step."""

from lazyflow.portfolio.allocator import BufferedAllocator
from lazyflow.portfolio.backtest import BacktestResult, backtest
from lazyflow.portfolio.grid import GridResult, backtest_grid

__all__ = ["BacktestResult", "BufferedAllocator", "GridResult", "backtest", "backtest_grid"]
