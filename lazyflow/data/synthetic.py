"""`synthetic_panel`: a deterministic, Binance-perpetual-like daily panel built with numpy.

Model (d = day, i = symbol; all returns are daily log returns):

- Listings: BTCUSDT and ETHUSDT trade from day 0; every other symbol lists on
  day ``floor((n_days-2) * u**(1/1.2))`` (u uniform), so few trade at the start
  and the count grows roughly linearly afterwards, like Binance perps 2019-2024.
  ``DELIST_PROB`` of them are delisted (last day drawn uniformly after listing,
  before the last day).
- Volatility regime ``g_d = exp(h_d)``, h an AR(1) (phi ``REGIME_PHI``,
  stationary sd ``REGIME_SD``) shared by all symbols: vol clustering.
- ``r[d,i] = beta_i m_d + g_d s_i t[d,i] - KAPPA (f[d-1,i] - 3 BASE_RATE)``,
  market ``m_d = MARKET_VOL g_d t_d``; t are Student-t(``T_DOF``) scaled to unit
  variance (fat tails) and clipped at ``T_CLIP``; ``s_i`` idiosyncratic vol,
  log-normal, lower for large (high volume) symbols.
- Funding: the 8h premium ``P = mu_i + x + c`` (per-symbol level mu_i,
  symbol AR(1) x with phi ``PREMIUM_PHI`` per 8h and occasional jumps, common
  AR(1) c); the 8h rate is Binance's ``P + clip(BASE_RATE - P, +-CLAMP)``
  capped at ``+-CAP``, so calm markets print exactly 0.01% and stressed ones
  go far from it, either sign. ``funding_rate`` on day d is the sum of the
  three 8h rates settled that day.
- Funding is mildly informative: the term ``-KAPPA (f[d-1,i] - 3 BASE_RATE)``
  makes coins with crowded longs (high funding) drift down the next day, so a
  long-carry book earns the funding and a small price premium (correlation of
  funding with the next-day return, both demeaned per date, about -0.03).
- Prices: ``close = p0_i exp(cumsum r)`` from listing; ``open`` is the previous
  close; high/low extend max/min(open, close) by ``HL_SCALE`` sigma |z|.
- Quote volume ``dollar_volume = exp(L_i + h_d + VOLUME_SHOCK |r|/sigma + noise)``
  with size levels L_i spanning orders of magnitude; ``volume`` (coins) is
  dollar_volume / ((high + low + close) / 3), so dollar_volume ~ close * volume.
- ``MISSING_FRAC`` of the rows are removed at random, never a symbol's first or
  last row.
"""

from __future__ import annotations

import datetime as dt
from numbers import Integral

import numpy as np
import polars as pl

from lazyflow.data.dates import DATE_RANGE, FIRST_DATE, LAST_DATE
from lazyflow.data.panel import PANEL_COLUMNS
from lazyflow.errors import ConfigError

MAJORS = (("BTCUSDT", 10_000.0, 1.0, 0.005, 1.5e10), ("ETHUSDT", 180.0, 1.2, 0.015, 7e9))
"""(symbol, first close, market beta, idiosyncratic daily vol, daily dollar volume)."""

LISTING_SHAPE = 1.2  # listing-day CDF is (day / (n_days-2)) ** LISTING_SHAPE
DELIST_PROB = 0.08
MISSING_FRAC = 0.002

REGIME_PHI, REGIME_SD = 0.98, 0.25
MARKET_VOL = 0.035  # daily vol of the market factor at g = 1
T_DOF, T_CLIP = 4.0, 8.0  # Student-t degrees of freedom; clip of the unit-variance draws
IDIO_VOL, IDIO_VOL_SD = 0.04, 0.3  # median and log-sd of s_i
IDIO_SIZE_LOAD = -0.15  # change of log s_i per sd of log size: big coins are calmer
PRICE_MEDIAN, PRICE_SD = 0.5, 2.0  # median and log-sd of an altcoin's first close
BETA_RANGE = (0.8, 1.5)
HL_SCALE = 0.3

DOLLAR_VOLUME, DOLLAR_VOLUME_SD = 3e7, 1.6  # median and log-sd of exp(L_i)
VOLUME_SHOCK, VOLUME_NOISE = 0.3, 0.35

BASE_RATE, CLAMP, CAP = 1e-4, 5e-4, 7.5e-3  # Binance interest rate, clamp, cap (per 8h)
PREMIUM_MU, PREMIUM_LEVEL_SD = 1.5e-4, 3e-4  # mean and cross-sectional sd of mu_i
PREMIUM_PHI, PREMIUM_SD = 0.9, 3.5e-4  # 8h AR(1) of x: persistence, stationary sd
COMMON_PHI, COMMON_SD = 0.97, 1.5e-4  # 8h AR(1) of the common premium c
JUMP_PROB, JUMP_SIZE, JUMP_UP = 0.003, 1.5e-3, 0.6  # per 8h: chance, mean size, P(up)
KAPPA = 2.0

BLOCK_DAYS = 16  # days of 8h funding simulated per vector step

