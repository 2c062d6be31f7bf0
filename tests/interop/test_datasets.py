"""Every bundled dataset converts and reads back; the nested types (lists, maps, JSON, floats,
timestamps in a declared unit) arrive in DuckDB, pyarrow and Spark with their documented types
and every value equal to an independent reading of the input (tests/interop/reference.py),
nested values compared as values, not as text."""

import json
import os
import subprocess
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

import reference
from conftest import BIN, ROOT, Converted, convert, schema_text

GENERATE = os.environ.get("LOGPUSH_GENERATE_BIN", str(ROOT / "target" / "debug" / "examples" / "generate"))

# The datasets most archives hold, and one with free-form JSON objects.
DATASETS = ["http_requests", "firewall_events", "dns_logs", "workers_trace_events", "audit_logs"]

DUCKDB_TYPES = {
    "string": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN",
    "timestamp": "TIMESTAMP WITH TIME ZONE", "string_list": "VARCHAR[]", "int_list": "BIGINT[]",
    "string_map": "MAP(VARCHAR, VARCHAR)", "json": "JSON",
}
PYARROW_TYPES = {
    "string": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"), "string_list": pa.list_(pa.string()),
    "int_list": pa.list_(pa.int64()), "string_map": pa.map_(pa.string(), pa.string()),
    "json": pa.string(),
}


def bundled_names():
    done = subprocess.run([BIN, "schema", "--list"], capture_output=True, text=True, check=True)
    return [line.split()[0] for line in done.stdout.splitlines()]


def generate(out: Path, dataset: str, rows: int, files: int, seed: int = 5):
    subprocess.run([GENERATE, "--out", str(out), "--dataset", dataset, "--rows", str(rows),
                    "--files", str(files), "--hours", "2", "--seed", str(seed)],
                   check=True, capture_output=True)
    return out


def bad_lines(schema: dict) -> list[str]:
    """Lines of the wrong shapes for the dataset's nested fields, each to be rejected."""
    at = schema["event_time"]
    lines = []
    for f in schema["field"]:
        kind, name = f["type"], f["name"]
        if kind in ("string_list", "int_list"):
            lines += [{at: 1795474800, name: {"a": 1}}, {at: 1795474800, name: [[1]]}]
        elif kind == "string_map":
            lines += [{at: 1795474800, name: ["a"]}, {at: 1795474800, name: {"k": ["v"]}}]
        elif kind == "float":
            lines.append({at: 1795474800, name: "NaN"})
    text = [json.dumps(line) for line in lines]
    deep = next((f["name"] for f in schema["field"] if f["type"] == "json"), None)
    if deep:
        text.append('{"%s":1795474800,"%s":%s1%s}' % (at, deep, "[" * 200, "]" * 200))
        text.append('{"%s":1795474800,"%s":{"a":[1,{"b":null}],"c":"\\u00e9"}}' % (at, deep))
    return text


class Dataset(Converted):
    def __init__(self, name: str, base: Path):
        self.name = name
        self.schema = reference.load_schema(name)
        inputs = generate(base / "in", name, rows=3000, files=2)
        bad = base / "bad.ndjson"
        bad.write_text("\n".join(bad_lines(self.schema)) + "\n")
        out = base / "out"
        summary = convert(out, "--dataset", name, str(inputs), str(bad), "--max-reject-ratio", "0.5")
        super().__init__(out, summary, reference.input_files(inputs, bad), self.schema)
        self.fields = self.schema["field"]
        self.names = [f["name"] for f in self.fields] + [reference.CATCH_ALL, "date", "hour"]
        self.kinds = {f["name"]: f["type"] for f in self.fields}
        self.kinds[reference.CATCH_ALL] = "catch-all"


@pytest.fixture(scope="module", params=DATASETS)
def dataset(request, tmp_path_factory):
    return Dataset(request.param, tmp_path_factory.mktemp(request.param))


def normalize(kind, value):
    """A reader's value in the reference's form."""
    if value is None:
        return None
    if kind in ("string_list", "int_list"):
        return tuple(value)
    if kind == "string_map":
        items = value.items() if isinstance(value, dict) else value
        return tuple(sorted(items))
    if kind == "json":
        return reference.canonical_json(json.loads(value))
    if kind == "catch-all":
        return reference.extra_members(value)
    return value


def normalized(rows, kinds):
    return [{k: normalize(kinds.get(k), v) for k, v in row.items()} for row in rows]


