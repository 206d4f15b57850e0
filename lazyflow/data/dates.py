"""The date range every panel source supports: 1970-01-01 to 2200-12-31 (UTC days).

Dates outside it are a `DataError` naming the column and an example value: far
dates break Polars' date arithmetic, and a time in the wrong unit (nanoseconds
or microseconds read as milliseconds) lands far outside it.
"""

from __future__ import annotations

from datetime import date

MIN_DATE = date(1970, 1, 1)
MAX_DATE = date(2200, 12, 31)
#: The range as text, for error messages.
DATE_RANGE = f"{MIN_DATE}..{MAX_DATE}"
MS_PER_DAY = 86_400_000
#: Epoch milliseconds (UTC) of the first instant after MAX_DATE.
END_EPOCH_MS = ((MAX_DATE - MIN_DATE).days + 1) * MS_PER_DAY
#: Binance kline intervals the loader and the downloader accept (up to one day).
INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")
