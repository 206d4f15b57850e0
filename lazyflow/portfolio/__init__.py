"""Portfolio construction and backtesting: the one stateful step."""

from lazyflow.portfolio.allocator import BufferedAllocator
from lazyflow.portfolio.backtest import BacktestResult, backtest

__all__ = ["BacktestResult", "BufferedAllocator", "backtest"]
