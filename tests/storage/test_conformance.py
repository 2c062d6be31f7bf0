"""One suite of conversion scenarios over three stores: local disk, s3s-fs and moto.

Inputs and output live in the same store (a bucket prefix, or a temporary folder); what a reader
sees afterwards is compared, as a multiset of full rows, with an independent reading of the
inputs (tests/interop/reference.py), so a lost row and a duplicated row both fail.
"""

import datetime as dt
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import (COLUMNS, ENUMS, EXIT_OK, MIXED, PART_NAME, TIMESTAMPS, Expected, S3Store,
                      _relative, assert_exactly_once, check_visible_files, convert, data_inputs,
                      make_store, output_table, put_tree, reference, table_rows)

BACKENDS = ["local", "s3s-fs", "moto"]


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    return make_store(request.param, request, tmp_path)


def count(value) -> int:
    """`inputs_converted` as a number, whether the summary gives a count or a list."""
    return len(value) if isinstance(value, list) else int(value)


def read_file(store, rel: str) -> pa.Table:
    if isinstance(store, S3Store):
        return pq.read_table(f"{store.bucket}/{store.key(rel)}", filesystem=store.server.filesystem())
    return pq.read_table(store.url(rel))


def only(files: dict, *needles: str) -> dict:
    return {k: v for k, v in files.items() if any(n in k for n in needles)}


def test_convert_reads_back_every_row_with_its_type(store, sample):
    src = put_tree(store, "in", sample)
    run = convert(src, store.url("out"), env=store.env()).expect(EXIT_OK)
    summary, inputs = run.summary, data_inputs(sample)
    expected = Expected.rows(inputs)

    for key, kind in (("status", str), ("rows_read", int), ("rows_written", int), ("rows_rejected", int),
                      ("inputs_skipped", list), ("inputs_failed", list), ("files", list), ("run_id", str)):
        assert isinstance(summary.get(key), kind), f"summary field {key}: {summary.get(key)!r}"
    assert "inputs_converted" in summary and "rejects_file" in summary
    assert summary["status"] == "ok"
    challenges = [k for k in sample if "ownership-challenge" in k]
    assert all(any(k in str(s) for s in summary["inputs_skipped"]) for k in challenges), summary["inputs_skipped"]
    assert summary["rows_written"] == sum(expected.values())
    assert summary["rows_rejected"] == len(Expected.rejects(inputs))
    assert summary["rows_read"] == summary["rows_written"] + summary["rows_rejected"]
    assert count(summary["inputs_converted"]) == len(inputs)
    assert summary["inputs_failed"] == []

    table = output_table(store, "out")
    for name in TIMESTAMPS:
        assert table.schema.field(name).type == pa.timestamp("us", tz="UTC"), name
    for name in ENUMS:
        assert table.schema.field(name).type == pa.string(), name
    assert table.schema.field("ClientBytes").type == pa.int64()
    assert table.schema.field("IpFirewall").type == pa.bool_()
    assert table_rows(table) == expected

    # DuckDB over the same Arrow data (its httpfs extension cannot be fetched here).
    con = duckdb.connect()
    con.register("events", table)
    got = con.sql("SELECT count(*), sum(ClientBytes), count(DisconnectTimestamp), count(DISTINCT ColoCode) FROM events").fetchall()[0]
    rows = list(expected.elements())
    column = {c: i for i, c in enumerate(COLUMNS)}
    want = (len(rows), sum(r[column["ClientBytes"]] or 0 for r in rows),
            sum(r[column["DisconnectTimestamp"]] is not None for r in rows),
            len({r[column["ColoCode"]] for r in rows if r[column["ColoCode"]] is not None}))
    assert got == want

    # The summary's file list is what was written: every visible data file, its size and rows.
    listed = {_relative(f["path"], store, "out"): f for f in summary["files"]}
    visible = check_visible_files(store, "out")
    assert set(listed) == visible
    sizes = store.keys("out")
    for key, entry in listed.items():
        assert entry["bytes"] == sizes[key], key
        assert entry["rows"] == read_file(store, f"out/{key}").num_rows, key
        assert entry["partition"] == key.rsplit("/", 1)[0], key
    assert sum(f["rows"] for f in listed.values()) == summary["rows_written"]


def test_rerun_converts_nothing_new_and_duplicates_nothing(store, sample):
    src = put_tree(store, "in", sample)
    first = convert(src, store.url("out"), env=store.env()).expect(EXIT_OK)
    before = {k: v for k, v in store.keys("out").items() if k.endswith(".parquet")}

    again = convert(src, store.url("out"), env=store.env()).expect(EXIT_OK)
    assert count(again.summary["inputs_converted"]) == 0
    assert again.summary["rows_written"] == 0
    assert again.summary["inputs_failed"] == []
    after = {k: v for k, v in store.keys("out").items() if k.endswith(".parquet")}
    assert after == before, "a run with nothing new changed the data files"
    assert first.summary["rows_written"] == assert_exactly_once(store, "out", data_inputs(sample))