#: The most symbols x days simulated (a few GB of memory; 2.7 times the largest benchmark).
MAX_CELLS = 100_000_000


def synthetic_panel(
    n_symbols: int = 300,
    n_days: int = 1600,
    seed: int = 0,
    start: str | dt.date = "2019-09-01",
) -> pl.DataFrame:
    """A deterministic Binance-like daily panel, one row per (date, symbol) listed.

    Columns are `PANEL_COLUMNS` (date, symbol, open, high, low, close, volume,
    dollar_volume, funding_rate), sorted by (date, symbol). Same arguments give
    an identical frame. See the module docstring for the model.
    """
    first = _check(n_symbols, n_days, seed, start)
    rng = np.random.default_rng(seed)
    n, days = int(n_symbols), int(n_days)
    names = _names(n)
    k = min(n, len(MAJORS))
    majors = tuple(zip(*MAJORS[:k], strict=True))

    listed = np.zeros(n, dtype=np.int64)
    listed[k:] = np.floor((days - 2) * rng.random(n - k) ** (1 / LISTING_SHAPE))
    last = np.full(n, days - 1, dtype=np.int64)
    gone = rng.random(n) < DELIST_PROB
    gone[:k] = False
    span = np.maximum(days - 2 - listed, 0)
    last[gone] = np.minimum(listed + 1 + np.floor(rng.random(n) * span), days - 1)[gone]

    size = np.log(DOLLAR_VOLUME) + DOLLAR_VOLUME_SD * rng.standard_normal(n)
    size[:k] = np.log(majors[4])
    zsize = (size - np.log(DOLLAR_VOLUME)) / DOLLAR_VOLUME_SD
    idio = IDIO_VOL * np.exp(IDIO_VOL_SD * rng.standard_normal(n) + IDIO_SIZE_LOAD * zsize)
    idio[:k] = majors[3]
    beta = rng.uniform(*BETA_RANGE, n)
    beta[:k] = majors[2]
    price0 = PRICE_MEDIAN * np.exp(PRICE_SD * rng.standard_normal(n))
    price0[:k] = majors[1]
    sigma = np.sqrt((beta * MARKET_VOL) ** 2 + idio**2)  # total daily vol at g = 1

    h = _ar1(_innovations(rng, (days, 1), REGIME_PHI, REGIME_SD), REGIME_PHI, 0.0)[:, 0]
    regime = np.exp(h)
    market = MARKET_VOL * regime * _student(rng, days)

    funding = _funding(rng, listed, last, days)

    live = np.arange(days)[:, None] >= listed
    live &= np.arange(days)[:, None] <= last
    day, sym = (a.astype(np.int32) for a in np.nonzero(live))  # date-major, symbol ascending
    # yesterday's funding; the base rate (no drift) on a symbol's listing day
    prev = np.where(day > listed[sym], funding[np.maximum(day - 1, 0), sym], 3 * BASE_RATE)
    ret = beta[sym] * market[day] + regime[day] * idio[sym] * _student(rng, day.size)
    ret -= KAPPA * (prev - 3 * BASE_RATE)
    del prev
    path = np.zeros((days, n))
    path[live] = ret
    del live
    np.cumsum(path, axis=0, out=path)  # log(close / price0), every live row

    edge = (day == listed[sym]) | (day == last[sym])
    keep = (rng.random(day.size) >= MISSING_FRAC) | edge
    day, sym, ret = day[keep], sym[keep], ret[keep]
    del edge, keep
    rate = funding[day, sym]
    del funding
    close = np.exp(path[day, sym])
    close *= price0[sym]
    del path

    open_ = close * np.exp(-ret)
    vol = regime[day] * sigma[sym]
    high = np.maximum(open_, close) * _excursion(rng, vol)
    low = np.minimum(open_, close) / _excursion(rng, vol)
    np.abs(ret, out=ret)
    ret /= vol
    ret *= VOLUME_SHOCK
    ret += size[sym]
    ret += h[day]
    ret += VOLUME_NOISE * rng.standard_normal(day.size)
    dollar = np.exp(ret, out=ret)  # log = L_i + h_d + VOLUME_SHOCK |r| / sigma + noise
    del vol
    columns = {
        "date": pl.Series(day + first, dtype=pl.Int32).cast(pl.Date),
        "symbol": pl.Series(names).gather(sym),
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": dollar / ((high + low + close) / 3),
        "dollar_volume": dollar,
        "funding_rate": rate,
    }
    return pl.DataFrame(columns, schema=PANEL_COLUMNS)


