"""The factor algebra: compose factors from time-series and cross-sectional operators.

    import lazyflow as lf
    from lazyflow import cs, ts
    momentum = cs.rank(ts.pct_change("close", 30))
    stage = lf.Factor("momentum", momentum, mask="is_universe")

`lf.col`, `lf.where`, `lf.ts.*`, `lf.cs.*` build immutable, hashable terms
(`lazyflow.algebra.term`); `lf.Factor` plans a term into window levels
(`lazyflow.algebra.plan`) and adds it as one Float64 column. Formulas in TOML are read
by `lazyflow.algebra.parse.parse`.
"""

from lazyflow.algebra import cs, ts
from lazyflow.algebra.factor import Factor
from lazyflow.algebra.parse import parse
from lazyflow.algebra.term import Term, col, lit, where

__all__ = ["Factor", "Term", "col", "cs", "lit", "parse", "ts", "where"]
