import json
import os
import subprocess
from pathlib import Path

import pytest

import reference

ROOT = reference.ROOT
BIN = os.environ.get("LOGPUSH_PARQUET_BIN", str(ROOT / "target" / "debug" / "logpush-parquet"))


def convert(out: Path, *args: str):
    cmd = [BIN, "convert", "-o", str(out), "--summary-json", "-", *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


class Converted:
    """One conversion, and what an independent reading of its inputs says it must hold."""

    def __init__(self, out: Path, summary: dict, inputs, schema=None):
        self.out = out
        self.summary = summary
        self.expected, must_reject = reference.expected(inputs, schema)
        rejected = set()
        if summary["rejects_file"]:
            for line in (out / summary["rejects_file"]).read_text().splitlines():
                r = json.loads(line)
                rejected.add((r["source"], r["line"]))
        assert rejected == must_reject, "the converter and the reference disagree on rejects"
        assert len(self.expected) == summary["rows_written"]


@pytest.fixture(scope="session")
def converted(tmp_path_factory):
    """The bundled sample plus the mixed-forms fixture, partitioned by date and hour."""
    out = tmp_path_factory.mktemp("interop") / "out"
    sample = ROOT / "examples" / "data"
    mixed = ROOT / "tests" / "fixtures" / "mixed.ndjson"
    summary = convert(out, str(sample), str(mixed), "--max-reject-ratio", "0.5")
    return Converted(out, summary, reference.input_files(sample, mixed))


@pytest.fixture(scope="session")
def by_application(tmp_path_factory):
    """The mixed fixture partitioned by Application (escaped values, a NULL partition)."""
    out = tmp_path_factory.mktemp("interop-app") / "out"
    mixed = ROOT / "tests" / "fixtures" / "mixed.ndjson"
    summary = convert(out, str(mixed), "--max-reject-ratio", "0.5", "--partition-by", "Application")
    return Converted(out, summary, [mixed])


@pytest.fixture(scope="session")
def spark():
    os.environ["TZ"] = "UTC"
    import time

    time.tzset()
    from pyspark.sql import SparkSession

    warehouse = ROOT / "target" / "spark-warehouse"
    session = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", str(warehouse))
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def schema_text(fmt: str, location: Path, *args: str) -> str:
    done = subprocess.run([BIN, "schema", "--format", fmt, "--location", str(location), *args], capture_output=True, text=True, check=True)
    return done.stdout
