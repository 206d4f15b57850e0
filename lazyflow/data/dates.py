"""The range of dates lazyflow accepts in a panel (issue 14, class 5).

Dates outside it are refused where data enters (`scan_panel`, the Binance loader): a date
before 1970 or after 2200 in a daily crypto panel is a unit mistake (nanosecond timestamps read
as milliseconds give year 55969) or a corrupt file, and far enough outside it Polars panics
when it converts or prints the value.
"""

from __future__ import annotations

import datetime as dt

#: The first and last accepted dates, both included.
FIRST_DATE = dt.date(1970, 1, 1)
LAST_DATE = dt.date(2200, 12, 31)

#: The range as text, for error messages.
DATE_RANGE = f"{FIRST_DATE.isoformat()}..{LAST_DATE.isoformat()}"
