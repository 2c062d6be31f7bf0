"""The drift corpus (tests/corpus/drift/, each file and line described in its cases.toml):
archives whose keys and value types drifted from the field lists (deprecated fields, older
spellings, fields newer than the lists, case variants, other pipelines' keys, values of another
JSON type, another dataset's lines). Each case is converted with its `--dataset` and read back
with DuckDB, pyarrow and Spark: every key of every accepted line must be found in its typed
column (with its lossless reading applied) or in `_extra` (its exact text), equal to the
independent reading of the line (reference.py); every rejected line must be in the rejects file;
the summary must count what the reference counts."""

import collections
import json
import shutil
import tomllib

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

import reference
from conftest import ROOT, convert, rejects, schema_text

DRIFT = ROOT / "tests" / "corpus" / "drift"
CASES = tomllib.loads((DRIFT / "cases.toml").read_text())["case"]
CATCH_ALL = reference.CATCH_ALL
HIVE = ds.partitioning(pa.schema([("date", pa.date32()), ("hour", pa.int32())]), flavor="hive")
DUCKDB_TYPES = {
    "string": "VARCHAR", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN",
    "timestamp": "TIMESTAMP WITH TIME ZONE", "string_list": "VARCHAR[]", "int_list": "BIGINT[]",
    "string_map": "MAP(VARCHAR, VARCHAR)", "json": "JSON",
}
# A key of the http_requests case that the bundled list does not have (a SIEM's), and a field it
# has only as a deprecated one: read back from `_extra` and from its own column respectively.
UNKNOWN_KEY, NESTED_PATH, DEPRECATED_FIELD = "p_source_label", ("p_enrichment", "ipinfo_location", "country"), "WAFAction"


def option(args, name):
    return args[args.index(name) + 1] if name in args else None


class DriftCase:
    """One case of the manifest converted, and the independent reading of its file."""

    def __init__(self, case: dict, out):
        self.case, self.name, self.out = case, case["name"], out
        self.path = DRIFT / case["file"]
        self.args = case.get("args", [])
        self.schema = reference.load_schema(case["dataset"])
        self.strict = "--strict" in self.args
        given = option(self.args, "--unknown-fields")
        self.mode = given or ("reject" if self.strict else "keep")
        self.summary = convert(out, str(self.path), "--dataset", case["dataset"], "--max-reject-ratio", "1", *self.args)
        self.reading = reference.read([self.path], self.schema, given, self.strict)
        self.rejects = rejects(out, self.summary)
        self.fields = self.schema["field"]
        self.kinds = {f["name"]: f["type"] for f in self.fields}
        self.kinds[CATCH_ALL] = "catch-all"
        extra = [CATCH_ALL] if self.mode == "keep" else []
        self.columns = [f["name"] for f in self.fields] + extra + ["date", "hour"]

    def __repr__(self):
        return self.name


@pytest.fixture(scope="module")
def drift(tmp_path_factory):
    """Every case of the manifest, converted once."""
    base = tmp_path_factory.mktemp("drift")
    return {c["name"]: DriftCase(c, base / c["name"]) for c in CASES}


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


def normalized(case, rows):
    return [{k: normalize(case.kinds.get(k), v) for k, v in row.items()} for row in rows]


