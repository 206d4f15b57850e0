"""The range of dates lazyflow accepts in a panel: 1970-01-01 to 2200-12-31 (UTC days), both
included (issue 14, class 5), and the Binance kline intervals.

Dates outside it are refused where data enters (`scan_panel`, the Binance loader) with a
`DataError` naming the column and an example value: a date before 1970 or after 2200 in a
daily crypto panel is a unit mistake (nanosecond timestamps read as milliseconds give year
55969) or a corrupt file, and far enough outside it Polars panics when it converts or prints
the value.
"""

from __future__ import annotations

from datetime import date

#: The first and last accepted dates, both included.
FIRST_DATE = date(1970, 1, 1)
LAST_DATE = date(2200, 12, 31)
#: The range as text, for error messages.
DATE_RANGE = f"{FIRST_DATE.isoformat()}..{LAST_DATE.isoformat()}"
MS_PER_DAY = 86_400_000
#: Epoch milliseconds (UTC) of the first instant after LAST_DATE.
END_EPOCH_MS = ((LAST_DATE - FIRST_DATE).days + 1) * MS_PER_DAY
#: Binance kline intervals the loader and the downloader accept (up to one day).
INTERVALS = ("1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d")
