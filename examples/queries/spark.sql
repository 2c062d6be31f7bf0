-- The same queries for Spark SQL, over the table `spectrum_events`. Create it with the statements
-- `logpush-parquet schema --format spark --location LAKE` prints (CREATE TABLE ... USING parquet
-- PARTITIONED BY (date, hour) LOCATION ...; MSCK REPAIR TABLE, again after each run to pick up
-- new partitions), or let spark_queries.py register the folder as a view and run this file.
-- On R2 or S3 the location is s3a://lake/spectrum_events, with hadoop-aws on the classpath and
-- spark.hadoop.fs.s3a.{endpoint,access.key,secret.key} set (see spark_queries.py).
--
-- Each query starts with a `-- name:` line (tests/storage/test_examples.py runs them).

-- name: connection_duration
-- How long connections lasted, per Spectrum application (closed connections only).
SELECT
    Application,
    count(*) AS connections,
    avg(unix_micros(DisconnectTimestamp) - unix_micros(ConnectTimestamp)) / 1e6 AS avg_seconds,
    percentile(unix_micros(DisconnectTimestamp) - unix_micros(ConnectTimestamp), 0.5) / 1e6 AS p50_seconds,
    max(unix_micros(DisconnectTimestamp) - unix_micros(ConnectTimestamp)) / 1e6 AS max_seconds
FROM spectrum_events
WHERE ConnectTimestamp IS NOT NULL AND DisconnectTimestamp IS NOT NULL
GROUP BY Application
ORDER BY connections DESC, Application;

-- name: bytes_per_colo
-- Traffic per Cloudflare data centre: bytes from clients plus bytes from origins.
SELECT
    ColoCode,
    count(*) AS events,
    sum(ClientBytes) AS client_bytes,
    sum(OriginBytes) AS origin_bytes,
    sum(coalesce(ClientBytes, 0) + coalesce(OriginBytes, 0)) AS total_bytes
FROM spectrum_events
GROUP BY ColoCode
ORDER BY total_bytes DESC, ColoCode;

-- name: events_per_hour
-- One day's events by hour and kind; the date condition prunes partitions.
SELECT
    hour,
    Event,
    count(*) AS events
FROM spectrum_events
WHERE date = DATE '2026-11-23'
GROUP BY hour, Event
ORDER BY hour, Event;
