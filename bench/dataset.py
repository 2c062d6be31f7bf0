"""`make bench-dataset`: one bundled dataset (http_requests by default: 108 fields, lists, maps,
JSON), generated and converted by logpush-parquet, by DuckDB and by Polars with every column
declared from the same field list, partitioned by date and hour; runs alternate; prints a
Markdown table of median wall time, NDJSON MB/s, peak RSS and output size, the ratios against
the peers, and checks that each wrote every row.

Polars has no map type and no JSON type: `string_map` and `json` fields are declared as strings,
which its NDJSON reader fills with the object re-serialized (said so in the table). DuckDB types
maps as `MAP(VARCHAR, VARCHAR)` and JSON as `JSON` (its text); we write maps as Parquet maps and
JSON as its exact text.

    make bench-dataset [DATASET=http_requests]
    python bench/dataset.py [--dataset http_requests] [--rows 300000] [--files 6] [--rounds 3]
        [--bin target/release/logpush-parquet] [--generate target/release/examples/generate]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DUCKDB_TYPES = {
    "string": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "timestamp": "BIGINT",
    "string_list": "VARCHAR[]", "int_list": "BIGINT[]", "string_map": "MAP(VARCHAR, VARCHAR)", "json": "JSON",
}
PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}
TOOLS = ("ours", "duckdb", "polars")
LABELS = {"ours": "logpush-parquet", "duckdb": "DuckDB", "polars": "Polars (maps and JSON as strings)"}

# The Polars child: the declared schema, timestamps to microseconds in UTC, date and hour of the
# event time, zstd Parquet through the streaming engine, Hive-partitioned.
POLARS = """
import json, sys, warnings
import polars as pl
warnings.filterwarnings("ignore", category=pl.exceptions.UnstableWarning)
fields, event, per_second, inputs, out = json.loads(sys.argv[1])
T = {"string": pl.String, "int": pl.Int64, "float": pl.Float64, "bool": pl.Boolean,
     "timestamp": pl.Int64, "string_list": pl.List(pl.String), "int_list": pl.List(pl.Int64),
     "string_map": pl.String, "json": pl.String}
schema = {f["name"]: T[f["type"]] for f in fields}
converted = []
for f in fields:
    if f["type"] == "timestamp":
        per = per_second[f.get("epoch_unit", "ns")]
        col = pl.col(f["name"])
        micros = col // (per // 1_000_000) if per > 1_000_000 else col * (1_000_000 // per)
        converted.append(pl.from_epoch(micros, time_unit="us").dt.replace_time_zone("UTC")
                         .alias(f["name"]))
lf = pl.scan_ndjson(inputs, schema=schema).with_columns(converted)
keys = [pl.col(event).dt.date().alias("date"), pl.col(event).dt.hour().alias("hour")]
lf.sink_parquet(pl.PartitionBy(out, key=keys, include_key=False), compression="zstd",
                mkdir=True, engine="streaming")
