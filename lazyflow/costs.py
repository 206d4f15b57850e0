"""Trading costs as small objects that add, after cvxportfolio's cost algebra (costs.py).

    import lazyflow as lf
    costs = lf.costs.HalfSpread() + lf.costs.SquareRootImpact(coef=0.5)
    result = lf.backtest(frame, allocator, costs=costs, init_nav=1e7)   # init_nav in dollars

Every cost charges a *rate per traded dollar* on each traded row; the cost of a row in
dollars is ``|trade_dollars| * rate``, with ``trade_dollars = |trade weight| * NAV_t`` (NAV
before the date's cost). The rates of a sum add. Each cost has one job:

- `Proportional(bps)`: a flat ``bps / 10_000`` per traded dollar (exchange fees);
- `HalfSpread(spread_col)`: the row's half spread, a fraction of price;
- `SquareRootImpact(coef, ...)`: ``coef * vol * sqrt(|trade_dollars| / ADV)``.

`lf.backtest(cost_per_dollar=c)` is shorthand for ``Proportional(c * 10_000)``, added to
`costs`. A cost that reads columns (spread, vol, ADV) needs them finite on a tradable row
(spread and vol >= 0, ADV > 0); other rows may not trade and are counted under
``bad_cost_input``. A forced exit (a held symbol that stopped being tradable) pays the rates
of the symbol's last tradable row.

Internally a cost compiles to two per-row arrays (`Rates`): a linear rate L (per traded
dollar) and an impact factor I, so that a row's cost is ``|T| * (L + I * sqrt(|T|))`` for
``T`` traded dollars; the backtest evaluates that with vector operations per date.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from numbers import Integral
from typing import Any, NamedTuple

import numpy as np
import polars as pl

from lazyflow.errors import ConfigError
from lazyflow.exprs import per_symbol, window_value
from lazyflow.numbers import finite_number
from lazyflow.schema import unused_name

#: The exchange fee lf.backtest charges unless told otherwise: Binance USD-M futures' taker
#: fee at the base (VIP 0) tier, 0.05% of the traded notional.
DEFAULT_FEE = 0.0005


class Rates(NamedTuple):
    """A cost model evaluated on rows: the cost of ``T`` traded dollars on row r is
    ``T * (linear[r] + impact[r] * sqrt(T))``. `linear` is a float when it is the same on
    every row; `impact` is None without an impact cost. `ok`: rows whose inputs are usable
    (None when the costs read no column)."""

    linear: float | np.ndarray
    impact: np.ndarray | None
    ok: np.ndarray | None


class Cost:
    """Base class: a cost has `inputs` (named expressions evaluated on the frame before the
    scan) and `rates` (its per-row rates from those inputs' values). Costs add with ``+``."""

    def __add__(self, other: Cost) -> CostSum:
        if not isinstance(other, Cost):
            return NotImplemented
        return CostSum((*self.terms(), *other.terms()))

    def terms(self) -> tuple[Cost, ...]:
        return (self,)

    def check(self) -> None:
        """`ConfigError` naming the cost and the parameter with a bad value."""

    def columns(self) -> tuple[str, ...]:
        """The frame columns the cost reads (numeric)."""
        return ()

    def inputs(self, date_col: str, symbol_col: str) -> dict[str, pl.Expr]:
        """Per-row values the cost reads, by name, as expressions on the frame."""
        return {}

    def rates(self, values: Mapping[str, np.ndarray]) -> Rates:
        raise NotImplementedError

    def describe(self) -> str:
        """One line for summaries and reports."""
        raise NotImplementedError

    def settings(self) -> list[dict[str, Any]]:
        """The cost as plain data (one table per term, with its ``type``), as a config
        writes it under ``[[backtest.costs]]``."""
        return [{"type": type(t).__name__, **asdict(t)} for t in self.terms()]  # type: ignore[call-overload]


def _number(owner: str, name: str, value: Any, low: float, high: float = math.inf) -> None:
    number = finite_number(value)
    if number is None or not low <= number < high:
        rule = f">= {low:g}" if high == math.inf else f"in [{low:g}, {high:g})"
        raise ConfigError(
            f"{owner}: parameter '{name}' must be a finite number {rule}, got {value!r}"
        )


def _column(owner: str, name: str, value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{owner}: parameter '{name}' must be a column name, got {value!r}")


@dataclass(frozen=True)
class Proportional(Cost):
    """A flat fee: ``bps / 10_000`` dollars per traded dollar (0 <= bps < 10_000).

    Binance USD-M futures charge 5 bps (taker) and 2 bps (maker) at the base tier."""

    bps: float = DEFAULT_FEE * 10_000

    def check(self) -> None:
        _number("Proportional", "bps", self.bps, 0.0, 10_000.0)

    def rates(self, values: Mapping[str, np.ndarray]) -> Rates:
        return Rates(self.bps / 10_000, None, None)

    def describe(self) -> str:
        return f"Proportional {self.bps:g} bps"


@dataclass(frozen=True)
class HalfSpread(Cost):
    """Crossing half the bid-ask spread: ``spread`` dollars per traded dollar, where
    `spread_col` holds the half spread as a fraction of price (``RangeSpread``'s
    ``0.5*(high-low)/mid`` is such an estimate). Finite and >= 0 on a tradable row."""

    spread_col: str = "spread"

    def check(self) -> None:
        _column("HalfSpread", "spread_col", self.spread_col)

    def columns(self) -> tuple[str, ...]:
        return (self.spread_col,)

    def inputs(self, date_col: str, symbol_col: str) -> dict[str, pl.Expr]:
        return {"spread": pl.col(self.spread_col).cast(pl.Float64)}

    def rates(self, values: Mapping[str, np.ndarray]) -> Rates:
        spread = values["spread"]
        ok = np.isfinite(spread) & (spread >= 0)
        return Rates(np.where(ok, spread, 0.0), None, ok)

    def describe(self) -> str:
        return f"HalfSpread of '{self.spread_col}'"


@dataclass(frozen=True)
class SquareRootImpact(Cost):
    """Market impact, the square-root law: per traded dollar
    ``coef * vol * sqrt(|trade_dollars| / ADV)``, so a trade of T dollars costs
    ``coef * vol * T^1.5 / sqrt(ADV)`` dollars (for a fixed weight path it grows as NAV^1.5).

    - `vol_col`: the per-period volatility of returns (a fraction; ``EwmaVol`` with
      ``annualise=False``), finite and >= 0;
    - ADV: the mean of `volume_col` (dollar volume per period) over the symbol's last
      `window` rows up to and including t, in date order (null, NaN, inf and negative
      volumes count as missing; > 0 needed to trade);
    - `coef` (dimensionless, >= 0): the "Y" of the square-root law. Empirical estimates are
      of order 1: Tóth et al. (2011, "Anomalous price impact and the critical nature of
      liquidity in financial markets", Phys. Rev. X 1, 021006) and Bouchaud et al. (2018,
      "Trades, Quotes and Prices", ch. 12) report Y ~ 0.5 to 1; Almgren, Thum, Hauptmann and
      Li (2005, "Direct estimation of equity market impact", Risk) fit a temporary impact of
      about 0.14 to 0.3 sigma at a participation of 1 (exponent 0.6). Use roughly 0.1 to 1.

    With this cost `init_nav` is a dollar amount (the trade sizes are in dollars).
    """

    coef: float = 0.5
    volume_col: str = "dollar_volume"
    vol_col: str = "vol_fcst"
    window: int = 30

    def check(self) -> None:
        _number("SquareRootImpact", "coef", self.coef, 0.0)
        _column("SquareRootImpact", "volume_col", self.volume_col)
        _column("SquareRootImpact", "vol_col", self.vol_col)
        w = self.window
        if isinstance(w, bool | np.bool_) or not isinstance(w, Integral) or not 1 <= w <= 100_000:
            raise ConfigError(
                f"SquareRootImpact: parameter 'window' must be an integer in [1, 100000], got {w!r}"
            )

    def columns(self) -> tuple[str, ...]:
        return (self.volume_col, self.vol_col)

    def inputs(self, date_col: str, symbol_col: str) -> dict[str, pl.Expr]:
        # the same window input as VolumeUniverse's trailing volume: a value that is not
        # finite, negative or absurd (beyond MAX_WINDOW_VALUE) is missing, so ADV recovers
        volume = window_value(pl.col(self.volume_col))
        usable = pl.when(volume >= 0).then(volume)
        adv = per_symbol(usable.rolling_mean(self.window, min_samples=1), symbol_col, date_col)
        return {"vol": pl.col(self.vol_col).cast(pl.Float64), "adv": adv}

    def rates(self, values: Mapping[str, np.ndarray]) -> Rates:
        vol, adv = values["vol"], values["adv"]
        ok = np.isfinite(vol) & (vol >= 0) & np.isfinite(adv) & (adv > 0)
        impact = np.where(ok, self.coef * vol / np.sqrt(np.where(ok, adv, 1.0)), 0.0)
        return Rates(0.0, impact, ok)

    def describe(self) -> str:
        return (
            f"SquareRootImpact coef {self.coef:g} x '{self.vol_col}' x sqrt(trade / "
            f"{self.window}-period mean '{self.volume_col}')"
        )


@dataclass(frozen=True)
class CostSum(Cost):
    """Several costs charged together: their rates per traded dollar add."""

    parts: tuple[Cost, ...]

    def terms(self) -> tuple[Cost, ...]:
        return self.parts

    def check(self) -> None:
        for part in self.parts:
            part.check()

    def describe(self) -> str:
        return " + ".join(p.describe() for p in self.parts)

    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for p in self.parts for c in p.columns()))

    def rates(self, values: Mapping[str, np.ndarray]) -> Rates:
        raise TypeError("CostSum.rates: use lazyflow.costs.evaluate")