def test_incremental_add_converts_only_the_new_input(store, sample):
    inputs = data_inputs(sample)
    first_half = only(inputs, "20261123/")
    second_half = only(inputs, "20261124/")
    src = put_tree(store, "in", first_half)
    convert(src, store.url("out"), env=store.env()).expect(EXIT_OK)
    before = {k: v for k, v in store.keys("out").items() if k.endswith(".parquet")}

    put_tree(store, "in", second_half)
    run = convert(src, store.url("out"), env=store.env()).expect(EXIT_OK)
    assert count(run.summary["inputs_converted"]) == len(second_half)
    assert run.summary["rows_written"] == sum(Expected.rows(second_half).values())
    after = store.keys("out")
    for key, size in before.items():
        assert after.get(key) == size, f"the earlier run's {key} changed or went"
    assert_exactly_once(store, "out", inputs)


def test_reprocess_converts_again_without_duplicating(store, sample):
    src = put_tree(store, "in", sample)
    convert(src, store.url("out"), env=store.env()).expect(EXIT_OK)
    run = convert(src, store.url("out"), "--reprocess", env=store.env()).expect(EXIT_OK)
    inputs = data_inputs(sample)
    assert count(run.summary["inputs_converted"]) == len(inputs)
    assert run.summary["rows_written"] == assert_exactly_once(store, "out", inputs)


def test_rejects_object_lists_every_bad_line(store, sample):
    files = {**sample, "extra/mixed.ndjson": MIXED}
    src = put_tree(store, "in", files)
    run = convert(src, store.url("out"), "--max-reject-ratio", "0.5", env=store.env()).expect(EXIT_OK)
    must_reject = Expected.rejects(data_inputs(files))
    assert must_reject, "the fixture is meant to hold bad lines"
    assert run.summary["rows_rejected"] == len(must_reject)

    rejects_key = _relative(run.summary["rejects_file"], store, "out")
    assert rejects_key.startswith("_rejects/") and rejects_key in store.keys("out")
    seen = set()
    for text in store.get(f"out/{rejects_key}").decode().splitlines():
        record = json.loads(text)
        names = [n for n in files if record["source"].endswith(n)]
        assert len(names) == 1, f"reject source {record['source']!r} names no single input"
        assert record["reason"], record
        line = reference.read_lines(Path(files[names[0]]))[record["line"] - 1]
        kept = record.get("raw", record.get("text"))
        if kept is not None:
            assert kept.encode() == line, record
        seen.add((names[0], record["line"]))
    assert seen == must_reject
    assert_exactly_once(store, "out", data_inputs(files))


def test_partitions_are_hive_folders_holding_their_hours(store, sample):
    src = put_tree(store, "in", sample)
    run = convert(src, store.url("out"), env=store.env()).expect(EXIT_OK)
    visible = check_visible_files(store, "out")
    assert visible
    for key in visible:
        date_part, hour_part, name = key.split("/")
        assert date_part.startswith("date=") and hour_part.startswith("hour="), key
        match = PART_NAME.match(name)
        assert match and match["run"] == run.summary["run_id"], key
        day = dt.date.fromisoformat(date_part.removeprefix("date="))
        hour = int(hour_part.removeprefix("hour="))
        assert hour_part == f"hour={hour}", "hours are not zero-padded"
        start = dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.timezone.utc)
        table = read_file(store, f"out/{key}")
        assert "date" not in table.column_names and "hour" not in table.column_names
        stamps = table.column("Timestamp").to_pylist()
        assert all(start <= t < start + dt.timedelta(hours=1) for t in stamps), key


def test_since_until_and_dry_run_select_inputs_by_their_time(store, sample):
    inputs = data_inputs(sample)
    src = put_tree(store, "in", sample)
    names = {Path(k).name for k in inputs}

    dry = convert(src, store.url("out"), "--dry-run", "--since", "2026-11-24", env=store.env(), summary=False).expect(EXIT_OK)
    said = dry.stdout + dry.stderr
    listed = {n for n in names if n in said}
    assert listed == {Path(k).name for k in only(inputs, "20261124/")}, said
    assert store.keys("out") == {}, "a dry run wrote to the output"

    run = convert(src, store.url("out"), "--since", "2026-11-24", env=store.env()).expect(EXIT_OK)
    assert count(run.summary["inputs_converted"]) == 2
    assert_exactly_once(store, "out", only(inputs, "20261124/"))

    run = convert(src, store.url("out"), "--until", "2026-11-23T22:30:00Z", env=store.env()).expect(EXIT_OK)
    assert count(run.summary["inputs_converted"]) == 1
    assert_exactly_once(store, "out", only(inputs, "20261124/", "20261123T2200"))

    run = convert(src, store.url("out"), env=store.env()).expect(EXIT_OK)
    assert count(run.summary["inputs_converted"]) == 1
    assert_exactly_once(store, "out", inputs)