def duckdb_rows(case, columns=None):
    """The output as DuckDB reads it. A column the files lack reads as NULL, so that a key left
    out shows as a difference in the comparison, not as a query error."""
    columns = case.columns if columns is None else columns
    con = duckdb.connect()
    source = f"read_parquet('{case.out}/**/*.parquet', hive_partitioning = true)"
    present = {name for name, *_ in con.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    select = ", ".join(
        "NULL" if c not in present
        else f'epoch_us("{c}")' if case.kinds.get(c) == "timestamp"
        else f'"{c}"::VARCHAR' if case.kinds.get(c) in ("json", "catch-all") else f'"{c}"'
        for c in columns)
    rows = [dict(zip(columns, r)) for r in con.sql(f"SELECT {select} FROM {source}").fetchall()]
    return normalized(case, rows)


def assert_every_line_is_found(case, got: list, reader: str, columns=None, lines=None):
    """Each accepted line's row as the reference reads it (every key in its typed column or in
    `_extra`; `lines`: (source, line) -> row, the reference's by default) is one of the reader's
    rows, and the reader has no row besides: on failure, the line and the columns where the
    reader's nearest row differs."""
    columns = case.columns if columns is None else columns
    lines = case.reading.lines if lines is None else lines
    left = collections.Counter(tuple(r[c] for c in columns) for r in got)
    for (_, number), row in sorted(lines.items()):
        want = tuple(row[c] for c in columns)
        if left[want] > 0:
            left[want] -= 1
            continue
        nearest = max(left.elements(), key=lambda g: sum(a == b for a, b in zip(g, want)), default=(None,) * len(want))
        differs = {c: {"expected": w, "read": g} for c, w, g in zip(columns, want, nearest) if w != g}
        pytest.fail(f"{reader}, {case.name}: line {number} is not in the output; the nearest row differs in {differs}")
    assert not +left, f"{reader}, {case.name}: rows that no line accounts for: {list((+left).elements())}"


def test_the_manifest_describes_every_file_line_and_figure():
    """Every file of the corpus is a case, each of its lines is described once, and each case's
    figures (rows written, rows rejected, the rejected lines) are the reference's."""
    files = {c["file"] for c in CASES}
    assert files == {p.name for p in DRIFT.glob("*.ndjson")}
    assert len({c["name"] for c in CASES}) == len(CASES)
    for name in files:
        described = [c["lines"] for c in CASES if c["file"] == name and "lines" in c]
        assert len(described) == 1, name
        lines = reference.read_lines(DRIFT / name)
        assert [d.split(":", 1)[0] for d in described[0]] == [str(n) for n in range(1, len(lines) + 1)], name
    datasets = {c["dataset"] for c in CASES}
    assert {"http_requests", "network_analytics_logs", "spectrum_events", "dex_application_tests",
            "nel_reports", "gateway_http"} <= datasets
    for c in CASES:
        args = c.get("args", [])
        result = reference.read([DRIFT / c["file"]], reference.load_schema(c["dataset"]),
                                option(args, "--unknown-fields"), "--strict" in args)
        assert (c["rows_written"], c["rows_rejected"]) == (len(result.rows), len(result.rejected)), c["name"]
        assert c["rejected_lines"] == sorted(n for _, n in result.rejected), c["name"]


@pytest.mark.parametrize("name", [c["name"] for c in CASES])
def test_summary_figures_and_counts_are_the_references(drift, name):
    """rows_read = rows_written + rows_rejected, each the reference's; the unknown-fields mode;
    the readings counted per field (`values_coerced`) and the near misses as the reference counts
    them."""
    case = drift[name]
    s = case.summary
    assert s["status"] == "ok" and s["committed"]
    assert s["rows_read"] == s["rows_written"] + s["rows_rejected"] == case.reading.rows_read
    assert s["rows_discarded"] == 0
    assert (s["rows_written"], s["rows_rejected"]) == (len(case.reading.rows), len(case.reading.rejected))
    assert (s["rows_written"], s["rows_rejected"]) == (case.case["rows_written"], case.case["rows_rejected"])
    assert s["unknown_fields_mode"] == case.mode
    assert s["values_coerced"] == dict(case.reading.values_coerced)
    assert s["near_misses"] == dict(case.reading.near_misses)
    assert s["unknown_fields_other"] == 0


@pytest.mark.parametrize("name", [c["name"] for c in CASES])
def test_unknown_keys_are_counted_by_the_rows_that_carry_them(drift, name):
    """The summary's `unknown_fields`: each unknown key (also a near miss), by the written rows
    that carry it, in every mode."""
    case = drift[name]
    assert case.summary["unknown_fields"] == dict(case.reading.unknown_fields)


@pytest.mark.parametrize("name", [c["name"] for c in CASES])
def test_rejected_lines_are_in_the_rejects_file_with_their_bytes(drift, name):
    """Exactly the lines the reference rejects are in the rejects file, each with its exact bytes
    and a reason."""
    case = drift[name]
    assert set(case.rejects) == case.reading.rejected
    lines = reference.read_lines(case.path)
    for (_, number), record in case.rejects.items():
        assert record["raw"].encode() == lines[number - 1], (case.name, number)
        assert record["reason"], (case.name, number)


def test_the_reference_holds_every_key_of_every_accepted_line(drift):
    """For every accepted line, each key of the line is the reference's: a field's key (its name
    or an alias) with a value that is not null or "" fills that column (NULL only for a zero
    connect or disconnect time), every other key is in `_extra` with its value's exact text, and
    `_extra` holds nothing else. With the readers' rows equal to the reference's rows (the
    tests below), no key is dropped between the line and a reader."""
    checked = 0
    for case in drift.values():
        if case.mode != "keep":
            continue
        keys = reference.key_map(case.fields)
        lines = reference.read_lines(case.path)
        for (_, number), row in case.reading.lines.items():
            members = reference.members(lines[number - 1].decode("utf-8"))
            unknown = [(k, v) for k, v in members if k not in keys]
            assert list(row[CATCH_ALL] or ()) == unknown, (case.name, number)
            for key, text in members:
                if key not in keys:
                    continue
                field = keys[key]
                if json.loads(text) not in (None, "") and not field.get("zero_is_null"):
                    assert row[field["name"]] is not None, (case.name, number, key)
                checked += 1
    assert checked > 100


def test_duckdb_reads_every_key_back(drift):
    """DuckDB: every column with its documented type, `_extra` as JSON exactly when unknown keys
    are kept, and every accepted line's row."""
    for case in drift.values():
        con = duckdb.connect()
        source = f"read_parquet('{case.out}/**/*.parquet', hive_partitioning = true)"
        types = {n: t for n, t, *_ in con.sql(f"DESCRIBE SELECT * FROM {source}").fetchall()}
        assert {f["name"]: types[f["name"]] for f in case.fields} == {
            f["name"]: DUCKDB_TYPES[f["type"]] for f in case.fields}, case.name
        assert types.get(CATCH_ALL) == ("JSON" if case.mode == "keep" else None), case.name
        assert_every_line_is_found(case, duckdb_rows(case), "DuckDB")


def test_pyarrow_reads_every_key_back(drift):
    """pyarrow: every accepted line's row (timestamps as UTC microseconds, `_extra` a string)."""
    for case in drift.values():
        table = ds.dataset(case.out, format="parquet", partitioning=HIVE).to_table()
        assert (CATCH_ALL in table.column_names) == (case.mode == "keep"), case.name
        columns = {}
        for name in case.columns:
            if name not in table.column_names:  # read as NULL, so that the comparison names it
                columns[name] = [None] * table.num_rows
                continue
            column = table.column(name)
            if case.kinds.get(name) == "timestamp":
                assert column.type == pa.timestamp("us", tz="UTC"), (case.name, name)
                column = pc.cast(column, pa.int64())
            elif name == CATCH_ALL:
                assert column.type == pa.string(), case.name
            columns[name] = column.to_pylist()
        rows = [dict(zip(columns, values)) for values in zip(*columns.values())]
        assert_every_line_is_found(case, normalized(case, rows), "pyarrow")


def test_spark_reads_every_key_back(drift, spark):
    """Spark, without flags: every accepted line's row, and `get_json_object(_extra, ...)` reads
    an unknown key back (one Spark test for all cases: Spark is slow to start)."""
    from pyspark.sql import functions as F

    for case in drift.values():
        df = spark.read.parquet(str(case.out))
        assert (CATCH_ALL in df.columns) == (case.mode == "keep"), case.name
        selected = df.select(*[F.lit(None).alias(n) if n not in df.columns  # NULL, named by the comparison
                               else F.unix_micros(F.col(n)).alias(n) if case.kinds.get(n) == "timestamp" else F.col(n)
                               for n in case.columns])
        assert_every_line_is_found(case, normalized(case, [r.asDict() for r in selected.collect()]), "Spark")

    case = drift["http-requests-deprecated-fields"]
    got = spark.read.parquet(str(case.out)).select(
        F.col("RayID"), F.get_json_object("_extra", f"$.{UNKNOWN_KEY}").alias("unknown"),
        F.get_json_object("_extra", "$." + ".".join(NESTED_PATH)).alias("nested"),
        F.get_json_object("_extra", f"$.{DEPRECATED_FIELD}").alias("in_extra"),
        F.col(DEPRECATED_FIELD).alias("typed")).collect()
    assert sorted(tuple(r) for r in got) == expected_json_paths(case)


def expected_json_paths(case):
    """(RayID, the unknown key's value, the nested value, the deprecated field in `_extra` (never),
    the deprecated field's typed value) of each row, as the reference reads the lines."""
    rows = []
    for row in case.reading.rows:
        extra = dict(row[CATCH_ALL] or ())
        unknown = json.loads(extra[UNKNOWN_KEY]) if UNKNOWN_KEY in extra else None
        nested = json.loads(extra[NESTED_PATH[0]]) if NESTED_PATH[0] in extra else None
        for step in NESTED_PATH[1:]:
            nested = None if nested is None else nested.get(step)
        rows.append((row["RayID"], unknown, nested, None, row[DEPRECATED_FIELD]))
    assert any(r[1] is not None for r in rows) and any(r[2] is not None for r in rows)
    assert all(r[4] is not None for r in rows)
    return sorted(rows)


def test_duckdb_json_extract_reads_unknown_keys_and_deprecated_fields_are_typed(drift):
    """`json_extract(_extra, '$.key')` reads a key the bundled list lacks back (also nested);
    WAFAction, a deprecated field of the list, is read from its own VARCHAR column, never from
    `_extra`."""
    case = drift["http-requests-deprecated-fields"]
    assert UNKNOWN_KEY not in reference.key_map(case.fields)
    assert next(f for f in case.fields if f["name"] == DEPRECATED_FIELD).get("deprecated")
    con = duckdb.connect()
    source = f"read_parquet('{case.out}/**/*.parquet', hive_partitioning = true)"
    got = con.sql(
        f"SELECT RayID, json_extract(_extra, '$.{UNKNOWN_KEY}')::VARCHAR, "
        f"json_extract_string(_extra, '$.{'.'.join(NESTED_PATH)}'), "
        f"json_extract(_extra, '$.{DEPRECATED_FIELD}'), {DEPRECATED_FIELD} FROM {source}").fetchall()
    got = sorted((ray, None if unknown is None else json.loads(unknown), nested, in_extra, typed)
                 for ray, unknown, nested, in_extra, typed in got)
    assert got == expected_json_paths(case)
    assert con.sql(f"SELECT typeof({DEPRECATED_FIELD}) FROM {source} LIMIT 1").fetchall() == [("VARCHAR",)]


def test_strict_rejects_exactly_the_lines_with_readings(drift):
    """`--strict` on the readings file rejects what the default run rejects and, besides,
    exactly the lines whose values took a reading, each reason ending in `(--strict)`; the lines
    of documented forms are written alike."""
    default, strict = drift["http-requests-lossless-readings"], drift["http-requests-lossless-readings-strict"]
    with_readings = {line for line, fields in default.reading.readings.items() if fields}
    assert with_readings and len(with_readings) < len(default.reading.lines)
    assert set(strict.rejects) == default.reading.rejected | with_readings
    for line in with_readings:
        assert strict.rejects[line]["reason"].endswith("(--strict)"), strict.rejects[line]
    for line in default.reading.rejected:
        assert "(--strict)" not in strict.rejects[line]["reason"], strict.rejects[line]
    assert strict.summary["values_coerced"] == {}
    documented = [row for line, row in default.reading.lines.items() if line not in with_readings]
    assert reference.canonical(duckdb_rows(strict), strict.columns) == reference.canonical(documented, strict.columns)


def test_a_dropped_key_fails_the_comparison(drift, tmp_path):
    """The comparison catches a lost key: the output of `--unknown-fields drop` against what the
    default (keep) must give, and the real output against a reading with one key's value
    changed, both fail naming the line."""
    keep = drift["dex-application-tests-newer-fields"]
    dropped = DriftCase({**keep.case, "args": ["--unknown-fields", "drop"]}, tmp_path / "dropped")
    assert dropped.reading.rejected == keep.reading.rejected  # the same lines, only keys lost
    with pytest.raises(pytest.fail.Exception, match="line 1 is not in the output"):
        assert_every_line_is_found(keep, duckdb_rows(dropped, keep.columns), "DuckDB", keep.columns)

    line, row = next((line, row) for line, row in sorted(keep.reading.lines.items()) if row[CATCH_ALL])
    (key, _), *rest = row[CATCH_ALL]
    mutated = {**keep.reading.lines, line: {**row, CATCH_ALL: ((key, '"changed"'), *rest)}}
    with pytest.raises(pytest.fail.Exception, match=f"line {line[1]} is not in the output.*{CATCH_ALL}"):
        assert_every_line_is_found(keep, duckdb_rows(keep), "DuckDB", lines=mutated)


def test_the_printed_duckdb_view_reads_files_with_and_without_extra(drift, tmp_path):
    """The view `schema --format duckdb` prints reads, by name, files with `_extra` and files
    without it (written with `--unknown-fields drop`, or before the column existed) in one
    output; the latter's rows read NULL there."""
    keep = drift["nel-reports-siem-export"]
    out = tmp_path / "out"
    shutil.copytree(keep.out, out)
    later = tmp_path / "later.ndjson"
    shutil.copy(keep.path, later)
    summary = convert(out, str(later), "--dataset", "nel_reports", "--unknown-fields", "drop", "--max-reject-ratio", "1")
    dropped = reference.read([later], keep.schema, "drop")
    assert summary["rows_written"] == len(dropped.rows)
    view = schema_text("duckdb", out, "--dataset", "nel_reports")
    assert "union_by_name = true" in view
    con = duckdb.connect()
    con.execute(view)
    got = [(ts, reference.extra_members(extra)) for ts, extra in
           con.sql('SELECT epoch_us("Timestamp"), _extra::VARCHAR FROM nel_reports').fetchall()]
    expected = [(r["Timestamp"], r[CATCH_ALL]) for r in keep.reading.rows] + [(r["Timestamp"], None) for r in dropped.rows]
    assert sorted(got, key=repr) == sorted(expected, key=repr)


def test_a_number_string_in_a_float_field_is_read_only_as_json_writes_numbers(tmp_path):
    """`"-0.5"` in a float field is read (and counted); `".5"`, `"-.5"` and `"5."`, which no
    JSON number looks like, are rejected, as the reference rejects them."""
    path = tmp_path / "float-strings.ndjson"
    path.write_text('{"EdgeStartTimestamp":1652164616,"EdgeResponseCompressionRatio":"-0.5"}\n'
                    '{"EdgeStartTimestamp":1652164617,"EdgeResponseCompressionRatio":"-.5"}\n'
                    '{"EdgeStartTimestamp":1652164618,"EdgeResponseCompressionRatio":".5"}\n'
                    '{"EdgeStartTimestamp":1652164619,"EdgeResponseCompressionRatio":"5."}\n')
    summary = convert(tmp_path / "out", str(path), "--dataset", "http_requests", "--max-reject-ratio", "1")
    reading = reference.read([path], reference.load_schema("http_requests"))
    assert (summary["rows_written"], summary["rows_rejected"]) == (len(reading.rows), len(reading.rejected)) == (1, 3)
    assert summary["values_coerced"] == dict(reading.values_coerced) == {"EdgeResponseCompressionRatio": 1}
