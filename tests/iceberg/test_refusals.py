"""Runs the catalog or the table refuses: one clear sentence on stderr, nothing written.

Each run below fails (exit 1; 2 for options) and says why in one line (`error: ...`, no panic,
no stack of causes), naming what to fix:

- a wrong OAuth2 client secret, and a wrong static token (the catalog answers 401);
- a catalog nobody listens at (a port held bound, not listening: connections are refused);
- options an Iceberg table cannot take (`--timestamp-unit ns` or `ms`, `--reprocess`): exit 2;
- an existing table whose partition spec differs (`--partition-by date`, day(Timestamp), into a
  table partitioned by hour(Timestamp)), an existing table of another dataset, and a field list
  in which one field has another type than the table's column;
- a table the catalog moved to another location since the run loaded it (another table of the
  same name, created elsewhere meanwhile).

Nothing is written: no new snapshot or metadata, no data file, no ledger entry of a run, and
where the table did not exist, no table and no namespace.
"""

import json
import socket

import pytest

from conftest import EXIT_ERROR, EXIT_USAGE, ROOT, ForwardingProxy, Table, copy_inputs


def one_sentence(run) -> str:
    """The run's one line on stderr (`error: ...`), checked for noise."""
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr\n{run!r}"
    line = lines[0]
    assert line.startswith("error: "), run
    for noise in ("panicked", "RUST_BACKTRACE", "stack backtrace", "Caused by", "Error {", "reqwest::"):
        assert noise not in line, f"{noise!r} in the message\n{run!r}"
    return line


def written(table: Table) -> dict:
    """What a run could have written under the table: every object but the lock files (taking
    the output's lock before finding out is allowed)."""
    return {k: v for k, v in table.objects().items() if not k.startswith("_ledger/locks/")}


@pytest.fixture
def fresh(seaweed):
    """A table (and namespace) that does not exist yet."""
    table = Table(seaweed)
    assert not table.namespace_exists()
    return table


def assert_nothing_created(table: Table):
    assert not table.namespace_exists(), "a refused run created the namespace"
    assert not table.exists(), "a refused run created the table"


def test_a_wrong_client_secret_is_refused_in_one_sentence(seaweed, fresh):
    run = fresh.convert(ROOT / "examples" / "data", env=seaweed.env(ICEBERG_CATALOG_CLIENT_SECRET="Sk" + "0" * 40))
    assert run.code == EXIT_ERROR, run
    line = one_sentence(run)
    assert "refused the client credentials in ICEBERG_CATALOG_CLIENT_ID and ICEBERG_CATALOG_CLIENT_SECRET" in line
    assert "401" in line and seaweed.catalog_uri in line, line
    assert_nothing_created(fresh)


def test_a_wrong_static_token_is_refused_in_one_sentence(seaweed, fresh):
    env = seaweed.env(ICEBERG_CATALOG_CLIENT_ID=None, ICEBERG_CATALOG_CLIENT_SECRET=None,
                      ICEBERG_CATALOG_TOKEN="not-a-token")
    run = fresh.convert(ROOT / "examples" / "data", env=env)
    assert run.code == EXIT_ERROR, run
    line = one_sentence(run)
    assert "ICEBERG_CATALOG_TOKEN" in line and "refused" in line, line
    assert_nothing_created(fresh)


def test_an_unreachable_catalog_is_refused_in_one_sentence(seaweed, fresh):
    with socket.socket() as held:  # bound, never listening: nothing can answer on this port
        held.bind(("127.0.0.1", 0))
        port = held.getsockname()[1]
        fresh.catalog_uri = f"http://127.0.0.1:{port}"
        run = fresh.convert(ROOT / "examples" / "data")
    assert run.code == EXIT_ERROR, run
    line = one_sentence(run)
    assert f"cannot reach the catalog at http://127.0.0.1:{port}" in line, line
    assert_nothing_created(fresh)


@pytest.fixture
def existing(seaweed):
    """A spectrum_events table partitioned by hour(Timestamp), with one run of examples/data."""
    table = Table(seaweed)
    table.convert(ROOT / "examples" / "data").expect(0)
    return table


