"""Delta Lake tables (`--table-format delta`, issue 15): what Delta readers see.

- Three readers (the `deltalake` package, polars' `scan_delta`, DuckDB 1.5.5 with its delta
  extension in a virtual environment of its own) read every row of a table grown by several
  runs exactly once, on local disk and on moto; types as documented.
- SIGKILL at random moments, on local disk and on moto: after every kill, the table as Delta
  readers see it holds exactly the rows of the runs that committed (all of a run or none of
  it), and after the run that follows, every input row exactly once.
"""

import collections
import os
import random
import subprocess
import uuid
from pathlib import Path

import deltalake
import polars
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import (EXIT_OK, GENERATE, LAKE, LOGS, Background, Expected, LocalStore, S3Store, command, put_tree,
                      report, table_rows, TIMESTAMPS)

SEED = int(os.environ.get("KILL_TEST_SEED", "20261124"))
KILLS = {"local": int(os.environ.get("DELTA_KILLS_LOCAL", "20")),
         "moto": int(os.environ.get("DELTA_KILLS_MOTO", "10"))}
DUCKDB_DELTA_PYTHON = Path(os.environ.get("DUCKDB_DELTA_PYTHON", ".venv-duckdb-delta/bin/python"))


def delta_uri(store, root: str) -> str:
    return store.url(root)


def delta_options(store) -> dict | None:
    """What deltalake and polars need to reach the store (none for local disk)."""
    if isinstance(store, LocalStore):
        return None
    env = store.env()
    return {"AWS_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"], "AWS_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"],
            "AWS_REGION": env["AWS_REGION"], "AWS_ENDPOINT_URL": env["AWS_ENDPOINT_URL"],
            "AWS_ALLOW_HTTP": "true"}


def has_table(store, root: str) -> bool:
    return any(k.endswith(".json") for k in store.keys(f"{root}/_delta_log"))


def deltalake_rows(store, root: str, version: int | None = None) -> collections.Counter:
    if not has_table(store, root):
        return collections.Counter()
    table = deltalake.DeltaTable(delta_uri(store, root), version=version, storage_options=delta_options(store))
    return table_rows(table.to_pyarrow_table())


def polars_rows(store, root: str) -> collections.Counter:
    frame = polars.scan_delta(delta_uri(store, root), storage_options=delta_options(store)).collect()
    return table_rows(frame.to_arrow())


DUCKDB_SCRIPT = """
import glob, sys, duckdb
ext = glob.glob(sys.prefix + '/lib/python*/site-packages/duckdb_extension_delta/extensions/*/delta.duckdb_extension')[0]
con = duckdb.connect()
con.execute(f"INSTALL '{ext}'")
con.execute("LOAD delta")
con.execute("SET TimeZone = 'UTC'")
types = con.execute(f"DESCRIBE SELECT * FROM delta_scan('{sys.argv[1]}')").fetchall()
print({name: t for name, t, *_ in types})
con.execute(f"COPY (SELECT * FROM delta_scan('{sys.argv[1]}')) TO '{sys.argv[2]}' (FORMAT parquet)")
"""


