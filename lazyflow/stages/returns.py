"""Placeholder: being written."""


class LogReturns:
    pass
