"""Hostile partition values (tests/corpus/files/hostile-partitions.ndjson): every value that
comes from outside (`../`, `/`, `\\`, `=`, `%`, control characters, 243-byte values, non-ASCII,
the literal `__HIVE_DEFAULT_PARTITION__` ...) reads back as the same string in DuckDB and Spark.
Empty strings and nulls both read back as NULL: both go to `__HIVE_DEFAULT_PARTITION__`, as in
Hive and Spark."""

import json

import duckdb
import pytest

from conftest import ROOT, convert

INPUT = ROOT / "tests" / "corpus" / "files" / "hostile-partitions.ndjson"
COLUMNS = ("ClientTlsClientHelloServerName", "Application")


def expected_rows():
    rows = []
    for line in INPUT.read_bytes().split(b"\n")[:-1]:  # not splitlines: U+2028 is in a value
        event = json.loads(line)
        rows.append((event["Status"], *(event[c] or None for c in COLUMNS)))
    return sorted(rows)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile") / "out"
    summary = convert(out, str(INPUT), "--partition-by", ",".join(COLUMNS))
    assert summary["rows_written"] == len(expected_rows())
    assert summary["rows_rejected"] == 0
    return out


def test_every_file_stays_inside_the_output_root(hostile):
    root = hostile.resolve()
    files = [p for p in hostile.rglob("*") if p.is_file()]
    assert files
    for p in files:
        assert p.resolve().is_relative_to(root), p
        if p.suffix == ".parquet":
            assert len(p.relative_to(hostile).parts) == 3, p  # two partition levels, one file
    assert [p.name for p in hostile.parent.iterdir()] == ["out"]


def test_duckdb_reads_back_every_value(hostile):
    con = duckdb.connect()
    types = ", ".join(f"'{c}': VARCHAR" for c in COLUMNS)
    got = con.sql(
        f"SELECT Status, {', '.join(COLUMNS)} FROM read_parquet('{hostile}/**/*.parquet', "
        f"hive_partitioning = true, hive_types = {{{types}}})"
    ).fetchall()
    assert sorted(got) == expected_rows()


def test_spark_reads_back_every_value(hostile, spark):
    key = "spark.sql.sources.partitionColumnTypeInference.enabled"
    before = spark.conf.get(key)
    spark.conf.set(key, "false")  # "007" and "-1" stay text, as the printed DDL declares them
    try:
        got = spark.read.parquet(str(hostile)).select("Status", *COLUMNS).collect()
    finally:
        spark.conf.set(key, before)
    assert sorted(tuple(r) for r in got) == expected_rows()
