"""The window W of REFERENCE.md §5 as UTC instants, exact for any IANA zone (DST included).

window_bounds(tz, as_of, look_back_days) -> [b0, b1, ..., bn]: bi is the UTC epoch millisecond
at which local day i of W starts (the first instant whose local date is that day; on a day that
starts inside a DST gap this is the gap's end), bn the start of the day after as_of. An event
at t belongs to day i when bi <= t < b(i+1).
"""

import datetime as dt
from zoneinfo import ZoneInfo

UTC = dt.timezone.utc


EPOCH = dt.datetime(1970, 1, 1, tzinfo=UTC)


def _local_date(ms, zone):
    return (EPOCH + dt.timedelta(milliseconds=ms)).astimezone(zone).date()


def day_start_ms(day, zone):
    """The first UTC millisecond whose local date in `zone` is `day`."""
    # Any real zone's offset is within +-26 h, so the start lies in [midnight UTC - 26h, + 26h].
    lo = int(dt.datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000) - 26 * 3_600_000
    hi = lo + 52 * 3_600_000
    assert _local_date(lo, zone) < day <= _local_date(hi, zone)
    # Binary search for the smallest ms with local date >= day (local date is monotone in t).
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        if _local_date(mid, zone) >= day:
            hi = mid
        else:
            lo = mid
    return hi


def window_bounds(tz, as_of, look_back_days):
    zone = ZoneInfo(tz)
    last = dt.date.fromisoformat(as_of)
    first = last - dt.timedelta(days=look_back_days - 1)
    return [day_start_ms(first + dt.timedelta(days=i), zone) for i in range(look_back_days + 1)]


if __name__ == "__main__":
    import sys

    print(window_bounds(sys.argv[1], sys.argv[2], int(sys.argv[3])))
