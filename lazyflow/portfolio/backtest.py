"""Placeholder: being written."""


class BacktestResult:
    pass


def backtest(*a, **k):
    raise NotImplementedError
