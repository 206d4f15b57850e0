"""The `lf.presets.carry()` pipeline in idiomatic vectorised pandas: the peer of issue 15.

Each step is one pandas idiom on the whole frame (``groupby().shift``, ``groupby().rolling``,
``groupby().rank``, ``groupby().transform``, ``groupby().ewm``), no Python call per row or
group, following the notebook's cells as `benchmarks.naive` does (ascending carry deciles, log
returns on the full panel). `check_pandas_carry` compares its frame with lazyflow's before any
timing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from benchmarks.naive import LONG, MIN_DECILE, SHORT, WINDOW, WINSOR, Y_MAX, Y_MIN, K

STD_EPS = 1e-8  # FundingCarry's guard on the per-date std


def _nearest_quantile(values: pd.Series, dates: pd.Series, q: float) -> pd.Series:
    """Per date, the `q` quantile with Polars' "nearest" interpolation (the value at sorted
    position round((n - 1) * q), halves away from zero), broadcast to every row."""
    order = np.lexsort((values.to_numpy(), dates.to_numpy()))
    by_date = dates.iloc[order].to_numpy()
    sorted_values = values.iloc[order].to_numpy()
    starts = np.flatnonzero(np.r_[True, by_date[1:] != by_date[:-1]])
    sizes = np.diff(np.r_[starts, len(by_date)])
    picks = sorted_values[starts + np.floor((sizes - 1) * q + 0.5).astype(np.int64)]
    per_date = pd.Series(picks, index=by_date[starts])
    return dates.map(per_date)


def pandas_carry(panel: pd.DataFrame) -> pd.DataFrame:
    """The carry preset's columns on a pandas panel (date, symbol, OHLC, volume, dollar_volume,
    funding_rate); rows in (date, symbol) order."""
    df = panel.dropna().sort_values(["symbol", "date"], ignore_index=True)
    by_symbol = df.groupby("symbol", sort=False)
    log_close = np.log(df["close"])
    df["log_returns"] = log_close - log_close.groupby(df["symbol"], sort=False).shift(1)
    df["trail_volume"] = (
        by_symbol["dollar_volume"]
        .rolling(WINDOW, min_periods=1)
        .mean()
        .reset_index(level=0, drop=True)
    )
    # the universe: per date, descending average rank of the trailing volume
    by_date = df.groupby("date", sort=False)
    n = by_date["date"].transform("size")
    rank = by_date["trail_volume"].rank(ascending=False, method="average")
    volume_decile = (10 - np.floor((rank - 1) * 10 / n)).clip(lower=1)
    df["volume_decile"] = volume_decile.astype("Int32")
    df["is_universe"] = volume_decile >= MIN_DECILE
    # the carry score: winsorised to the 5% / 95% quantiles, standardised per date
    raw = -df["funding_rate"]
    lower = _nearest_quantile(raw, df["date"], WINSOR)
    upper = _nearest_quantile(raw, df["date"], 1 - WINSOR)
    wins = raw.clip(lower, upper)
    by_date_wins = wins.groupby(df["date"], sort=False)
    mean = by_date_wins.transform("mean")
    std = by_date_wins.transform("std")
    df["carry_score"] = (wins - mean) / (std + STD_EPS)
    # ascending carry deciles (10 = highest carry); a date with one row has none
    rank = df.groupby("date", sort=False)["carry_score"].rank(method="average")
    decile = np.floor((rank - 1) * 10 / n) + 1
    df["decile_carry"] = decile.where(n >= 2).astype("Int32")
    lo, hi = df["decile_carry"].min(), df["decile_carry"].max()
    df["alpha"] = (df["decile_carry"].astype("float64") - lo) / (hi - lo) * 2.0 - 1.0
    df["target_position"] = Y_MIN + (Y_MAX - Y_MIN) * (1.0 / (1.0 + np.exp(-K * df["alpha"])))
    # the EWMA vol forecast, known the day before
    r2 = (df["log_returns"] ** 2).groupby(df["symbol"], sort=False)
    v_s = r2.ewm(span=SHORT).mean().reset_index(level=0, drop=True)
    v_l = r2.ewm(span=LONG).mean().reset_index(level=0, drop=True)
    lagged = pd.DataFrame({"v_s": v_s, "v_l": v_l}).groupby(df["symbol"], sort=False).shift(1)
    df["vol_fcst"] = np.sqrt(0.5 * lagged["v_s"] + 0.5 * lagged["v_l"])
    df["spread"] = (df["high"] - df["low"]) / ((df["high"] + df["low"]) / 2) * 0.5
    return df.sort_values(["date", "symbol"], ignore_index=True)
