"""Placeholder: the pipeline presets are being written (keep seed_allocator and SEED_BACKTEST)."""

from lazyflow.portfolio.allocator import BufferedAllocator


def seed_carry():
    raise NotImplementedError


def carry():
    raise NotImplementedError


def seed_allocator() -> BufferedAllocator:
    """The notebook's allocator settings: λ=2, γ=0.3, 20% per coin, 2x gross, 30% turnover, 40% vol."""
    return BufferedAllocator(
        lambda_risk=2.0,
        gamma_cost=0.3,
        max_pos=0.20,
        gross_cap=2.0,
        turnover_cap=0.30,
        ignore_open=True,
        vol_target=0.40,
    )


#: The notebook's backtest settings: 5 bps per dollar traded, NAV starting at 1.
SEED_BACKTEST: dict = {"cost_per_dollar": 0.0005, "init_nav": 1.0}
