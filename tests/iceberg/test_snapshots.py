"""One Iceberg snapshot per run that converts something, none for a run that has nothing new.

Two runs over a growing input folder (a generated archive, then four later objects) make two
`append` snapshots, the second the child of the first, each summary naming the run
(`logpush-parquet.run-id`, as the run's JSON summary does), its shard and inputs, and counting its
rows and files as the run did; the snapshot's manifests add exactly the files the run wrote.
Reading as of the first snapshot gives the first run's rows, the current snapshot every row once.
A third run with nothing new commits nothing: no snapshot, no row, the metadata unchanged.
"""

from conftest import (COLUMNS, RUN_ID, Table, copy_inputs, expected_rows, storage, summary_of)


def added_files(table, snapshot) -> set:
    """Data files the snapshot's manifests mark as added by it, relative to the table location."""
    loaded = table.load()
    io = loaded.io
    location = loaded.metadata.location.rstrip("/") + "/"
    found = set()
    for manifest in snapshot.manifests(io):
        for entry in manifest.fetch_manifest_entry(io, discard_deleted=True):
            if entry.snapshot_id == snapshot.snapshot_id and entry.status.name == "ADDED":
                found.add(entry.data_file.file_path.removeprefix(location))
    return found


def test_each_run_commits_one_append_snapshot_named_by_its_run_id(seaweed, archive, tmp_path):
    table = Table(seaweed)
    folder = copy_inputs(archive["files"], tmp_path / "in")
    first = table.convert(folder).expect(0)
    copy_inputs(archive["later"], folder)
    second = table.convert(folder).expect(0)
    assert (first.summary["inputs_converted"], second.summary["inputs_converted"]) == (8, 4)
    assert (first.summary["inputs_already_converted"], second.summary["inputs_already_converted"]) == (0, 8)

    snapshots = table.snapshots()
    assert len(snapshots) == 2, [summary_of(s) for s in snapshots]
    assert snapshots[1].parent_snapshot_id == snapshots[0].snapshot_id
    assert table.load().metadata.current_snapshot_id == snapshots[1].snapshot_id
    total = 0
    for snapshot, run in zip(snapshots, (first, second)):
        summary = summary_of(snapshot)
        assert summary["operation"] == "append", summary
        assert summary[RUN_ID] == run.summary["run_id"] and run.summary["run_id"], summary
        assert summary["logpush-parquet.shard"] == "0-of-1", summary
        assert int(summary["logpush-parquet.inputs"]) == run.summary["inputs_converted"], summary
        assert int(summary["added-records"]) == run.summary["rows_written"], summary
        assert int(summary["added-data-files"]) == run.summary["files_written"] == len(run.summary["files"])
        total += run.summary["rows_written"]
        assert int(summary["total-records"]) == total, summary
        assert added_files(table, snapshot) == {f["path"] for f in run.summary["files"]}
    assert summary_of(snapshots[0])[RUN_ID] != summary_of(snapshots[1])[RUN_ID]

    # As of the first snapshot: the first run's rows; now: every row of both runs once.
    loaded = table.load()
    as_of_first = loaded.scan(snapshot_id=snapshots[0].snapshot_id).to_arrow()
    assert storage.table_rows(as_of_first, COLUMNS) == expected_rows(archive["files"])
    every = expected_rows({**archive["files"], **archive["later"]})
    assert table.rows() == every

    # Nothing new: no commit at all.
    metadata = loaded.metadata_location
    again = table.convert(folder).expect(0)
    assert again.summary["committed"] is False and again.summary["rows_written"] == 0, again.summary
    assert again.summary["inputs_already_converted"] == 12
    assert [s.snapshot_id for s in table.snapshots()] == [s.snapshot_id for s in snapshots]
    assert table.load().metadata_location == metadata, "a run with nothing new wrote table metadata"
    assert table.rows() == every
