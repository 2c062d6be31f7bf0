"""The storage suites' harness: the binary, two S3-compatible servers on loopback (s3s-fs keeps
objects on disk and can be stopped and restarted mid-test; moto keeps them in memory), stores
(a local folder or a bucket prefix) behind one small interface, and the exactly-once checks that
compare what a reader sees with an independent reading of the inputs (tests/interop/reference.py).
"""

import base64
import collections
import http.client
import json
import os
import re
import secrets
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "interop"))
import reference  # noqa: E402  (shared with the interop suite; an independent decoder)


def _tool(var: str, default: Path) -> Path:
    value = os.environ.get(var)
    return Path(value).resolve() if value else default


BIN = _tool("LOGPUSH_PARQUET_BIN", ROOT / "target" / "debug" / "logpush-parquet")
GENERATE = _tool("LOGPUSH_GENERATE_BIN", BIN.parent / "examples" / "generate")
S3S_FS_BIN = _tool("S3S_FS_BIN", ROOT / ".tools" / "bin" / "s3s-fs")

NAMES = [f["name"] for f in reference.FIELDS]
TIMESTAMPS = {f["name"] for f in reference.FIELDS if f["type"] == "timestamp"}
ENUMS = {f["name"] for f in reference.FIELDS if "enum" in f}
# What a reader sees: the fields, the catch-all column of unknown keys, the partitions.
COLUMNS = NAMES + [reference.CATCH_ALL, "date", "hour"]
HIVE = ds.partitioning(pa.schema([("date", pa.date32()), ("hour", pa.int32())]), flavor="hive")
SAMPLE = ROOT / "examples" / "data"
MIXED = ROOT / "tests" / "fixtures" / "mixed.ndjson"
# Buckets every server gets: Logpush drops archives into one, the lake lives in another.
LOGS, LAKE = "logs", "lake"
EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_PARTIAL, EXIT_REJECTS, EXIT_LOCKED = 0, 1, 2, 3, 4, 5


# ---------------------------------------------------------------------------------------------
# Polling (never sleeping to win a race: wait for a condition, with a deadline)


