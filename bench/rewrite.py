#!/usr/bin/env python3
"""Writes a Parquet file's rows again with a peer's own Parquet writer and its defaults.

    rewrite.py duckdb|polars|pyarrow SRC.parquet DST.parquet

DuckDB: COPY ... TO (FORMAT parquet), i.e. 122,880-row groups, snappy, plain-encoded
numbers. Polars: DataFrame.write_parquet, i.e. zstd and large_string columns (dictionaries
where they pay). pyarrow: pyarrow.parquet.write_table, which pandas.to_parquet calls, i.e.
snappy, 1Mi-row groups and every column dictionary-encoded until its dictionary passes
1 MiB, then plain pages. bench/run.sh measures every engine on these files (layouts
time-duckdb, time-polars, time-pyarrow, grouped-polars): an export is not always written by
the generator's writer.
"""

import sys


def main(writer, src, dst):
    if writer == "duckdb":
        import duckdb

        con = duckdb.connect()
        con.execute("COPY (SELECT * FROM read_parquet(?)) TO '" + dst.replace("'", "''") + "' (FORMAT parquet)", [src])
    elif writer == "polars":
        import polars as pl

        pl.read_parquet(src).write_parquet(dst)
    elif writer == "pyarrow":
        import pyarrow.parquet as pq

        pq.write_table(pq.read_table(src), dst)
    else:
        sys.exit(f"unknown writer {writer!r} (duckdb, polars or pyarrow)")


if __name__ == "__main__":
    main(*sys.argv[1:])
