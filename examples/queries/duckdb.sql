-- Queries over the lake logpush-parquet writes, for DuckDB. They read the view `spectrum_events`
-- that `logpush-parquet schema --format duckdb --location LAKE` prints, so on a local lake:
--
--   { logpush-parquet schema --format duckdb --location lake/spectrum_events; cat examples/queries/duckdb.sql; } | duckdb
--
-- On R2 or S3, load httpfs and give DuckDB the bucket's credentials first (then LOCATION is
-- s3://lake/spectrum_events, or r2://lake/spectrum_events with an R2 secret):
--
--   INSTALL httpfs; LOAD httpfs;
--   CREATE SECRET lake (TYPE r2, KEY_ID '...', SECRET '...', ACCOUNT_ID '<account id>');
--   -- or: CREATE SECRET lake (TYPE s3, KEY_ID '...', SECRET '...', REGION 'eu-west-1');
--   -- or, self-hosted: CREATE SECRET lake (TYPE s3, KEY_ID '...', SECRET '...',
--   --                    ENDPOINT 'minio.internal:9000', URL_STYLE 'path', USE_SSL false);
--
-- Each query below starts with a `-- name:` line (tests/storage/test_examples.py runs them one by
-- one and checks their results against pyarrow).

-- name: connection_duration
-- How long connections lasted, per Spectrum application. Open connections carry no
-- DisconnectTimestamp (a zero in the logs reads as NULL), so only closed ones are counted.
SELECT
    Application,
    count(*) AS connections,
    avg(epoch_us(DisconnectTimestamp) - epoch_us(ConnectTimestamp)) / 1e6 AS avg_seconds,
    quantile_cont(epoch_us(DisconnectTimestamp) - epoch_us(ConnectTimestamp), 0.5) / 1e6 AS p50_seconds,
    max(epoch_us(DisconnectTimestamp) - epoch_us(ConnectTimestamp)) / 1e6 AS max_seconds
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
-- One day's events by hour and kind; the date and hour conditions prune partitions (folders),
-- so only that day's files are read.
SELECT
    hour,
    Event,
    count(*) AS events
FROM spectrum_events
WHERE date = DATE '2026-11-23'
GROUP BY hour, Event
ORDER BY hour, Event;