def wait_until(condition, timeout: float, what: str, interval: float = 0.02):
    """Call `condition` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# S3-compatible servers


class S3Server:
    """A server process on a free loopback port, with credentials made up for this session."""

    kind = ""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.access_key = "AKIA" + secrets.token_hex(8).upper()
        self.secret_key = secrets.token_urlsafe(30)
        self.region = "us-east-1"
        self.log_path = workdir / f"{self.kind}.log"
        self.proc = None
        self._client = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list:
        raise NotImplementedError

    def start(self):
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(self.command(), stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        wait_until(self._answers, 60, f"{self.kind} to answer on {self.endpoint}")

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}:\n{self.log_tail()}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
            conn.request("GET", "/")
            conn.getresponse().read()
            conn.close()
            return True
        except OSError:
            return False

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self):
        self.stop()
        self.start()

    def outage(self, attempts: int, alive, timeout: float = 120) -> int:
        """Stop the server and, in its place, cut every connection made to its port (a reset
        the client sees as a transient error) until `attempts` were made, then start it again.
        `alive()` says whether the client is still running (an outage nobody saw proves nothing)."""
        self.stop()
        seen = 0
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", self.port))
            sock.listen(16)
            sock.settimeout(0.05)

            def cut():
                nonlocal seen
                try:
                    conn, _ = sock.accept()
                except socket.timeout:
                    if not alive():
                        raise AssertionError(f"the client ended after {seen} attempts during the outage")
                    return False
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                conn.close()  # RST
                seen += 1
                return seen >= attempts

            wait_until(cut, timeout, f"{attempts} connection attempts during the outage", interval=0)
        self.start()
        return seen

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def env(self) -> dict:
        """What the converter needs to reach this server, as the standard AWS environment."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ALLOW_HTTP": "true",
        }

    def client(self):
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3", endpoint_url=self.endpoint, region_name=self.region,
                aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2},
                              request_checksum_calculation="when_required",
                              response_checksum_validation="when_required"))
        return self._client

    def filesystem(self):
        from pyarrow import fs

        return fs.S3FileSystem(access_key=self.access_key, secret_key=self.secret_key,
                               region=self.region, scheme="http",
                               endpoint_override=f"127.0.0.1:{self.port}")

    def create_bucket(self, name: str):
        self.client().create_bucket(Bucket=name)

    def racing_creates(self, trials: int = 10, writers: int = 8) -> list:
        """How many of `writers` simultaneous create-if-absent puts (`If-None-Match: *`) of one
        new key succeed, per trial. A store whose creates are atomic gives 1 every time."""
        import threading

        import boto3
        from botocore.config import Config
        from botocore.exceptions import ClientError

        clients = [boto3.client("s3", endpoint_url=self.endpoint, region_name=self.region,
                                aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
                                config=Config(s3={"addressing_style": "path"},
                                              request_checksum_calculation="when_required"))
                   for _ in range(writers)]
        wins = []
        for trial in range(trials):
            key = f"race-{uuid.uuid4().hex}"
            barrier, won = threading.Barrier(writers), []

            def create(client, i):
                barrier.wait()
                try:
                    client.put_object(Bucket=LAKE, Key=key, Body=str(i).encode(), IfNoneMatch="*")
                    won.append(i)
                except ClientError as e:
                    assert e.response["Error"]["Code"] in ("PreconditionFailed", "ConditionalRequestConflict"), e

            threads = [threading.Thread(target=create, args=(c, i)) for i, c in enumerate(clients)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wins.append(len(won))
        return wins


class S3sFs(S3Server):
    """s3s-fs 0.14.1: objects are plain files under `data/`, so they outlive a restart."""

    kind = "s3s-fs"

    def __init__(self, workdir: Path):
        super().__init__(workdir)
        self.data = workdir / "data"
        self.data.mkdir()

    def command(self):
        if not S3S_FS_BIN.exists():
            pytest.fail(f"{S3S_FS_BIN} is missing: `make tools` installs it")
        # Generated values are passed as `--flag=VALUE`: a key drawn from the URL-safe alphabet
        # begins with `-` once in 64 draws, and as a separate argument clap reads it as a flag.
        return [str(S3S_FS_BIN), "--host=127.0.0.1", f"--port={self.port}",
                f"--access-key={self.access_key}", f"--secret-key={self.secret_key}", "--", str(self.data)]

    def create_bucket(self, name: str):
        (self.data / name).mkdir(exist_ok=True)  # a bucket is a folder

    def uploads_in_progress(self, bucket: str, prefix: str) -> list:
        """Keys of multipart uploads neither completed nor aborted. s3s-fs cannot list them, but
        keeps each as `.bucket-<b64>.object-<b64>.upload-<id>.metadata.json` beside its parts."""
        def unb64(text):
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()

        keys = []
        for path in self.data.glob(".bucket-*.upload-*.metadata.json"):
            match = re.match(r"^\.bucket-([^.]+)\.object-([^.]+)\.upload-", path.name)
            if match and unb64(match[1]) == bucket and unb64(match[2]).startswith(prefix):
                keys.append(unb64(match[2]))
        return sorted(keys)


class Moto(S3Server):
    """moto 5.2.5's standalone server: in memory only, any credentials."""

    kind = "moto"

    def command(self):
        return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]


class IgnoresConditions:
    """moto behind a proxy that drops the conditional headers (`If-None-Match`, `If-Match`) of
    every request: a store that does not enforce create-if-absent, deterministically (s3s-fs
    checks the header and then writes, so racing creators only sometimes both win). moto does
    not verify request signatures, so the requests stay valid without the signed header."""

    kind = "no-conditions"
    DROPPED = ("if-none-match", "if-match")

    def __init__(self, upstream: S3Server):
        import http.server
        import threading

        self.upstream = upstream
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in proxy.DROPPED + ("host", "connection")}
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream.port, timeout=60)
                try:
                    conn.request(self.command, self.path, body=body, headers=headers)
                    reply = conn.getresponse()
                    data = reply.read()
                finally:
                    conn.close()
                self.send_response(reply.status, reply.reason)
                for k, v in reply.getheaders():
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

    def env(self) -> dict:
        return {**self.upstream.env(), "AWS_ENDPOINT_URL": f"http://127.0.0.1:{self.port}"}

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="session")
def no_conditions(moto):
    """A store that lets every racing create-if-absent win (see `IgnoresConditions`)."""
    proxy = IgnoresConditions(moto)
    yield proxy
    proxy.stop()


def _serve(server: S3Server):
    if isinstance(server, S3sFs):
        for bucket in (LOGS, LAKE):
            server.create_bucket(bucket)
        server.start()
    else:
        server.start()
        for bucket in (LOGS, LAKE):
            server.create_bucket(bucket)
    return server


@pytest.fixture(scope="session")
def s3s_fs(tmp_path_factory):
    server = _serve(S3sFs(tmp_path_factory.mktemp("s3s-fs")))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def moto(tmp_path_factory):
    server = _serve(Moto(tmp_path_factory.mktemp("moto")))
    yield server
    server.stop()


