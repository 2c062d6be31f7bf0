"""`az://` against Azurite (the Azure Storage emulator, npm package `azurite`, installed into
.tools by `make tools`): the same guarantees as on S3. Inputs read from a container and output
written to one, every row exactly once as pyarrow reads it back, a re-run converts nothing, the
lease lock's create-if-absent holds (the preflight's race), and a Delta table commits there."""

import os
import subprocess
import time
import uuid
from pathlib import Path

import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest

from conftest import (HIVE, ROOT, assert_exactly_once, base_env, convert, data_inputs, free_port, hidden,
                      put_tree, run_raw, wait_until)

AZURITE = Path(os.environ.get("AZURITE_BIN", ROOT / ".tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"))
# Azurite's well-known development account (public, documented by Microsoft for the emulator).
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
CONTAINER = "lake"


class Azurite:
    def __init__(self, workdir: Path):
        self.port = free_port()
        self.workdir = workdir
        self.proc = subprocess.Popen(
            [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location", str(workdir),
             "--silent", "--skipApiVersionCheck", "--loose"],
            stdout=open(workdir / "azurite.log", "w"), stderr=subprocess.STDOUT)
        wait_until(self.ready, 30, "Azurite to listen")
        self.fs().create_dir(CONTAINER)

    def ready(self) -> bool:
        import socket
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def env(self) -> dict:
        return {
            "AZURE_STORAGE_ACCOUNT_NAME": ACCOUNT,
            "AZURE_STORAGE_ACCOUNT_KEY": KEY,
            "AZURE_STORAGE_USE_EMULATOR": "true",
            "AZURITE_BLOB_STORAGE_URL": f"http://127.0.0.1:{self.port}",
        }

    def fs(self):
        authority = f"127.0.0.1:{self.port}"
        return pafs.AzureFileSystem(account_name=ACCOUNT, account_key=KEY, blob_storage_authority=authority,
                                    blob_storage_scheme="http", dfs_storage_authority=authority,
                                    dfs_storage_scheme="http")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


class AzStore:
    """A prefix of the emulator's container, with the interface of the S3 and local stores."""

    kind = "azurite"

    def __init__(self, server: Azurite, prefix: str):
        self.server = server
        self.prefix = prefix

    def url(self, rel: str = "") -> str:
        return f"az://{CONTAINER}/{self.prefix}/{rel}".rstrip("/")

    def env(self) -> dict:
        return self.server.env()

    def put(self, rel: str, data: bytes):
        with self.server.fs().open_output_stream(f"{CONTAINER}/{self.prefix}/{rel}", compression=None) as out:
            out.write(data)

    def keys(self, rel: str = "") -> dict:
        base = f"{CONTAINER}/{self.prefix}/{rel}".rstrip("/")
        try:
            infos = self.server.fs().get_file_info(pafs.FileSelector(base, recursive=True))
        except FileNotFoundError:
            return {}
        return {i.path[len(base) + 1:]: i.size for i in infos if i.type == pafs.FileType.File}

    def get(self, rel: str) -> bytes:
        with self.server.fs().open_input_stream(f"{CONTAINER}/{self.prefix}/{rel}") as f:
            return f.read()

    def dataset(self, rel: str, partitioning=HIVE):
        base = f"{CONTAINER}/{self.prefix}/{rel}"
        files = [f"{base}/{k}" for k in self.keys(rel) if k.endswith(".parquet") and not hidden(k)]
        return ds.dataset(files, filesystem=self.server.fs(), format="parquet", partitioning=partitioning,
                          partition_base_dir=base)


@pytest.fixture(scope="module")
def azurite(tmp_path_factory):
    if not AZURITE.exists():
        pytest.fail(f"{AZURITE} is missing: `make tools` installs Azurite")
    server = Azurite(tmp_path_factory.mktemp("azurite"))
    yield server
    server.stop()


@pytest.fixture
def store(azurite):
    return AzStore(azurite, f"t-{uuid.uuid4().hex[:12]}")


def test_inputs_and_output_in_azure_every_row_once_and_a_rerun_converts_nothing(store, sample):
    inputs = data_inputs(sample)
    src = put_tree(store, "in", sample)
    first = convert(src, store.url("out"), env=store.env()).expect(0)
    assert first.summary["inputs_converted"] == len(inputs)
    rows = assert_exactly_once(store, "out", inputs)
    assert rows == first.summary["rows_written"]
    again = convert(src, store.url("out"), env=store.env()).expect(0)
    assert again.summary["inputs_converted"] == 0 and again.summary["inputs_already_converted"] == len(inputs)
    assert_exactly_once(store, "out", inputs)
    # Nothing of the run is left in staging.
    assert not [k for k in store.keys("out") if k.startswith("_staging/") and not k.endswith("/")]


def test_local_inputs_into_azure_and_azure_output_read_back_as_input(store, sample, tmp_path):
    inputs = data_inputs(sample)
    src = str(Path(next(iter(sample.values()))).parent.parent)
    convert(src, store.url("out"), env=store.env()).expect(0)
    assert_exactly_once(store, "out", inputs)


def test_preflight_passes_on_azurite_atomic_create_included(store, sample):
    src = put_tree(store, "in", sample)
    done = run_raw(["check", src, "--output", store.url("out")], env=store.env())
    assert done.code == 0, done
    assert "ok   atomic create" in done.stderr, done.stderr


def test_a_delta_table_commits_in_azure(store, sample, monkeypatch):
    import deltalake

    # deltalake's Azure client finds the emulator's address where ours does.
    monkeypatch.setenv("AZURITE_BLOB_STORAGE_URL", store.server.env()["AZURITE_BLOB_STORAGE_URL"])
    inputs = data_inputs(sample)
    src = put_tree(store, "in", sample)
    done = convert(src, store.url("out"), "--table-format", "delta", env=store.env()).expect(0)
    options = {"account_name": ACCOUNT, "account_key": KEY, "use_emulator": "true", "allow_http": "true"}
    table = deltalake.DeltaTable(store.url("out"), storage_options=options)
    assert table.version() >= 1
    assert table.to_pyarrow_table().num_rows == done.summary["rows_written"] > 0
    assert len(table.file_uris()) == done.summary["files_written"]
    assert len(inputs) == done.summary["inputs_converted"]