def test_duckdb_reads_every_value_with_its_documented_type(dataset):
    con = duckdb.connect()
    source = f"read_parquet('{dataset.out}/**/*.parquet', hive_partitioning = true)"
    types = {name: ty for name, ty, *_ in con.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    for f in dataset.fields:
        assert types[f["name"]] == DUCKDB_TYPES[f["type"]], f["name"]
    assert types[reference.CATCH_ALL] == "JSON"
    select = ", ".join(
        f'epoch_us("{n}")' if dataset.kinds.get(n) == "timestamp"
        else f'"{n}"::VARCHAR' if dataset.kinds.get(n) in ("json", "catch-all") else f'"{n}"'
        for n in dataset.names)
    rows = [dict(zip(dataset.names, r)) for r in con.sql(f"SELECT {select} FROM {source}").fetchall()]
    assert len(rows) == len(dataset.expected) > 0
    got = reference.canonical(normalized(rows, dataset.kinds), dataset.names)
    assert got == reference.canonical(dataset.expected, dataset.names)
    # The printed view runs.
    con.execute(schema_text("duckdb", dataset.out, "--dataset", dataset.name))
    assert con.sql(f'SELECT count(*) FROM "{dataset.schema["dataset"]}"').fetchall()[0][0] == len(rows)


def test_pyarrow_reads_every_value_with_its_documented_type(dataset):
    partitioning = ds.partitioning(pa.schema([("date", pa.date32()), ("hour", pa.int32())]), flavor="hive")
    table = ds.dataset(dataset.out, format="parquet", partitioning=partitioning).to_table()
    columns = {}
    for f in dataset.fields:
        column = table.column(f["name"])
        assert column.type == PYARROW_TYPES[f["type"]], (f["name"], column.type)
        if f["type"] == "timestamp":
            column = pc.cast(column, pa.int64())
        columns[f["name"]] = column.to_pylist()
    assert table.column(reference.CATCH_ALL).type == pa.string()
    columns[reference.CATCH_ALL] = table.column(reference.CATCH_ALL).to_pylist()
    columns["date"] = table.column("date").to_pylist()
    columns["hour"] = table.column("hour").to_pylist()
    rows = [dict(zip(columns, values)) for values in zip(*columns.values())]
    got = reference.canonical(normalized(rows, dataset.kinds), dataset.names)
    assert got == reference.canonical(dataset.expected, dataset.names)


def test_spark_reads_every_value_with_its_documented_type(dataset, spark):
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    spark_types = {
        "string": T.StringType(), "int": T.LongType(), "float": T.DoubleType(), "bool": T.BooleanType(),
        "timestamp": T.TimestampType(), "string_list": T.ArrayType(T.StringType(), True),
        "int_list": T.ArrayType(T.LongType(), True), "string_map": T.MapType(T.StringType(), T.StringType(), True),
        "json": T.StringType(),
    }
    df = spark.read.parquet(str(dataset.out))
    types = {f.name: f.dataType for f in df.schema.fields}
    for f in dataset.fields:
        assert types[f["name"]] == spark_types[f["type"]], (f["name"], types[f["name"]])
    selected = df.select(*[F.unix_micros(F.col(n)).alias(n) if dataset.kinds.get(n) == "timestamp" else F.col(n)
                           for n in dataset.names])
    rows = [r.asDict() for r in selected.collect()]
    got = reference.canonical(normalized(rows, dataset.kinds), dataset.names)
    assert got == reference.canonical(dataset.expected, dataset.names)
    # The printed table definition runs and declares the nested columns.
    table = dataset.schema["dataset"]
    spark.sql(f"DROP TABLE IF EXISTS {table}")
    for statement in schema_text("spark", dataset.out, "--dataset", dataset.name).split(";\n"):
        if statement.strip():
            spark.sql(statement)
    assert spark.sql(f"SELECT count(*) FROM {table}").collect()[0][0] == len(rows)


def test_every_bundled_dataset_converts_and_reads_back_in_duckdb(tmp_path):
    names = bundled_names()
    assert len(names) >= 39 and "http_requests" in names
    con = duckdb.connect()
    for name in names:
        schema = reference.load_schema(name)
        inputs = generate(tmp_path / name / "in", name, rows=300, files=1, seed=11)
        summary = convert(tmp_path / name / "out", "--dataset", name, str(inputs))
        expected, rejected = reference.expected(reference.input_files(inputs), schema)
        assert not rejected and summary["rows_written"] == len(expected) == 300, name
        source = f"read_parquet('{tmp_path / name / 'out'}/**/*.parquet', hive_partitioning = true)"
        described = {n: t for n, t, *_ in con.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        assert {f["name"]: described[f["name"]] for f in schema["field"]} == {
            f["name"]: DUCKDB_TYPES[f["type"]] for f in schema["field"]}, name
        assert con.sql(f"SELECT count(*) FROM {source}").fetchall()[0][0] == 300, name