"""


def duckdb_sql(schema: dict, inputs: str, out: str) -> str:
    """COPY with declared columns; epoch-nanosecond timestamps (the generator's default) made
    TIMESTAMPTZ, partitioned by the UTC date and hour of the event time."""
    def q(name):
        return '"' + name.replace('"', '""') + '"'

    columns = ", ".join(f"{q(f['name'])}: '{DUCKDB_TYPES[f['type']]}'" for f in schema["field"])
    select = []
    for f in schema["field"]:
        if f["type"] == "timestamp":
            per = PER_SECOND[f.get("epoch_unit", "ns")]
            micros = (f"{q(f['name'])} // {per // 1_000_000}" if per > 1_000_000
                      else f"{q(f['name'])} * {1_000_000 // per}")
            select.append(f"make_timestamptz({micros}) AS {q(f['name'])}")
        else:
            select.append(q(f["name"]))
    event = q(schema["event_time"])
    return (
        f"COPY (SELECT *, CAST({event} AS DATE) AS date, hour({event}) AS hour FROM ("
        f"SELECT {', '.join(select)} FROM read_json('{inputs}', format = 'newline_delimited', "
        f"columns = {{{columns}}}))) "
        f"TO '{out}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (date, hour))"
    )


def timed(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS in MB of one child (its own rusage, from wait4: no GNU time
    needed, as on a lent machine).

    A child's peak counts this process's resident memory at the spawn (Linux records the
    spawning memory's high-water mark at exec), so this process stays small: inputs are measured
    by streaming and the peers' packages are not imported here. With 690 MB of NDJSON
    decompressed whole and DuckDB and Polars imported, this process held about 200 MB, and
    every tool's peak read at least that."""
    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        secs = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode != 0:
            err.seek(0)
            sys.exit(f"{cmd[0]} failed ({child.returncode}): {err.read()[-2000:].decode(errors='replace')}")
    return secs, usage.ru_maxrss / 1024


def ndjson_size(path: Path) -> int:
    """Bytes of NDJSON in one gzip input, decompressed a megabyte at a time."""
    size = 0
    with gzip.open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            size += len(chunk)
    return size


def size_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*.parquet") if "/_" not in str(f.relative_to(path))) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="http_requests")
    parser.add_argument("--rows", type=int, default=300_000)
    parser.add_argument("--files", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bin", default=str(ROOT / "target/release/logpush-parquet"))
    parser.add_argument("--generate", default=str(ROOT / "target/release/examples/generate"))
    parser.add_argument("--python", default=sys.executable, help="a Python with duckdb and polars")
    parser.add_argument("--tools", default=",".join(TOOLS),
                        help="comma list of ours, duckdb, polars (default all; ours always runs)")
    parser.add_argument("--markdown", help="also write the table to this file")
    args = parser.parse_args()

    schema = tomllib.loads((ROOT / "schema" / f"{args.dataset}.toml").read_text())
    data = ROOT / ".cache" / f"dataset-{args.dataset}-{args.rows}r-{args.files}f"
    if not data.exists():
        subprocess.run([args.generate, "--out", str(data), "--dataset", args.dataset, "--rows", str(args.rows),
                        "--files", str(args.files), "--hours", "4", "--seed", "1"], check=True)
    inputs = sorted(data.rglob("*.log.gz"))
    ndjson_bytes = sum(ndjson_size(p) for p in inputs)
    work = ROOT / "target" / "bench" / f"dataset-{args.dataset}"
    tools = ["ours"] + [t for t in ("duckdb", "polars") if t in args.tools.split(",")]
    # The peers' packages are checked in children: imported here, they would grow this process,
    # whose memory every child's peak includes (see `timed`).
    for package in ["duckdb"] + (["polars"] if "polars" in tools else []):
        subprocess.run([args.python, "-c", f"import {package}"], check=True)

    sql = duckdb_sql(schema, f"{data}/*/*.log.gz", str(work / "duckdb"))
    duck = ("import duckdb, sys; con = duckdb.connect(); con.execute(\"SET TimeZone = 'UTC'\"); "
            "con.execute(sys.argv[1])")
    polars_args = json.dumps([schema["field"], schema["event_time"], PER_SECOND,
                              [str(p) for p in inputs], str(work / "polars")])
    results = {tool: [] for tool in tools}
    for _ in range(args.rounds):
        for tool in tools:
            out = work / tool
            shutil.rmtree(out, ignore_errors=True)
            if tool == "ours":
                cmd = [args.bin, "convert", str(data), "-o", str(out), "--dataset", args.dataset, "-q"]
            elif tool == "duckdb":
                cmd = [args.python, "-c", duck, sql]
            else:
                cmd = [args.python, "-c", POLARS, polars_args]
            secs, mb = timed(cmd)
            results[tool].append((secs, mb, size_mb(out)))
    import duckdb as db

    rows = {tool: db.sql(f"SELECT count(*) FROM read_parquet('{work / tool}/**/*.parquet')").fetchall()[0][0]
            for tool in results}
    if any(n != args.rows for n in rows.values()):
        sys.exit(f"rows differ: {rows}, expected {args.rows}")
    median = {tool: tuple(statistics.median(r[i] for r in runs) for i in range(3))
              for tool, runs in results.items()}
    lines = [f"{args.dataset}: {args.rows:,} rows, {len(schema['field'])} fields, "
             f"{ndjson_bytes / 1e6:,.0f} MB of NDJSON in {len(inputs)} gzip files, {os.cpu_count()} cores, "
             f"median of {args.rounds} alternating rounds", "",
             "| tool | seconds | NDJSON MB/s | peak RSS (MB) | output MB |", "|---|---:|---:|---:|---:|"]
    for tool, (secs, mb, out_mb) in median.items():
        lines.append(f"| {LABELS[tool]} | {secs:.2f} | {ndjson_bytes / 1e6 / secs:,.0f} | {mb:,.0f} | {out_mb:.1f} |")
    peers = [median[t] for t in median if t != "ours"]
    if peers:
        ours = median["ours"]
        faster, leaner, smaller = (min(p[i] for p in peers) for i in range(3))
        lines += ["", f"throughput {faster / ours[0]:.2f}x the faster peer's, peak memory "
                  f"1/{leaner / ours[1]:.1f} of the leaner peer's, output {ours[2] / smaller:.2f}x the smaller peer's"]
    print("\n".join(lines))
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
