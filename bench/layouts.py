"""Layouts the suite does not write, made from tier M's time-ordered rows (BENCHMARKS.md,
"Twenty-seventh session"): scan each with hotzone and the peers as section a does.

usage: python bench/layouts.py spark|tinyrg|year|skew|csvdir|prefixes
  spark     ~240 files of 250k rows (part-NNNNN-....snappy.parquet), one directory
  tinyrg    one file in row groups of 10,000 rows
  year      12 months of a subscriber subset (YEAR_DIV=20: 1 in 20), each shifted back 30 days,
            time-ordered, plus the last month alone (YEAR_NAME names the files)
  skew      1 % of subscribers carrying half the events
  csvdir    events-time.csv cut into 50 files, each with the header
  prefixes  300 distinct prefixes for a hotzone (prefixes300.txt)
  encodings tier M's time-ordered rows with other codecs and encodings, one file each:
            zstd, lz4 (LZ4_RAW), none (uncompressed), v2 (data pages v2, snappy), delta
            (numbers DELTA_BYTE_ARRAY, event_time DELTA_BINARY_PACKED), dlba (numbers
            DELTA_LENGTH_BYTE_ARRAY), bss (event_time BYTE_STREAM_SPLIT), dict (pyarrow's
            default: dictionaries on every column, plain once a dictionary passes 1 MiB);
            ENCODINGS=zstd,lz4 picks some
Input: $HOTZONE_BENCH_M (default ~/.cache/hotzone-bench/M, as bench/run.sh M leaves it);
output: $LAYOUTS_OUT (default ./layouts). Writer settings follow the source file (numbers
plain, direction/kind dictionary-encoded, snappy, statistics on). Needs pyarrow (and duckdb
for skew): the benchmark venv has both.
"""
import os, sys, time
import pyarrow as pa, pyarrow.parquet as pq, pyarrow.compute as pc

M = os.environ.get("HOTZONE_BENCH_M", os.path.expanduser("~/.cache/hotzone-bench/M"))
SRC = f"{M}/events-time.parquet"
OUT = os.environ.get("LAYOUTS_OUT", "layouts")
os.makedirs(OUT, exist_ok=True)
KW = dict(compression="snappy", use_dictionary=["direction", "kind"], write_statistics=True)


def src_batches():
    f = pq.ParquetFile(SRC)
    for i in range(f.num_row_groups):
        yield f.read_row_group(i)


def spark():
    d = f"{OUT}/spark"
    os.makedirs(d, exist_ok=True)
    n = 0
    uuid = "c0ffee00-1234-4abc-9def-0123456789ab"
    for t in src_batches():
        for off in range(0, t.num_rows, 250_000):
            pq.write_table(t.slice(off, 250_000), f"{d}/part-{n:05d}-{uuid}-c000.snappy.parquet",
                           row_group_size=1 << 20, **KW)
            n += 1
    open(f"{d}/_SUCCESS", "w").close()
    print("files", n)


def tinyrg():
    f = pq.ParquetFile(SRC)
    with pq.ParquetWriter(f"{OUT}/tinyrg.parquet", f.schema_arrow, **KW) as w:
        for t in src_batches():
            w.write_table(t, row_group_size=10_000)


def year():
    # A subset of subscribers (1 in DIV by hash) so that 12 months stay ~30M rows; months shifted
    # back by 30-day steps, written time-ordered (oldest month first), 1Mi-row groups.
    DIV = int(os.environ.get("YEAR_DIV", "20"))
    f = pq.ParquetFile(SRC)
    keep = []
    for t in src_batches():
        last2 = pc.utf8_slice_codeunits(t["subscriber"], -2)
        keep.append(t.filter(pc.is_in(last2, value_set=pa.array([f"{i:02d}" for i in range(0, 100, DIV)]))))
    month = pa.concat_tables(keep).combine_chunks()
    print("rows per month", month.num_rows)
    schema = f.schema_arrow
    DAY = 86_400_000
    with pq.ParquetWriter(f"{OUT}/" + os.environ.get("YEAR_NAME", "year") + ".parquet", schema, **KW) as w:
        for k in range(12):
            shift = (11 - k) * 30 * DAY
            et = pc.cast(month["event_time"], pa.int64())
            et = pc.subtract(et, shift)
            et = et.cast(pa.timestamp("ms", tz="UTC"))
            t = month.set_column(0, schema.field(0), et)
            w.write_table(t, row_group_size=1 << 20)
    # the same subset's single month, for a reference scan
    pq.write_table(month, f"{OUT}/" + os.environ.get("YEAR_NAME", "year") + "-lastmonth.parquet", row_group_size=1 << 20, **KW)