COST_TYPES: dict[str, type[Cost]] = {
    c.__name__: c for c in (Proportional, HalfSpread, SquareRootImpact)
}


def describe(cost_per_dollar: float, costs: Cost | None) -> str:
    """The backtest's cost model in one line: the fee, then `costs`."""
    fee = f"{cost_per_dollar * 10_000:g} bps per traded dollar"
    if cost_per_dollar == DEFAULT_FEE:
        fee += " (default: Binance USD-M taker fee)"
    return fee if costs is None else f"{fee} + {costs.describe()}"


def check_costs(costs: Any, where: str = "backtest") -> None:
    """`ConfigError` unless `costs` is None or a checked `Cost`."""
    if costs is None:
        return
    if isinstance(costs, type) and issubclass(costs, Cost):
        raise ConfigError(
            f"{where}: parameter 'costs' must be a cost object, got the class "
            f"{costs.__name__}; call it, e.g. {costs.__name__}()"
        )
    if not isinstance(costs, Cost):
        raise ConfigError(
            f"{where}: parameter 'costs' must be None or a lazyflow.costs cost (Proportional, "
            f"HalfSpread, SquareRootImpact or a sum of them), got {costs!r}"
        )
    costs.check()


def inputs(
    cost: Cost, date_col: str, symbol_col: str, taken: Sequence[str]
) -> list[dict[str, tuple[str, pl.Expr]]]:
    """Per term, its inputs as ``{name: (column, expression)}``; term k's input ``name`` gets
    the column ``__cost<k>_<name>`` (`unused_name`: never one of `taken`)."""
    out = []
    for k, term in enumerate(cost.terms()):
        own = {}
        for name, expr in term.inputs(date_col, symbol_col).items():
            own[name] = (unused_name(taken, f"__cost{k}_{name}"), expr)
        out.append(own)
    return out


