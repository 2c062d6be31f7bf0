"""Iceberg tables in a REST catalog (`--table-format iceberg`): what Iceberg readers see.

- pyiceberg (through the catalog, OAuth2 client credentials) and DuckDB 1.5.5 (`ATTACH ... TYPE
  ICEBERG` with its iceberg, avro and httpfs extensions) read every row of a table grown by two
  runs (examples/data, then a generated archive over four hours) exactly once: the rows an
  independent reading of the inputs (tests/interop/reference.py) gives, and the rows pyarrow
  reads from a plain-layout conversion of the same inputs. The table's schema has the documented
  Iceberg types (timestamptz, long, boolean, string), each data file carries the schema's field
  ids, and the Arrow types are timestamp[us, UTC], int64, bool and strings.
- Partition values are right: every data file's partition (hour, day or identity) is the
  transform of every row it holds, and readers that prune files by a filter on `Timestamp`
  (pyiceberg's scan planning, DuckDB) read each hour's rows exactly.
- Each `--partition-by` has the documented partition spec: hour(Timestamp) for date,hour,
  day(Timestamp) for date, identity for a field, none for none.
"""

import collections
import datetime as dt

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import (COLUMNS, HOUR_MICROS, Table, by_hour, data_inputs, duckdb_attach,
                      expected_rows, reference, storage)

ICEBERG_TYPES = {"string": "string", "int": "long", "bool": "boolean", "timestamp": "timestamptz"}
ARROW_TYPES = {"int": pa.int64(), "bool": pa.bool_(), "timestamp": pa.timestamp("us", tz="UTC")}
DUCKDB_TYPES = {"string": "VARCHAR", "int": "BIGINT", "bool": "BOOLEAN", "timestamp": "TIMESTAMP WITH TIME ZONE"}
DAY_MICROS = 24 * HOUR_MICROS


def iso(hour: int) -> str:
    return (dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(hours=hour)).isoformat()


def plain_rows(inputs_in_runs, tmp_path):
    """The same inputs converted in the same runs into the plain layout, read by pyarrow."""
    out = tmp_path / "plain"
    for inputs in inputs_in_runs:
        storage.convert([str(p) for p in inputs], str(out), "-q").expect(0)
    return storage.output_rows(storage.LocalStore(out), "", COLUMNS)


def check_partition_values(table: Table, server) -> int:
    """Every data file's partition tuple is the spec's transform of each of its rows (read from
    the file itself); returns the number of files checked."""
    loaded = table.load()
    schema, spec = loaded.schema(), loaded.spec()
    fields = [(schema.find_field(f.source_id).name, str(f.transform)) for f in spec.fields]
    files = [task.file for task in loaded.scan().plan_files()]
    fs = server.filesystem()
    for data_file in files:
        path = data_file.file_path.removeprefix("s3://")
        rows = pq.read_table(path, filesystem=fs, columns=sorted({name for name, _ in fields})).to_pylist()
        assert len(rows) == data_file.record_count, data_file.file_path
        for i, (name, transform) in enumerate(fields):
            stored = data_file.partition[i]
            for row in rows:
                value = row[name]
                if transform in ("hour", "day"):
                    micros = None if value is None else (value - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) \
                        // dt.timedelta(microseconds=1)
                    value = None if micros is None else micros // (HOUR_MICROS if transform == "hour" else DAY_MICROS)
                else:
                    assert transform == "identity", transform
                assert value == stored, (f"{data_file.file_path}: partition {spec.fields[i].name}={stored!r}, "
                                         f"a row's {transform}({name}) is {value!r}")
    return len(files)


