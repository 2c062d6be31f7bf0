"""examples/: the DuckDB and Spark queries run over a real conversion of examples/data and agree
with the same figures computed with pyarrow; the deploy files are well-formed, the command in
each is one the binary accepts (run with --dry-run against moto), and the scheduled ones report
metrics."""

import collections
import datetime as dt
import importlib.util
import os
import re
import shlex
import shutil
import statistics
import subprocess
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import yaml

from conftest import BIN, EXIT_OK, ROOT, SAMPLE, LocalStore, convert, data_inputs, output_table, run_raw

QUERIES = ROOT / "examples" / "queries"
DEPLOY = ROOT / "examples" / "deploy"


def load_spark_queries():
    spec = importlib.util.spec_from_file_location("spark_queries", QUERIES / "spark_queries.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


spark_queries = load_spark_queries()


@pytest.fixture(scope="module")
def lake(tmp_path_factory):
    store = LocalStore(tmp_path_factory.mktemp("examples") / "lake")
    convert(str(SAMPLE), store.url("spectrum_events")).expect(EXIT_OK)
    return store.url("spectrum_events"), output_table(store, "spectrum_events")


# --- what the queries must return, computed with pyarrow and plain Python -------------------


def expected_connection_duration(table: pa.Table) -> dict:
    closed = table.filter(pc.and_(pc.is_valid(table["ConnectTimestamp"]), pc.is_valid(table["DisconnectTimestamp"])))
    micros = pc.subtract(pc.cast(closed["DisconnectTimestamp"], pa.int64()), pc.cast(closed["ConnectTimestamp"], pa.int64()))
    groups = collections.defaultdict(list)
    for app, us in zip(closed["Application"].to_pylist(), micros.to_pylist()):
        groups[app].append(us)
    return {app: (len(v), statistics.fmean(v) / 1e6, statistics.median(v) / 1e6, max(v) / 1e6) for app, v in groups.items()}


def expected_bytes_per_colo(table: pa.Table) -> dict:
    groups = collections.defaultdict(lambda: [0, None, None, 0])
    for colo, client, origin in zip(table["ColoCode"].to_pylist(), table["ClientBytes"].to_pylist(), table["OriginBytes"].to_pylist()):
        g = groups[colo]
        g[0] += 1
        if client is not None:
            g[1] = (g[1] or 0) + client
        if origin is not None:
            g[2] = (g[2] or 0) + origin
        g[3] += (client or 0) + (origin or 0)
    return {colo: tuple(g) for colo, g in groups.items()}


def expected_events_per_hour(table: pa.Table) -> dict:
    day = table.filter(pc.equal(table["date"], pa.scalar(dt.date(2026, 11, 23), pa.date32())))
    return dict(collections.Counter(zip(day["hour"].to_pylist(), pc.cast(day["Event"], pa.string()).to_pylist())))


def check_results(name: str, columns: list, rows: list, table: pa.Table):
    """One query's result against pyarrow: same groups, same figures, sane and in order."""
    assert rows, f"{name} returned nothing"
    got = [dict(zip(columns, r)) for r in rows]
    if name == "connection_duration":
        want = expected_connection_duration(table)
        assert {r["Application"]: r["connections"] for r in got} == {k: v[0] for k, v in want.items()}
        for r in got:
            n, avg, p50, top = want[r["Application"]]
            assert r["avg_seconds"] == pytest.approx(avg) and r["p50_seconds"] == pytest.approx(p50)
            assert r["max_seconds"] == pytest.approx(top)
            assert 0 <= r["p50_seconds"] <= r["max_seconds"], r
        counts = [r["connections"] for r in got]
        assert counts == sorted(counts, reverse=True)
    elif name == "bytes_per_colo":
        want = expected_bytes_per_colo(table)
        assert {r["ColoCode"]: (r["events"], r["client_bytes"], r["origin_bytes"], r["total_bytes"]) for r in got} == want
        assert sum(r["events"] for r in got) == table.num_rows
        totals = [r["total_bytes"] for r in got]
        assert totals == sorted(totals, reverse=True) and totals[0] > 0
    elif name == "events_per_hour":
        want = expected_events_per_hour(table)
        assert {(r["hour"], r["Event"]): r["events"] for r in got} == want
        assert [(r["hour"], r["Event"]) for r in got] == sorted(want)
    else:
        pytest.fail(f"no check for query {name}")


def test_query_files_hold_the_same_queries():
    duck = [n for n, _ in spark_queries.queries(QUERIES / "duckdb.sql")]
    spark = [n for n, _ in spark_queries.queries(QUERIES / "spark.sql")]
    assert duck == spark == ["connection_duration", "bytes_per_colo", "events_per_hour"]


@pytest.mark.parametrize("name", ["connection_duration", "bytes_per_colo", "events_per_hour"])
def test_duckdb_queries_agree_with_pyarrow(name, lake):
    location, table = lake
    con = duckdb.connect()
    con.execute(run_raw(["schema", "--format", "duckdb", "--location", location]).expect(EXIT_OK).stdout)
    sql = dict(spark_queries.queries(QUERIES / "duckdb.sql"))[name]
    relation = con.sql(sql)
    check_results(name, relation.columns, relation.fetchall(), table)


@pytest.fixture(scope="module")
def spark():
    os.environ["TZ"] = "UTC"
    time.tzset()
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]")
               .config("spark.ui.enabled", "false")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.driver.host", "127.0.0.1")
               .config("spark.sql.session.timeZone", "UTC")
               .config("spark.sql.warehouse.dir", str(ROOT / "target" / "spark-warehouse"))
               .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def test_spark_queries_agree_with_pyarrow(lake, spark):
    location, table = lake
    spark_queries.register(spark, location)
    for name, sql in spark_queries.queries():
        df = spark.sql(sql)
        check_results(name, df.columns, [tuple(r) for r in df.collect()], table)


