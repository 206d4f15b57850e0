"""What counts as a number in a parameter: one rule for stages, allocators, costs and the
backtest. Imports nothing from lazyflow, so any module may use it."""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np


def finite_number(value: object, integer: bool = False) -> float | None:
    """`value` as a finite float, or None when it is not a finite real number: Python's or
    numpy's reals qualify (integral ones only if `integer`); bools, strings, classes, NaN,
    +-inf and integers too large for a float (``10**400``) do not."""
    kind = Integral if integer else Real
    if not isinstance(value, kind) or isinstance(value, bool | np.bool_):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None
    return number if math.isfinite(number) else None


def is_number(value: object, integer: bool = False) -> bool:
    """True when `finite_number` accepts `value`."""
    return finite_number(value, integer) is not None
