"""lazyflow.testing: property-test any stage with the checks lazyflow uses on its own.

    import lazyflow as lf
    from hypothesis import given

    @given(lf.testing.panels(extra={"live": pl.Boolean}))
    def test_my_stage(panel):
        lf.testing.check_stage(my_stage, panel)

The checks (`check_causal`, `check_row_order`, `check_preserves_rows`, `check_schema`,
`check_mask`, `check_stage`) need only Polars; `panels`, a hypothesis strategy of raw
panels, needs hypothesis (``pip install 'lazyflow[testing]'``) and imports it on first use,
so ``import lazyflow`` works without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lazyflow.testing.checks import (
    check_causal,
    check_mask,
    check_preserves_rows,
    check_row_order,
    check_schema,
    check_stage,
)

if TYPE_CHECKING:
    from lazyflow.testing.strategies import panels

__all__ = [
    "check_causal",
    "check_mask",
    "check_preserves_rows",
    "check_row_order",
    "check_schema",
    "check_stage",
    "panels",
]


def __getattr__(name: str) -> Any:
    """`panels` on first use: importing it imports hypothesis (an ImportError without it)."""
    if name == "panels":
        from lazyflow.testing.strategies import panels

        return panels
    raise AttributeError(f"module 'lazyflow.testing' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "panels"])