def evaluate(cost: Cost, values: Sequence[Mapping[str, np.ndarray]], n: int) -> Rates:
    """The summed `Rates` of `cost` on n rows; ``values[k]`` holds term k's inputs by name."""
    linear: float | np.ndarray = 0.0
    impact: np.ndarray | None = None
    ok: np.ndarray | None = None
    for term, own in zip(cost.terms(), values, strict=True):
        r = term.rates(own)
        linear = linear + r.linear
        if r.impact is not None:
            impact = r.impact if impact is None else impact + r.impact
        if r.ok is not None:
            ok = r.ok if ok is None else ok & r.ok
    if isinstance(linear, np.ndarray) and linear.shape != (n,):
        linear = np.broadcast_to(linear, (n,)).copy()
    return Rates(linear, impact, ok)


def from_settings(tables: Any, where: str) -> Cost | None:
    """A cost from config tables (``[[backtest.costs]]``: each a ``type`` and its
    parameters); None for an empty list."""
    if not isinstance(tables, list) or not all(isinstance(t, Mapping) for t in tables):
        raise ConfigError(f"{where}: must be an array of tables, written [[{where}]]")
    built: list[Cost] = []
    for i, table in enumerate(tables, start=1):
        kind = table.get("type")
        if kind not in COST_TYPES:
            raise ConfigError(f"{where}[{i}].type: {kind!r} is not one of {', '.join(COST_TYPES)}")
        cls = COST_TYPES[kind]
        allowed = [f.name for f in fields(cls)]
        params = {k: v for k, v in table.items() if k != "type"}
        for key in params:
            if key not in allowed:
                raise ConfigError(
                    f"{where}[{i}].{key}: unknown parameter of {kind}; allowed: "
                    f"{', '.join(allowed)}"
                )
        cost = cls(**params)
        try:
            cost.check()
        except ConfigError as exc:
            raise ConfigError(f"{where}[{i}]: {exc}") from exc
        built.append(cost)
    if not built:
        return None
    return built[0] if len(built) == 1 else CostSum(tuple(built))