@pytest.fixture
def s3s_fs_up(s3s_fs):
    """s3s-fs, running; a test may stop and restart it (`s3s_fs_up.stop()`, `.start()`)."""
    if not s3s_fs.running():
        s3s_fs.start()
    yield s3s_fs
    if not s3s_fs.running():
        s3s_fs.start()


# ---------------------------------------------------------------------------------------------
# Stores: a local folder or a bucket prefix, addressed by keys relative to the store


class LocalStore:
    kind = "local"

    def __init__(self, base: Path):
        self.base = base
        base.mkdir(parents=True, exist_ok=True)

    def url(self, rel: str = "") -> str:
        return str(self.base / rel) if rel else str(self.base)

    def env(self) -> dict:
        return {}

    def put(self, rel: str, data: bytes):
        path = self.base / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    def keys(self, rel: str = "") -> dict:
        """Every object under `rel`: relative key -> size."""
        base = self.base / rel
        if not base.exists():
            return {}
        return {p.relative_to(base).as_posix(): p.stat().st_size
                for p in sorted(base.rglob("*")) if p.is_file()}

    def get(self, rel: str) -> bytes:
        return (self.base / rel).read_bytes()

    def dataset(self, rel: str, partitioning=HIVE):
        return ds.dataset(str(self.base / rel), format="parquet", partitioning=partitioning)


class S3Store:
    def __init__(self, server: S3Server, bucket: str, prefix: str):
        self.server = server
        self.kind = server.kind
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def key(self, rel: str = "") -> str:
        return f"{self.prefix}/{rel}".rstrip("/") if rel else self.prefix

    def url(self, rel: str = "") -> str:
        return f"s3://{self.bucket}/{self.key(rel)}"

    def env(self) -> dict:
        return self.server.env()

    def put(self, rel: str, data: bytes):
        self.server.client().put_object(Bucket=self.bucket, Key=self.key(rel), Body=data)

    def keys(self, rel: str = "") -> dict:
        prefix = self.key(rel) + "/"
        found = {}
        for page in self.server.client().get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                found[obj["Key"][len(prefix):]] = obj["Size"]
        return dict(sorted(found.items()))

    def get(self, rel: str) -> bytes:
        return self.server.client().get_object(Bucket=self.bucket, Key=self.key(rel))["Body"].read()

    def head(self, rel: str) -> dict:
        return self.server.client().head_object(Bucket=self.bucket, Key=self.key(rel))

    def multipart_uploads(self, rel: str = "") -> list:
        """Multipart uploads begun and neither completed nor aborted under `rel`."""
        if isinstance(self.server, S3sFs):
            return self.server.uploads_in_progress(self.bucket, self.key(rel))
        listed = self.server.client().list_multipart_uploads(Bucket=self.bucket, Prefix=self.key(rel))
        return sorted(u["Key"] for u in listed.get("Uploads", []))

    def dataset(self, rel: str, partitioning=HIVE):
        # The files a Spark-like discovery finds, listed here: pyarrow's own discovery starts with
        # a HEAD on the prefix, which s3s-fs answers with a 500 when the prefix is a folder.
        base = f"{self.bucket}/{self.key(rel)}"
        files = [f"{base}/{k}" for k in self.keys(rel) if k.endswith(".parquet") and not hidden(k)]
        return ds.dataset(files, filesystem=self.server.filesystem(), format="parquet",
                          partitioning=partitioning, partition_base_dir=base)


def put_tree(store, rel: str, files: dict):
    """Upload `files` (relative name -> local path) under `rel`; returns the input URL."""
    for name, path in files.items():
        store.put(f"{rel}/{name}", Path(path).read_bytes())
    return store.url(rel) + ("/" if isinstance(store, S3Store) else "")


def make_store(kind: str, request, tmp_path: Path, bucket: str = LAKE):
    """A fresh, empty store of `kind` for one test."""
    if kind == "local":
        return LocalStore(tmp_path / f"store-{uuid.uuid4().hex[:8]}")
    server = request.getfixturevalue("s3s_fs_up" if kind == "s3s-fs" else "moto")
    return S3Store(server, bucket, f"t-{uuid.uuid4().hex[:12]}")


# ---------------------------------------------------------------------------------------------
# Inputs


def tree(folder: Path) -> dict:
    """The files under `folder`: relative name -> path."""
    return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}


def data_inputs(files: dict) -> dict:
    """The inputs that hold rows (Logpush's ownership-challenge files are skipped)."""
    return {k: v for k, v in files.items() if not Path(k).name.startswith("ownership-challenge")}


