#!/usr/bin/env python3
"""Writes a sparse, high-cardinality export: many subscribers with a few events each.

    sparse.py EVENTS SUBSCRIBERS DST.parquet [ORDER]

The suite's tier M has about 50 events per subscriber; an operator's export can hold far
more subscribers with a few events each, and nearly a distinct counterparty per event.
EVENTS rows over 30 days (2026-10-01..30 in Asia/Taipei), each subscriber drawn uniformly
from SUBSCRIBERS numbers (+8869 and 8 digits), the counterparty from 90M numbers (3 % of
them null, 2 % in Nigeria, +234), sorted by `event_time` (then the row number) as a switch
writes, snappy, 1Mi-row groups (DuckDB's writer: plain number strings at tier M's size, a
dictionary on a small file). Deterministic: every column is a hash of the row
number, so the same arguments write the same rows. bench/run.sh measures it as the opt-in
layout `sparse` (LAYOUTS=sparse; 48M events, 8M subscribers for tier M). ORDER `subscriber`
writes the same rows sorted by subscriber (then `event_time`, then the row number), as a
per-subscriber export is: the layout `sparse-grouped`; ORDER `hash` sorts them by a hash of the
subscriber instead (each subscriber's events together, the subscribers in no order, as a
hash-partitioned job writes them): the layout `sparse-hashed`.
"""

import sys


def main(events, subscribers, dst, order="time"):
    import duckdb

    n, s = int(events), int(subscribers)
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    quoted = dst.replace("'", "''")
    by = {
        "time": "event_time, i",
        "subscriber": "subscriber, event_time, i",
        "hash": "hash(subscriber), subscriber, event_time, i",
    }.get(order)
    if by is None:
        sys.exit(f"ORDER is time, subscriber or hash, not {order!r}")
    con.execute(f"""
        COPY (
          WITH r AS (
            SELECT i, hash(i) AS a, hash(i + 1000000007) AS b, hash(i + 2000000011) AS c
            FROM range({n}) t(i)
          )
          SELECT
            -- 2026-09-30T16:00:00Z, Taipei's first instant of 2026-10-01, plus 30 days' ms
            epoch_ms(1790784000000 + (a % 2592000000)::BIGINT)::TIMESTAMPTZ AS event_time,
            '+8869' || lpad(((b % {s}) + 10000000)::VARCHAR, 8, '0') AS subscriber,
            CASE WHEN c % 100 < 3 THEN NULL
                 WHEN c % 100 < 5 THEN '+234' || (800000000 + (c >> 20) % 99999999)::VARCHAR
                 ELSE '+8869' || (10000000 + (c >> 20) % 89999999)::VARCHAR END AS counterparty,
            CASE WHEN (a >> 40) % 2 = 0 THEN 'in' ELSE 'out' END AS direction,
            CASE WHEN (b >> 40) % 4 = 0 THEN 'sms' ELSE 'call' END AS kind,
            ((c >> 44) % 300)::BIGINT AS duration_s
          FROM r ORDER BY {by}
        ) TO '{quoted}' (FORMAT parquet, ROW_GROUP_SIZE 1048576)
    """)


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    main(*sys.argv[1:])
