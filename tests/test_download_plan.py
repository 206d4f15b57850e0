"""Which files `download` plans to fetch, checked as coverage: on any archive, date and
month range, each day in range is covered by exactly one kline file, and no planned file
holds a day past the last complete day or outside the range. No HTTP: the listing is
a function of the prefix."""

from __future__ import annotations

import re
from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from lazyflow.data import download as dl

UM = dl.UM


def period_of(key: str) -> str:
    """ "YYYY-MM" or "YYYY-MM-DD" from a data file's key."""
    match = re.search(r"-(\d{4}-\d{2}(?:-\d{2})?)\.zip$", key)
    assert match is not None, key
    return match[1]


def month_of(day: date) -> str:
    return f"{day:%Y-%m}"


def month_days(month: str) -> list[date]:
    first = date.fromisoformat(month + "-01")
    nxt = (first + timedelta(days=32)).replace(day=1)
    return [first + timedelta(days=i) for i in range((nxt - first).days)]


def fake_archive(
    listed: date, delisted: date | None, today: date, published: bool, early: bool
) -> list[str]:
    """Keys of one symbol, XUSDT, traded from `listed` to `delisted` (or still trading):
    a daily kline file for every traded day before today (and today's, still growing,
    when `early`), a monthly kline and funding file for every traded month that ended
    before today's month, except the last one when it is not `published` yet."""
    last = min(delisted or today, today - timedelta(days=int(not early)))
    keys, day = [], listed
    while day <= last:
        keys.append(f"{UM}/daily/klines/XUSDT/1d/XUSDT-1d-{day}.zip")
        day += timedelta(days=1)
    months = sorted({month_of(listed + timedelta(days=i)) for i in range((last - listed).days + 1)})
    previous = month_of(today.replace(day=1) - timedelta(days=1))
    for month in months:
        if month >= month_of(today) or (month == previous and not published):
            continue
        keys.append(f"{UM}/monthly/klines/XUSDT/1d/XUSDT-1d-{month}.zip")
        keys.append(f"{UM}/monthly/fundingRate/XUSDT/XUSDT-fundingRate-{month}.zip")
    return sorted(k for key in keys for k in (key, key + ".CHECKSUM"))


months = st.dates(date(2023, 1, 1), date(2025, 12, 31)).map(month_of)


@given(
    listed=st.dates(date(2023, 1, 1), date(2025, 6, 30)),
    life=st.one_of(st.none(), st.integers(0, 400)),
    today=st.dates(date(2023, 1, 2), date(2025, 12, 31)),
    published=st.booleans(),
    early=st.booleans(),
    start=st.one_of(st.none(), months),
    end=st.one_of(st.none(), months),
)
def test_each_day_in_range_is_covered_once(
    listed, life, today, published, early, start, end
) -> None:
    delisted = None if life is None else listed + timedelta(days=life)
    keys = fake_archive(listed, delisted, today, published, early)
    remotes = [dl.Remote(k, 100, 0.0) for k in keys]

    def listing(http, list_url, prefix):  # files directly under `prefix`
        return [], [
            r for r in remotes if r.key.startswith(prefix) and "/" not in r.key[len(prefix) :]
        ]

    last_day = today - timedelta(days=1)
    try:
        first, last = dl._month_range(start, end, last_day)
    except dl.ConfigError:
        assert (start or "0000") > min(end or "9999", month_of(last_day))
        return
    original = dl._list
    dl._list = listing
    try:
        pairs, has_klines = dl._symbol_files(None, "", "XUSDT", "1d", first, last, last_day)
    finally:
        dl._list = original
    assert all(
        checksum is not None and checksum.key == r.key + ".CHECKSUM" for r, checksum in pairs
    )
    covered: list[date] = []
    funding = []
    for remote, _ in pairs:
        period = period_of(remote.key)
        if "fundingRate" in remote.key:
            funding.append(period)
        elif len(period) == 7:  # a monthly file holds the month's traded days
            covered += [d for d in month_days(period) if listed <= d <= (delisted or d)]
        else:
            covered.append(date.fromisoformat(period))
    traded_until = min(delisted or last_day, last_day)
    in_range = [
        d
        for d in (listed + timedelta(days=i) for i in range((traded_until - listed).days + 1))
        if first <= month_of(d) <= last
    ]
    # every traded day in range once; nothing past the last complete day, nothing outside
    assert sorted(covered) == in_range
    # funding: every published month in range (the archive has monthly funding files only)
    published_funding = [period_of(k) for k in keys if "fundingRate" in k and k.endswith(".zip")]
    assert sorted(funding) == [m for m in published_funding if first <= m <= last]
    assert has_klines or not covered
