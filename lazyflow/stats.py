"""Honest statistics for a chosen strategy: Sharpe errors, deflated Sharpe, PBO, HAC t-stats.

Pure functions on numpy arrays or Polars Series. Every Sharpe ratio is per period
(``mean / std`` of the per-period returns, std with ddof 1), never annualised. The
normal distribution comes from the standard library (``Phi`` from `math.erfc`, ``Phi^-1``
from `statistics.NormalDist.inv_cdf`, Wichura's AS241, accurate to about 1e-16), so scipy
is not needed at run time.

References:

- Lo, A. (2002). The statistics of Sharpe ratios. Financial Analysts Journal 58(4).
- Mertens, E. (2002). Comments on variance of the IID estimator in Lo (2002). Working paper.
- Bailey, D. and López de Prado, M. (2012). The Sharpe ratio efficient frontier. Journal of
  Risk 15(2). (Probabilistic Sharpe ratio.)
- Bailey, D. and López de Prado, M. (2014). The deflated Sharpe ratio: correcting for
  selection bias, backtest overfitting and non-normality. Journal of Portfolio Management
  40(5).
- Bailey, D., Borwein, J., López de Prado, M. and Zhu, Q. (2015). The probability of
  backtest overfitting. Journal of Computational Finance 20(4).
- Newey, W. and West, K. (1987). A simple, positive semi-definite, heteroskedasticity and
  autocorrelation consistent covariance matrix. Econometrica 55(3).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import polars as pl

from lazyflow.errors import ConfigError, DataError

#: The Euler–Mascheroni constant.
EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()
#: The largest number of CSCV combinations `pbo` evaluates (C(16, 8) = 12,870 fits).
MAX_COMBINATIONS = 1_000_000
#: Splits x configurations of one chunk of `pbo`'s work (8 bytes each per array).
PBO_CELLS = 2_000_000


def norm_cdf(x: float) -> float:
    """Phi(x) = erfc(-x / sqrt(2)) / 2, the standard normal distribution function (erfc keeps
    the relative precision of the lower tail)."""
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def norm_ppf(p: float) -> float:
    """Phi^-1(p), the standard normal quantile function, for 0 < p < 1."""
    return _NORMAL.inv_cdf(p)


def _returns(returns: np.ndarray | pl.Series | list[float], caller: str) -> np.ndarray:
    """`returns` as a 1-D float array; `DataError` unless all finite and at least 3 values."""
    x = returns.cast(pl.Float64).to_numpy() if isinstance(returns, pl.Series) else returns
    x = np.asarray(x, dtype=float)
    if x.ndim != 1:
        raise DataError(f"{caller}: parameter 'returns' must be one-dimensional, got {x.shape}")
    if x.size < 3:
        raise DataError(f"{caller}: parameter 'returns' needs at least 3 values, got {x.size}")
    if not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).sum())
        raise DataError(f"{caller}: parameter 'returns' holds {bad} null, NaN or infinite values")
    return x


def sharpe(returns: np.ndarray | pl.Series) -> float:
    """Per-period Sharpe ratio ``SR = mean / std`` (std with ddof 1); NaN when std is 0."""
    x = _returns(returns, "sharpe")
    std = x.std(ddof=1)
    return float(x.mean() / std) if std > 0 else math.nan


def sharpe_std(returns: np.ndarray | pl.Series) -> float:
    """Standard error of the per-period Sharpe ratio under non-normal iid returns.

    ``sqrt((1 - skew * SR + (kurt - 1) / 4 * SR^2) / (T - 1))`` (Lo 2002; Mertens 2002),
    with SR = mean / std (ddof 1), ``skew = m3 / m2^1.5`` and ``kurt = m4 / m2^2`` the
    biased sample moments (``m_k = mean((x - mean)^k)``; kurt is not excess: 3 for a
    normal), as ``scipy.stats.skew`` and ``scipy.stats.kurtosis(fisher=False)`` give them.
    NaN when the returns are constant.
    """
    x = _returns(returns, "sharpe_std")
    return _sharpe_std(x, sharpe(x))


def _sharpe_std(x: np.ndarray, sr: float) -> float:
    d = x - x.mean()
    m2 = float(np.mean(d**2))
    if not m2 > 0:
        return math.nan
    skew = float(np.mean(d**3)) / m2**1.5
    kurt = float(np.mean(d**4)) / m2**2
    variance = (1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr**2) / (x.size - 1)
    return math.sqrt(variance) if variance > 0 else math.nan


def probabilistic_sharpe(returns: np.ndarray | pl.Series, sr_benchmark: float = 0.0) -> float:
    """Probabilistic Sharpe ratio ``PSR = Phi((SR - SR*) / sharpe_std)`` (Bailey and López de
    Prado 2012): the probability that the true per-period Sharpe exceeds `sr_benchmark`
    (SR*, per period). NaN when the returns are constant."""
    x = _returns(returns, "probabilistic_sharpe")
    if not math.isfinite(sr_benchmark):
        raise ConfigError(
            f"probabilistic_sharpe: parameter 'sr_benchmark' must be finite, got {sr_benchmark}"
        )
    sr = sharpe(x)
    se = _sharpe_std(x, sr)
    return norm_cdf((sr - sr_benchmark) / se) if math.isfinite(se) and se > 0 else math.nan


def expected_max_sharpe(n_trials: int, sr_variance: float) -> float:
    """Expected maximum of `n_trials` Sharpe ratios whose true value is 0 (Bailey and López de
    Prado 2014): ``sqrt(V) * ((1 - g) * Phi^-1(1 - 1/N) + g * Phi^-1(1 - 1/(N e)))``, with
    V = `sr_variance` (the variance of the trials' Sharpe ratios), N = `n_trials` and g the
    Euler–Mascheroni constant. 0 for a single trial. Evaluated as ``Phi^-1(1 - p) =
    -Phi^-1(p)``, so that 1 - 1/N does not round to 1 for a large N."""
    if isinstance(n_trials, bool) or not isinstance(n_trials, int | np.integer) or n_trials < 1:
        raise ConfigError(
            f"expected_max_sharpe: parameter 'n_trials' must be an integer >= 1, got {n_trials!r}"
        )
    if not (math.isfinite(sr_variance) and sr_variance >= 0):
        raise ConfigError(
            "expected_max_sharpe: parameter 'sr_variance' must be finite and >= 0, "
            f"got {sr_variance}"
        )
    if n_trials == 1:
        return 0.0
    n = float(n_trials)
    g = EULER_GAMMA
    return math.sqrt(sr_variance) * ((1 - g) * -norm_ppf(1 / n) + g * -norm_ppf(1 / (n * math.e)))


def deflated_sharpe(
    returns: np.ndarray | pl.Series, trials_sharpe: np.ndarray | pl.Series | list[float]
) -> float:
    """Deflated Sharpe ratio (Bailey and López de Prado 2014): `probabilistic_sharpe` of
    `returns` against ``expected_max_sharpe(N, var(trials_sharpe, ddof=1))``, where
    `trials_sharpe` are the per-period Sharpe ratios of all N configurations tried (the
    chosen one included). Non-finite trial Sharpes are left out of N and V."""
    trials = np.asarray(
        trials_sharpe.cast(pl.Float64).to_numpy()
        if isinstance(trials_sharpe, pl.Series)
        else trials_sharpe,
        dtype=float,
    )
    trials = trials[np.isfinite(trials)]
    if trials.size < 1:
        raise DataError("deflated_sharpe: parameter 'trials_sharpe' has no finite value")
    variance = float(trials.var(ddof=1)) if trials.size > 1 else 0.0
    return probabilistic_sharpe(returns, expected_max_sharpe(int(trials.size), variance))


def newey_west_tstat(series: np.ndarray | pl.Series, lags: int) -> float:
    """HAC t-stat of the mean of `series` (Newey and West 1987), Bartlett weights.

    ``t = mean / sqrt(S / T)`` with ``S = g_0 + 2 * sum_{l=1..L} (1 - l / (L + 1)) g_l`` and
    ``g_l = sum_{t=l..T-1} (x_t - mean)(x_{t-l} - mean) / T`` (no small-sample correction).
    `lags` L >= 0 (0 gives ``mean / sqrt(g_0 / T)``). The series must be finite and in time
    order; NaN with fewer than 2 values or when S <= 0.
    """
    if isinstance(lags, bool) or not isinstance(lags, int | np.integer) or lags < 0:
        raise ConfigError(
            f"newey_west_tstat: parameter 'lags' must be an integer >= 0, got {lags!r}"
        )
    x = series.cast(pl.Float64).to_numpy() if isinstance(series, pl.Series) else series
    x = np.asarray(x, dtype=float)
    if x.ndim != 1:
        raise DataError(
            f"newey_west_tstat: parameter 'series' must be one-dimensional, got {x.shape}"
        )
    if not np.isfinite(x).all():
        raise DataError("newey_west_tstat: parameter 'series' holds null, NaN or infinite values")
    n = x.size
    if n < 2:
        return math.nan
    d = x - x.mean()
    s = float(d @ d) / n
    for lag in range(1, min(int(lags), n - 1) + 1):
        s += 2.0 * (1.0 - lag / (lags + 1.0)) * float(d[lag:] @ d[:-lag]) / n
    return float(x.mean()) / math.sqrt(s / n) if s > 0 else math.nan


@dataclass(frozen=True)
class PBOResult:
    """What `pbo` returns.

    pbo: the share of the CSCV splits whose λ is <= 0. lambdas: λ of each split, shape (C,).
    is_sharpe, oos_sharpe: the in-sample Sharpe of the configuration chosen in each split and
    its out-of-sample Sharpe, shape (C,). n_splits: blocks S; dropped_rows: the first rows
    left out so that S divides the rest.
    """

    pbo: float
    lambdas: np.ndarray
    is_sharpe: np.ndarray
    oos_sharpe: np.ndarray
    n_splits: int
    dropped_rows: int


def pbo(returns_matrix: np.ndarray, n_splits: int = 16) -> PBOResult:
    """Probability of backtest overfitting by combinatorially symmetric cross-validation
    (Bailey, Borwein, López de Prado and Zhu 2015).

    `returns_matrix` is T x N per-period returns (rows in time order, one column per
    configuration). Its last ``S * floor(T / S)`` rows are cut into S = `n_splits` (even)
    equal consecutive blocks; the first ``T mod S`` rows are dropped. For each of the
    C(S, S/2) choices of half the blocks as in-sample (the rest out of sample): the
    configuration n* with the best in-sample Sharpe (mean / std, ddof 1; the first on a
    tie) is ranked among the N out-of-sample Sharpes, rank 1 = worst, ties sharing their
    average rank; ``ω = rank / (N + 1)`` and ``λ = ln(ω / (1 - ω))``. PBO is the share of
    splits with λ <= 0 (n* at or below the out-of-sample median). A Sharpe whose std is 0
    ranks lowest.
    """
    m = np.asarray(returns_matrix, dtype=float)
    if m.ndim != 2 or m.shape[1] < 2:
        raise DataError(
            f"pbo: parameter 'returns_matrix' must be T x N with N >= 2 configurations, "
            f"got shape {m.shape}"
        )
    if not np.isfinite(m).all():
        raise DataError("pbo: parameter 'returns_matrix' holds null, NaN or infinite values")
    if (
        isinstance(n_splits, bool)
        or not isinstance(n_splits, int | np.integer)
        or n_splits < 2
        or n_splits % 2
    ):
        raise ConfigError(
            f"pbo: parameter 'n_splits' must be an even integer >= 2, got {n_splits!r}"
        )
    t, n = m.shape
    size = t // n_splits
    if size < 2:
        raise DataError(
            f"pbo: {t} rows cannot make {n_splits} blocks of at least 2 rows; "
            "lower n_splits or give more rows"
        )
    combos = math.comb(n_splits, n_splits // 2)
    if combos > MAX_COMBINATIONS:
        raise ConfigError(
            f"pbo: n_splits={n_splits} makes {combos:,} splits; at most {MAX_COMBINATIONS:,}"
        )
    dropped = t - size * n_splits
    blocks = m[dropped:].reshape(n_splits, size, n)
    sums, squares = blocks.sum(axis=1), (blocks**2).sum(axis=1)  # (S, N)
    chosen = np.zeros((combos, n_splits))
    for row, combo in enumerate(itertools.combinations(range(n_splits), n_splits // 2)):
        chosen[row, list(combo)] = 1.0
    half = size * n_splits // 2
    rank, is_best, oos_best = (np.empty(combos) for _ in range(3))
    step = max(1, PBO_CELLS // n)  # splits per chunk: bounds the (splits, N) arrays
    for a in range(0, combos, step):
        part = chosen[a : a + step]
        is_sr = _block_sharpe(part @ sums, part @ squares, half)
        oos_sr = _block_sharpe((1 - part) @ sums, (1 - part) @ squares, half)
        rows = np.arange(part.shape[0])
        best = np.argmax(np.where(np.isfinite(is_sr), is_sr, -np.inf), axis=1)
        oos = np.where(np.isfinite(oos_sr), oos_sr, -np.inf)
        mine = oos[rows, best][:, None]
        rank[a : a + step] = (oos < mine).sum(axis=1) + ((oos == mine).sum(axis=1) + 1) / 2
        is_best[a : a + step], oos_best[a : a + step] = is_sr[rows, best], oos_sr[rows, best]
    omega = rank / (n + 1)
    lambdas = np.log(omega / (1 - omega))
    return PBOResult(
        pbo=float(np.mean(lambdas <= 0)),
        lambdas=lambdas,
        is_sharpe=is_best,
        oos_sharpe=oos_best,
        n_splits=int(n_splits),
        dropped_rows=int(dropped),
    )


def _block_sharpe(sums: np.ndarray, squares: np.ndarray, count: int) -> np.ndarray:
    """mean / std (ddof 1) from sums and sums of squares of `count` values; NaN where the
    centred sum of squares is 0 up to rounding (below 1e-12 of the raw one)."""
    mean = sums / count
    centred = squares - sums * mean
    constant = centred <= 1e-12 * squares
    std = np.sqrt(np.where(constant, 1.0, centred) / (count - 1))
    return np.where(constant, np.nan, mean / std)
