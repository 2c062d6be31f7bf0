"""Spark 3.5 with Iceberg's Spark runtime reads a catalog table: every row, the documented types,
one `append` snapshot per run with its run id, with the vectorized Parquet reader (Spark's
default) and with the row-by-row one.

Spark runs in a virtual environment of its own (.venv-iceberg-spark: pyspark 3.5.8 and the
Iceberg 1.10.2 runtime jar of snowpark-connect-deps-iceberg 1.0.2), driven by spark_read.py.

What PyPI offers limits how Spark gets at the files:
- snowpark-connect-deps-iceberg 1.0.3 (Iceberg 1.10.2 too) strips the runtime jar of its shaded
  Jackson and HttpClient 5: loading any table fails with `NoClassDefFoundError:
  org/apache/iceberg/shaded/org/apache/hc/core5/http/Method` (the REST client) or
  `.../shaded/com/fasterxml/jackson/core/JsonFactoryBuilder` (metadata JSON). 1.0.2 is whole.
- No package on PyPI or in Debian has the AWS SDK v2 (`iceberg-aws-bundle`, which S3FileIO needs)
  or hadoop-aws (s3a), so Spark cannot read s3:// objects itself. It loads the table through
  the real catalog (OAuth2 client credentials) and reads the files from a local copy of the
  bucket (spark_read.py says how).
- Iceberg 1.9 (snowpark-connect-deps-iceberg 1.0.1) cannot read the tables with its vectorized
  reader: `Cannot support vectorized reads for column [DisconnectTimestamp] ... with encoding
  DELTA_BINARY_PACKED` (the field list's `encoding = "delta"`); 1.10 can, and is what runs here.
"""

import json
import os
import shutil
import subprocess

import pyarrow.parquet as pq
import pytest

from conftest import COLUMNS, ROOT, WAREHOUSE, Table, copy_inputs, data_inputs, expected_rows, storage, summary_of

SPARK_PYTHON = os.environ.get("ICEBERG_SPARK_PYTHON", str(ROOT / ".venv-iceberg-spark" / "bin" / "python"))
SPARK_TYPES = {"string": "string", "int": "bigint", "bool": "boolean", "timestamp": "timestamp"}


@pytest.fixture(scope="module")
def spark_read(seaweed, sample, archive, tmp_path_factory):
    """A table grown by two runs (examples/data, then four later objects), read by Spark once."""
    if not os.path.exists(SPARK_PYTHON):
        pytest.fail(f"{SPARK_PYTHON} is missing: `make test-iceberg` makes .venv-iceberg-spark")
    if shutil.which("java") is None:
        pytest.fail("no Java runtime for Spark: `make java` installs one")
    base = tmp_path_factory.mktemp("spark")
    table = Table(seaweed)
    table.convert(storage.SAMPLE).expect(0)
    table.convert(copy_inputs(archive["later"], base / "in")).expect(0)
    # The table's objects, copied out of the bucket: COPY/<bucket>/<key>.
    location = table.load().metadata.location
    bucket, prefix = location.removeprefix("s3://").split("/", 1)
    assert bucket == WAREHOUSE, location
    copy = base / "copy"
    fs = seaweed.filesystem()
    for key in table.objects():
        target = copy / bucket / prefix / key
        target.parent.mkdir(parents=True, exist_ok=True)
        with fs.open_input_stream(f"{bucket}/{prefix}/{key}") as f:
            target.write_bytes(f.read())
    out = base / "out"
    env = {**os.environ, "ICEBERG_CATALOG_URI": seaweed.catalog_uri, "ICEBERG_WAREHOUSE": WAREHOUSE,
           "ICEBERG_CATALOG_CLIENT_ID": seaweed.access_key, "ICEBERG_CATALOG_CLIENT_SECRET": seaweed.secret_key}
    done = subprocess.run([SPARK_PYTHON, str(ROOT / "tests" / "iceberg" / "spark_read.py"), str(copy), table.ident,
                           str(out)], capture_output=True, text=True, env=env, timeout=240)
    assert done.returncode == 0, f"spark_read.py exited {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-5000:]}"
    result = json.loads((out / "result.json").read_text())
    expected = expected_rows({**data_inputs(sample), **archive["later"]})
    return table, result, out, expected


def test_spark_reads_the_table_through_the_catalog(spark_read):
    table, result, out, expected = spark_read
    want = {f["name"]: SPARK_TYPES[f["type"]] for f in storage.reference.FIELDS}
    assert result["types"] == want | {storage.reference.CATCH_ALL: "string"}, result["types"]
    assert result["count"] == sum(expected.values())
    assert result["snapshots"] == [{"operation": "append", "run_id": summary_of(s)["logpush-parquet.run-id"]}
                                   for s in table.snapshots()]
    assert len(result["snapshots"]) == 2
    assert result["iceberg"] == "iceberg-spark-runtime-3.5_2.12-1.10.2.jar", result["iceberg"]


@pytest.mark.parametrize("mode", ["vectorized", "row-by-row"])
def test_spark_reads_every_row_with_each_parquet_reader(spark_read, mode):
    table, result, out, expected = spark_read
    assert result[mode] is None, result[mode]
    assert storage.table_rows(pq.read_table(out / mode), COLUMNS) == expected