def test_pyiceberg_and_duckdb_read_every_row_of_two_runs_with_the_documented_types(seaweed, sample, archive,
                                                                                     tmp_path):
    table = Table(seaweed)
    first = table.convert(storage.SAMPLE).expect(0)
    second = table.convert([str(p) for p in archive["files"].values()]).expect(0)
    assert first.summary["rows_written"] == 1300 and second.summary["rows_written"] == 8000
    runs = [list(data_inputs(sample).values()), list(archive["files"].values())]
    expected = expected_rows(runs[0] + runs[1])
    assert sum(expected.values()) == 9300
    plain = plain_rows(runs, tmp_path)
    assert plain == expected, "the plain layout and the reference disagree (not an Iceberg problem)"

    # The catalog's schema: the field list's types in Iceberg's terms, every column optional.
    loaded = table.load()
    schema = loaded.schema()
    want = {f["name"]: ICEBERG_TYPES[f["type"]] for f in reference.FIELDS} | {reference.CATCH_ALL: "string"}
    assert {f.name: str(f.field_type) for f in schema.fields} == want
    assert [f.name for f in schema.fields] == COLUMNS and not any(f.required for f in schema.fields)
    assert loaded.format_version == 2 and str(loaded.spec().fields[0].transform) == "hour"

    # pyiceberg: every row once, Arrow types as documented.
    arrow = loaded.scan().to_arrow()
    for f in reference.FIELDS:
        got = arrow.schema.field(f["name"]).type
        if f["type"] == "string":
            assert pa.types.is_string(got) or pa.types.is_large_string(got), (f["name"], got)
        else:
            assert got == ARROW_TYPES[f["type"]], (f["name"], got)
    assert storage.table_rows(arrow, COLUMNS) == expected

    # Each data file carries the Iceberg field ids (readers match columns by id, not name).
    ids = {f.name: f.field_id for f in schema.fields}
    files = [task.file.file_path for task in loaded.scan().plan_files()]
    for path in files:
        file_schema = pq.read_schema(path.removeprefix("s3://"), filesystem=seaweed.filesystem())
        got = {f.name: int(f.metadata[b"PARQUET:field_id"]) for f in file_schema if f.metadata}
        assert got == ids, path

    # DuckDB through the catalog: the same rows, the documented SQL types.
    con = duckdb_attach(seaweed)
    relation = f"cat.{table.namespace}.{table.name}"
    types = {name: t for name, t, *_ in con.execute(f"DESCRIBE {relation}").fetchall()}
    assert types == {f["name"]: DUCKDB_TYPES[f["type"]] for f in reference.FIELDS} | {reference.CATCH_ALL: "VARCHAR"}
    duck = con.execute(f"SELECT * FROM {relation}").to_arrow_table()
    assert storage.table_rows(duck, COLUMNS) == expected

    # Pruning by the event time loses nothing: each hour's rows, read with a filter.
    hours = by_hour(expected)
    assert None not in hours and len(hours) == 8
    from pyiceberg.expressions import And, GreaterThanOrEqual, LessThan

    for hour, rows in sorted(hours.items()):
        window = And(GreaterThanOrEqual("Timestamp", iso(hour)), LessThan("Timestamp", iso(hour + 1)))
        planned = list(loaded.scan(row_filter=window).plan_files())
        assert {t.file.partition[0] for t in planned} == {hour}, f"hour {iso(hour)}: files of other hours planned"
        assert storage.table_rows(loaded.scan(row_filter=window).to_arrow(), COLUMNS) == rows, iso(hour)
        counted = con.execute(f"SELECT count(*) FROM {relation} WHERE Timestamp >= '{iso(hour)}' "
                              f"AND Timestamp < '{iso(hour + 1)}'").fetchone()[0]
        assert counted == sum(rows.values()), f"DuckDB read {counted} rows of hour {iso(hour)}"
    assert check_partition_values(table, seaweed) == len(files)


@pytest.mark.parametrize("partition_by, spec", [
    ("date,hour", [("hour", "Timestamp")]),
    ("date", [("day", "Timestamp")]),
    ("none", []),
    ("date,Event", [("day", "Timestamp"), ("identity", "Event")]),
    ("ClientProto", [("identity", "ClientProto")]),
])
def test_each_partitioning_has_its_iceberg_partition_spec_and_right_partition_values(seaweed, sample, partition_by,
                                                                                     spec):
    table = Table(seaweed)
    table.convert(storage.SAMPLE, "--partition-by", partition_by).expect(0)
    loaded = table.load()
    schema = loaded.schema()
    assert [(str(f.transform), schema.find_field(f.source_id).name) for f in loaded.spec().fields] == spec
    expected = expected_rows(data_inputs(sample))
    assert storage.table_rows(loaded.scan().to_arrow(), COLUMNS) == expected
    files = check_partition_values(table, seaweed)
    # As many files as partitions the rows fall in (one file each at this size).
    keys = collections.Counter()
    for row in expected:
        key = []
        for transform, name in spec:
            value = row[COLUMNS.index(name)]
            if transform in ("hour", "day"):
                value = None if value is None else value // (HOUR_MICROS if transform == "hour" else DAY_MICROS)
            key.append(value)
        keys[tuple(key)] += 1
    assert files == len(keys), (files, len(keys))