def skew():
    # 1% of subscribers (10,000 "heavy" ones taken from the data) carry 50% of events: every
    # even row (by file position) is reassigned to heavy[hash(original subscriber, row) % 10000].
    import duckdb
    con = duckdb.connect()
    con.execute("SET threads=2")
    heavy = con.execute(f"SELECT DISTINCT subscriber FROM read_parquet('{SRC}') ORDER BY hash(subscriber) LIMIT 10000").fetchall()
    heavy = pa.array([h[0] for h in heavy])
    f = pq.ParquetFile(SRC)
    with pq.ParquetWriter(f"{OUT}/skew.parquet", f.schema_arrow, **KW) as w:
        for t in src_batches():
            n = t.num_rows
            move = pc.less(pc.random(n), 0.5)
            idx = pc.cast(pc.floor(pc.multiply(pc.random(n), 10000.0)), pa.int64())
            sub = t["subscriber"].combine_chunks()
            new = pc.if_else(move, heavy.take(idx), sub)
            t = t.set_column(1, f.schema_arrow.field(1), new)
            w.write_table(t, row_group_size=1 << 20)


def csvdir():
    d = f"{OUT}/csvdir"
    os.makedirs(d, exist_ok=True)
    with open(f"{M}/events-time.csv", "rb") as fh:
        header = fh.readline()
        lines = fh.readlines()
    per = -(-len(lines) // 50)
    for i in range(50):
        with open(f"{d}/part-{i:05d}.csv", "wb") as g:
            g.write(header)
            g.writelines(lines[i * per:(i + 1) * per])
    print("lines", len(lines), "per file", per)


def prefixes():
    # 300 distinct +prefixes of 3..6 digits (after '+'), q1's two included, the rest spread
    # over real country codes and invented longer ones.
    import random
    r = random.Random(5)
    s = ["+234", "+1876"]
    base = ["+2341", "+2342", "+2343", "+2345", "+2346", "+2347", "+2348", "+2349", "+88216", "+88213",
            "+855", "+882", "+63", "+92", "+880", "+977", "+2547", "+2557", "+233", "+225"]
    for b in base:
        d = b[1:]
        if 3 <= len(d) <= 6 and b not in s:
            s.append(b)
    while len(s) < 300:
        n = r.randint(3, 6)
        p = "+" + str(r.randint(1, 9)) + "".join(str(r.randint(0, 9)) for _ in range(n - 1))
        if p not in s:
            s.append(p)
    open(f"{OUT}/prefixes300.txt", "w").write(",".join(s) + "\n")
    print(len(s), "prefixes")


ENCODINGS = {
    "zstd": dict(KW, compression="zstd"),
    "lz4": dict(KW, compression="lz4"),
    "none": dict(KW, compression="none"),
    "v2": dict(KW, data_page_version="2.0"),
    "delta": dict(KW, use_dictionary=["direction", "kind"],
                  column_encoding={"subscriber": "DELTA_BYTE_ARRAY", "counterparty": "DELTA_BYTE_ARRAY",
                                   "event_time": "DELTA_BINARY_PACKED"}),
    "dlba": dict(KW, column_encoding={"subscriber": "DELTA_LENGTH_BYTE_ARRAY",
                                      "counterparty": "DELTA_LENGTH_BYTE_ARRAY"}),
    "bss": dict(KW, column_encoding={"event_time": "BYTE_STREAM_SPLIT"}),
    "dict": dict(compression="snappy", write_statistics=True),
}


def encodings():
    names = os.environ.get("ENCODINGS", ",".join(ENCODINGS)).split(",")
    f = pq.ParquetFile(SRC)
    for name in names:
        t0 = time.time()
        with pq.ParquetWriter(f"{OUT}/enc-{name}.parquet", f.schema_arrow, **ENCODINGS[name]) as w:
            for t in src_batches():
                w.write_table(t, row_group_size=1 << 20)
        print(name, round(os.path.getsize(f"{OUT}/enc-{name}.parquet") / 1e6), "MB",
              round(time.time() - t0, 1), "s")


if __name__ == "__main__":
    t0 = time.time()
    globals()[sys.argv[1]]()
    print(sys.argv[1], "done in", round(time.time() - t0, 1), "s")
