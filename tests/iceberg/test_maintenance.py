"""`compact` and `vacuum` on a catalog table.

- Compaction, then expiry and deletion: the same rows, fewer files, one `replace` snapshot; time
  travel to the snapshots before the compaction reads the old files until they expire; after
  `vacuum`, only the current snapshot is left, the merged files and the manifests only expired
  snapshots read are gone, and every file the current snapshot reads is still there.
- Three shards and a `compact` running at once: every row once; the compaction's commit is
  rebuilt on top of the shards' appends (or theirs on top of it) and no append is lost.
"""

import collections
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

from conftest import (COLUMNS, EXIT_OK, EXIT_USAGE, WAREHOUSE, Run, Table, base_env, copy_inputs, expected_rows,
                      summary_of, storage)


def maintain(table: Table, command: str, *extra, background_logdir=None):
    """Runs `compact` or `vacuum` on the table; its JSON summary goes to a file beside (stdout
    lists the files of a `vacuum --dry-run`) and is read into `Run.summary`."""
    fd, summary = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    cmd = [str(storage.BIN), command, "--table", table.ident, "--catalog-uri", table.catalog_uri,
           "--warehouse", WAREHOUSE, *[str(a) for a in extra], "--summary-json", summary]
    if background_logdir is not None:
        return storage.Background(cmd, table.server.env(), background_logdir), Path(summary)
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=base_env(table.server.env()))
    run = Run(cmd, done.returncode, done.stdout, done.stderr, time.monotonic() - started)
    text = Path(summary).read_text()
    run.summary = json.loads(text) if text else None
    os.unlink(summary)
    return run


def live_files(table: Table, snapshot_id=None) -> set:
    """The data files a snapshot (the current one by default) reads."""
    scan = table.load().scan(snapshot_id=snapshot_id)
    return {task.file.file_path for task in scan.plan_files()}


def mergeable(files: set) -> set:
    """The files of the partition folders that hold two or more: what `compact` merges."""
    folders = collections.Counter(f.rsplit("/", 1)[0] for f in files)
    return {f for f in files if folders[f.rsplit("/", 1)[0]] >= 2}


def test_compact_then_vacuum_keeps_every_row_and_deletes_only_unneeded_files(seaweed, archive, tmp_path):
    table = Table(seaweed)
    files = archive["files"]
    # One run per object: eight appends, two or more small files in every hour.
    for name, path in sorted(files.items()):
        table.convert(copy_inputs({name: path}, tmp_path / name.replace("/", "_"))).expect(EXIT_OK)
    expected = expected_rows(files)
    assert table.rows() == expected
    appends = table.snapshots()
    assert [summary_of(s)["operation"] for s in appends] == ["append"] * len(files)
    before = live_files(table)
    merged = mergeable(before)
    assert len(merged) >= 4, f"the archive should leave several files per hour: {sorted(before)}"

    dry = maintain(table, "compact", "--min-age", "0", "--dry-run").expect(EXIT_OK)
    assert dry.summary["files_removed"] == len(merged), dry
    assert len(table.snapshots()) == len(appends), "a dry run committed"

    run = maintain(table, "compact", "--min-age", "0").expect(EXIT_OK)
    after = live_files(table)
    added = after - before
    assert run.summary["files_removed"] == len(merged) and run.summary["files_added"] == len(added), run
    assert after == (before - merged) | added and len(after) < len(before)
    assert not mergeable(after), f"more than one file in a partition after compaction: {sorted(after)}"
    snapshots = table.snapshots()
    assert len(snapshots) == len(appends) + 1
    replace = summary_of(snapshots[-1])
    assert replace["operation"] == "replace", replace
    assert replace["deleted-data-files"] == str(len(merged)) and replace["added-data-files"] == str(len(added))
    assert table.rows() == expected
    # Time travel to before the compaction reads the merged files, which are still there.
    last_append = appends[-1].snapshot_id
    assert live_files(table, last_append) == before
    assert storage.table_rows(table.load().scan(snapshot_id=last_append).to_arrow(), COLUMNS) == expected

    # The retention floor: an hour, unless forced.
    refused = maintain(table, "vacuum", "--retain", "0")
    assert refused.code == EXIT_USAGE and "--retain" in refused.stderr, refused
    objects_before = table.objects()
    dry = maintain(table, "vacuum", "--retain", "0", "--force", "--dry-run").expect(EXIT_OK)
    assert dry.summary["versions_expired"] == len(appends), dry
    assert table.objects() == objects_before, "a dry run deleted something"
    assert len(table.snapshots()) == len(appends) + 1, "a dry run expired snapshots"

    run = maintain(table, "vacuum", "--retain", "0", "--force").expect(EXIT_OK)
    assert run.summary["versions_expired"] == len(appends), run
    left = table.snapshots()
    assert [s.snapshot_id for s in left] == [snapshots[-1].snapshot_id]
    objects = table.objects()
    location = table.load().metadata.location.rstrip("/") + "/"
    data = {location + k for k in objects if k.endswith(".parquet")}
    assert data == after, "vacuum left merged files, or deleted a live one"
    manifests = {k for k in objects if k.endswith(".avro")}
    deleted = set(run.summary["deleted"])
    assert deleted == set(objects_before) - set(objects)
    assert {location + k for k in deleted if k.endswith(".parquet")} == merged
    # What the current snapshot reads is all there: its list, its manifests, its files.
    assert all(k.startswith("metadata/") for k in manifests)
    assert table.rows() == expected
    # Nothing left to do.
    again = maintain(table, "vacuum", "--retain", "0", "--force").expect(EXIT_OK)
    assert again.summary["files_deleted"] == 0 and again.summary["versions_expired"] == 0, again
    # The converter's own files are never deleted.
    assert any(k.startswith("_ledger/") for k in objects)


