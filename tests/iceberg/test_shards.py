"""Three shards (`--shard 0/3`, `1/3`, `2/3`) started together on the same inputs, into one
catalog table that none of them finds: all exit 0, every input row is in the table exactly once,
and the table has three `append` snapshots, one per shard (`logpush-parquet.shard`), named by the
shards' run ids.

Both through a proxy that makes the catalog's creates exclusive, as the REST specification has
them (SeaweedFS's are not: see `CatalogProxy`). Twice: once with commits straight to the catalog
(whether two collide is up to the timing), once holding each shard's first commit until all
three have sent theirs and then letting them through at once. Then the catalog must refuse all
but one (409: the table changed since the shard loaded it; the proxy sees the answers), and the
refused shards load the table again and commit on top (`commit conflict, trying again` in their
`-v` log).
"""

import json
import re
import shutil
import threading
import urllib.parse

from conftest import (EXIT_OK, RUN_ID, ForwardingProxy, Table, copy_inputs, expected_rows, report, storage,
                      summary_of)

SHARDS = 3


def inputs_every_shard_owns(archive, tmp_path):
    """The archive (12 objects) copied into a folder where each of the three shards owns at least
    one object: shards go by a hash of the input's path, so a folder name is tried until every
    shard gets some (a plain-layout `--dry-run` lists them; it does not touch the catalog)."""
    files = {**archive["files"], **{f"later/{k}": v for k, v in archive["later"].items()}}
    for attempt in range(20):
        folder = copy_inputs(files, tmp_path / f"in-{attempt}")
        owned = []
        for i in range(SHARDS):
            run = storage.run_raw(["convert", folder, "--output", tmp_path / f"dry-{attempt}", "--dry-run",
                                   "--shard", f"{i}/{SHARDS}"])
            assert run.code == EXIT_OK, run
            owned.append(len(run.stdout.split()))
        if all(owned):
            assert sum(owned) == len(files), owned
            return folder, files
        shutil.rmtree(folder)
    raise AssertionError("no folder name gave every shard an input in 20 tries")


def run_shards(table: Table, folder, tmp_path):
    summaries = [tmp_path / f"shard-{i}.json" for i in range(SHARDS)]
    runs = [table.start(folder, "-v", "--shard", f"{i}/{SHARDS}", "--summary-json", summaries[i],
                        logdir=tmp_path / "logs") for i in range(SHARDS)]
    done = [run.wait(timeout=180) for run in runs]
    for run in done:
        assert run.code == EXIT_OK, run
    return done, [json.loads(p.read_text()) for p in summaries]


def run_shards_through(proxy, seaweed, folder, tmp_path):
    """`run_shards` into a new table of `seaweed`, the shards talking to the catalog through
    `proxy` (stopped after): (the table, the runs, their summaries)."""
    with proxy:
        table = Table(seaweed)
        table.catalog_uri = proxy.uri
        return (table, *run_shards(table, folder, tmp_path))


def check_three_appends(table: Table, files: dict, summaries: list):
    assert all(s["inputs_converted"] > 0 for s in summaries), [s["inputs_converted"] for s in summaries]
    assert table.rows() == expected_rows(files)
    snapshots = [summary_of(s) for s in table.snapshots()]
    assert len(snapshots) == SHARDS, snapshots
    assert all(s["operation"] == "append" for s in snapshots), snapshots
    assert sorted(s["logpush-parquet.shard"] for s in snapshots) == [f"{i}-of-{SHARDS}" for i in range(SHARDS)]
    by_shard = {s["logpush-parquet.shard"]: s for s in snapshots}
    for i, summary in enumerate(summaries):
        snapshot = by_shard[f"{i}-of-{SHARDS}"]
        assert snapshot[RUN_ID] == summary["run_id"], (snapshot, summary["run_id"])
        assert int(snapshot["added-records"]) == summary["rows_written"], snapshot
    chain = table.snapshots()
    assert [s.parent_snapshot_id for s in chain[1:]] == [s.snapshot_id for s in chain[:-1]], "not one line of history"


def conflicts_logged(runs) -> int:
    return sum(len(re.findall(r"commit conflict, trying again", run.stderr)) for run in runs)


