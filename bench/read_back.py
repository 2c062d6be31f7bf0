"""Reads a benchmark run's Parquet output back with DuckDB and prints its row count and aggregates.

``compare.py`` runs this as a child process after every run, never in its own process: Linux
carries a process's peak resident memory across ``exec``, so a child spawned by a harness that had
loaded DuckDB would report the harness's peak (~125 MB) as its own whenever it used less.

    python bench/read_back.py OUT [--content]

prints one JSON object (``{"rows": N, ...}``) on standard output; on failure, the reason on
standard error and exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys

# Aggregates that must match between the two outputs. Null and epoch-0 timestamps count alike
# (our tool writes a zero DisconnectTimestamp as null, DuckDB's make_timestamp as 1970-01-01);
# timestamps are truncated to microseconds whatever their unit, as the DuckDB side does.
CONTENT_CHECK = {
    "rows": "count(*)",
    "sum(ClientBytes)": "sum(\"ClientBytes\")",
    "sum(OriginBytes)": "sum(\"OriginBytes\")",
    "sum(Status)": "sum(\"Status\")",
    "sum(IpFirewall)": "sum(\"IpFirewall\"::INTEGER)",
    "sum(epoch_us(Timestamp))": "sum(epoch_ns(\"Timestamp\") // 1000)",
    "sum(epoch_us(ConnectTimestamp))": "sum(epoch_ns(\"ConnectTimestamp\") // 1000)",
    "sum(epoch_us(DisconnectTimestamp))": "sum(epoch_ns(\"DisconnectTimestamp\") // 1000)",
    "count(DISTINCT Application)": "count(DISTINCT \"Application\")",
}


def read_back(out: str, content: bool) -> dict:
    """Row count (and with ``content``, the aggregates above) of the Parquet files under ``out``.

    Hive partitioning is on, as partition columns (`--partition-by ...,Application`) are only in
    the paths; without type guessing, so `Application` stays a string.
    """
    import duckdb  # noqa: PLC0415

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        checks = CONTENT_CHECK if content else {"rows": "count(*)"}
        values = con.execute(
            f"SELECT {', '.join(checks.values())} "
            "FROM read_parquet(?, hive_partitioning = true, hive_types_autocast = false)",
            [out.rstrip("/") + "/**/*.parquet"]).fetchone()
        return {k: (int(v) if v is not None else None) for k, v in zip(checks, values)}
    finally:
        con.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", help="the output folder of one run")
    ap.add_argument("--content", action="store_true", help="aggregates too, not only rows")
    a = ap.parse_args()
    try:
        print(json.dumps(read_back(a.out, a.content)))
    except Exception as e:  # noqa: BLE001  (any failure is reported to the harness)
        print(f"cannot read {a.out} back with DuckDB: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
