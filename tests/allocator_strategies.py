"""Hypothesis strategy of valid `BufferedAllocator` settings, shared by the allocator and
backtest property tests."""

from hypothesis import strategies as st

import lazyflow as lf

allocators = st.builds(
    lf.BufferedAllocator,
    lambda_risk=st.floats(0.5, 50.0),
    gamma_cost=st.floats(0.0, 2.0),
    max_pos=st.floats(0.02, 1.0),
    gross_cap=st.floats(0.1, 3.0),
    turnover_cap=st.none() | st.floats(0.0, 1.0),
    ignore_open=st.booleans(),
    vol_target=st.none() | st.floats(0.05, 2.0),
    periods_per_year=st.sampled_from([365, 252, 52]),
)