def _check(n_symbols: int, n_days: int, seed: int, start: str | dt.date) -> int:
    """Validate the arguments; return `start` as days since 1970-01-01."""
    for name, value, low in (("n_symbols", n_symbols, 1), ("n_days", n_days, 2)):
        if not isinstance(value, Integral) or isinstance(value, bool) or value < low:
            raise ConfigError(
                f"synthetic_panel: parameter '{name}' must be an int >= {low}, got {value!r}"
            )
    if not isinstance(seed, Integral) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"synthetic_panel: parameter 'seed' must be an int >= 0, got {seed!r}")
    if isinstance(start, dt.datetime) or not isinstance(start, str | dt.date):
        raise ConfigError(
            f"synthetic_panel: parameter 'start' must be a date or 'YYYY-MM-DD', got {start!r}"
        )
    try:
        day = start if isinstance(start, dt.date) else dt.date.fromisoformat(start)
    except ValueError as exc:
        raise ConfigError(f"synthetic_panel: parameter 'start' is not a date: {start!r}") from exc
    if n_symbols * n_days > MAX_CELLS:
        raise ConfigError(
            f"synthetic_panel: n_symbols x n_days is {n_symbols:,} x {n_days:,}, more than "
            f"{MAX_CELLS:,} (synthetic.MAX_CELLS)"
        )
    first, last = FIRST_DATE.toordinal(), LAST_DATE.toordinal()
    if not first <= day.toordinal() <= last - n_days + 1:
        raise ConfigError(
            f"synthetic_panel: {n_days:,} days from {day} leave the supported dates {DATE_RANGE}"
        )
    return day.toordinal() - first


def _names(n: int) -> list[str]:
    """BTCUSDT, ETHUSDT, then S0001USDT... (zero-padded, so the order sorts as strings)."""
    k = min(n, len(MAJORS))
    width = max(4, len(str(n - k)))
    return [m[0] for m in MAJORS[:k]] + [f"S{j:0{width}d}USDT" for j in range(1, n - k + 1)]


def _student(rng: np.random.Generator, size: int) -> np.ndarray:
    """Student-t(T_DOF) draws scaled to unit variance, clipped at +-T_CLIP."""
    draws = rng.standard_t(T_DOF, size) * np.sqrt((T_DOF - 2) / T_DOF)
    return np.clip(draws, -T_CLIP, T_CLIP, out=draws)


def _excursion(rng: np.random.Generator, vol: np.ndarray) -> np.ndarray:
    """``exp(HL_SCALE vol |z|)``, z standard normal: how far high (low) reaches past the body."""
    out = np.abs(rng.standard_normal(vol.size))
    out *= HL_SCALE * vol
    return np.exp(out, out=out)


def _innovations(
    rng: np.random.Generator, shape: tuple[int, int], phi: float, sd: float
) -> np.ndarray:
    """Gaussian innovations for an AR(1) with persistence `phi` and stationary sd `sd`."""
    return rng.standard_normal(shape) * (sd * np.sqrt(1 - phi**2))


def _ar1(noise: np.ndarray, phi: float, x0: float | np.ndarray) -> np.ndarray:
    """``x_t = phi x_{t-1} + noise_t`` down axis 0 from ``x_{-1} = x0``, in place.

    Vectorised in blocks: ``x_t = phi^(t+1) (x0 + sum_{s<=t} phi^-(s+1) noise_s)``,
    with blocks short enough that phi^-block stays below 1e3.
    """
    block = max(1, int(np.log(1e3) / -np.log(phi)))
    state = np.asarray(x0, dtype=float)
    for b0 in range(0, len(noise), block):
        seg = noise[b0 : b0 + block]
        powers = phi ** np.arange(1, len(seg) + 1)
        seg /= powers[:, None]
        np.cumsum(seg, axis=0, out=seg)
        seg += state
        seg *= powers[:, None]
        state = seg[-1]
    return noise


def _funding(
    rng: np.random.Generator, listed: np.ndarray, last: np.ndarray, days: int
) -> np.ndarray:
    """Daily funding (sum of three 8h rates), shape (days, symbols); zero where not listed.

    Simulated in blocks of BLOCK_DAYS, only for the symbols listed in the block.
    """
    n = listed.size
    level = PREMIUM_MU + PREMIUM_LEVEL_SD * rng.standard_normal(n)
    level[: min(n, len(MAJORS))] = PREMIUM_MU
    state = PREMIUM_SD * rng.standard_normal(n)  # stationary start
    common = _ar1(_innovations(rng, (3 * days, 1), COMMON_PHI, COMMON_SD), COMMON_PHI, 0.0)
    out = np.zeros((days, n))
    for d0 in range(0, days, BLOCK_DAYS):
        d1 = min(d0 + BLOCK_DAYS, days)
        cols = np.flatnonzero((listed < d1) & (last >= d0))  # never empty: BTCUSDT trades
        x = _innovations(rng, (3 * (d1 - d0), cols.size), PREMIUM_PHI, PREMIUM_SD)
        jumps = rng.binomial(x.size, JUMP_PROB)
        sign = np.where(rng.random(jumps) < JUMP_UP, 1.0, -1.0)
        x.flat[rng.integers(0, x.size, jumps)] += sign * rng.exponential(JUMP_SIZE, jumps)
        _ar1(x, PREMIUM_PHI, state[cols])
        state[cols] = x[-1]
        x += level[cols]
        x += common[3 * d0 : 3 * d1]
        x += np.clip(BASE_RATE - x, -CLAMP, CLAMP)
        np.clip(x, -CAP, CAP, out=x)
        out[d0:d1, cols] = x.reshape(d1 - d0, 3, cols.size).sum(axis=1)
    return out