def test_three_shards_started_together_commit_every_row_once(seaweed, archive, tmp_path):
    folder, files = inputs_every_shard_owns(archive, tmp_path)
    proxy = CatalogProxy(seaweed.iceberg_port)
    table, runs, summaries = run_shards_through(proxy, seaweed, folder, tmp_path)
    check_three_appends(table, files, summaries)
    report(f"iceberg shards straight at the catalog (creates one at a time): {proxy.creates_refused} creates "
           f"answered 409, {conflicts_logged(runs)} commit conflicts retried")


class CatalogProxy(ForwardingProxy):
    """A proxy in front of the catalog that makes creates exclusive and can hold commits.

    Creates: SeaweedFS 4.48 answers each of several creates of one table at once 200, each with
    a table of its own (some at a location of their own), and keeps the last; it answers some of
    several creates of one namespace at once 500. The REST specification answers a create of
    what exists 409 (AlreadyExists), and that is the catalog the shards are tested against: the
    proxy passes namespace and table creates one at a time and answers 409 itself to a create of
    one that exists. (The tool loads the table after creating it and retries a namespace create
    that failed, which narrows SeaweedFS's race without closing it.)

    Commits (`POST /v1/<prefix>/namespaces/<ns>/tables/<table>`): with `hold`, the first `hold`
    are held until all have arrived, then forwarded at once; the status the catalog answered to
    every commit is recorded."""

    CREATE_TABLE = re.compile(r"^/v1/[^/]+/namespaces/[^/]+/tables$")
    CREATE_NAMESPACE = re.compile(r"^/v1/[^/]+/namespaces$")

    def __init__(self, upstream_port: int, hold: int = 0, timeout: float = 60):
        self.barrier = threading.Barrier(hold, timeout=timeout) if hold else None
        self.held = 0
        self.statuses = []
        self.creates_refused = 0
        self.lock = threading.Lock()
        self.create_lock = threading.Lock()
        super().__init__(upstream_port)

    def handle(self, method, path, body, headers):
        if method == "POST" and (created := self.created_path(path, body)):
            with self.create_lock:
                auth = {k: v for k, v in headers.items() if k.lower() == "authorization"}
                if self.forward("GET", created, None, auth)[0] == 200:
                    with self.lock:
                        self.creates_refused += 1
                    error = {"message": f"{created} already exists", "type": "AlreadyExistsException",
                             "code": 409}
                    return (409, "Conflict", [("Content-Type", "application/json")],
                            json.dumps({"error": error}).encode())
                return self.forward(method, path, body, headers)
        commit = method == "POST" and self.TABLE.match(path)
        if commit and self.barrier is not None:
            with self.lock:
                hold = self.held < self.barrier.parties
                self.held += hold
            if hold:
                self.barrier.wait()
        answer = self.forward(method, path, body, headers)
        if commit:
            with self.lock:
                self.statuses.append(answer[0])
        return answer

    def created_path(self, path: str, body: bytes | None) -> str | None:
        """The path of what a POST to `path` creates (a table or a namespace), or None."""
        if not (self.CREATE_TABLE.match(path) or self.CREATE_NAMESPACE.match(path)):
            return None
        request = json.loads(body or b"{}")
        if self.CREATE_TABLE.match(path):
            return f"{path}/{urllib.parse.quote(request['name'], safe='')}"
        return f"{path}/{urllib.parse.quote(chr(0x1f).join(request['namespace']), safe='')}"


def test_three_shards_whose_commits_collide_retry_and_commit_every_row_once(seaweed, archive, tmp_path):
    folder, files = inputs_every_shard_owns(archive, tmp_path)
    proxy = CatalogProxy(seaweed.iceberg_port, hold=SHARDS)
    table, runs, summaries = run_shards_through(proxy, seaweed, folder, tmp_path)
    assert proxy.held == SHARDS and not proxy.barrier.broken, "the three commits did not all reach the proxy"
    first = proxy.statuses[:SHARDS]
    # Three commits on the same parent at once: one wins, the catalog refuses the others.
    assert sorted(first) == [200, 409, 409], proxy.statuses
    assert proxy.statuses.count(200) == SHARDS, proxy.statuses
    check_three_appends(table, files, summaries)
    logged = conflicts_logged(runs)
    assert logged == proxy.statuses.count(409), (f"{proxy.statuses.count(409)} commits refused with 409, "
                                                 f"{logged} conflicts logged with -v")
    report(f"iceberg shards through the commit barrier: catalog answers {proxy.statuses}, {logged} retries logged")