def duckdb_rows(table_path: Path, tmp_path: Path):
    """Rows and column types as DuckDB 1.5.5's delta extension reads the local table."""
    assert DUCKDB_DELTA_PYTHON.exists(), f"{DUCKDB_DELTA_PYTHON} is missing: `make tools` makes it"
    out = tmp_path / f"duckdb-{uuid.uuid4().hex[:8]}.parquet"
    done = subprocess.run([str(DUCKDB_DELTA_PYTHON), "-c", DUCKDB_SCRIPT, str(table_path), str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    types = eval(done.stdout.strip().splitlines()[-1])  # a dict literal printed by the script
    return table_rows(pq.read_table(out)), types


def store_of(kind, request, tmp_path):
    if kind == "local":
        return LocalStore(tmp_path / f"store-{uuid.uuid4().hex[:8]}")
    return S3Store(request.getfixturevalue("moto"), LAKE, f"delta-{uuid.uuid4().hex[:12]}")


def delta_convert(src, store, *args):
    cmd = command(src, store.url("out"), "--table-format", "delta", "-q", *args, summary=False)
    return subprocess.run(cmd, capture_output=True, text=True, env=_env(store), timeout=600)


def _env(store):
    from conftest import base_env
    return base_env(store.env())


@pytest.mark.parametrize("kind", ["local", "moto"])
def test_delta_readers_read_every_row_of_every_run_exactly_once(kind, request, tmp_path, archive):
    store = store_of(kind, request, tmp_path)
    src_store = LocalStore(tmp_path / "in") if kind == "local" else S3Store(request.getfixturevalue("moto"), LOGS,
                                                                            f"in-{uuid.uuid4().hex[:8]}")
    inputs = dict(archive["files"])
    src = put_tree(src_store, "spectrum", inputs)
    first = delta_convert(src, store)
    assert first.returncode == EXIT_OK, first.stderr
    for name, path in sorted(archive["later"].items())[:2]:
        inputs[f"later/{name}"] = path
        put_tree(src_store, "spectrum", {f"later/{name}": path})
        grown = delta_convert(src, store)
        assert grown.returncode == EXIT_OK, grown.stderr
    again = delta_convert(src, store)
    assert again.returncode == EXIT_OK, again.stderr

    expected = Expected.rows(inputs)
    assert deltalake_rows(store, "out") == expected
    assert polars_rows(store, "out") == expected
    table = deltalake.DeltaTable(delta_uri(store, "out"), storage_options=delta_options(store))
    assert table.version() == 3, "the table's creation, then one commit per run that converted something"
    schema = table.to_pyarrow_table().schema
    assert schema.field("date").type == pa.date32() and schema.field("hour").type == pa.int32()
    assert all(schema.field(t).type == pa.timestamp("us", tz="UTC") for t in TIMESTAMPS), schema
    history = table.history()
    writes = [h for h in history if h["operation"] == "WRITE"]
    assert [int(h["operationParameters"]["inputs"]) for h in sorted(writes, key=lambda h: h["version"])] == [8, 1, 1]
    if kind == "local":
        rows, types = duckdb_rows(Path(store.url("out")), tmp_path)
        assert rows == expected
        assert types["Timestamp"] == "TIMESTAMP WITH TIME ZONE" and types["date"] == "DATE", types
        assert types["hour"] == "INTEGER", types


class DeltaChain:
    """One input location and one Delta table, growing together."""

    def __init__(self, kind, request, tmp_path, archive, n):
        self.store = store_of(kind, request, tmp_path)
        if kind == "local":
            src_store = LocalStore(tmp_path / f"chain{n}" / "in")
        else:
            src_store = S3Store(request.getfixturevalue("moto"), LOGS, f"dkill-{SEED}-{n}")
        self.src_store = src_store
        self.inputs = dict(archive["files"])
        self.later = sorted(archive["later"].items())
        self.src = put_tree(src_store, "spectrum", self.inputs)
        self.logdir = tmp_path / f"chain{n}" / "logs"

    def grow(self) -> bool:
        if not self.later:
            return False
        name, path = self.later.pop(0)
        self.inputs[f"later/{name}"] = path
        put_tree(self.src_store, "spectrum", {f"later/{name}": path})
        return True

    def start(self) -> Background:
        cmd = command(self.src, self.store.url("out"), "--table-format", "delta", "-q", summary=False)
        return Background(cmd, self.store.env(), self.logdir)

    def seen(self) -> collections.Counter:
        return deltalake_rows(self.store, "out")


@pytest.mark.parametrize("kind", ["local", "moto"])
def test_sigkill_at_random_moments_leaves_whole_runs_visible_and_every_row_once(kind, request, tmp_path, archive):
    rng = random.Random(f"{SEED}/delta/{kind}")
    target = KILLS[kind]
    # An un-killed run, timed: the kills fall within its length.
    timing = DeltaChain(kind, request, tmp_path, archive, 0)
    run = timing.start().wait()
    assert run.code == EXIT_OK, run
    durations = [run.elapsed]
    assert timing.seen() == Expected.rows(timing.inputs)

    kills = steps = rows_compared = losses = duplicates = partial_views = 0
    failures = []
    n = 0
    while kills < target and steps < 4 * target:
        n += 1
        chain = DeltaChain(kind, request, tmp_path, archive, n)
        for position in range(4):
            if position > 0 and (kills >= target or not chain.grow()):
                break
            before = chain.seen()
            after = Expected.rows(chain.inputs)
            for _ in range(2 if rng.random() < 0.25 else 1):
                delay = rng.choice(durations) * (rng.uniform(0, 1) if rng.random() < 0.5 else rng.uniform(0.75, 1))
                run = chain.start()
                try:
                    run.proc.wait(timeout=delay)
                    finished = run.wait()
                    if finished.code == EXIT_OK:
                        durations.append(finished.elapsed)
                except subprocess.TimeoutExpired:
                    kills += run.kill()
                # What Delta readers see now: all of this step's run, or none of it.
                seen = chain.seen()
                rows_compared += sum(seen.values())
                if seen not in (before, after):
                    partial_views += 1
                    failures.append(f"chain {n} step {position}: after a kill readers saw {sum(seen.values())} rows, "
                                    f"neither {sum(before.values())} (before) nor {sum(after.values())} (after)")
            steps += 1
            completed = chain.start().wait()
            seen = chain.seen()
            rows_compared += sum(seen.values())
            extra, missing = sum((seen - after).values()), sum((after - seen).values())
            duplicates += extra
            losses += missing
            if completed.code != EXIT_OK or extra or missing:
                failures.append(f"chain {n} step {position}: completing run exit {completed.code}, "
                                f"{extra} duplicates, {missing} losses\n{completed!r}")
                break
    report(f"delta kill test [{kind}]: seed {SEED}, {kills} kills in {steps} steps, {rows_compared} rows compared, "
           f"{duplicates} duplicates, {losses} losses, {partial_views} partial runs seen by readers")
    assert not failures, "\n\n".join(failures[:5])
    assert kills >= target, f"only {kills} of {target} kills landed while the run was alive"


def run_tool(args, store, timeout=600):
    from conftest import run_raw
    return run_raw([str(a) for a in args], env=store.env(), timeout=timeout)


def data_files(store, root: str) -> set:
    return {k for k in store.keys(root) if k.endswith(".parquet") and not any(p.startswith("_") for p in k.split("/"))}


@pytest.fixture(scope="module")
def small_runs(tmp_path_factory):
    """An archive of 20 objects over 2 hours: converted one object per run, 10 small files per
    hour partition."""
    from conftest import generate
    base = tmp_path_factory.mktemp("small-runs")
    return generate(base / "in", rows=20_000, files=20, hours=2, seed=21)


def test_compact_then_vacuum_keeps_every_row_and_time_travel_until_vacuum(request, tmp_path, small_runs):
    store = LocalStore(tmp_path / "lake")
    src = LocalStore(tmp_path / "in")
    for name, path in sorted(small_runs.items()):
        put_tree(src, "spectrum", {name: path})
        done = delta_convert(src.url("spectrum"), store)
        assert done.returncode == EXIT_OK, done.stderr
    expected = Expected.rows(small_runs)
    before = deltalake.DeltaTable(delta_uri(store, "out"))
    version_before = before.version()
    files_before = data_files(store, "out")
    assert len(files_before) == 20 and deltalake_rows(store, "out") == expected

    compacted = run_tool(["compact", store.url("out"), "--min-age", "0", "--summary-json", "-"], store).expect(0)
    summary = __import__("json").loads(compacted.stdout)
    assert (summary["files_before"], summary["files_removed"], summary["files_added"]) == (20, 20, 2), summary
    table = deltalake.DeltaTable(delta_uri(store, "out"))
    assert table.version() == version_before + 1
    assert table.history(1)[0]["operation"] == "OPTIMIZE"
    assert deltalake_rows(store, "out") == expected
    assert polars_rows(store, "out") == expected
    current = {Path(u).relative_to(Path(store.url("out")).resolve()).as_posix() for u in table.file_uris()}
    assert len(current) == 2 and {f.split("/part-")[0] for f in current} == {f.split("/part-")[0] for f in files_before}
    # Time travel to the version before the compaction reads the old files, still there.
    assert deltalake_rows(store, "out", version=version_before) == expected
    assert files_before <= data_files(store, "out")
    # Nothing to compact any more; a dry run of vacuum lists the merged files, vacuum deletes them.
    again = __import__("json").loads(
        run_tool(["compact", store.url("out"), "--min-age", "0", "--summary-json", "-"], store).expect(0).stdout)
    assert again["files_removed"] == 0
    refused = run_tool(["vacuum", store.url("out"), "--retain", "0"], store)
    assert refused.code == 2 and "--retain" in refused.stderr, refused
    listed = run_tool(["vacuum", store.url("out"), "--retain", "0", "--force", "--dry-run"], store).expect(0)
    assert set(listed.stdout.split()) == files_before
    assert data_files(store, "out") == files_before | current, "a dry run deletes nothing"
    run_tool(["vacuum", store.url("out"), "--retain", "0", "--force"], store).expect(0)
    assert data_files(store, "out") == current
    assert deltalake_rows(store, "out") == expected
    with pytest.raises(Exception):
        deltalake_rows(store, "out", version=version_before)
    kept = run_tool(["vacuum", store.url("out"), "--summary-json", "-"], store).expect(0)
    assert __import__("json").loads(kept.stdout)["files_deleted"] == 0


def test_three_shards_and_a_compaction_at_once_commit_every_row_once(request, tmp_path, small_runs, archive):
    store = LocalStore(tmp_path / "lake")
    src = LocalStore(tmp_path / "in")
    # Small files to compact first: half the small runs, one per run.
    first = dict(sorted(small_runs.items())[:10])
    for name, path in first.items():
        put_tree(src, "small", {name: path})
        assert delta_convert(src.url("small"), store).returncode == EXIT_OK
    url = put_tree(src, "big", archive["files"])
    logdir = tmp_path / "logs"
    summaries = [tmp_path / f"shard-{i}.json" for i in range(3)]
    runs = [Background(command(url, store.url("out"), "--table-format", "delta", "-q", "--shard", f"{i}/3",
                               "--summary-json", summaries[i], summary=False), {}, logdir) for i in range(3)]
    from conftest import BIN
    compaction = Background([str(BIN), "compact", store.url("out"), "--min-age", "0", "-q"], {}, logdir)
    for background in runs + [compaction]:
        done = background.wait()
        assert done.code == EXIT_OK, done
    expected = Expected.rows(first) + Expected.rows(archive["files"])
    assert deltalake_rows(store, "out") == expected
    history = deltalake.DeltaTable(delta_uri(store, "out")).history()
    writes = [h for h in history if h["operation"] == "WRITE"]
    shards = sorted(h["operationParameters"]["shard"] for h in writes if h["operationParameters"]["shard"] != "0-of-1")
    # One commit per shard that owned inputs (inputs go to shards by a hash of their path, so a
    # shard may own none of them).
    owning = [f"{i}-of-3" for i, path in enumerate(summaries)
              if __import__("json").loads(path.read_text())["inputs_converted"] > 0]
    assert len(owning) >= 2 and shards == owning, (shards, owning)
    assert any(h["operation"] == "OPTIMIZE" for h in history)


def test_compact_refuses_a_plain_output(tmp_path, sample):
    store = LocalStore(tmp_path / "lake")
    done = subprocess.run(command(str(Path(next(iter(sample.values()))).parent.parent), store.url("out"), "-q",
                                  summary=False), capture_output=True, text=True)
    assert done.returncode == EXIT_OK, done.stderr
    refused = run_tool(["compact", store.url("out")], store)
    assert refused.code != 0 and "not a Delta table" in refused.stderr, refused


def test_a_store_without_atomic_creates_is_refused_for_delta(no_conditions, moto, tmp_path, sample):
    """A store that lets racing If-None-Match creates all succeed (moto behind a proxy that drops
    the header; s3s-fs's check-then-write race shows only sometimes): Delta commits could
    overwrite each other there, so a Delta run refuses it, writing no data."""
    store = S3Store(moto, LAKE, f"delta-{uuid.uuid4().hex[:8]}")
    src = str(Path(next(iter(sample.values()))).parent.parent)
    cmd = command(src, store.url("out"), "--table-format", "delta", "-q", summary=False)
    done = subprocess.run(cmd, capture_output=True, text=True, env=_env(no_conditions), timeout=600)
    assert done.returncode != EXIT_OK
    assert "If-None-Match is not enforced" in done.stderr, done.stderr
    assert not [k for k in store.keys("out") if k.endswith(".parquet") or k.startswith("_delta_log")]


# ---------------------------------------------------------------------------------------------
# Schema evolution (issue 23): a table whose runs start using a field list with more fields
# gains the new nullable columns; a changed type is refused before anything is written.

GROWN = ("ClientTlsCipher", "OriginTlsCipher")


def input_values(files: dict, names) -> collections.Counter:
    """(Timestamp text, values of `names`) of every line of `files`, read with json alone."""
    import gzip
    import json
    seen = collections.Counter()
    for path in files.values():
        for line in gzip.decompress(Path(path).read_bytes()).splitlines():
            if line.strip():
                event = json.loads(line)
                seen[tuple(event.get(n) for n in names)] += 1
    return seen


def table_values(table: pa.Table, names, extra: bool) -> collections.Counter:
    """The same values as a reader sees them: from their columns, or from `_extra`."""
    import json
    rows = table.to_pylist()
    if extra:
        return collections.Counter(tuple(json.loads(r["_extra"] or "{}").get(n) for n in names) for r in rows)
    return collections.Counter(tuple(r[n] for n in names) for r in rows)


def test_a_longer_field_list_adds_columns_that_older_rows_read_as_null(tmp_path, archive):
    import tomllib
    full = tomllib.loads((Path(__file__).resolve().parents[2] / "schema" / "spectrum_events.toml").read_text())
    # The list the table starts with: spectrum_events less two fields.
    shorter = (Path(__file__).resolve().parents[2] / "schema" / "spectrum_events.toml").read_text()
    for name in GROWN:
        start = shorter.index(f'[[field]]\nname = "{name}"')
        shorter = shorter[:start] + shorter[shorter.index("[[field]]", start + 1):]
    short_list = tmp_path / "spectrum_short.toml"
    short_list.write_text(shorter)
    assert len(tomllib.loads(shorter)["field"]) == len(full["field"]) - 2

    store = LocalStore(tmp_path / "lake")
    src = LocalStore(tmp_path / "in")
    old = put_tree(src, "old", archive["files"])
    first = delta_convert(old, store, "--schema", short_list)
    assert first.returncode == EXIT_OK, first.stderr
    before = deltalake.DeltaTable(delta_uri(store, "out"))
    assert not set(GROWN) & set(before.schema().to_arrow().names)
    version = before.version()

    new = put_tree(src, "new", archive["later"])
    second = delta_convert(new, store)
    assert second.returncode == EXIT_OK, second.stderr
    table = deltalake.DeltaTable(delta_uri(store, "out"))
    assert table.version() == version + 2, "one schema change, then the run's commit"
    assert [h["operation"] for h in table.history(2)] == ["WRITE", "ALTER TABLE"], table.history(2)
    schema = table.schema().to_arrow()
    assert set(GROWN) <= set(schema.names)

    # Every reader: the old rows hold NULL in the new columns (their values in `_extra`, which
    # kept the keys the shorter list did not know), the new rows hold the values in the columns.
    old_rows, new_rows = input_values(archive["files"], GROWN), input_values(archive["later"], GROWN)
    nulls = collections.Counter({(None, None): sum(old_rows.values())})
    readers = {"deltalake": table.to_pyarrow_table(),
               "polars": polars.scan_delta(delta_uri(store, "out")).collect().to_arrow()}
    duck_out = tmp_path / "duck.parquet"
    done = subprocess.run([str(DUCKDB_DELTA_PYTHON), "-c", DUCKDB_SCRIPT, str(Path(store.url("out"))), str(duck_out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    readers["duckdb"] = pq.read_table(duck_out)
    later_start = min(row["Timestamp"] for row in readers["deltalake"].filter(
        pa.compute.is_null(readers["deltalake"]["_extra"])).to_pylist())
    for reader, rows in readers.items():
        assert rows.num_rows == sum(old_rows.values()) + sum(new_rows.values()), reader
        first_run = rows.filter(pa.compute.less(rows["Timestamp"], pa.scalar(later_start, rows["Timestamp"].type)))
        second_run = rows.filter(pa.compute.greater_equal(rows["Timestamp"],
                                                          pa.scalar(later_start, rows["Timestamp"].type)))
        assert table_values(first_run, GROWN, extra=False) == nulls, reader
        assert table_values(first_run, GROWN, extra=True) == old_rows, reader
        assert table_values(second_run, GROWN, extra=False) == new_rows, reader


def test_a_changed_column_type_is_refused_before_anything_is_written(tmp_path, archive):
    store = LocalStore(tmp_path / "lake")
    src = LocalStore(tmp_path / "in")
    first = delta_convert(put_tree(src, "old", archive["files"]), store)
    assert first.returncode == EXIT_OK, first.stderr
    changed = (Path(__file__).resolve().parents[2] / "schema" / "spectrum_events.toml").read_text()
    changed = changed.replace('name = "ClientPort"\ntype = "int"', 'name = "ClientPort"\ntype = "string"')
    assert 'name = "ClientPort"\ntype = "string"' in changed
    changed_list = tmp_path / "changed.toml"
    changed_list.write_text(changed)
    files, log = data_files(store, "out"), set(store.keys("out/_delta_log"))
    refused = delta_convert(put_tree(src, "new", archive["later"]), store, "--schema", changed_list)
    assert refused.returncode == 1, refused
    message = refused.stderr.strip().splitlines()[-1]
    assert "the column ClientPort is long in the table, and string in this run's field list" in message, message
    assert data_files(store, "out") == files and set(store.keys("out/_delta_log")) == log, "nothing written"
    # Another dataset and another partitioning are refused the same way, naming both values.
    other = delta_convert(put_tree(src, "other", archive["later"]), store, "--dataset", "dns_logs")
    assert "the table holds the dataset spectrum_events, and this run converts dns_logs" in other.stderr, other.stderr
    parted = delta_convert(put_tree(src, "parted", archive["later"]), store, "--partition-by", "date")
    assert "the table is partitioned by date,hour, and this run's --partition-by is date" in parted.stderr, \
        parted.stderr
    assert data_files(store, "out") == files and set(store.keys("out/_delta_log")) == log, "nothing written"


def test_compaction_merges_files_written_before_the_columns_were_added(tmp_path, archive):
    """Files written before a schema change lack its columns: merged, their rows hold NULL there
    (and their `_extra` what it held), the other rows their values."""
    store = LocalStore(tmp_path / "lake")
    src = LocalStore(tmp_path / "in")
    for name, path in sorted(archive["files"].items()):  # one run per input: several files per hour
        first = delta_convert(put_tree(src, "old", {name: path}), store, "--unknown-fields", "drop")
        assert first.returncode == EXIT_OK, first.stderr
    second = delta_convert(put_tree(src, "new", archive["later"]), store)
    assert second.returncode == EXIT_OK, second.stderr
    before = deltalake.DeltaTable(delta_uri(store, "out")).to_pyarrow_table()
    assert before["_extra"].null_count == before.num_rows, "the generator writes no unknown keys"
    compacted = run_tool(["compact", store.url("out"), "--min-age", "0", "--summary-json", "-"], store).expect(0)
    assert __import__("json").loads(compacted.stdout)["files_removed"] > 0
    after = deltalake.DeltaTable(delta_uri(store, "out")).to_pyarrow_table()
    assert table_rows(after) == table_rows(before) == Expected.rows({**archive["files"], **archive["later"]})


def test_compact_and_vacuum_read_the_dataset_and_partitioning_from_the_table(tmp_path):
    """A table of another dataset with other partition columns: `compact` and `vacuum` need no
    flag that repeats them, and a flag that contradicts the table is refused in one sentence,
    with nothing written."""
    generated = tmp_path / "gen"
    subprocess.run([str(GENERATE), "--out", generated, "--dataset", "dns_logs", "--rows", "3000",
                    "--files", "6", "--hours", "1", "--seed", "3"], check=True, capture_output=True)
    store = LocalStore(tmp_path / "lake")
    src = LocalStore(tmp_path / "in")
    for path in sorted(p for p in generated.rglob("*") if p.is_file()):  # one run per input
        run = delta_convert(put_tree(src, path.name, {path.name: path}), store, "--dataset", "dns_logs",
                            "--partition-by", "date,ResponseCached")
        assert run.returncode == EXIT_OK, run.stderr
    before = deltalake.DeltaTable(delta_uri(store, "out")).to_pyarrow_table()
    files, log = data_files(store, "out"), set(store.keys("out/_delta_log"))

    for flags, sentence in [
        (["--dataset", "spectrum_events"],
         "--dataset says spectrum_events, and the table holds the dataset dns_logs: leave --dataset out"),
        (["--partition-by", "date,hour"],
         "--partition-by date,hour, and the table is partitioned by date,ResponseCached: leave "
         "--partition-by out"),
    ]:
        refused = run_tool(["compact", store.url("out"), "--min-age", "0", *flags], store)
        assert refused.code != EXIT_OK and sentence in refused.stderr, refused
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert data_files(store, "out") == files and set(store.keys("out/_delta_log")) == log, "written"

    compacted = run_tool(["compact", store.url("out"), "--min-age", "0", "--summary-json", "-"], store).expect(0)
    summary = __import__("json").loads(compacted.stdout)
    assert summary["files_removed"] > summary["files_added"] > 0, summary
    after = deltalake.DeltaTable(delta_uri(store, "out")).to_pyarrow_table()
    assert after.num_rows == before.num_rows == 3000
    assert sorted(after.to_pylist(), key=repr) == sorted(before.to_pylist(), key=repr)
    run_tool(["vacuum", store.url("out"), "--retain", "0", "--force"], store).expect(0)
    assert len(data_files(store, "out")) == summary["files_after"]