# --- deploy files ---------------------------------------------------------------------------


def manifests() -> dict:
    docs = {}
    for path in sorted(DEPLOY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            docs[(path.name, doc["kind"])] = doc
    return docs


def job_spec(doc: dict) -> dict:
    return doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]


def test_kubernetes_manifests_parse_and_read_the_secret():
    docs = manifests()
    assert set(docs) == {("secret.example.yaml", "Secret"), ("cronjob.yaml", "CronJob"), ("indexed-job.yaml", "Job")}
    secret = docs[("secret.example.yaml", "Secret")]
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_REGION"} <= set(secret["stringData"])
    for key in (("cronjob.yaml", "CronJob"), ("indexed-job.yaml", "Job")):
        spec = job_spec(docs[key])
        pod = spec["template"]["spec"]
        assert pod["restartPolicy"] == "Never"  # podFailurePolicy requires it
        [container] = pod["containers"]
        assert container["args"][0] == "convert"
        assert container["envFrom"] == [{"secretRef": {"name": secret["metadata"]["name"]}}]
        assert not any("SECRET" in e.get("name", "") for e in container.get("env", [])), "a secret in plain env"
        for rule in spec.get("podFailurePolicy", {}).get("rules", []):
            assert rule["onExitCodes"]["containerName"] == container["name"]
            assert set(rule["onExitCodes"]["values"]) <= {1, 2, 3, 4, 5}
    cron = docs[("cronjob.yaml", "CronJob")]
    assert len(cron["spec"]["schedule"].split()) == 5
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"


def test_indexed_job_runs_one_shard_per_index():
    job = manifests()[("indexed-job.yaml", "Job")]
    spec = job["spec"]
    args = spec["template"]["spec"]["containers"][0]["args"]
    assert spec["completionMode"] == "Indexed"
    shards = int(args[args.index("--shards") + 1])
    assert spec["completions"] == shards and spec["parallelism"] == shards
    assert "--shard" not in args  # the index comes from JOB_COMPLETION_INDEX


