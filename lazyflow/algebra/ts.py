"""Time-series operators (``lf.ts``): per symbol, in date order, over the last `d` rows.

A window is null until the symbol has `d` rows, and null if a value inside it is null,
NaN or +-inf. Every result that is not finite is null. Every `d` is a positive integer
(a negative `d` would look ahead: `ConfigError`).

Two layers:

- the *kernels* ``*_expr(x, d)``: plain Polars expressions over one symbol's rows in date
  order (``x`` already finite Float64, nulls for missing). Wrap them in
  ``lazyflow.exprs.per_symbol`` (``over(symbol, order_by=date)``), or let
  `lf.Factor` fuse several into one window. The kernels that read x at many lags take a
  `Lag` (``lag(x, k)``, ``lag.keep(exprs)``), through which `lf.Factor` computes the lags
  and the sums read several times into columns (`lazyflow.algebra.plan.Lags`);
- the *term constructors* (`mean`, `corr`, ...), which take terms or column names.

Overflow and recovery (the algebra keeps every finite value, where the built-in stages cut
window inputs at +-2**53 with `lazyflow.exprs.window_value`): Polars' incremental rolling
sum keeps the state of every value it has seen (after an overflow it stays inf/NaN for the
rest of the symbol's history, and after a value 1e10 times the others has left, its
rounding stays in the sum), so ``sum`` and ``mean`` add each window afresh (Polars'
weighted rolling sum, weights 1: O(d) per row), on inputs scaled by a power of two
``2**-k`` with ``2**k > 2 (d + 1)`` so no partial sum overflows; the result is scaled
back, and a result beyond the float range is null. Scaling by a power of two is exact
except for values below ~1e-300 (subnormal). ``std`` is Polars' kernel, which recomputes
(measured: exact again once a 1e300 value has left the window); ``min``/``max`` keep no
sum; ``product`` sums logarithms (at most ~745 in size each). ``corr``, ``cov``,
``zscore``, ``rank``, ``argmax``/``argmin`` and ``decay_linear`` are sums over the `d`
lags written out (so at most `MAX_UNROLLED`), computed afresh in every window: nothing
carries from one window to the next. Cost: O(d) per row for all of these, where pandas'
incremental kernels are O(1).
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import polars as pl

from lazyflow.algebra.term import OPS, SHIFT, TS, Lag, OpSpec, Term, TermLike, term
from lazyflow.errors import ConfigError
from lazyflow.exprs import divide, finite

#: Longest window of the operators run by a Polars rolling kernel (rows).
MAX_WINDOW = 100_000
#: Longest window of the operators written as a sum over the `d` lags (rows).
MAX_UNROLLED = 1_000
#: A side of corr/cov/zscore is constant when its std <= CONSTANT_RTOL * |mean| (constant
#: up to rounding: the std of d equal values computed in floating point is ~d * 1e-16 * |mean|).
CONSTANT_RTOL = 1e-10


# kernels -------------------------------------------------------------------------------
def _scale(d: int) -> float:
    """``2**k`` with ``2**k > 2 (d + 1)``: inputs times ``1/2**k`` cannot overflow a sum
    of d + 1 terms."""
    return float(2 ** (math.ceil(math.log2(d + 1)) + 2))


def delay_expr(x: pl.Expr, d: int) -> pl.Expr:
    """x[t - d]."""
    return x.shift(d)


def delta_expr(x: pl.Expr, d: int) -> pl.Expr:
    """x[t] - x[t - d]."""
    return finite(x - x.shift(d))


def pct_change_expr(x: pl.Expr, d: int) -> pl.Expr:
    """x[t] / x[t - d] - 1 (null where x[t - d] is 0)."""
    return finite(x / x.shift(d) - 1)


def sum_expr(x: pl.Expr, d: int) -> pl.Expr:
    """sum of x[t-d+1..t], added afresh in every window (oldest first)."""
    s = _scale(d)
    fresh = (x / s).fill_null(0.0).rolling_sum(d, weights=[1.0] * d) * s
    return finite(pl.when(_window_complete(x, d)).then(fresh))


def mean_expr(x: pl.Expr, d: int) -> pl.Expr:
    """sum of x[t-d+1..t] / d (the sum as in `sum_expr`)."""
    return finite(divide(sum_expr(x, d), d))


def std_expr(x: pl.Expr, d: int) -> pl.Expr:
    """sqrt(sum (x_i - mean)^2 / (d - 1)) over the window (ddof 1)."""
    s = _scale(d)
    return finite((x / s).rolling_std(d) * s)


def min_expr(x: pl.Expr, d: int) -> pl.Expr:
    """min of x[t-d+1..t]."""
    return x.rolling_min(d)


def max_expr(x: pl.Expr, d: int) -> pl.Expr:
    """max of x[t-d+1..t]."""
    return x.rolling_max(d)


def product_expr(x: pl.Expr, d: int) -> pl.Expr:
    """prod of x[t-d+1..t], as ``sign * exp(sum log|x_i|)`` (0 if a value is 0): the sum
    of logs cannot overflow, and a product beyond the float range is null."""
    zero = x == 0
    log_abs = pl.when(zero).then(0.0).otherwise(x.abs().log())
    zeros = zero.cast(pl.Float64).rolling_sum(d)
    negatives = (x < 0).cast(pl.Float64).rolling_sum(d)
    sign = 1.0 - 2.0 * (negatives % 2)
    magnitude = log_abs.rolling_sum(d).exp()
    return finite(pl.when(zeros > 0).then(0.0).otherwise(sign * magnitude))


def _add(terms: list[pl.Expr]) -> pl.Expr:
    """The sum of `terms` (null where one is null), added in a fixed order: halves first,
    each half the same way (depth log2 of the count). ``pl.sum_horizontal`` adds its columns
    by a parallel reduction whose tree depends on the engine and the thread pool, so the
    last bits of a float sum varied with ``engine=`` and ``POLARS_MAX_THREADS``."""
    if len(terms) == 1:
        return terms[0]
    half = len(terms) // 2
    return _add(terms[:half]) + _add(terms[half:])


def _window_complete(x: pl.Expr, d: int) -> pl.Expr:
    """True where the last d rows are all present."""
    return x.rolling_min(d).is_not_null()


def _arg_extreme(x: pl.Expr, d: int, extreme: pl.Expr, lag: Lag) -> pl.Expr:
    """1-based position (from the oldest row) of the first row equal to `extreme`."""
    positions = [pl.when(lag(x, k) == extreme).then(pl.lit(d - k)) for k in range(d)]
    return pl.min_horizontal(positions).cast(pl.Float64)


def argmax_expr(x: pl.Expr, d: int, lag: Lag = SHIFT) -> pl.Expr:
    """Position 1..d of the window's max, counted from the oldest row; first on ties."""
    return _arg_extreme(x, d, x.rolling_max(d), lag)


