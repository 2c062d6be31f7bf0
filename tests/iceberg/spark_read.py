"""Read one table of the Iceberg REST catalog with Spark 3.5 and Iceberg's Spark runtime; run by
test_spark.py with the Python of .venv-iceberg-spark (pyspark and the runtime jar live there).

Usage: spark_read.py COPY TABLE OUT
  COPY   a local folder holding a copy of the table's bucket (COPY/<bucket>/<key>)
  TABLE  NAMESPACE.TABLE in the catalog
  OUT    a folder: OUT/<mode>/ gets the rows as Parquet, OUT/result.json what was read

The catalog comes from ICEBERG_CATALOG_URI, ICEBERG_WAREHOUSE, ICEBERG_CATALOG_CLIENT_ID and
ICEBERG_CATALOG_CLIENT_SECRET. Spark loads the table through the catalog (OAuth2 client
credentials); its files are read from COPY, as no S3 client is on Spark's classpath (see
test_spark.py): Iceberg's HadoopFileIO opens `s3://<bucket>/<key>`, and Hadoop's
ViewFileSystemOverloadScheme, standing in for the `s3` scheme, maps the bucket onto COPY/<bucket>.

The rows are read twice: with Iceberg's vectorized Parquet reader (Spark's default) and with
the row-by-row one; a read that fails records its error instead of rows.
"""

import glob
import json
import os
import sys
from pathlib import Path

copy, table, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
jars = glob.glob(f"{sys.prefix}/lib/python*/site-packages/snowpark_connect_deps_iceberg/jars/"
                 "iceberg-spark-runtime-3.5_2.12-*.jar")
assert len(jars) == 1, jars
bucket = "warehouse"

from pyspark.sql import SparkSession  # noqa: E402

uri = os.environ["ICEBERG_CATALOG_URI"]
spark = (SparkSession.builder.master("local[2]").appName("iceberg-read")
         .config("spark.jars", jars[0])
         .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
         .config("spark.sql.session.timeZone", "UTC")
         .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
         .config("spark.sql.catalog.cat", "org.apache.iceberg.spark.SparkCatalog")
         .config("spark.sql.catalog.cat.type", "rest")
         .config("spark.sql.catalog.cat.uri", uri)
         .config("spark.sql.catalog.cat.warehouse", os.environ["ICEBERG_WAREHOUSE"])
         .config("spark.sql.catalog.cat.credential",
                 f"{os.environ['ICEBERG_CATALOG_CLIENT_ID']}:{os.environ['ICEBERG_CATALOG_CLIENT_SECRET']}")
         .config("spark.sql.catalog.cat.oauth2-server-uri", f"{uri}/v1/oauth/tokens")
         .config("spark.sql.catalog.cat.scope", "catalog")
         .config("spark.sql.catalog.cat.io-impl", "org.apache.iceberg.hadoop.HadoopFileIO")
         .config("spark.hadoop.fs.s3.impl", "org.apache.hadoop.fs.viewfs.ViewFileSystemOverloadScheme")
         .config("spark.hadoop.fs.viewfs.overload.scheme.target.file.impl", "org.apache.hadoop.fs.LocalFileSystem")
         .config(f"spark.hadoop.fs.viewfs.mounttable.{bucket}.linkMergeSlash", (copy / bucket).as_uri())
         .getOrCreate())
spark.sparkContext.setLogLevel("ERROR")

result = {"iceberg": os.path.basename(jars[0]), "spark": spark.version}
frame = spark.table(f"cat.{table}")
result["types"] = dict(frame.dtypes)
result["count"] = frame.count()
result["snapshots"] = [row.asDict() for row in spark.sql(
    f"SELECT operation, summary['logpush-parquet.run-id'] AS run_id FROM cat.{table}.snapshots "
    "ORDER BY committed_at").collect()]
for mode, vectorized in (("vectorized", "true"), ("row-by-row", "false")):
    spark.conf.set("spark.sql.iceberg.vectorization.enabled", vectorized)
    try:
        spark.table(f"cat.{table}").write.mode("overwrite").parquet(str(out / mode))
        result[mode] = None
    except Exception as e:  # the reader's error, for the test to show
        text = str(e)
        cause = [line for line in text.splitlines() if "Exception:" in line]
        result[mode] = (cause[0] if cause else text.splitlines()[0]).strip()[:1000]
(out / "result.json").write_text(json.dumps(result))
spark.stop()