def generate(out: Path, *, rows: int, files: int, hours: int, seed: int, start: int = 1_795_392_000):
    """Realistic Spectrum archives from the project's deterministic generator."""
    if not GENERATE.exists():
        pytest.fail(f"{GENERATE} is missing: `cargo build --example generate` builds it")
    subprocess.run([str(GENERATE), "--out", str(out), "--rows", str(rows), "--files", str(files),
                    "--hours", str(hours), "--seed", str(seed), "--start", str(start)],
                   check=True, capture_output=True)
    return tree(out)


@pytest.fixture(scope="session")
def sample():
    """examples/data: four hourly Logpush objects and two ownership-challenge files."""
    return tree(SAMPLE)


@pytest.fixture(scope="session")
def archive(tmp_path_factory):
    """A generated multi-file archive (8 objects over 4 hours), and 4 later objects to add."""
    base = tmp_path_factory.mktemp("archive")
    files = generate(base / "base", rows=16_000, files=8, hours=4, seed=11)
    later = generate(base / "later", rows=6_000, files=4, hours=2, seed=12, start=1_795_392_000 + 4 * 3600)
    return {"files": files, "later": later}


class Expected:
    """What an independent reading (tests/interop/reference.py) says inputs must become."""

    _cache = {}

    @classmethod
    def of_file(cls, path: Path):
        key = (str(path), path.stat().st_size, path.stat().st_mtime_ns)
        if key not in cls._cache:
            rows, rejected = reference.expected([path])
            cls._cache[key] = (rows, sorted(line for _, line in rejected))
        return cls._cache[key]

    @classmethod
    def rows(cls, files: dict, columns=COLUMNS) -> collections.Counter:
        counter = collections.Counter()
        for path in files.values():
            rows, _ = cls.of_file(Path(path))
            counter.update(tuple(r[c] for c in columns) for r in rows)
        return counter

    @classmethod
    def rejects(cls, files: dict) -> set:
        """(relative name, line number) of every line that must be rejected."""
        return {(name, line) for name, path in files.items() for line in cls.of_file(Path(path))[1]}


# ---------------------------------------------------------------------------------------------
# Running the binary


def base_env(extra: dict | None = None) -> dict:
    # No store settings of the caller's: a GOOGLE_SERVICE_ACCOUNT_KEY beside a test's own
    # GOOGLE_SERVICE_ACCOUNT makes object_store refuse both.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AWS_", "GOOGLE_")) and k != "JOB_COMPLETION_INDEX"}
    env["NO_COLOR"] = "1"
    env.update(extra or {})
    return env


class Run:
    def __init__(self, args, code, stdout, stderr, elapsed):
        self.args, self.code, self.stdout, self.stderr, self.elapsed = args, code, stdout, stderr, elapsed
        self.summary = None
        if "--summary-json" in args and args[args.index("--summary-json") + 1] == "-":
            try:
                self.summary = json.loads(stdout)
            except ValueError:
                self.summary = None

    def __repr__(self):
        return (f"$ {' '.join(self.args)}\nexit {self.code} after {self.elapsed:.1f} s\n"
                f"--- stdout\n{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-3000:]}")

    def expect(self, code: int):
        assert self.code == code, f"expected exit {code}\n{self!r}"
        if code == 0 and "--summary-json" in self.args:
            assert self.summary is not None, f"no JSON summary on stdout\n{self!r}"
        return self


def command(inputs, output, *args, summary: bool = True) -> list:
    inputs = [inputs] if isinstance(inputs, str) else list(inputs)
    cmd = [str(BIN), "convert", *inputs, "--output", output]
    if summary:
        cmd += ["--summary-json", "-"]
    return cmd + [str(a) for a in args]


def convert(inputs, output, *args, env: dict | None = None, summary: bool = True, timeout: float = 600) -> Run:
    cmd = command(inputs, output, *args, summary=summary)
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, env=base_env(env), timeout=timeout)
    return Run(cmd, done.returncode, done.stdout, done.stderr, time.monotonic() - started)


def run_raw(args: list, env: dict | None = None, timeout: float = 120) -> Run:
    cmd = [str(BIN), *[str(a) for a in args]]
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, text=True, env=base_env(env), timeout=timeout)
    return Run(cmd, done.returncode, done.stdout, done.stderr, time.monotonic() - started)


