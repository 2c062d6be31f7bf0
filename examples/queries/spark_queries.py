"""Run the Spark SQL queries of spark.sql over a lake that logpush-parquet wrote.

    python examples/queries/spark_queries.py lake/spectrum_events          # pip install pyspark
    spark-submit examples/queries/spark_queries.py lake/spectrum_events

The lake folder is registered as the view `spectrum_events`; Spark discovers the `date=` and
`hour=` folders as DATE and INT partition columns and skips `_ledger/`, `_rejects/` and
`_staging/` (names starting with `_`).

On R2 or S3, give an s3a:// location and the usual AWS_* variables (AWS_ENDPOINT_URL for R2 or a
self-hosted store), and put hadoop-aws on the classpath, of the Hadoop version your Spark ships
(pyspark's jars/hadoop-client-api-*.jar; 3.5.0 with PySpark 4.3):

    spark-submit --packages org.apache.hadoop:hadoop-aws:3.5.0 \\
        examples/queries/spark_queries.py s3a://lake/spectrum_events
"""

import os
import sys
from pathlib import Path

QUERIES = Path(__file__).with_name("spark.sql")


def queries(path: Path = QUERIES) -> list:
    """The (name, SQL) pairs of a file whose queries each start with a `-- name: NAME` line."""
    found, name, lines = [], None, []
    for line in path.read_text().splitlines():
        if line.startswith("-- name:"):
            if name:
                found.append((name, "\n".join(lines).strip().rstrip(";")))
            name, lines = line.split(":", 1)[1].strip(), []
        elif name:
            lines.append(line)
    if name:
        found.append((name, "\n".join(lines).strip().rstrip(";")))
    return found


def session(location: str):
    from pyspark.sql import SparkSession

    builder = (SparkSession.builder.appName("logpush-parquet queries")
               .config("spark.sql.session.timeZone", "UTC"))
    if location.startswith("s3a://"):
        s3a = "spark.hadoop.fs.s3a."
        builder = (builder.config(s3a + "access.key", os.environ["AWS_ACCESS_KEY_ID"])
                   .config(s3a + "secret.key", os.environ["AWS_SECRET_ACCESS_KEY"])
                   .config(s3a + "path.style.access", "true"))
        if os.environ.get("AWS_ENDPOINT_URL"):
            builder = builder.config(s3a + "endpoint", os.environ["AWS_ENDPOINT_URL"])
        if os.environ.get("AWS_REGION"):
            builder = builder.config(s3a + "endpoint.region", os.environ["AWS_REGION"])
    return builder.getOrCreate()


def register(spark, location: str):
    """The lake as the view `spectrum_events`."""
    spark.read.parquet(location).createOrReplaceTempView("spectrum_events")


def main(argv: list) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    spark = session(argv[1])
    register(spark, argv[1])
    for name, sql in queries():
        print(f"-- {name}")
        spark.sql(sql).show(n=50, truncate=False)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
