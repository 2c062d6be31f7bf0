"""`make bench-dataset`: one bundled dataset (http_requests by default: 108 fields, lists, maps,
JSON), generated and converted by logpush-parquet and by DuckDB with every column declared from
the same field list, partitioned by date and hour; runs alternate; prints a Markdown table of
median wall time, NDJSON MB/s, peak RSS and output size, and checks both wrote every row.

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
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

DUCKDB_TYPES = {
    "string": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "timestamp": "BIGINT",
    "string_list": "VARCHAR[]", "int_list": "BIGINT[]", "string_map": "MAP(VARCHAR, VARCHAR)", "json": "JSON",
}
PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


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


def timed(cmd: list[str], env=None) -> tuple[float, float]:
    """Wall seconds and peak RSS in MB (GNU time)."""
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M", *cmd], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({out.returncode}): {out.stderr[-2000:]}")
    secs, kb = out.stderr.strip().splitlines()[-1].split()
    return float(secs), int(kb) / 1024


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
    parser.add_argument("--python", default=sys.executable, help="a Python with duckdb")
    args = parser.parse_args()

    schema = tomllib.loads((ROOT / "schema" / f"{args.dataset}.toml").read_text())
    data = ROOT / ".cache" / f"dataset-{args.dataset}-{args.rows}r-{args.files}f"
    if not data.exists():
        subprocess.run([args.generate, "--out", str(data), "--dataset", args.dataset, "--rows", str(args.rows),
                        "--files", str(args.files), "--hours", "4", "--seed", "1"], check=True)
    inputs = sorted(data.rglob("*.log.gz"))
    ndjson_bytes = sum(len(gzip.decompress(p.read_bytes())) for p in inputs)
    work = ROOT / "target" / "bench" / f"dataset-{args.dataset}"
    import duckdb  # noqa: F401  (checked here, imported by the child)

    sql = duckdb_sql(schema, f"{data}/*/*.log.gz", str(work / "duckdb"))
    duck = ("import duckdb, sys; con = duckdb.connect(); con.execute(\"SET TimeZone = 'UTC'\"); "
            "con.execute(sys.argv[1])")
    results = {"ours": [], "duckdb": []}
    for _ in range(args.rounds):
        for tool in ("ours", "duckdb"):
            out = work / tool
            shutil.rmtree(out, ignore_errors=True)
            if tool == "ours":
                cmd = [args.bin, "convert", str(data), "-o", str(out), "--dataset", args.dataset, "-q"]
            else:
                cmd = [args.python, "-c", duck, sql]
            secs, mb = timed(cmd)
            results[tool].append((secs, mb, size_mb(out)))
    import duckdb as db

    rows = {tool: db.sql(f"SELECT count(*) FROM read_parquet('{work / tool}/**/*.parquet')").fetchall()[0][0]
            for tool in results}
    if rows["ours"] != rows["duckdb"] or rows["ours"] != args.rows:
        sys.exit(f"rows differ: {rows}, expected {args.rows}")
    print(f"{args.dataset}: {args.rows:,} rows, {len(schema['field'])} fields, "
          f"{ndjson_bytes / 1e6:,.0f} MB of NDJSON in {len(inputs)} gzip files, {os.cpu_count()} cores, "
          f"median of {args.rounds}\n")
    print("| tool | seconds | NDJSON MB/s | peak RSS (MB) | output MB |")
    print("|---|---:|---:|---:|---:|")
    for tool, runs in results.items():
        secs = statistics.median(r[0] for r in runs)
        print(f"| {tool} | {secs:.2f} | {ndjson_bytes / 1e6 / secs:,.0f} | "
              f"{statistics.median(r[1] for r in runs):,.0f} | {statistics.median(r[2] for r in runs):.1f} |")


if __name__ == "__main__":
    main()
