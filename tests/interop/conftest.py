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

    def __init__(self, out: Path, summary: dict, inputs, schema=None, unknown_fields=None, strict=False):
        self.out = out
        self.summary = summary
        self.reading = reference.read(inputs, schema, unknown_fields, strict)
        self.expected, must_reject = self.reading.rows, self.reading.rejected
        self.rejects = rejects(out, summary)
        rejected = set(self.rejects)
        assert rejected == must_reject, "the converter and the reference disagree on rejects"
        assert len(self.expected) == summary["rows_written"]
        # The summary counts what the reference counts: readings per field, unknown keys by
        # name, near misses.
        assert summary["values_coerced"] == dict(self.reading.values_coerced)
        assert summary["unknown_fields"] == dict(self.reading.unknown_fields)
        assert summary["near_misses"] == dict(self.reading.near_misses)


def rejects(out: Path, summary: dict) -> dict:
    """The rejects file's records by (source, line)."""
    records = {}
    if summary["rejects_file"]:
        for line in (out / summary["rejects_file"]).read_text().splitlines():
            r = json.loads(line)
            records[(r["source"], r["line"])] = r
    return records


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