def changed_type_list(tmp_path):
    text = (ROOT / "schema" / "spectrum_events.toml").read_text()
    changed = text.replace('name = "ClientPort"\ntype = "int"', 'name = "ClientPort"\ntype = "string"')
    assert changed != text
    path = tmp_path / "changed.toml"
    path.write_text(changed)
    return path


@pytest.mark.parametrize("case, args, message", [
    ("partitioning", ["--partition-by", "date"],
     "the table is partitioned by hour(Timestamp), and this run's --partition-by date means day(Timestamp)"),
    ("dataset", ["--dataset", "http_requests"],
     "the table holds the dataset spectrum_events, and this run converts http_requests"),
    ("type", None,
     "the column ClientPort is long in the table, and string in this run's field list"),
])
def test_a_run_that_does_not_fit_the_existing_table_is_refused_before_writing(existing, archive, tmp_path, case,
                                                                             args, message):
    before = {"snapshots": [s.snapshot_id for s in existing.snapshots()],
              "metadata": existing.load().metadata_location, "objects": written(existing)}
    args = args or ["--schema", changed_type_list(tmp_path)]
    # New inputs: a refusal must not depend on there being nothing to convert.
    run = existing.convert(copy_inputs(archive["later"], tmp_path / "in"), *args)
    assert run.code == EXIT_ERROR, run
    line = one_sentence(run)
    assert message in line, line
    assert existing.ident in line, line
    after = {"snapshots": [s.snapshot_id for s in existing.snapshots()],
             "metadata": existing.load().metadata_location, "objects": written(existing)}
    new = sorted(set(after["objects"]) - set(before["objects"]))
    assert after == before, f"the refused run ({case}) wrote: {new}"


class MovesTheTable(ForwardingProxy):
    """Answers every load of the table after the first with another location, as when another
    table of the same name was created elsewhere since the run loaded it (a catalog whose
    creates are not exclusive, see test_shards.py)."""

    ELSEWHERE = "-elsewhere"

    def __init__(self, upstream_port: int):
        self.loads = 0
        super().__init__(upstream_port)

    def handle(self, method, path, body, headers):
        status, reason, reply_headers, data = self.forward(method, path, body, headers)
        if method == "GET" and self.TABLE.match(path) and status == 200:
            self.loads += 1
            if self.loads > 1:
                reply = json.loads(data)
                reply["metadata"]["location"] += self.ELSEWHERE
                data = json.dumps(reply).encode()
        return status, reason, reply_headers, data


def test_a_table_replaced_at_another_location_since_the_run_loaded_it_is_refused(seaweed, existing, archive,
                                                                                 tmp_path):
    before = {"snapshots": [s.snapshot_id for s in existing.snapshots()],
              "metadata": existing.load().metadata_location, "objects": written(existing)}
    location = existing.load().metadata.location
    with MovesTheTable(seaweed.iceberg_port) as proxy:
        existing.catalog_uri = proxy.uri
        run = existing.convert(copy_inputs(archive["later"], tmp_path / "in"))
    existing.catalog_uri = seaweed.catalog_uri
    assert proxy.loads >= 2, f"the run loaded the table {proxy.loads} times"
    assert run.code == EXIT_ERROR, run
    line = one_sentence(run)
    assert "the table was replaced in the catalog since this run opened it" in line, line
    assert f"now {location}{MovesTheTable.ELSEWHERE}, not {location}" in line, line
    assert "nothing was committed" in line, line
    after = {"snapshots": [s.snapshot_id for s in existing.snapshots()],
             "metadata": existing.load().metadata_location, "objects": written(existing)}
    assert after == before, f"the refused run wrote: {sorted(set(after['objects']) - set(before['objects']))}"


@pytest.mark.parametrize("args, message", [
    (["--timestamp-unit", "ns"], "Iceberg tables keep timestamps in microseconds: leave --timestamp-unit at us"),
    (["--timestamp-unit", "ms"], "Iceberg tables keep timestamps in microseconds: leave --timestamp-unit at us"),
    (["--reprocess"], "an Iceberg table's runs may have been compacted together"),
])
def test_options_an_iceberg_table_cannot_take_are_usage_errors(fresh, args, message):
    run = fresh.convert(ROOT / "examples" / "data", *args)
    assert run.code == EXIT_USAGE, run
    line = one_sentence(run)
    assert message in line, line
    assert_nothing_created(fresh)
