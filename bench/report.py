#!/usr/bin/env python3
"""Markdown report of one bench/run.sh tier: report.py TIER RESULTS_DIR REPO_ROOT HOTZONE_BIN."""

import json
import os
import platform
import re
import statistics
import subprocess
import sys


def sh(*cmd, cwd=None):
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception:  # noqa: BLE001 - a missing tool only leaves a blank
        return ""


def machine(root, hotzone):
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0)
    commit = sh("git", "rev-parse", "--short", "HEAD", cwd=root)
    dirty = " (+ uncommitted changes)" if sh("git", "status", "--porcelain", "--", "src", "Cargo.toml", cwd=root) else ""
    import duckdb
    import polars

    import datetime

    built = datetime.datetime.fromtimestamp(os.path.getmtime(hotzone)).strftime("%Y-%m-%d %H:%M")
    return [
        f"- machine: {os.cpu_count()} cores, {cpu}, {mem / 1048576:.1f} GiB RAM, Linux {platform.release()}",
        f"- hotzone binary {hotzone} built {built}; checkout at report time {commit}{dirty}; {sh('rustc', '--version')}",
        f"- peers: duckdb {duckdb.__version__}, polars {polars.__version__}, Python {platform.python_version()}",
        f"- load average at report time: {open('/proc/loadavg').read().split()[:3]}",
    ]


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def engine_table(rs):
    """The medians of each engine's runs and their ratios to the fastest peer (an engine whose
    name does not start with `hotzone`), as Markdown lines."""
    eng = {}
    for r in rs:
        eng.setdefault(r["engine"], []).append(r)
    stats = {
        e: dict(
            wall=med([r["wall_s"] for r in rs]),
            cpu=med([r["user_s"] + r["sys_s"] for r in rs]),
            pct=med([r["cpu_pct"] for r in rs]),
            rss=med([r["rss_kb"] for r in rs]) / 1024,
            sys=med([r["sys_s"] for r in rs]),
            faults=med([r.get("minor_faults", 0) for r in rs]),
            load=med([r["load1_before"] for r in rs]),
            n=len(rs),
        )
        for e, rs in eng.items()
    }
    peers = [e for e in stats if not e.startswith("hotzone")]
    fastest = min(peers, key=lambda e: stats[e]["wall"]) if peers else None
    out = [
        f"Medians of {stats['hotzone']['n']} runs, each engine its own process under /usr/bin/time -v (peers: Python start + import included); fastest peer by wall time: {fastest}. Speed ratios > 1 mean faster than that peer; RSS ratio < 1 means less memory.",
        "",
        "| engine | wall s | CPU s (user+sys) | of which sys s | minor faults | CPU % | peak RSS MiB | wall: fastest peer / engine | CPU: fastest peer / engine | RSS: engine / fastest peer | load1 before |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for e, s in stats.items():
        f = stats[fastest] if fastest else s
        out.append(
            f"| {e} | {s['wall']:.2f} | {s['cpu']:.2f} | {s['sys']:.2f} | {s['faults']:.0f} | {s['pct']:.0f} | {s['rss']:.0f} | "
            f"{f['wall'] / s['wall']:.2f}x | {f['cpu'] / s['cpu']:.2f}x | {s['rss'] / f['rss']:.2f}x | {s['load']:.2f} |"
        )
    out.append("")
    return out


def main():
    tier, res, root, hotzone = sys.argv[1:5]
    rows = [json.loads(l) for l in open(os.path.join(res, "results.jsonl"))]
    out = [f"# hotzone benchmarks, tier {tier}", ""] + machine(root, hotzone) + [""]

    layouts = {
        "grouped": "grouped (each subscriber's events together, subscriber dictionary-encoded)",
        "time": "time-ordered (sorted by event_time, numbers plain-encoded, as switches write)",
        "shuffled": "shuffled (random order, numbers plain-encoded)",
        "time-duckdb": "time-ordered, written by DuckDB's COPY TO (122,880-row groups, snappy, plain numbers)",
        "time-polars": "time-ordered, written by Polars' write_parquet (zstd, large_string columns)",
        "time-pyarrow": "time-ordered, written by pyarrow's write_table as pandas.to_parquet does (dictionaries falling back to plain pages)",
        "grouped-polars": "grouped, written by Polars' write_parquet (zstd, large_string, dictionaries)",
    }
    a_all = [r for r in rows if r["section"] == "a"]
    if a_all:
        out += ["## a. Batch scan end to end (Parquet -> verdict CSV), SHARE +234,+1876,+855,+882, 30 days, r 0.5", ""]
    for layout in dict.fromkeys(r.get("layout", "grouped") for r in a_all):
        out += [f"### Layout: {layouts.get(layout, layout)}", ""]
        out += engine_table([r for r in a_all if r.get("layout", "grouped") == layout])

    e = [r for r in rows if r["section"] == "e"]
    if e:
        out += ["## e. One CSV file (time-ordered, RFC 3339 times), the query of a", ""]
        out += engine_table(e)
        one = med([r["wall_s"] for r in e if r["engine"] == "hotzone-1-thread"])
        every = med([r["wall_s"] for r in e if r["engine"] == "hotzone"])
        out += [f"Every core against one thread (`RAYON_NUM_THREADS=1`), wall: **{one / every:.2f}x** faster.", ""]

    eq = [r for r in rows if r["section"] == "eq"]
    if eq:
        out += ["## e (quoted). The same CSV file with every field quoted, the same query", ""]
        out += engine_table(eq)

    prep = [r for r in rows if r["section"] == "b-prepare"]
    if prep:
        sizes = {}
        p = os.path.join(res, "b-sizes.txt")
        if os.path.exists(p):
            for line in open(p):
                n, f = line.split()
                sizes[os.path.splitext(f)[1]] = int(n)
        ext = {"hotzone": ".hzi", "duckdb": ".duckdb", "polars": ".arrow"}
        out += ["## b. Repeated scans", "", "Prepared form, written once:", "",
                "| engine | form | input layout | prepare wall s | peak RSS MiB | size MiB |", "|---|---|---|---:|---:|---:|"]
        for r in prep:
            form = {"hotzone": "hotzone prepare (.hzi)", "duckdb": "DuckDB table (.duckdb)", "polars": "Arrow IPC, uncompressed (.arrow)"}[r["engine"]]
            size = sizes.get(ext[r["engine"]], 0) / 1048576 if r.get("layout", "grouped") == "grouped" else float("nan")
            out.append(f"| {r['engine']} | {form} | {r.get('layout', 'grouped')} | {r['wall_s']:.2f} | {r['rss_kb'] / 1024:.0f} | {size:.1f} |")
        out += ["", "Wall time of the 2nd and later runs (median). hotzone: a new process per scan "
                "(`hotzone scan FILE.hzi`, /usr/bin/time). Peers: one open session each "
                "(DuckDB connection to the .duckdb file, Polars lazy scan of the IPC file), "
                "timed in-process around query + CSV write, so their interpreter start and imports are NOT counted.", "",
                "| query | hotzone s | hotzone RSS MiB | duckdb s | polars s | hotzone vs fastest peer |", "|---|---:|---:|---:|---:|---:|"]
        queries = json.load(open(os.path.join(root, "bench", "queries.json")))
        peer_t = {}
        for e in ("duckdb", "polars"):
            p = os.path.join(res, f"b-{e}.json")
            if os.path.exists(p):
                peer_t[e] = json.load(open(p))
        for i, q in enumerate(queries, 1):
            hz = [r for r in rows if r["section"] == "b" and r["name"] == f"b-hotzone-q{i}" and r["run"] >= 2]
            h = med([r["wall_s"] for r in hz])
            hr = med([r["rss_kb"] for r in hz]) / 1024
            pt = {e: med(t[f"q{i}"][1:]) for e, t in peer_t.items()}
            best = min(pt.values()) if pt else float("nan")
            out.append(f"| {q['name']} | {h:.3f} | {hr:.0f} | {pt.get('duckdb', float('nan')):.3f} | {pt.get('polars', float('nan')):.3f} | {best / h:.2f}x |")
        sess = {r["engine"]: r for r in rows if r["section"] == "b-session"}
        if sess:
            out += ["", "Peer sessions' peak RSS: " + ", ".join(f"{e} {r['rss_kb'] / 1024:.0f} MiB" for e, r in sess.items())]
        out.append("")

    inproc = [r for r in rows if r["section"] == "c-inproc"]
    grpc = [r for r in rows if r["section"] in ("c-grpc", "c-grpc-half")]
    serve = [r for r in rows if r["section"] == "c-serve"]
    if inproc or grpc:
        out += ["## c. Check latency and throughput", ""]
    for r in inproc:
        out += ["In process (`benches/check.rs`, one `Snapshot::check` timed at a time, 1 thread, "
                "SHARE +234,+1876,+855,+882 30 days over the tier's subscribers):", "",
                "| checks | checks/s (1 thread) | mean ns | p50 ns | p90 ns | p99 ns | p99.9 ns | max ns |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|",
                f"| {r['checks']} | {r['checks_per_s_1_thread']:.0f} | {r['mean_ns']:.0f} | {r['p50_ns']} | {r['p90_ns']} | {r['p99_ns']} | {r['p999_ns']} | {r['max_ns']} |", ""]
    crit = os.path.join(res, "c-criterion.txt")
    if os.path.exists(crit):
        t = open(crit).read()
        m = re.search(r"(check/[^\n]*)\n\s*time:\s*\[([^\]]*)\]", t)
        if m:
            out += [f"criterion (`cargo bench --bench detect -- check`, synthetic 1M events/20k subscribers): `{m.group(1).strip()}` time [low est high] = [{m.group(2)}]", ""]
    if grpc:
        out += ["Over gRPC on loopback (`hotzone serve --worker-threads SERVER_THREADS`, plaintext HTTP/2; server "
                "pinned to SERVER_CPUS, generators to CLIENT_CPUS with taskset; CPU us/call = user+system time "
                "over the measured window / calls; lag = how late the open loop sent behind its schedule):", "",
                "| tool | mode | rate asked | checks/s | ok | errors | p50 us | p90 us | p99 us | p99.9 us | max us "
                "| lag p99 us | server CPU us/call | generator CPU us/call | load1 |",
                "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for r in grpc:
            def f(k, r=r):
                v = r.get(k)
                if v is None or (isinstance(v, float) and v != v):
                    return ""
                return f"{v:.0f}" if isinstance(v, float) and k not in ("server_cpu_us_per_call", "client_cpu_us_per_call", "load1") else str(v)
            errs = r.get("errors", r.get("failed", ""))
            out.append(f"| {r['tool']} | {r.get('mode', '')} | {f('target_rate')} | {f('rps')} | {f('ok')} | {errs} | {f('p50_us')} | {f('p90_us')} "
                       f"| {f('p99_us')} | {f('p999_us')} | {f('max_us') or r.get('max', '')} | {f('lag_p99_us')} | {f('server_cpu_us_per_call')} "
                       f"| {f('client_cpu_us_per_call')} | {f('load1')} |")
        out.append("")
    for r in serve:
        out += ["Server memory:", "",
                "| events | subscribers | counterparties | index bytes | index bytes/event | RSS loaded MiB | RSS after load test MiB | RSS loaded bytes/event | VmHWM MiB | index build ms |",
                "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
                f"| {r['events']} | {r['subscribers']} | {r['counterparties']} | {r['index_bytes']} | {r['index_bytes_per_event']} | "
                f"{r['rss_loaded_kb'] / 1024:.0f} | {r['rss_after_load_kb'] / 1024:.0f} | {r['rss_bytes_per_event']:.1f} | {r['vmhwm_kb'] / 1024:.0f} | {r['build_ms']} |", ""]

    d = [r for r in rows if r["section"] == "d"]
    if d:
        out += ["## d. Detection quality (hotzone NG,JM,KH,+88216 = the generator's campaign sources; 30 days; min_events 3)", "",
                "| method | truth subscribers | flagged | subscriber precision | subscriber recall | day precision | day recall |",
                "|---|---:|---:|---:|---:|---:|---:|"]
        for r in d:
            out.append(f"| {r['method']} | {r['truth_subscribers']} | {r['flagged']} | {r['sub_precision']:.3f} | {r['sub_recall']:.3f} | {r['day_precision']:.3f} | {r['day_recall']:.3f} |")
        out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
