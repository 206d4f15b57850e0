"""`Attribution`: where a backtest's PnL came from, by component, side, symbol and date.

Each book row (date t, symbol) carries, in dollars: ``price_pnl = coin_qty * (close_{t+1} -
close_t)``, ``funding_pnl = -dollar_pos * funding_{t+1}`` and ``cost`` (what its trade paid at
t; a forced exit's row is dated the day it is closed). Their sum over the symbols of date t is
the NAV change of the metrics row t, ``nav_t - nav_{t-1} = price + funding - cost +
written_off`` (to rounding), where ``written_off`` is nonzero only on the date a NAV at or
below 0 ended the book: the loss beyond the NAV, written off so the NAV stops at 0.

The side of a row is that of the position it ends with (``x_new``), or, for a row that ends
flat, of the position it closed (``x_prev``): a trade that flips a position counts on the new
side. Sums are taken with numpy in the book's (date, symbol) order, so they are the same bits
for any input row order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

COMPONENTS = ("price", "funding", "cost")
SIDES = ("long", "short")


@dataclass(frozen=True)
class Attribution:
    """A backtest's PnL split by component (price, funding, cost), side and symbol.

    rows: one row per book row with a nonzero part (date, symbol, side, price, funding, cost,
    pnl = price + funding - cost; dollars). daily: per rebalance date, ``<component>_<side>``
    (cost as a positive amount paid), ``written_off``, ``pnl`` (their signed sum) and
    ``nav_change`` (``nav_t - nav_{t-1}``, from the metrics): pnl equals nav_change to
    rounding.
    """

    rows: pl.DataFrame
    daily: pl.DataFrame

    @classmethod
    def of(cls, book: pl.DataFrame, metrics: pl.DataFrame, init_nav: float) -> Attribution:
        """The attribution of a backtest's `book` (with its price_pnl, funding_pnl and cost
        columns), `metrics` (the dates and NAVs) and its starting NAV."""
        date_col, symbol_col = book.columns[:2]
        x_new, x_prev = book["x_new"].to_numpy(), book["x_prev"].to_numpy()
        side = np.where(x_new != 0, np.sign(x_new), np.sign(x_prev))
        parts = {c: book[f"{c}_pnl" if c != "cost" else "cost"].to_numpy() for c in COMPONENTS}
        pnl = parts["price"] + parts["funding"] - parts["cost"]
        keep = (parts["price"] != 0) | (parts["funding"] != 0) | (parts["cost"] != 0)
        rows = pl.DataFrame(
            {
                date_col: book[date_col].filter(keep),
                symbol_col: book[symbol_col].filter(keep),
                "side": pl.Series(np.where(side[keep] > 0, "long", "short"), dtype=pl.String),
                **{c: v[keep] for c, v in parts.items()},
                "pnl": pnl[keep],
            }
        )

        dates = metrics[date_col]
        day = np.searchsorted(dates.to_numpy(), book[date_col].to_numpy())
        n = len(dates)
        daily: dict[str, np.ndarray] = {}
        for c in COMPONENTS:
            for name, sign in (("long", 1.0), ("short", -1.0)):
                weights = np.where(side == sign, parts[c], 0.0)
                daily[f"{c}_{name}"] = np.bincount(day, weights=weights, minlength=n)[:n]
        nav = metrics["nav"].to_numpy()
        nav_before = np.concatenate([[init_nav], nav[:-1]])
        raw = (
            nav_before
            - metrics["cost"].to_numpy()
            + metrics["pnl"].to_numpy()
            + metrics["funding_pnl"].to_numpy()
        )
        daily["written_off"] = np.where((nav <= 0) & (nav_before > 0), -raw, 0.0)
        daily["pnl"] = (
            sum(daily[f"price_{s}"] + daily[f"funding_{s}"] - daily[f"cost_{s}"] for s in SIDES)
            + daily["written_off"]
        )
        daily["nav_change"] = nav - nav_before
        return cls(rows=rows, daily=pl.DataFrame({date_col: dates, **daily}))

    def cumulative(self) -> pl.DataFrame:
        """`daily` summed from the start, date by date (cost still a positive amount)."""
        date_col = self.daily.columns[0]
        return self.daily.select(date_col, pl.exclude(date_col).cum_sum())

    def by_side(self) -> pl.DataFrame:
        """Totals per side (long, short): price, funding, cost, pnl."""
        totals = {s: {c: float(self.daily[f"{c}_{s}"].sum()) for c in COMPONENTS} for s in SIDES}
        return pl.DataFrame(
            [
                {"side": s, **t, "pnl": t["price"] + t["funding"] - t["cost"]}
                for s, t in totals.items()
            ]
        )

    def by_symbol(self) -> pl.DataFrame:
        """Totals per symbol over the whole run (price, funding, cost, pnl, and the pnl of the
        long and short sides), best pnl first (ties by symbol)."""
        symbol_col = self.rows.columns[1]
        names, code = np.unique(self.rows[symbol_col].to_numpy().astype(str), return_inverse=True)
        is_long = (self.rows["side"] == "long").to_numpy()
        n = len(names)

        def total(values: np.ndarray) -> np.ndarray:
            return np.bincount(code, weights=values, minlength=n)

        pnl = self.rows["pnl"].to_numpy()
        table = {c: total(self.rows[c].to_numpy()) for c in (*COMPONENTS, "pnl")}
        table["long"] = total(np.where(is_long, pnl, 0.0))
        table["short"] = total(np.where(is_long, 0.0, pnl))
        return pl.DataFrame({symbol_col: names.tolist(), **table}).sort(
            ["pnl", symbol_col], descending=[True, False]
        )