class Background:
    """A conversion running in the background, its output in files (no pipe to fill up)."""

    def __init__(self, cmd: list, env: dict | None, logdir: Path):
        self.cmd = cmd
        logdir.mkdir(parents=True, exist_ok=True)
        tag = uuid.uuid4().hex[:8]
        self.out_path, self.err_path = logdir / f"{tag}.out", logdir / f"{tag}.err"
        self.started = time.monotonic()
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=err, stdin=subprocess.DEVNULL,
                                         env=base_env(env))

    def kill(self) -> bool:
        """SIGKILL; true if the process was still running (so the kill cut it short)."""
        if self.proc.poll() is not None:
            return False
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        return True

    def wait(self, timeout: float = 600) -> Run:
        self.proc.wait(timeout)
        return Run(self.cmd, self.proc.returncode, self.out_path.read_text(errors="replace"),
                   self.err_path.read_text(errors="replace"), time.monotonic() - self.started)


# ---------------------------------------------------------------------------------------------
# What readers see, and the exactly-once checks


def table_rows(table: pa.Table, columns=COLUMNS) -> collections.Counter:
    """Rows as a multiset of tuples, timestamps in microseconds, enums as plain strings, the
    catch-all column as the exact texts of its members (see reference.extra_members)."""
    values = []
    for name in columns:
        col = table.column(name)
        if name in TIMESTAMPS:
            col = pc.cast(col, pa.int64())
        elif name in ENUMS:
            col = pc.cast(col, pa.string())
        elif name == reference.CATCH_ALL:
            values.append([reference.extra_members(v) for v in col.to_pylist()])
            continue
        values.append(col.to_pylist())
    return collections.Counter(zip(*values))


def output_table(store, root: str, partitioning=HIVE) -> pa.Table:
    """The output as Spark and pyarrow discover it (names starting `_` or `.` are skipped)."""
    if not store.keys(root):
        return None
    return store.dataset(root, partitioning).to_table()


def output_rows(store, root: str, columns=COLUMNS) -> collections.Counter:
    table = output_table(store, root)
    return collections.Counter() if table is None else table_rows(table, columns)


def manifests(store, root: str) -> list:
    return [json.loads(store.get(f"{root}/_ledger/runs/{key}"))
            for key in store.keys(f"{root}/_ledger/runs") if key.endswith(".json")]


def _relative(path: str, store, root: str) -> str:
    full = store.url(root).rstrip("/") + "/"
    for prefix in (full, full.removeprefix("s3://").split("/", 1)[-1]):
        if path.startswith(prefix):
            return path[len(prefix):]
    return path.lstrip("/")


def committed_files(store, root: str) -> set:
    """Every data file some run's manifest (`_ledger/runs/*.json`) lists."""
    files = set()
    for manifest in manifests(store, root):
        for entry in manifest.get("files", []):
            path = entry["path"] if isinstance(entry, dict) else entry
            files.add(_relative(path, store, root))
    return files


def hidden(key: str) -> bool:
    return any(part.startswith(("_", ".")) for part in key.split("/"))


def check_visible_files(store, root: str):
    """Spark and pyarrow read every `.parquet` outside `_`/`.` folders; DuckDB's `**/*.parquet`
    glob reads `.parquet` names anywhere. Each must be a committed file of some run."""
    keys = store.keys(root)
    committed = committed_files(store, root)
    spark_visible = {k for k in keys if k.endswith(".parquet") and not hidden(k)}
    duckdb_visible = {k for k in keys if k.endswith(".parquet")}
    orphans = sorted(spark_visible - committed)
    assert not orphans, f"visible .parquet files no manifest lists: {orphans}"
    hidden_parquet = sorted(duckdb_visible - spark_visible)
    assert not hidden_parquet, f".parquet names under `_` folders, which DuckDB's glob reads: {hidden_parquet}"
    return spark_visible


def differences(got: collections.Counter, expected: collections.Counter):
    """(duplicates, losses): rows seen more often than the inputs hold them, and rows missing."""
    duplicates = sum((got - expected).values())
    losses = sum((expected - got).values())
    return duplicates, losses


def assert_exactly_once(store, root: str, files: dict, columns=COLUMNS):
    got = output_rows(store, root, columns)
    expected = Expected.rows(files, columns)
    duplicates, losses = differences(got, expected)
    assert (duplicates, losses) == (0, 0), (
        f"{duplicates} rows too many, {losses} rows missing "
        f"(read {sum(got.values())}, inputs hold {sum(expected.values())})")
    check_visible_files(store, root)
    return sum(expected.values())


PART_NAME = re.compile(r"^part-(?P<run>[0-9A-Za-z_-]+)-(?P<n>\d+)\.parquet$")


# ---------------------------------------------------------------------------------------------
# Figures a test reports (kill counts ...), printed at the end of the run even when it passes

FIGURES = []


def report(line: str):
    FIGURES.append(line)
    print(line)


def pytest_terminal_summary(terminalreporter):
    if FIGURES:
        terminalreporter.section("storage figures")
        for line in FIGURES:
            terminalreporter.write_line(line)
