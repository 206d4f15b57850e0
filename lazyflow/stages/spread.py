"""Placeholder: being written."""


class RangeSpread:
    pass