def argmin_expr(x: pl.Expr, d: int, lag: Lag = SHIFT) -> pl.Expr:
    """Position 1..d of the window's min, counted from the oldest row; first on ties."""
    return _arg_extreme(x, d, x.rolling_min(d), lag)


def rank_expr(x: pl.Expr, d: int, lag: Lag = SHIFT) -> pl.Expr:
    """Rank 1..d of x[t] among x[t-d+1..t], average ties:
    ``1 + #{k: x[t-k] < x[t]} + #{k >= 1: x[t-k] == x[t]} / 2``. (Polars' rolling_rank
    ranks x[t] 1 in a window of equal values, where the average rank is (d + 1) / 2.)"""
    below = [(lag(x, k) < x).cast(pl.Float64) for k in range(1, d)]
    equal = [(lag(x, k) == x).cast(pl.Float64) * 0.5 for k in range(1, d)]
    # counts of 0, 1/2 and 1 add exactly in any order; a window of one row ranks 1
    ranks = 1.0 + pl.sum_horizontal([*below, *equal]) if d > 1 else pl.lit(1.0)
    return pl.when(_window_complete(x, d)).then(ranks)


def _moments(x: pl.Expr, d: int, lag: Lag) -> tuple[pl.Expr, pl.Expr, list[pl.Expr]]:
    """Window sums over the deviations from today's value, ``u_k = x[t-k] - x[t]``:
    ``(sum u, sum u^2, [u_k])``. Centring on a value inside the window keeps
    ``sum u^2 - (sum u)^2 / d`` accurate (the cancellation is at most ~2d, not mean^2/var),
    and a constant window gives exactly 0. Each term reads x once, so the expression grows
    as O(d), and every window is summed afresh (`_add`: null where a lag is missing;
    callers null incomplete windows, `_window_complete`)."""
    u = lag.keep([lag(x, k) - x for k in range(1, d)])
    s1, s2 = lag.keep([_add(u), _add([e * e for e in u])])
    return s1, s2, u


