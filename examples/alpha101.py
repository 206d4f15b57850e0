"""28 of the 101 Formulaic Alphas (Kakushadze 2016), written with lazyflow's factor algebra.

    PYTHONPATH=. python examples/alpha101.py          # all of them on the synthetic panel

Inputs, as the paper's on a daily crypto panel: ``vwap = dollar_volume / volume``,
``returns = close / delay(close, 1) - 1``, ``adv{d} = ts.mean(dollar_volume, d)``. The
paper's fractional windows are rounded down (its own convention). Alphas that need
industry classes neutralise within a synthetic ``sector`` column (`with_sector`).
``rank`` is `cs.rank` (in (0, 1]), ``ts_rank`` is `ts.rank` (1..d).
"""

from __future__ import annotations

import polars as pl

import lazyflow as lf
from lazyflow import cs, ts
from lazyflow.algebra.term import Term, col, where

close, open_, high, low, volume = (col(c) for c in ("close", "open", "high", "low", "volume"))
vwap = col("dollar_volume") / volume
returns = close / ts.delay(close, 1) - 1
#: Number of synthetic sectors.
N_SECTORS = 8


def adv(d: int) -> Term:
    """Average daily dollar volume over the last d rows."""
    return ts.mean("dollar_volume", d)


def with_sector(panel: pl.DataFrame | pl.LazyFrame) -> pl.LazyFrame:
    """`panel` plus ``sector``: the symbol's position in alphabetical order modulo N_SECTORS."""
    sector = (pl.col("symbol").rank("dense") % N_SECTORS).cast(pl.Int32)
    return panel.lazy().with_columns(sector.alias("sector"))


def _sign_switch(d: int) -> Term:
    """Alpha#9/#10's body: delta(close, 1) when it was all up or all down over d rows,
    otherwise its negative."""
    move = ts.delta(close, 1)
    return where(ts.min(move, d) > 0, move, where(ts.max(move, d) < 0, move, -move))


_sum_open_ret = ts.sum(open_, 5) * ts.sum(returns, 5)
_mean_close_100 = ts.sum(close, 100) / 100

ALPHAS: dict[str, Term] = {
    "alpha001": cs.rank(
        ts.argmax(where(returns < 0, ts.std(returns, 20), close).signed_power(2), 5)
    )
    - 0.5,
    "alpha002": -ts.corr(cs.rank(ts.delta(volume.log(), 2)), cs.rank((close - open_) / open_), 6),
    "alpha003": -ts.corr(cs.rank(open_), cs.rank(volume), 10),
    "alpha004": -ts.rank(cs.rank(low), 9),
    "alpha005": cs.rank(open_ - ts.sum(vwap, 10) / 10) * -abs(cs.rank(close - vwap)),
    "alpha006": -ts.corr(open_, volume, 10),
    "alpha007": where(
        adv(20) < volume,
        -ts.rank(abs(ts.delta(close, 7)), 60) * ts.delta(close, 7).sign(),
        -1,
    ),
    "alpha008": -cs.rank(_sum_open_ret - ts.delay(_sum_open_ret, 10)),
    "alpha009": _sign_switch(5),
    "alpha010": cs.rank(_sign_switch(4)),
    "alpha011": (cs.rank(ts.max(vwap - close, 3)) + cs.rank(ts.min(vwap - close, 3)))
    * cs.rank(ts.delta(volume, 3)),
    "alpha012": ts.delta(volume, 1).sign() * -ts.delta(close, 1),
    "alpha013": -cs.rank(ts.cov(cs.rank(close), cs.rank(volume), 5)),
    "alpha014": -cs.rank(ts.delta(returns, 3)) * ts.corr(open_, volume, 10),
    "alpha015": -ts.sum(cs.rank(ts.corr(cs.rank(high), cs.rank(volume), 3)), 3),
    "alpha016": -cs.rank(ts.cov(cs.rank(high), cs.rank(volume), 5)),
    "alpha017": -cs.rank(ts.rank(close, 10))
    * cs.rank(ts.delta(ts.delta(close, 1), 1))
    * cs.rank(ts.rank(volume / adv(20), 5)),
    "alpha018": -cs.rank(
        ts.std(abs(close - open_), 5) + (close - open_) + ts.corr(close, open_, 10)
    ),
    "alpha019": -(close - ts.delay(close, 7) + ts.delta(close, 7)).sign()
    * (1 + cs.rank(1 + ts.sum(returns, 250))),
    "alpha020": -cs.rank(open_ - ts.delay(high, 1))
    * cs.rank(open_ - ts.delay(close, 1))
    * cs.rank(open_ - ts.delay(low, 1)),
    "alpha022": -(ts.delta(ts.corr(high, volume, 5), 5) * cs.rank(ts.std(close, 20))),
    "alpha023": where(ts.sum(high, 20) / 20 < high, -ts.delta(high, 2), 0),
    "alpha024": where(
        ts.delta(_mean_close_100, 100) / ts.delay(close, 100) <= 0.05,
        -(close - ts.min(close, 100)),
        -ts.delta(close, 3),
    ),
    "alpha033": cs.rank(-(1 - open_ / close)),
    "alpha041": (high * low) ** 0.5 - vwap,
    "alpha053": -ts.delta(((close - low) - (high - close)) / (close - low), 9),
    "alpha058": -ts.rank(ts.decay_linear(ts.corr(cs.neutralize(vwap, "sector"), volume, 3), 7), 5),
    "alpha101": (close - open_) / ((high - low) + 0.001),
}


def stages(mask: str | None = None) -> list[lf.Factor]:
    """One `Factor` stage per alpha (column named after it)."""
    return [lf.Factor(name, term, mask=mask) for name, term in ALPHAS.items()]


if __name__ == "__main__":
    panel = with_sector(lf.synthetic_panel(n_symbols=200, n_days=500, seed=0))
    frame = lf.Pipeline(stages())(panel).collect()
    print(frame.select(list(ALPHAS)).describe())
    print(stages()[0].describe())