def test_three_shards_and_a_compaction_at_once(seaweed, archive, tmp_path):
    table = Table(seaweed)
    files, later = archive["files"], archive["later"]
    # Small files to merge: one run per object of the first archive.
    for name, path in sorted(files.items()):
        table.convert(copy_inputs({name: path}, tmp_path / name.replace("/", "_"))).expect(EXIT_OK)
    folder = copy_inputs({f"later/{k}": v for k, v in later.items()}, tmp_path / "later")
    summaries = [tmp_path / f"shard-{i}.json" for i in range(3)]
    shards = [table.start(folder, "-v", "--shard", f"{i}/3", "--summary-json", summaries[i],
                          logdir=tmp_path / "logs") for i in range(3)]
    compaction, summary = maintain(table, "compact", "--min-age", "0", "-v",
                                   background_logdir=tmp_path / "logs")
    for run in [*[s.wait(timeout=180) for s in shards], compaction.wait(timeout=180)]:
        assert run.code == EXIT_OK, run
    compacted = json.loads(summary.read_text())
    assert compacted["files_removed"] >= 4, compacted
    assert table.rows() == expected_rows({**files, **later})
    operations = [summary_of(s)["operation"] for s in table.snapshots()]
    assert operations.count("replace") == 1, operations
    converting = sum(1 for p in summaries if json.loads(p.read_text())["inputs_converted"] > 0)
    assert operations.count("append") == len(files) + converting, operations


def test_compact_and_vacuum_read_the_dataset_and_partitioning_from_the_table(seaweed, tmp_path):
    """A table of another dataset with other partition columns: `compact` and `vacuum` need no
    flag that repeats them; a flag that contradicts the table is refused in one sentence, and
    nothing is committed."""
    generated = tmp_path / "gen"
    subprocess.run([str(storage.GENERATE), "--out", generated, "--dataset", "dns_logs", "--rows", "3000",
                    "--files", "6", "--hours", "1", "--seed", "3"], check=True, capture_output=True)
    table = Table(seaweed, "dns")
    for path in sorted(p for p in generated.rglob("*") if p.is_file()):  # one run per input
        table.convert(path, "--dataset", "dns_logs", "--partition-by", "date,ResponseCached").expect(EXIT_OK)
    before = table.arrow()
    snapshots = len(table.snapshots())
    for flags, sentence in [
        (["--dataset", "spectrum_events"],
         "--dataset says spectrum_events, and the table holds the dataset dns_logs: leave --dataset out"),
        (["--partition-by", "date,hour"],
         "--partition-by date,hour, and the table is partitioned by date,ResponseCached: leave "
         "--partition-by out"),
    ]:
        refused = maintain(table, "compact", "--min-age", "0", *flags)
        assert refused.code != EXIT_OK and sentence in refused.stderr, refused
        assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
        assert len(table.snapshots()) == snapshots, "a refused compaction committed"
    compacted = maintain(table, "compact", "--min-age", "0").expect(EXIT_OK)
    assert compacted.summary["files_removed"] > compacted.summary["files_added"] > 0, compacted
    after = table.arrow()
    assert after.num_rows == before.num_rows == 3000
    assert sorted(after.to_pylist(), key=repr) == sorted(before.to_pylist(), key=repr)
    maintain(table, "vacuum", "--retain", "0", "--force").expect(EXIT_OK)
    assert len(table.data_objects()) == compacted.summary["files_after"]
