"""Ready-made pipelines and the notebook's allocator/backtest settings."""

from __future__ import annotations

from lazyflow.pipeline import Pipeline
from lazyflow.portfolio.allocator import BufferedAllocator
from lazyflow.stages import (
    Deciles,
    DropNulls,
    EwmaVol,
    FundingCarry,
    LogReturns,
    RangeSpread,
    SigmoidTarget,
    VolumeUniverse,
)


def seed_carry() -> Pipeline:
    """The notebook's signal flow with its parameters, ordering included.

    drop nulls -> log returns (full panel) -> 30-day dollar-volume universe,
    deciles >= 9 -> carry score (5% winsor, standardised, daily funding) over
    the whole panel's cross-section, as the seed did (not only the universe)
    -> deciles ranked descending (the seed's ordering: decile 1 = highest
    score) -> sigmoid k=1, targets in [-0.9, 0.9] -> EWMA vol, spans 21/90,
    blend 0.5 -> high-low spread.
    """
    return _carry_pipeline(descending=True)


def carry() -> Pipeline:
    """`seed_carry` with ascending deciles: decile 10 holds the highest carry (long carry)."""
    return _carry_pipeline(descending=False)


def _carry_pipeline(descending: bool) -> Pipeline:
    return Pipeline(
        [
            DropNulls(),
            LogReturns(),
            VolumeUniverse(window=30, min_decile=9),
            FundingCarry(winsor=0.05, standardize=True, annualize=False),
            Deciles(descending=descending),
            SigmoidTarget(k=1.0, y_min=-0.9, y_max=0.9),
            EwmaVol(short_span=21, long_span=90, blend_weight=0.5),
            RangeSpread(),
        ]
    )


def seed_allocator() -> BufferedAllocator:
    """The notebook's allocator: λ=2, γ=0.3, 20% per coin, 2x gross, 30% turnover, 40% vol."""
    return BufferedAllocator(
        lambda_risk=2.0,
        gamma_cost=0.3,
        max_pos=0.20,
        gross_cap=2.0,
        turnover_cap=0.30,
        ignore_open=True,
        vol_target=0.40,
    )


#: The notebook's backtest settings: 5 bps per dollar traded, NAV starting at 1, and its
#: weight carry (``drift=False``: a position's weight is carried to the next date, not its
#: coins), so the notebook is reproduced exactly. `lf.backtest` defaults to drift=True.
SEED_BACKTEST: dict = {"cost_per_dollar": 0.0005, "init_nav": 1.0, "drift": False}