def deploy_commands() -> dict:
    """The logpush-parquet argument list of every deploy example."""
    commands = {}
    docs = manifests()
    for key in (("cronjob.yaml", "CronJob"), ("indexed-job.yaml", "Job")):
        commands[key[0]] = job_spec(docs[key])["template"]["spec"]["containers"][0]["args"]
    service = (DEPLOY / "logpush-parquet.service").read_text().replace("\\\n", " ")
    [exec_start] = re.findall(r"^ExecStart=(.*)$", service, re.M)
    commands["logpush-parquet.service"] = shlex.split(exec_start)[1:]
    lines = [line for line in (DEPLOY / "crontab").read_text().splitlines() if line.strip() and not line.startswith("#")]
    assert len(lines) == 1
    fields = lines[0].split(None, 5)
    assert len(fields) == 6, "five schedule fields and a command"
    command = fields[5].split("&&")[-1]
    commands["crontab"] = shlex.split(command)[1:]
    return commands


@pytest.mark.parametrize("example", ["cronjob.yaml", "indexed-job.yaml", "logpush-parquet.service", "crontab"])
def test_deploy_command_is_accepted_by_the_binary(example, moto, tmp_path, sample):
    args = list(deploy_commands()[example])
    for i, arg in enumerate(args):
        if arg.startswith("/var/lib/"):  # the summary JSON, the metrics file
            args[i] = str(tmp_path / Path(arg).name)
    buckets = {m.split("/")[2] for m in args if m.startswith("s3://")}
    for bucket in buckets:
        try:
            moto.create_bucket(bucket)
        except Exception as e:  # created by an earlier parametrisation
            if "BucketAlreadyOwnedByYou" not in str(e):
                raise
    source = next(a for a in args if a.startswith("s3://") and args[args.index(a) - 1] != "--output")
    bucket, prefix = source[5:].split("/", 1)
    for name, path in data_inputs(sample).items():
        moto.client().put_object(Bucket=bucket, Key=f"{prefix.rstrip('/')}/{name}", Body=path.read_bytes())
    env = {**moto.env(), "JOB_COMPLETION_INDEX": "0"}
    run = run_raw([*args, "--dry-run"], env=env)
    assert run.code == EXIT_OK, run


def test_scheduled_examples_report_metrics():
    """The systemd service writes into node_exporter's textfile collector folder, which it may
    write; the CronJob pushes to a Pushgateway (test_metrics.py runs both flags for real)."""
    commands = deploy_commands()
    service = commands["logpush-parquet.service"]
    metrics = Path(service[service.index("--metrics-file") + 1])
    assert metrics.parent == Path("/var/lib/node_exporter/textfile_collector") and metrics.suffix == ".prom"
    unit = (DEPLOY / "logpush-parquet.service").read_text()
    assert f"ReadWritePaths={metrics.parent}" in unit.splitlines(), "ProtectSystem=strict would refuse the write"
    assert "SupplementaryGroups=node_exporter" in unit.splitlines()
    cron = commands["cronjob.yaml"]
    push = cron[cron.index("--metrics-push") + 1]
    assert re.fullmatch(r"https?://[^/]+(:\d+)?/?", push), push


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_units_verify(tmp_path):
    for unit in ("logpush-parquet.service", "logpush-parquet.timer"):
        text = (DEPLOY / unit).read_text().replace("/usr/local/bin/logpush-parquet", str(BIN))
        (tmp_path / unit).write_text(text)
    done = subprocess.run(["systemd-analyze", "verify", "--man=no", str(tmp_path / "logpush-parquet.service"),
                           str(tmp_path / "logpush-parquet.timer")], capture_output=True, text=True)
    problems = [line for line in (done.stdout + done.stderr).splitlines()
                if "logpush-parquet" in line and "EnvironmentFile" not in line]
    assert done.returncode == 0 and not problems, done.stdout + done.stderr