def _spread(x: pl.Expr, d: int, s1: pl.Expr, s2: pl.Expr) -> pl.Expr:
    """``sum (x_i - mean)^2`` from the moments; null where the window is constant up to
    rounding (std <= CONSTANT_RTOL * |mean|, i.e. ss <= (d-1) (CONSTANT_RTOL mean)^2)."""
    ss = (s2 - divide(s1 * s1, d)).clip(lower_bound=0.0)
    mean = x + divide(s1, d)
    return pl.when(ss > (d - 1) * (CONSTANT_RTOL * mean) ** 2).then(ss)


def _co_spread(x: pl.Expr, y: pl.Expr, d: int, lag: Lag) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """``(sum dx dy, sum dx^2, sum dy^2)`` over the window (deviations from the means);
    the last two null where that side is constant."""
    s1x, s2x, u = _moments(x, d, lag)
    s1y, s2y, v = _moments(y, d, lag)
    sxy = _add([a * b for a, b in zip(u, v, strict=True)]) - divide(s1x * s1y, d)
    return sxy, _spread(x, d, s1x, s2x), _spread(y, d, s1y, s2y)


def cov_expr(x: pl.Expr, y: pl.Expr, d: int, lag: Lag = SHIFT) -> pl.Expr:
    """sum (x_i - mean x)(y_i - mean y) / (d - 1); null where a side is constant."""
    sxy, sxx, syy = _co_spread(x, y, d, lag)
    complete = _window_complete(x, d) & _window_complete(y, d)
    valid = complete & sxx.is_not_null() & syy.is_not_null()
    return finite(pl.when(valid).then(divide(sxy, d - 1)))


def corr_expr(x: pl.Expr, y: pl.Expr, d: int, lag: Lag = SHIFT) -> pl.Expr:
    """Pearson correlation over the window; null where a side is constant."""
    sxy, sxx, syy = _co_spread(x, y, d, lag)
    complete = _window_complete(x, d) & _window_complete(y, d)
    return finite(pl.when(complete).then((sxy / (sxx * syy).sqrt()).clip(-1.0, 1.0)))


def zscore_expr(x: pl.Expr, d: int, lag: Lag = SHIFT) -> pl.Expr:
    """(x[t] - mean) / std over the window (ddof 1); null where the window is constant."""
    s1, s2, _ = _moments(x, d, lag)
    z = divide(-s1, d) / divide(_spread(x, d, s1, s2), d - 1).sqrt()
    return finite(pl.when(_window_complete(x, d)).then(z))


def decay_linear_expr(x: pl.Expr, d: int, lag: Lag = SHIFT) -> pl.Expr:
    """sum_k (d - k) x[t-k] / (d (d + 1) / 2), k = 0..d-1: weight d today, 1 the oldest."""
    weights = [(d - k) / (d * (d + 1) / 2) for k in range(d)]
    terms = [w * (x if k == 0 else lag(x, k)) for k, w in enumerate(weights)]
    return finite(pl.when(_window_complete(x, d)).then(_add(terms)))


def ewm_mean_expr(x: pl.Expr, span: float) -> pl.Expr:
    """Polars' adjusted EWMA, ``a = 2 / (span + 1)``:
    ``sum_{i<=t, x_i present} (1-a)^(t-i) x_i / sum (1-a)^(t-i)``, null where x[t] is null.
    Run on x/4 so the running update ``m + (x - m) w`` cannot overflow."""
    return finite((x / 4).ewm_mean(span=span, adjust=True) * 4)


# term constructors ---------------------------------------------------------------------
def _window(op: str, d: object, low: int, high: int, name: str = "d") -> int:
    """Check window length `d` of ``ts.<op>``: an integer in low..high."""
    if isinstance(d, bool) or not isinstance(d, Integral):
        raise ConfigError(f"ts.{op}: parameter '{name}' must be a positive integer, got {d!r}")
    if d < 0:
        raise ConfigError(
            f"ts.{op}: parameter '{name}' must be a positive integer, got {d} "
            "(a negative window would look ahead)"
        )
    if not low <= d <= high:
        raise ConfigError(f"ts.{op}: parameter '{name}' must be in {low}..{high}, got {d}")
    return int(d)


