"""The Polars side of the benchmark: the same conversion as ``duckdb_convert.py``, with Polars.

Reads a Logpush Spectrum archive (``YYYYMMDD/*.log.gz``, gzip NDJSON) with ``pl.scan_ndjson`` and a
declared schema (the 31 fields of ``duckdb_convert.FIELDS``, no inference), converts the three
timestamp fields to ``Datetime("us", "UTC")``, derives ``date`` and ``hour`` (UTC, of
``Timestamp``) and writes zstd Parquet with ``sink_parquet(pl.PartitionBy(...))`` (Polars'
streaming engine), Hive-style (``date=.../hour=.../0.parquet``), the partition columns in the
paths only, as DuckDB and our tool write them.

    python bench/polars_convert.py ARCHIVE_DIR OUT_DIR [--format unixnano] [--threads N]
        [--partition-by date,hour,Application] [--explain]

``--threads N`` sets ``POLARS_MAX_THREADS`` before Polars is imported (``compare.py`` sets that
variable itself and passes no ``--threads``). Prints one JSON object on standard output: seconds
spent in ``import polars`` and in ``sink_parquet``, the size of Polars' thread pool and its
version. Polars does not report how many rows it wrote: ``compare.py`` counts them when it reads
the output back. ``--explain`` prints the streaming plan instead of running it.

Only the standard library is imported at module level: ``polars`` is imported in :func:`main`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.dont_write_bytecode = True  # no __pycache__ in bench/
from duckdb_convert import FIELDS, FORMATS, TIMESTAMP_FIELDS  # noqa: E402  (stdlib only)

# RFC 3339 as the generator writes it, in UTC: no fraction, or 3 or 9 digits (`%.f` takes any,
# and none: a zero timestamp is written "1970-01-01T00:00:00Z" whatever the format).
RFC3339 = "%Y-%m-%dT%H:%M:%S%.fZ"


def build(pl, input_glob: str, output: str, fmt: str = "unixnano",
          partition_by: list[str] | None = None):
    """``(LazyFrame, PartitionBy)`` for an archive whose timestamps are written in ``fmt``.

    ``partition_by`` holds ``date``, ``hour`` (derived, UTC) and/or field names; default
    ``date, hour``. ``pl`` is the imported ``polars`` module.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown timestamp format {fmt!r}")
    partition_by = partition_by or ["date", "hour"]
    types = {"VARCHAR": pl.String, "BIGINT": pl.Int64, "BOOLEAN": pl.Boolean}
    schema = {}
    for name, typ in FIELDS:
        schema[name] = types[typ]
        if name in TIMESTAMP_FIELDS and fmt.startswith("rfc3339"):
            schema[name] = pl.String
    utc = pl.Datetime("us", "UTC")
    converted = []
    for name in sorted(TIMESTAMP_FIELDS):
        col = pl.col(name)
        if fmt == "unixnano":
            # integer nanoseconds -> microseconds (truncated, as DuckDB's `// 1000`)
            expr = pl.from_epoch(col // 1000, time_unit="us")
        elif fmt == "unix":
            expr = pl.from_epoch(col, time_unit="s")
        else:
            # nanoseconds beyond the microsecond are truncated, as DuckDB's TIMESTAMPTZ does
            expr = col.str.to_datetime(RFC3339, time_unit="us", time_zone="UTC", strict=True)
        converted.append(expr.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
                         .cast(utc).alias(name))
    keys = []
    for p in partition_by:
        if p == "date":
            keys.append(pl.col("Timestamp").dt.date().alias("date"))
        elif p == "hour":
            keys.append(pl.col("Timestamp").dt.hour().alias("hour"))
        elif p in schema:
            keys.append(pl.col(p))
        else:
            raise ValueError(f"unknown partition column {p!r}")
    lf = pl.scan_ndjson(input_glob, schema=schema).with_columns(converted)
    sink = pl.PartitionBy(output, key=keys, include_key=False)
    return lf, sink


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("archive", help="archive folder (YYYYMMDD/*.log.gz inside)")
    ap.add_argument("output", help="output folder (must not exist or be empty)")
    ap.add_argument("--format", default="unixnano", choices=FORMATS,
                    help="how the archive writes timestamps (default unixnano)")
    ap.add_argument("--threads", type=int, default=0,
                    help="set POLARS_MAX_THREADS to this (default 0: leave it, Polars' default "
                    "is one per core)")
    ap.add_argument("--partition-by", default="date,hour",
                    help="comma list of date, hour and field names (default date,hour)")
    ap.add_argument("--glob", default="*/*.log.gz",
                    help="files inside the archive folder (default */*.log.gz)")
    ap.add_argument("--explain", action="store_true",
                    help="print the streaming plan and exit")
    a = ap.parse_args(argv)
    if a.threads > 0:
        os.environ["POLARS_MAX_THREADS"] = str(a.threads)

    t0 = time.perf_counter()
    import warnings  # noqa: PLC0415

    import polars as pl  # noqa: PLC0415 (kept out of module import: compare.py imports this file)

    t1 = time.perf_counter()
    # PartitionBy is "unstable" in Polars 2.1: it says so in a warning on every use.
    warnings.filterwarnings("ignore", category=pl.exceptions.UnstableWarning)
    lf, sink = build(pl, a.archive.rstrip("/") + "/" + a.glob, a.output, a.format,
                     [p.strip() for p in a.partition_by.split(",") if p.strip()])
    if a.explain:
        print(lf.explain(engine="streaming"))
        return 0
    t2 = time.perf_counter()
    lf.sink_parquet(sink, compression="zstd", mkdir=True, engine="streaming")
    t3 = time.perf_counter()
    json.dump({
        "rows": None,
        "import_seconds": t1 - t0,
        "sink_seconds": t3 - t2,
        "threads": pl.thread_pool_size(),
        "polars_version": pl.__version__,
    }, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
