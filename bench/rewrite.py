#!/usr/bin/env python3
"""Writes a Parquet file's rows again with a peer's own Parquet writer and its defaults.

    rewrite.py duckdb|polars|pyarrow|spark SRC.parquet DST.parquet

DuckDB: COPY ... TO (FORMAT parquet), i.e. 122,880-row groups, snappy, plain-encoded
numbers. Polars: DataFrame.write_parquet, i.e. zstd and large_string columns (dictionaries
where they pay). pyarrow: pyarrow.parquet.write_table, which pandas.to_parquet calls, i.e.
snappy, 1Mi-row groups and every column dictionary-encoded until its dictionary passes
1 MiB, then plain pages. Spark (opt-in: pyspark and Java 17 in the Python that runs this):
``spark.read.parquet(src).coalesce(1).write.parquet`` on local[2] with Spark's defaults, i.e.
INT96 timestamps (``spark.sql.parquet.outputTimestampType``), snappy, 128 MiB row groups,
dictionaries that fall back to plain pages past 1 MiB, the rows in the source's order.
bench/run.sh measures every engine on these files (layouts time-duckdb, time-polars,
time-pyarrow, grouped-polars, and time-spark when asked for): an export is not always
written by the generator's writer.
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
    elif writer == "spark":
        import glob
        import os
        import shutil
        import tempfile

        from pyspark.sql import SparkSession

        spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
                 .config("spark.driver.memory", "4g").getOrCreate())
        out = tempfile.mkdtemp(dir=os.path.dirname(os.path.abspath(dst)))
        try:
            spark.read.parquet(src).coalesce(1).write.mode("overwrite").parquet(out)
            (part,) = glob.glob(os.path.join(out, "part-*.parquet"))
            os.replace(part, dst)
        finally:
            spark.stop()
            shutil.rmtree(out, ignore_errors=True)
    else:
        sys.exit(f"unknown writer {writer!r} (duckdb, polars, pyarrow or spark)")


if __name__ == "__main__":
    main(*sys.argv[1:])