def _op(
    name: str,
    build,
    unrolled: bool = False,
    low: int = 1,
    once: bool = False,
    lagged: bool = False,
    stateful: bool = False,
    lookback: int = 1,
):
    """Register ``ts.<name>`` and return its one-input term constructor (`once`: the kernel
    reads its input once; `lagged`: it reads its input at d lags through a `Lag`;
    `stateful`: it carries state from row to row). A value reads the ``d - lookback`` rows
    before it (``d - 1`` for a window of d rows, d for ``delay``)."""
    if lagged:
        builder = lambda args, params, lag: build(*args, *params, lag=lag)  # noqa: E731
    else:
        builder = lambda args, params: build(*args, *params)  # noqa: E731
    OPS[f"ts.{name}"] = OpSpec(
        TS,
        builder,
        f"ts.{name}",
        once,
        history=lambda params: params[0] - lookback,
        stateful=stateful,
        lagged=lagged,
    )
    high = MAX_UNROLLED if unrolled else MAX_WINDOW

    def make(x: TermLike, d: int) -> Term:
        return Term(f"ts.{name}", (term(x),), (_window(name, d, low, high),))

    make.__name__ = name
    make.__doc__ = f"ts.{name}(x, d): {build.__doc__}"
    return make


delay = _op("delay", delay_expr, once=True, lookback=0)
delta = _op("delta", delta_expr, lookback=0)
pct_change = _op("pct_change", pct_change_expr, lookback=0)
sum = _op("sum", sum_expr, once=True)
mean = _op("mean", mean_expr, once=True)
std = _op("std", std_expr, low=2, once=True, stateful=True)
min = _op("min", min_expr, once=True)
max = _op("max", max_expr, once=True)
product = _op("product", product_expr, stateful=True)
argmax = _op("argmax", argmax_expr, unrolled=True, lagged=True)
argmin = _op("argmin", argmin_expr, unrolled=True, lagged=True)
rank = _op("rank", rank_expr, unrolled=True, lagged=True)
decay_linear = _op("decay_linear", decay_linear_expr, unrolled=True, lagged=True)
zscore = _op("zscore", zscore_expr, unrolled=True, low=2, lagged=True)

for _name, _build in (("corr", corr_expr), ("cov", cov_expr)):
    OPS[f"ts.{_name}"] = OpSpec(
        TS,
        lambda args, params, lag, b=_build: b(*args, *params, lag=lag),
        f"ts.{_name}",
        history=lambda params: params[0] - 1,
        lagged=True,
    )


def corr(x: TermLike, y: TermLike, d: int) -> Term:
    """ts.corr(x, y, d): Pearson correlation of the last d rows; null where a side is
    constant (up to rounding, `CONSTANT_RTOL`)."""
    return Term("ts.corr", (term(x), term(y)), (_window("corr", d, 2, MAX_UNROLLED),))


def cov(x: TermLike, y: TermLike, d: int) -> Term:
    """ts.cov(x, y, d): covariance (ddof 1) of the last d rows; null where a side is
    constant (up to rounding, `CONSTANT_RTOL`)."""
    return Term("ts.cov", (term(x), term(y)), (_window("cov", d, 2, MAX_UNROLLED),))


OPS["ts.ewm_mean"] = OpSpec(
    TS,
    lambda args, params: ewm_mean_expr(*args, *params),
    "ts.ewm_mean",
    True,
    history=lambda params: 0,
    stateful=True,
)


def ewm_mean(x: TermLike, span: float) -> Term:
    """ts.ewm_mean(x, span): Polars' adjusted EWMA with ``a = 2 / (span + 1)``, span >= 1."""
    if isinstance(span, bool) or not isinstance(span, Real) or not 1 <= span <= MAX_WINDOW:
        raise ConfigError(
            f"ts.ewm_mean: parameter 'span' must be a number in 1..{MAX_WINDOW}, got {span!r}"
        )
    return Term("ts.ewm_mean", (term(x),), (float(span),))


__all__ = [
    "argmax",
    "argmin",
    "corr",
    "cov",
    "decay_linear",
    "delay",
    "delta",
    "ewm_mean",
    "max",
    "mean",
    "min",
    "pct_change",
    "product",
    "rank",
    "std",
    "sum",
    "zscore",
]
