"""DuckDB, pyarrow and Spark read what logpush-parquet writes: types, every value, partitions."""

import datetime as dt

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from conftest import schema_text
from reference import CATCH_ALL, FIELDS, canonical, extra_members

NAMES = [f["name"] for f in FIELDS]
# Every column a reader sees: the fields, the catch-all column of unknown keys, the partitions.
COLUMNS = NAMES + [CATCH_ALL, "date", "hour"]
TIMESTAMPS = [f["name"] for f in FIELDS if f["type"] == "timestamp"]
ENUMS = [f["name"] for f in FIELDS if "enum" in f]
DUCKDB_TYPES = {"string": "VARCHAR", "int": "BIGINT", "bool": "BOOLEAN", "timestamp": "TIMESTAMP WITH TIME ZONE"}


def duckdb_rows(out, columns):
    con = duckdb.connect()
    select = ", ".join(f'epoch_us("{c}") AS "{c}"' if c in TIMESTAMPS
                       else f'"{c}"::VARCHAR' if c == CATCH_ALL else f'"{c}"' for c in columns)
    relation = con.sql(f"SELECT {select} FROM read_parquet('{out}/**/*.parquet', hive_partitioning = true)")
    return [with_extra(dict(zip(columns, row))) for row in relation.fetchall()]


def with_extra(row: dict) -> dict:
    """A reader's row with `_extra` in the reference's form (its members' exact texts)."""
    if CATCH_ALL in row:
        row[CATCH_ALL] = extra_members(row[CATCH_ALL])
    return row


def test_duckdb_reads_every_column_with_its_declared_type(converted):
    con = duckdb.connect()
    described = con.sql(f"DESCRIBE SELECT * FROM read_parquet('{converted.out}/**/*.parquet', hive_partitioning = true)").fetchall()
    types = {name: ty for name, ty, *_ in described}
    for f in FIELDS:
        assert types[f["name"]] == DUCKDB_TYPES[f["type"]], f["name"]
    assert types["date"] == "DATE"
    assert types["hour"] == "BIGINT"
    assert types[CATCH_ALL] == "JSON"
    assert len(types) == len(FIELDS) + 3


def test_duckdb_values_equal_the_input_for_every_field(converted):
    got = duckdb_rows(converted.out, COLUMNS)
    assert len(got) == converted.summary["rows_written"] == len(converted.expected)
    assert canonical(got, COLUMNS) == canonical(converted.expected, COLUMNS)


def test_duckdb_runs_the_printed_view(converted):
    con = duckdb.connect()
    con.execute(schema_text("duckdb", converted.out))
    count, date_type, hour_type, extras = con.sql(
        "SELECT count(*), any_value(typeof(date)), any_value(typeof(hour)), count(_extra) FROM spectrum_events").fetchall()[0]
    assert count == len(converted.expected)
    assert (date_type, hour_type) == ("DATE", "INTEGER")
    assert extras == sum(r[CATCH_ALL] is not None for r in converted.expected) > 0


def test_pyarrow_reads_string_and_utc_microsecond_columns_and_enums_are_dictionary_encoded(converted):
    partitioning = ds.partitioning(pa.schema([("date", pa.date32()), ("hour", pa.int32())]), flavor="hive")
    dataset = ds.dataset(converted.out, format="parquet", partitioning=partitioning)
    table = dataset.to_table()
    # No Arrow schema is embedded: each type comes from its Parquet logical type.
    for name in ENUMS:
        assert table.schema.field(name).type == pa.string(), name
    for name in TIMESTAMPS:
        assert table.schema.field(name).type == pa.timestamp("us", tz="UTC"), name
    assert table.schema.field("Status").type == pa.int64()
    assert table.schema.field("IpFirewall").type == pa.bool_()
    assert not (table.schema.field("Status").metadata or {}).get(b"description")
    for fragment in dataset.get_fragments():
        metadata = pq.ParquetFile(fragment.path).metadata
        assert b"ARROW:schema" not in (metadata.metadata or {})
        for i in range(metadata.num_row_groups):
            group = metadata.row_group(i)
            for j in range(group.num_columns):
                column = group.column(j)
                if column.path_in_schema in ENUMS:
                    assert "RLE_DICTIONARY" in column.encodings, (fragment.path, column.path_in_schema)
    # A reader that wants Arrow dictionaries asks for them.
    first = next(iter(dataset.get_fragments())).path
    enums = pq.read_table(first, read_dictionary=ENUMS).schema
    assert all(pa.types.is_dictionary(enums.field(name).type) for name in ENUMS)
    columns = {}
    for name in table.column_names:
        col = table.column(name)
        if name in TIMESTAMPS:
            col = pc.cast(col, pa.int64())
        elif name in ENUMS:
            col = pc.cast(col, pa.string())
        columns[name] = col.to_pylist()
    assert table.schema.field(CATCH_ALL).type == pa.string()
    rows = [with_extra(dict(zip(columns, values))) for values in zip(*columns.values())]
    assert canonical(rows, COLUMNS) == canonical(converted.expected, COLUMNS)


def test_spark_reads_types_and_values_without_flags(converted, spark):
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    df = spark.read.parquet(str(converted.out))
    types = {f.name: f.dataType for f in df.schema.fields}
    for f in FIELDS:
        expected = {"string": T.StringType(), "int": T.LongType(), "bool": T.BooleanType(), "timestamp": T.TimestampType()}[f["type"]]
        assert types[f["name"]] == expected, f["name"]
    assert types["date"] == T.DateType()
    assert types["hour"] == T.IntegerType()
    assert types[CATCH_ALL] == T.StringType()
    selected = df.select(*[F.unix_micros(F.col(n)).alias(n) if n in TIMESTAMPS else F.col(n) for n in COLUMNS])
    rows = [with_extra(r.asDict()) for r in selected.collect()]
    assert canonical(rows, COLUMNS) == canonical(converted.expected, COLUMNS)


def test_spark_runs_the_printed_table_definition(converted, spark):
    spark.sql("DROP TABLE IF EXISTS spectrum_events")
    for statement in schema_text("spark", converted.out).split(";\n"):
        if statement.strip():
            spark.sql(statement)
    count = spark.sql("SELECT count(*) FROM spectrum_events").collect()[0][0]
    assert count == len(converted.expected)
    described = {r["col_name"]: r["data_type"] for r in spark.sql("DESCRIBE spectrum_events").collect()}
    assert described["date"] == "date" and described["hour"] == "int"
    assert described["Timestamp"] == "timestamp"
    assert described[CATCH_ALL] == "string"


@pytest.mark.parametrize("reader", ["duckdb", "spark"])
def test_escaped_partition_values_read_back_as_the_original_strings(by_application, reader, request):
    expected = sorted({r["Application"] for r in by_application.expected}, key=repr)
    if reader == "duckdb":
        got = [r["Application"] for r in duckdb_rows(by_application.out, ["Application"])]
    else:
        spark = request.getfixturevalue("spark")
        got = [r["Application"] for r in spark.read.parquet(str(by_application.out)).select("Application").collect()]
    assert sorted(set(got), key=repr) == expected
    assert len(got) == len(by_application.expected)
