"""The DuckDB side of the benchmark: what a user who does not pick logpush-parquet would run.

Reads a Logpush Spectrum archive (``YYYYMMDD/*.log.gz``, gzip NDJSON) with ``read_json`` and
declared columns (no inference), converts the three timestamp fields to ``TIMESTAMPTZ`` and writes
zstd Parquet partitioned by ``date`` and ``hour`` (UTC, of ``Timestamp``) with ``COPY``.

    python bench/duckdb_convert.py ARCHIVE_DIR OUT_DIR [--format unixnano] [--threads N]
        [--partition-by date,hour,Application]

Prints one JSON object on standard output: rows written, seconds spent in ``import duckdb`` and in
the ``COPY`` statement, and the DuckDB version. ``compare.py`` runs this as a child process; it
also imports :func:`copy_sql` so that the Markdown report shows the exact statement.

Only the standard library is imported at module level: ``duckdb`` is imported in :func:`main`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

# The 31 fields of spectrum_events, as the generator writes them (schema/spectrum_events.toml).
# Timestamp fields are listed as BIGINT here; their declared type depends on the archive's format.
FIELDS = [
    ("Application", "VARCHAR"),
    ("ClientAsn", "BIGINT"),
    ("ClientBytes", "BIGINT"),
    ("ClientCountry", "VARCHAR"),
    ("ClientIP", "VARCHAR"),
    ("ClientMatchedIpFirewall", "VARCHAR"),
    ("ClientPort", "BIGINT"),
    ("ClientProto", "VARCHAR"),
    ("ClientTcpRtt", "BIGINT"),
    ("ClientTlsCipher", "VARCHAR"),
    ("ClientTlsClientHelloServerName", "VARCHAR"),
    ("ClientTlsProtocol", "VARCHAR"),
    ("ClientTlsStatus", "VARCHAR"),
    ("ColoCode", "VARCHAR"),
    ("ConnectTimestamp", "BIGINT"),
    ("DisconnectTimestamp", "BIGINT"),
    ("Event", "VARCHAR"),
    ("IpFirewall", "BOOLEAN"),
    ("OriginBytes", "BIGINT"),
    ("OriginIP", "VARCHAR"),
    ("OriginPort", "BIGINT"),
    ("OriginProto", "VARCHAR"),
    ("OriginTcpRtt", "BIGINT"),
    ("OriginTlsCipher", "VARCHAR"),
    ("OriginTlsFingerprint", "VARCHAR"),
    ("OriginTlsMode", "VARCHAR"),
    ("OriginTlsProtocol", "VARCHAR"),
    ("OriginTlsStatus", "VARCHAR"),
    ("ProxyProtocol", "VARCHAR"),
    ("Status", "BIGINT"),
    ("Timestamp", "BIGINT"),
]
TIMESTAMP_FIELDS = {"ConnectTimestamp", "DisconnectTimestamp", "Timestamp"}
FORMATS = ("unixnano", "unix", "rfc3339", "rfc3339ms", "rfc3339ns")


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_str(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def copy_sql(input_glob: str, output: str, fmt: str = "unixnano",
             partition_by: list[str] | None = None) -> str:
    """The ``COPY`` statement for an archive whose timestamps are written in ``fmt``.

    ``partition_by`` holds ``date``, ``hour`` (derived, UTC) and/or field names; default
    ``date, hour``. The session time zone must be UTC (``main`` sets it).
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown timestamp format {fmt!r}")
    partition_by = partition_by or ["date", "hour"]
    columns = []
    select = []
    for name, typ in FIELDS:
        ident = _quote_ident(name)
        if name in TIMESTAMP_FIELDS:
            if fmt == "unixnano":
                # integer nanoseconds -> microseconds (the resolution of TIMESTAMPTZ)
                expr = f"make_timestamp({ident} // 1000)::TIMESTAMPTZ"
            elif fmt == "unix":
                expr = f"to_timestamp({ident})"
            else:
                # RFC 3339 strings: DuckDB parses them straight into TIMESTAMPTZ
                typ = "TIMESTAMPTZ"
                expr = ident
            if typ == "BIGINT":
                select.append(f"{expr} AS {ident}")
            else:
                select.append(ident)
        else:
            select.append(ident)
        columns.append(f"{_quote_str(name)}: {_quote_str(typ)}")
    parts = []
    for p in partition_by:
        if p in ("date", "hour"):
            parts.append(p)
        elif p in dict(FIELDS):
            parts.append(_quote_ident(p))
        else:
            raise ValueError(f"unknown partition column {p!r}")
    return (
        "COPY (\n"
        "  SELECT *, CAST(\"Timestamp\" AS DATE) AS date, hour(\"Timestamp\") AS hour\n"
        "  FROM (\n"
        f"    SELECT {', '.join(select)}\n"
        f"    FROM read_json({_quote_str(input_glob)}, format = 'newline_delimited',\n"
        "                   compression = 'gzip',\n"
        f"                   columns = {{{', '.join(columns)}}})\n"
        "  )\n"
        f") TO {_quote_str(output)}\n"
        f"  (FORMAT parquet, PARTITION_BY ({', '.join(parts)}), COMPRESSION zstd)"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("archive", help="archive folder (YYYYMMDD/*.log.gz inside)")
    ap.add_argument("output", help="output folder (must not exist or be empty)")
    ap.add_argument("--format", default="unixnano", choices=FORMATS,
                    help="how the archive writes timestamps (default unixnano)")
    ap.add_argument("--threads", type=int, default=0,
                    help="DuckDB worker threads (default 0: DuckDB's default, all cores)")
    ap.add_argument("--partition-by", default="date,hour",
                    help="comma list of date, hour and field names (default date,hour)")
    ap.add_argument("--glob", default="*/*.log.gz",
                    help="files inside the archive folder (default */*.log.gz)")
    ap.add_argument("--print-sql", action="store_true", help="print the statement and exit")
    a = ap.parse_args(argv)

    sql = copy_sql(a.archive.rstrip("/") + "/" + a.glob, a.output, a.format,
                   [p.strip() for p in a.partition_by.split(",") if p.strip()])
    if a.print_sql:
        print(sql)
        return 0

    t0 = time.perf_counter()
    import duckdb  # noqa: PLC0415 (kept out of module import: compare.py imports this file)

    t1 = time.perf_counter()
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if a.threads > 0:
        con.execute(f"SET threads = {int(a.threads)}")
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    t2 = time.perf_counter()
    result = con.execute(sql).fetchall()
    t3 = time.perf_counter()
    con.close()
    rows = int(result[0][0]) if result and result[0] else None
    json.dump({
        "rows": rows,
        "import_seconds": t1 - t0,
        "copy_seconds": t3 - t2,
        "threads": int(threads),
        "duckdb_version": duckdb.__version__,
    }, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
