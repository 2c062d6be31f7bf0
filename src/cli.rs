//! The command line: clap definitions, and their validation into library options before any
//! work starts. The `///` comment on each flag is its `--help` text.

use std::path::PathBuf;
use std::sync::Arc;

use arrow_schema::TimeUnit;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::decode::{DEFAULT_BATCH_SIZE, DecodeOptions};
use crate::error::{Error, Result};
use crate::job::{ConvertOptions, DEFAULT_MAX_REJECT_RATIO, MIN_MEMORY_LIMIT};

/// The largest `--max-line-bytes`: a line's text offsets are 32-bit.
const MAX_LINE_BYTES_LIMIT: u64 = 1 << 30;
use crate::ddl::SchemaFormat;
use crate::decode::csv::CsvColumns;
use crate::partition::PartitionSpec;
use crate::schema::{EventSchema, UnknownFields};
use crate::write::{Codec, ParquetOptions};

/// Convert Cloudflare Logpush archives (gzip NDJSON) into typed, Hive-partitioned Parquet.
#[derive(Debug, Parser)]
#[command(
    name = "logpush-parquet",
    version,
    propagate_version = true,
    term_width = 100
)]
#[command(
    after_help = "Exit codes: 0 success (also when there was nothing new), 1 error, 2 usage \
error, 3 partial failure (some inputs could not be read; the others were committed), 4 reject \
threshold exceeded (no data committed, rejects kept), 5 the output is locked by another run.\n\n\
Object stores: credentials come only from the environment (AWS_ACCESS_KEY_ID, \
AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN; GOOGLE_SERVICE_ACCOUNT; AZURE_STORAGE_ACCOUNT_NAME, \
AZURE_STORAGE_ACCOUNT_KEY), never from flags, and are never printed."
)]
pub struct Cli {
    /// Print only errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Print more about what happens (-vv for debugging detail).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Log format on stderr: `text` for people, `json` (one object per line) for log
    /// collectors.
    #[arg(
        long,
        global = true,
        value_enum,
        value_name = "FORMAT",
        default_value = "text"
    )]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// `--log-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Lines for people.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Convert Logpush archives into partitioned Parquet.
    Convert(Box<ConvertArgs>),
    /// Print the schema, or a statement that registers the output as a table.
    Schema(SchemaArgs),
    /// Merge a Delta or Iceberg table's small files, partition by partition, into few large ones
    /// (one commit; readers see the same rows before, during and after).
    Compact(Box<CompactArgs>),
    /// Expire a Delta or Iceberg table's versions older than the retention period (Iceberg
    /// snapshots), and delete the files no remaining version needs.
    Vacuum(VacuumArgs),
    /// Check, before the first scheduled run, that the inputs can be listed and read, the
    /// catalog reached (Iceberg), the output written, and that its store creates objects
    /// atomically.
    Check(Box<CheckArgs>),
}

/// Arguments of `check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Inputs, as `convert` takes them.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// The output root the runs will write (an Iceberg table's location comes from its
    /// catalog instead: give --table-format iceberg and the Iceberg options).
    #[arg(short, long, value_name = "DIR|URL", required_unless_present = "table")]
    pub output: Option<String>,
    /// The layout the runs will write: with `iceberg`, the catalog steps are checked too.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "plain")]
    pub table_format: crate::commit::TableFormat,
    /// The Iceberg table the runs will write (created unless it exists, as the first run would).
    #[command(flatten)]
    pub iceberg: IcebergArgs,
    /// Partition columns of an Iceberg table to create or check, as `convert` takes them.
    #[arg(long, value_name = "LIST", default_value = "date,hour")]
    pub partition_by: String,
    /// The Logpush dataset (default: spectrum_events).
    #[arg(long, value_name = "NAME", conflicts_with = "schema")]
    pub dataset: Option<String>,
    /// A field-list file to use instead of a bundled one.
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// NDJSON or CSV inputs.
    #[command(flatten)]
    pub input: InputFormatArgs,
    /// Write the verdicts as JSON to this file (`-` for standard output).
    #[arg(long, value_name = "PATH")]
    pub summary_json: Option<PathBuf>,
    /// How to reach object stores.
    #[command(flatten)]
    pub storage: StorageArgs,
}

impl CheckArgs {
    /// Validates the options.
    pub fn to_options(&self) -> Result<crate::preflight::CheckOptions> {
        let shape = ShapeArgs {
            dataset: self.dataset.clone(),
            schema: self.schema.clone(),
            partition_by: "none".into(),
            timestamp_unit: UnitArg::Us,
            unknown_fields: None,
        };
        let schema = shape.load_schema()?;
        let iceberg = match self.iceberg.to_options(self.table_format)? {
            Some(catalog) => Some((catalog, PartitionSpec::parse(&self.partition_by, &schema)?)),
            None => None,
        };
        if iceberg.is_none() && self.output.is_none() {
            return Err(Error::InvalidOption {
                option: "--output",
                message: "is needed unless --table-format iceberg".into(),
            });
        }
        Ok(crate::preflight::CheckOptions {
            inputs: self.inputs.clone(),
            output: self.output.clone().unwrap_or_default(),
            iceberg,
            csv_columns: self.input.csv_columns(&schema)?,
            schema,
            max_line_bytes: crate::job::DEFAULT_MAX_LINE_BYTES,
            storage: self.storage.to_options()?,
        })
    }
}

/// What the inputs hold, shared by `convert` and `check`.
#[derive(Debug, Args)]
pub struct InputFormatArgs {
    /// What the inputs hold: `ndjson` (Logpush's default) or `csv` (`output_type: csv`: no
    /// header, the job's field_names in order, given with --csv-fields).
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        default_value = "ndjson",
        help_heading = "Decoding"
    )]
    pub input_format: InputFormat,
    /// The columns of CSV inputs: the Logpush job's field_names, comma-separated, in order.
    #[arg(long, value_name = "LIST", help_heading = "Decoding")]
    pub csv_fields: Option<String>,
}

impl InputFormatArgs {
    /// The columns of CSV inputs (`None` for NDJSON), checked against `schema`.
    pub fn csv_columns(&self, schema: &EventSchema) -> Result<Option<CsvColumns>> {
        match (self.input_format, self.csv_fields.as_deref()) {
            (InputFormat::Ndjson, None) => Ok(None),
            (InputFormat::Csv, Some(list)) => Ok(Some(CsvColumns::parse(list, schema)?)),
            (InputFormat::Csv, None) => Err(Error::InvalidOption {
                option: "--csv-fields",
                message: "CSV inputs need their columns: the Logpush job's field_names, in order"
                    .into(),
            }),
            (InputFormat::Ndjson, Some(_)) => Err(Error::InvalidOption {
                option: "--csv-fields",
                message: "is for --input-format csv".into(),
            }),
        }
    }
}

/// The timestamp units a user may pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UnitArg {
    /// Milliseconds.
    Ms,
    /// Microseconds (default: every reader, Spark included, reads them).
    Us,
    /// Nanoseconds (Spark, Hive and Athena cannot read these).
    Ns,
}

impl From<UnitArg> for TimeUnit {
    fn from(u: UnitArg) -> TimeUnit {
        match u {
            UnitArg::Ms => TimeUnit::Millisecond,
            UnitArg::Us => TimeUnit::Microsecond,
            UnitArg::Ns => TimeUnit::Nanosecond,
        }
    }
}

/// What the inputs hold (`--input-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// One JSON object a line (Logpush's default `output_type: ndjson`).
    Ndjson,
    /// One CSV record a line, without a header (`output_type: csv`).
    Csv,
}

/// Options shared by `convert` and `schema`: what the data looks like.
#[derive(Debug, Args)]
pub struct ShapeArgs {
    /// The Logpush dataset: one of the bundled field lists (`schema --list` names them;
    /// default: spectrum_events).
    #[arg(long, value_name = "NAME", conflicts_with = "schema")]
    pub dataset: Option<String>,
    /// A field-list file to use instead of a bundled one (the format of `schema/*.toml`).
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Partition columns: a comma list of `date`, `hour` (UTC, of the event time) and field
    /// names, or `none`.
    #[arg(long, value_name = "LIST", default_value = "date,hour")]
    pub partition_by: String,
    /// Unit of timestamp columns.
    #[arg(long, value_enum, value_name = "UNIT", default_value = "us")]
    pub timestamp_unit: UnitArg,
    /// Keys of a line that are not in the field list: `keep` them in the catch-all column
    /// `_extra` (the JSON text of an object of those keys and their values; NULL when a line has
    /// none), `drop` them, or `reject` the line (default: keep; reject with --strict). Either
    /// way each key is counted in the summary.
    #[arg(long, value_enum, value_name = "MODE", help_heading = "Decoding")]
    pub unknown_fields: Option<UnknownFields>,
}

impl ShapeArgs {
    fn load_schema(&self) -> Result<Arc<EventSchema>> {
        self.load_schema_with(UnknownFields::default())
    }

    /// The field list, with `--unknown-fields` (or `default` when it is not given).
    fn load_schema_with(&self, default: UnknownFields) -> Result<Arc<EventSchema>> {
        let schema = match (&self.schema, &self.dataset) {
            (Some(path), _) => EventSchema::load(path)?,
            (None, Some(name)) => EventSchema::bundled(name)?,
            (None, None) => EventSchema::bundled(crate::schema::DEFAULT_DATASET)?,
        };
        Ok(Arc::new(schema.with_unknown_fields(
            self.unknown_fields.unwrap_or(default),
        )?))
    }
}

/// Arguments of `convert`.
#[derive(Debug, Args)]
pub struct ConvertArgs {
    /// Inputs: files, folders (read recursively), glob patterns, `-` for standard input, or
    /// object store URLs: `s3://bucket/prefix/` (listed recursively), `s3://bucket/prefix/*.gz`
    /// (a glob over keys), `gs://`, `az://`, `file:///path`. gzip, zstd and plain NDJSON are
    /// recognised by content.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// The output root: a folder, or an object store URL such as `s3://lake/spectrum_events`
    /// (an Iceberg table's location comes from its catalog instead).
    #[arg(
        short,
        long,
        value_name = "DIR|URL",
        required_unless_present = "catalog_uri"
    )]
    pub output: Option<String>,
    /// Schema, partitioning and timestamp unit.
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// The Iceberg catalog and table.
    #[command(flatten)]
    pub iceberg: IcebergArgs,
    /// Documented types only: reject a value of another JSON type even when it has an exact
    /// reading (a number in a string field, `"443"` or `""` in an int field, a timestamp without
    /// an offset), and, unless --unknown-fields says otherwise, lines with unknown keys.
    #[arg(long, help_heading = "Decoding")]
    pub strict: bool,
    /// NDJSON or CSV inputs.
    #[command(flatten)]
    pub input: InputFormatArgs,
    /// Fail the run, committing no data, when more than this share of lines is rejected
    /// (0 = any reject fails, 1 = never).
    #[arg(long, value_name = "RATIO", default_value_t = DEFAULT_MAX_REJECT_RATIO, help_heading = "Decoding")]
    pub max_reject_ratio: f64,
    /// Longest line accepted; longer lines are rejected without being held in memory
    /// (accepts KiB, MiB, GiB suffixes).
    #[arg(long, value_name = "SIZE", default_value = "8MiB", value_parser = parse_size, help_heading = "Decoding")]
    pub max_line_bytes: u64,
    /// Memory budget: buffers and row groups stay within it however large the input and however
    /// many partitions (accepts KiB, MiB, GiB suffixes).
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = parse_size, help_heading = "Decoding")]
    pub memory_limit: u64,
    /// Threads per stage: that many inputs are read at once, and that many threads decode and
    /// that many encode Parquet (default: one per core). Runs with the same value write the
    /// same bytes.
    #[arg(long, value_name = "N", help_heading = "Decoding")]
    pub threads: Option<usize>,
    /// Rows decoded per batch.
    #[arg(long, value_name = "ROWS", default_value_t = DEFAULT_BATCH_SIZE, help_heading = "Decoding")]
    pub batch_size: usize,
    /// Parquet compression codec.
    #[arg(
        long,
        value_enum,
        value_name = "CODEC",
        default_value = "zstd",
        help_heading = "Parquet"
    )]
    pub compression: Codec,
    /// Compression level (zstd 1-22, default 1; gzip 0-10, default 6).
    #[arg(long, value_name = "LEVEL", help_heading = "Parquet")]
    pub compression_level: Option<i32>,
    /// Most rows in a row group.
    #[arg(long, value_name = "ROWS", default_value_t = 1024 * 1024, help_heading = "Parquet")]
    pub row_group_size: usize,
    /// Roll to a new file once a file reaches this size (accepts KiB, MiB, GiB suffixes).
    #[arg(long, value_name = "SIZE", default_value = "512MiB", value_parser = parse_size, help_heading = "Parquet")]
    pub max_file_size: u64,
    /// The output's layout: `plain` Parquet folders with the tool's ledger, or a `delta` Lake
    /// table (the same folders, made visible by one Delta commit per run; microsecond
    /// timestamps only).
    #[arg(
        long,
        value_enum,
        value_name = "FORMAT",
        default_value = "plain",
        help_heading = "Parquet"
    )]
    pub table_format: crate::commit::TableFormat,
    /// Write the run summary as JSON to this file (`-` for standard output).
    #[arg(long, value_name = "PATH", help_heading = "Reporting")]
    pub summary_json: Option<PathBuf>,
    /// Replace this file, atomically, with the run's metrics in the Prometheus text format
    /// (exit code, start and end times, rows, inputs, bytes), failed runs included: for
    /// node_exporter's textfile collector, a `.prom` file in its folder, one file per job.
    #[arg(long, value_name = "PATH", help_heading = "Reporting")]
    pub metrics_file: Option<PathBuf>,
    /// Push the same metrics to this Prometheus Pushgateway (`http://pushgateway:9091`),
    /// replacing the group of job `logpush_parquet` with this run's dataset, shard and output;
    /// a failed push is a warning, not a failed run.
    #[arg(long, value_name = "URL", help_heading = "Reporting")]
    pub metrics_push: Option<String>,
    /// A label added to every metric (and to the Pushgateway group), to tell jobs apart
    /// (`env=prod`); repeatable.
    #[arg(long, value_name = "NAME=VALUE", help_heading = "Reporting")]
    pub metrics_label: Vec<String>,
    /// Convert inputs the ledger says were converted already, replacing their earlier output
    /// (every input of a replaced run is converted again, so no row is lost or doubled).
    #[arg(long, help_heading = "Scheduling")]
    pub reprocess: bool,
    /// Quarantine an input that could not be read to its end in this many runs in a row: later
    /// runs leave it out (and succeed) and list it in their summary (`0`: never).
    #[arg(long, value_name = "N", default_value_t = crate::quarantine::DEFAULT_QUARANTINE_AFTER, help_heading = "Scheduling")]
    pub quarantine_after: u32,
    /// Convert the lines read before the damage of inputs that fail part-way, quarantined ones
    /// included, once, recording them as salvaged (instead of leaving them out).
    #[arg(long, help_heading = "Scheduling")]
    pub salvage: bool,
    /// Only inputs from this time on (`2026-11-23` or `2026-11-23T22:00:00Z`), by the time in
    /// their Logpush file name or `YYYYMMDD/` folder.
    #[arg(long, value_name = "TIME", value_parser = parse_time, help_heading = "Scheduling")]
    pub since: Option<i64>,
    /// Only inputs before this time (same forms as --since).
    #[arg(long, value_name = "TIME", value_parser = parse_time, help_heading = "Scheduling")]
    pub until: Option<i64>,
    /// Print the inputs that would be converted (one per line, on stdout) and write nothing.
    #[arg(long, help_heading = "Scheduling")]
    pub dry_run: bool,
    /// Convert only shard INDEX of COUNT (0-based, `1/4`): inputs are split by a hash of their
    /// name, so COUNT runs, on as many machines, convert each input once.
    #[arg(long, value_name = "INDEX/COUNT", value_parser = crate::lock::Shard::parse, conflicts_with = "shards", help_heading = "Scheduling")]
    pub shard: Option<crate::lock::Shard>,
    /// Split inputs into COUNT shards and take the one in JOB_COMPLETION_INDEX (Kubernetes
    /// Indexed Jobs).
    #[arg(long, value_name = "COUNT", help_heading = "Scheduling")]
    pub shards: Option<u32>,
    /// How long the output's lock lasts unless renewed (renewed every third of it while the run
    /// lives; a killed run's lock on the same host is taken over at once), in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = crate::lock::DEFAULT_LEASE_S, help_heading = "Scheduling")]
    pub lock_lease: u64,
    /// How to reach object stores.
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// Where an Iceberg table is (`--table-format iceberg`). Credentials come only from the
/// environment: a bearer token in ICEBERG_CATALOG_TOKEN (R2 Data Catalog: an R2 API token with
/// Data Catalog permission), or OAuth2 client credentials in ICEBERG_CATALOG_CLIENT_ID and
/// ICEBERG_CATALOG_CLIENT_SECRET; the table's files are reached with the S3 settings.
#[derive(Debug, Args)]
pub struct IcebergArgs {
    /// The catalog.
    #[command(flatten)]
    pub catalog: CatalogArgs,
    /// The table, `NAMESPACE.TABLE` (`convert` creates it on first use, with the namespace).
    #[arg(long, value_name = "NAMESPACE.TABLE", help_heading = "Iceberg")]
    pub table: Option<String>,
}

impl IcebergArgs {
    /// The catalog options, when `--table-format iceberg` (all three given), or a usage error.
    pub fn to_options(
        &self,
        format: crate::commit::TableFormat,
    ) -> Result<Option<crate::commit::iceberg::catalog::CatalogOptions>> {
        use crate::commit::TableFormat;
        let given = [
            ("--catalog-uri", self.catalog.catalog_uri.is_some()),
            ("--warehouse", self.catalog.warehouse.is_some()),
            ("--table", self.table.is_some()),
        ];
        if format != TableFormat::Iceberg {
            return match given.iter().find(|(_, g)| *g) {
                // The URI and warehouse may come from the environment for other commands.
                Some(("--table", _)) => Err(Error::InvalidOption {
                    option: "--table",
                    message: "is for --table-format iceberg".into(),
                }),
                _ => Ok(None),
            };
        }
        if let Some((flag, _)) = given.iter().find(|(_, g)| !*g) {
            return Err(Error::InvalidOption {
                option: "--table-format",
                message: format!(
                    "iceberg needs --catalog-uri, --warehouse and --table ({flag} is missing)"
                ),
            });
        }
        let text = self.table.as_deref().unwrap_or_default();
        let (namespace, table) = crate::commit::iceberg::catalog::CatalogOptions::parse_table(text)
            .map_err(|message| Error::InvalidOption {
                option: "--table",
                message,
            })?;
        Ok(Some(crate::commit::iceberg::catalog::CatalogOptions {
            uri: self.catalog.catalog_uri.clone().unwrap_or_default(),
            warehouse: self.catalog.warehouse.clone().unwrap_or_default(),
            namespace,
            table,
        }))
    }
}

impl IcebergArgs {
    /// The table a maintenance command works on: the Iceberg table `--table` names (with the
    /// catalog), or the Delta table at `output`.
    pub fn table_at(&self, output: Option<&str>) -> Result<crate::maintain::TableAt> {
        use crate::maintain::TableAt;
        match (output, &self.table) {
            (Some(_), Some(_)) => Err(Error::InvalidOption {
                option: "--table",
                message: "names an Iceberg table in a catalog: give it or a Delta table's root \
                          (OUTPUT), not both"
                    .into(),
            }),
            (Some(output), None) => Ok(TableAt::Root(output.to_string())),
            (None, None) => Err(Error::InvalidOption {
                option: "OUTPUT",
                message: "give a Delta table's root, or an Iceberg table with --table (and \
                          --catalog-uri, --warehouse)"
                    .into(),
            }),
            (None, Some(_)) => {
                let options = self.to_options(crate::commit::TableFormat::Iceberg)?;
                Ok(TableAt::Catalog(
                    options.expect("iceberg options when --table is given"),
                ))
            }
        }
    }
}

/// An Iceberg REST catalog: its URI and warehouse.
#[derive(Debug, Args)]
pub struct CatalogArgs {
    /// The Iceberg REST catalog's URI (R2: the bucket's Catalog URI,
    /// `https://catalog.cloudflarestorage.com/<account>/<bucket>`).
    #[arg(
        long,
        value_name = "URL",
        env = "ICEBERG_CATALOG_URI",
        help_heading = "Iceberg"
    )]
    pub catalog_uri: Option<String>,
    /// The catalog's warehouse (R2: the Warehouse name, `<account>_<bucket>`).
    #[arg(
        long,
        value_name = "NAME",
        env = "ICEBERG_WAREHOUSE",
        help_heading = "Iceberg"
    )]
    pub warehouse: Option<String>,
}

/// Options of every subcommand that reads or writes an output root: how to reach object stores.
#[derive(Debug, Args)]
pub struct StorageArgs {
    /// S3-compatible endpoint, such as `https://<account>.r2.cloudflarestorage.com` (default:
    /// AWS_ENDPOINT_URL, else AWS).
    #[arg(long, value_name = "URL", help_heading = "Object stores")]
    pub s3_endpoint: Option<String>,
    /// S3 region (default: AWS_REGION; R2 takes `auto`).
    #[arg(long, value_name = "REGION", help_heading = "Object stores")]
    pub s3_region: Option<String>,
    /// Allow plain-HTTP endpoints (default: AWS_ALLOW_HTTP).
    #[arg(long, help_heading = "Object stores")]
    pub s3_allow_http: bool,
    /// Retries of a request that failed with a transient error (5xx, timeout, reset), with
    /// exponential backoff.
    #[arg(long, value_name = "N", default_value_t = crate::storage::DEFAULT_RETRIES, help_heading = "Object stores")]
    pub retries: usize,
    /// Stop retrying a request after this many seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = crate::storage::DEFAULT_RETRY_TIMEOUT_S, help_heading = "Object stores")]
    pub retry_timeout: u64,
    /// Part size of multipart uploads (at least 5MiB; two parts are in memory at a time).
    #[arg(long, value_name = "SIZE", default_value = "8MiB", value_parser = parse_size, help_heading = "Object stores")]
    pub upload_part_size: u64,
    /// Local folder for data files before they are uploaded to an object store output
    /// (default: the system's temporary folder).
    #[arg(long, value_name = "DIR", help_heading = "Object stores")]
    pub temp_dir: Option<PathBuf>,
}

impl StorageArgs {
    /// Validates the options.
    pub fn to_options(&self) -> Result<crate::storage::StorageOptions> {
        if self.upload_part_size < crate::storage::MIN_PART_SIZE as u64
            || self.upload_part_size > 1 << 30
        {
            return Err(Error::InvalidOption {
                option: "--upload-part-size",
                message: "must be between 5MiB (the S3 minimum) and 1GiB".into(),
            });
        }
        Ok(crate::storage::StorageOptions {
            s3_endpoint: self.s3_endpoint.clone(),
            s3_region: self.s3_region.clone(),
            s3_allow_http: self.s3_allow_http,
            retries: self.retries,
            retry_timeout: std::time::Duration::from_secs(self.retry_timeout),
            part_size: self.upload_part_size as usize,
        })
    }
}

/// Parses `2026-11-23` or an RFC 3339 time into Unix seconds.
pub fn parse_time(text: &str) -> std::result::Result<i64, String> {
    let t = text.trim();
    let full = if t.len() == 10 {
        format!("{t}T00:00:00Z")
    } else {
        t.to_string()
    };
    crate::time::parse_rfc3339(full.as_bytes())
        .ok()
        .and_then(|instant| instant.to_unit(TimeUnit::Second))
        .ok_or_else(|| format!("{text:?} is not a time like 2026-11-23 or 2026-11-23T22:00:00Z"))
}

impl ConvertArgs {
    /// Validates `--metrics-file`, `--metrics-push` and `--metrics-label` (`None`: neither
    /// sink given).
    pub fn metrics_sinks(&self) -> Result<Option<crate::metrics::MetricsSinks>> {
        crate::metrics::MetricsSinks::try_new(
            self.metrics_file.as_deref(),
            self.metrics_push.as_deref(),
            &self.metrics_label,
        )
    }

    /// Validates the arguments into conversion options.
    pub fn to_options(&self) -> Result<ConvertOptions> {
        let schema = self.shape.load_schema_with(match self.strict {
            true => UnknownFields::Reject,
            false => UnknownFields::Keep,
        })?;
        if !(0.0..=1.0).contains(&self.max_reject_ratio) {
            return Err(Error::InvalidOption {
                option: "--max-reject-ratio",
                message: "must be between 0 and 1".into(),
            });
        }
        if !(1..=MAX_LINE_BYTES_LIMIT).contains(&self.max_line_bytes) {
            return Err(Error::InvalidOption {
                option: "--max-line-bytes",
                message: "must be between 1 byte and 1GiB".into(),
            });
        }
        let partition = PartitionSpec::parse(&self.shape.partition_by, &schema)?;
        let parquet = ParquetOptions {
            codec: self.compression,
            level: self.compression_level,
            row_group_rows: self.row_group_size,
            max_file_bytes: self.max_file_size,
            ..ParquetOptions::default()
        };
        // Fails early on a bad level or size, before any input is read.
        parquet.writer_properties(&schema, Vec::new())?;
        let iceberg = self.iceberg.to_options(self.table_format)?;
        let output = match (&self.output, &iceberg) {
            (Some(_), Some(_)) => {
                return Err(Error::InvalidOption {
                    option: "--output",
                    message: "an Iceberg table's location comes from its catalog: leave --output \
                              out with --table-format iceberg"
                        .into(),
                });
            }
            (Some(output), None) => output.clone(),
            (None, Some(catalog)) => format!(
                "the Iceberg table {} of {}",
                catalog.table_name(),
                catalog.uri
            ),
            (None, None) => {
                return Err(Error::InvalidOption {
                    option: "--output",
                    message: "is required (or --table-format iceberg with its catalog)".into(),
                });
            }
        };
        let mut options = ConvertOptions::new(self.inputs.clone(), output, schema)?;
        options.iceberg = iceberg;
        options.selection = crate::plan::Selection {
            reprocess: self.reprocess,
            since: self.since,
            until: self.until,
            salvage: self.salvage,
        };
        options.quarantine_after = match self.quarantine_after {
            0 => u32::MAX,
            n => n,
        };
        options.dry_run = self.dry_run;
        options.shard = match (self.shard, self.shards) {
            (Some(shard), _) => shard,
            (None, Some(count)) => {
                let index =
                    std::env::var("JOB_COMPLETION_INDEX").map_err(|_| Error::InvalidOption {
                        option: "--shards",
                        message:
                            "needs JOB_COMPLETION_INDEX in the environment (or use --shard I/N)"
                                .into(),
                    })?;
                let index: u32 = index.trim().parse().map_err(|_| Error::InvalidOption {
                    option: "--shards",
                    message: format!("JOB_COMPLETION_INDEX={index:?} is not a number"),
                })?;
                crate::lock::Shard::new(index, count).map_err(|message| Error::InvalidOption {
                    option: "--shards",
                    message,
                })?
            }
            (None, None) => crate::lock::Shard::default(),
        };
        if self.lock_lease < 3 {
            return Err(Error::InvalidOption {
                option: "--lock-lease",
                message: "must be at least 3 seconds".into(),
            });
        }
        options.lease = std::time::Duration::from_secs(self.lock_lease);
        options.storage = self.storage.to_options()?;
        options.temp_dir = self.storage.temp_dir.clone();
        // Publishing copies each file within the store: S3 copies at most 5 GiB in one request.
        if (options.iceberg.is_some() || crate::storage::is_url(&options.output))
            && !options.output.starts_with("file://")
            && self.max_file_size > 5 << 30
        {
            return Err(Error::InvalidOption {
                option: "--max-file-size",
                message: "must be at most 5GiB for an object store output (the largest single \
                          copy S3 allows)"
                    .into(),
            });
        }
        options.decode = DecodeOptions {
            timestamp_unit: self.shape.timestamp_unit.into(),
            strict: self.strict,
            batch_size: self.batch_size,
        };
        options.csv_columns = self.input.csv_columns(&options.schema)?;
        options.partition = partition;
        options.parquet = parquet;
        options.max_reject_ratio = self.max_reject_ratio;
        options.memory_limit = usize::try_from(self.memory_limit).unwrap_or(usize::MAX);
        if options.memory_limit < MIN_MEMORY_LIMIT {
            return Err(Error::InvalidOption {
                option: "--memory-limit",
                message: "must be at least 16MiB".into(),
            });
        }
        if let Some(threads) = self.threads {
            if threads == 0 {
                return Err(Error::InvalidOption {
                    option: "--threads",
                    message: "must be at least 1".into(),
                });
            }
            options.threads = threads;
        }
        options.table_format = self.table_format;
        if let Some((a, name)) = match self.table_format {
            crate::commit::TableFormat::Delta => Some(("a", "Delta")),
            crate::commit::TableFormat::Iceberg => Some(("an", "Iceberg")),
            crate::commit::TableFormat::Plain => None,
        } {
            let flag = name.to_lowercase();
            if options.decode.timestamp_unit != TimeUnit::Microsecond {
                return Err(Error::InvalidOption {
                    option: "--timestamp-unit",
                    message: format!(
                        "{name} tables keep timestamps in microseconds: leave --timestamp-unit \
                         at us with --table-format {flag}"
                    ),
                });
            }
            if self.reprocess {
                return Err(Error::InvalidOption {
                    option: "--reprocess",
                    message: format!(
                        "{a} {name} table's runs may have been compacted together, so one run \
                         cannot be replaced alone: rewrite the affected partitions with {name} \
                         tools instead"
                    ),
                });
            }
        }
        if self.table_format == crate::commit::TableFormat::Iceberg {
            // Iceberg's identity partitions read the field from the data files.
            options.partition = options.partition.clone().with_fields_kept();
        }
        // Checked above to be at most 1 GiB.
        options.max_line_bytes = self.max_line_bytes as usize;
        crate::decode::Decoder::try_new(options.schema.clone(), options.decode)?;
        Ok(options)
    }
}

/// Arguments of `compact`.
#[derive(Debug, Args)]
pub struct CompactArgs {
    /// The Delta table's root: a folder or an object store URL (an Iceberg table is named by
    /// --table instead).
    #[arg(value_name = "OUTPUT")]
    pub output: Option<String>,
    /// The Iceberg table, in its catalog.
    #[command(flatten)]
    pub iceberg: IcebergArgs,
    /// The Logpush dataset (default: the one the table records; refused when it differs).
    #[arg(long, value_name = "NAME", conflicts_with = "schema")]
    pub dataset: Option<String>,
    /// A field-list file to use instead of the bundled list of the table's dataset (refused when
    /// its dataset differs from the table's).
    #[arg(long, value_name = "FILE")]
    pub schema: Option<PathBuf>,
    /// Partition columns (default: the table's; refused when they differ).
    #[arg(long, value_name = "LIST")]
    pub partition_by: Option<String>,
    /// Files at least this large are left as they are; the merged files are rolled at this size
    /// (accepts KiB, MiB, GiB suffixes).
    #[arg(long, value_name = "SIZE", default_value = "256MiB", value_parser = parse_size)]
    pub target_file_size: u64,
    /// Leave alone partitions with a file written less than this long ago (`90s`, `30m`,
    /// `1h`, `2d`; `0` for none): the hour being written gets more files soon.
    #[arg(long, value_name = "AGE", default_value = "1h", value_parser = parse_duration)]
    pub min_age: std::time::Duration,
    /// Only partitions whose folder matches this glob (`date=2026-11-23/*`,
    /// `date=2026-11-2[0-3]/hour=5`).
    #[arg(long, value_name = "PATTERN")]
    pub partition: Option<String>,
    /// Memory budget (accepts KiB, MiB, GiB suffixes).
    #[arg(long, value_name = "SIZE", default_value = "64MiB", value_parser = parse_size)]
    pub memory_limit: u64,
    /// Threads that encode the merged files (default: one per core).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Say what would be merged, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the summary as JSON to this file (`-` for standard output).
    #[arg(long, value_name = "PATH")]
    pub summary_json: Option<PathBuf>,
    /// How to reach object stores.
    #[command(flatten)]
    pub storage: StorageArgs,
}

impl CompactArgs {
    /// Validates the arguments.
    pub fn to_options(&self) -> Result<crate::maintain::compact::CompactOptions> {
        let schema = match (&self.schema, &self.dataset) {
            (Some(path), _) => Some((Arc::new(EventSchema::load(path)?), "--schema")),
            (None, Some(name)) => Some((Arc::new(EventSchema::bundled(name)?), "--dataset")),
            (None, None) => None,
        };
        let memory_limit = usize::try_from(self.memory_limit).unwrap_or(usize::MAX);
        if memory_limit < MIN_MEMORY_LIMIT {
            return Err(Error::InvalidOption {
                option: "--memory-limit",
                message: "must be at least 16MiB".into(),
            });
        }
        if self.target_file_size == 0 {
            return Err(Error::InvalidOption {
                option: "--target-file-size",
                message: "must be greater than zero".into(),
            });
        }
        let partitions = match &self.partition {
            Some(text) => Some(glob::Pattern::new(text).map_err(|e| Error::InvalidOption {
                option: "--partition",
                message: e.to_string(),
            })?),
            None => None,
        };
        let threads = match self.threads {
            Some(0) => {
                return Err(Error::InvalidOption {
                    option: "--threads",
                    message: "must be at least 1".into(),
                });
            }
            Some(n) => n,
            None => crate::job::default_threads(),
        };
        Ok(crate::maintain::compact::CompactOptions {
            table: self.iceberg.table_at(self.output.as_deref())?,
            shape: crate::maintain::ShapeFlags {
                schema,
                partition_by: self.partition_by.clone(),
            },
            target_file_bytes: self.target_file_size,
            min_age: self.min_age,
            partitions,
            memory_limit,
            threads,
            parquet: ParquetOptions {
                max_file_bytes: self.target_file_size,
                ..ParquetOptions::default()
            },
            storage: self.storage.to_options()?,
            temp_dir: self.storage.temp_dir.clone(),
            dry_run: self.dry_run,
        })
    }
}

/// Arguments of `vacuum`.
#[derive(Debug, Args)]
pub struct VacuumArgs {
    /// The Delta table's root: a folder or an object store URL (an Iceberg table is named by
    /// --table instead).
    #[arg(value_name = "OUTPUT")]
    pub output: Option<String>,
    /// The Iceberg table, in its catalog.
    #[command(flatten)]
    pub iceberg: IcebergArgs,
    /// Keep every file that a version of this period reads, and every file written within it
    /// (`12h`, `7d`, ...). Shorter than an hour, or than twice the longest run on record, is
    /// refused without --force.
    #[arg(long, value_name = "AGE", default_value = "7d", value_parser = parse_duration)]
    pub retain: std::time::Duration,
    /// Accept a retention below that floor.
    #[arg(long)]
    pub force: bool,
    /// List the files that would be deleted (on stdout), delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the summary as JSON to this file (`-` for standard output).
    #[arg(long, value_name = "PATH")]
    pub summary_json: Option<PathBuf>,
    /// How to reach object stores.
    #[command(flatten)]
    pub storage: StorageArgs,
}

impl VacuumArgs {
    /// Validates the arguments.
    pub fn to_options(&self) -> Result<crate::maintain::vacuum::VacuumOptions> {
        Ok(crate::maintain::vacuum::VacuumOptions {
            table: self.iceberg.table_at(self.output.as_deref())?,
            retain: self.retain,
            force: self.force,
            dry_run: self.dry_run,
            storage: self.storage.to_options()?,
        })
    }
}

/// Parses a duration: `90s`, `30m`, `12h`, `7d`, or a number of seconds.
pub fn parse_duration(text: &str) -> std::result::Result<std::time::Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a duration like 90s, 30m, 12h or 7d"))?;
    let seconds: u64 = match unit.trim() {
        "" | "s" => 1,
        "m" | "min" => 60,
        "h" => 3_600,
        "d" => 86_400,
        other => return Err(format!("unknown duration unit {other:?} (use s, m, h, d)")),
    };
    n.checked_mul(seconds)
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("{text:?} is too long"))
}

/// Arguments of `schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// What to print.
    #[arg(long, value_enum, default_value = "arrow")]
    pub format: SchemaFormat,
    /// Schema, partitioning and timestamp unit.
    #[command(flatten)]
    pub shape: ShapeArgs,
    /// Where the converted output lives (a folder or URL), for the DDL formats.
    #[arg(long, value_name = "DIR", default_value = "out")]
    pub location: String,
    /// Table or view name, for the DDL formats (default: the dataset name); for an Iceberg
    /// table, `NAMESPACE.TABLE` (default: `logs.` and the dataset name).
    #[arg(long, value_name = "NAME")]
    pub table: Option<String>,
    /// The output's layout, for the DDL formats: `delta` reads the table's log, `iceberg`
    /// attaches the table's catalog.
    #[arg(long, value_enum, value_name = "FORMAT", default_value = "plain")]
    pub table_format: crate::commit::TableFormat,
    /// The Iceberg table's catalog, for `--table-format iceberg`.
    #[command(flatten)]
    pub catalog: CatalogArgs,
    /// List the bundled datasets (name, fields, event-time field), one a line.
    #[arg(long)]
    pub list: bool,
    /// Read the first lines of these inputs and print the field list (--dataset or --schema)
    /// with a field for each key it does not know, typed by its values, ready for --schema.
    #[arg(long, value_name = "INPUT", num_args = 1.., help_heading = "Schema drift")]
    pub suggest: Vec<String>,
    /// Lines --suggest reads at most, over all its inputs.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 100_000,
        help_heading = "Schema drift"
    )]
    pub sample_lines: u64,
    /// How to reach object stores (for --suggest).
    #[command(flatten)]
    pub storage: StorageArgs,
}

impl SchemaArgs {
    /// Renders the requested schema text.
    pub fn render(&self) -> Result<String> {
        if self.list {
            return list_datasets();
        }
        if !self.suggest.is_empty() {
            let (text, note) = crate::suggest::suggest(&self.suggest_options()?)?;
            eprint!("{note}");
            return Ok(text);
        }
        let schema = self.shape.load_schema()?;
        let partition = PartitionSpec::parse(&self.shape.partition_by, &schema)?;
        let iceberg = self.table_format == crate::commit::TableFormat::Iceberg;
        let table = match (&self.table, iceberg) {
            (Some(table), _) => table.clone(),
            (None, false) => schema.dataset().to_string(),
            (None, true) => format!("logs.{}", schema.dataset()),
        };
        if iceberg {
            crate::commit::iceberg::catalog::CatalogOptions::parse_table(&table).map_err(
                |message| Error::InvalidOption {
                    option: "--table",
                    message,
                },
            )?;
        }
        Ok(crate::ddl::TableDefinition {
            schema: &schema,
            unit: self.shape.timestamp_unit.into(),
            partition: &partition,
            table: &table,
            location: &self.location,
            delta: self.table_format == crate::commit::TableFormat::Delta,
            iceberg: iceberg.then(|| crate::ddl::IcebergCatalog {
                uri: (self.catalog.catalog_uri.as_deref()).unwrap_or("<catalog URI>"),
                warehouse: (self.catalog.warehouse.as_deref()).unwrap_or("<warehouse>"),
            }),
        }
        .render(self.format))
    }
}

impl SchemaArgs {
    fn suggest_options(&self) -> Result<crate::suggest::SuggestOptions> {
        let schema = self.shape.load_schema()?;
        let schema_text = match (&self.shape.schema, &self.shape.dataset) {
            (Some(path), _) => std::fs::read_to_string(path).map_err(|e| Error::Schema {
                origin: path.display().to_string(),
                message: e.to_string(),
            })?,
            (None, name) => {
                let name = name.as_deref().unwrap_or(crate::schema::DEFAULT_DATASET);
                EventSchema::bundled_text(name)
                    .expect("a bundled list that loaded")
                    .to_string()
            }
        };
        Ok(crate::suggest::SuggestOptions {
            inputs: self.suggest.clone(),
            schema,
            schema_text,
            max_lines: self.sample_lines,
            max_line_bytes: crate::job::DEFAULT_MAX_LINE_BYTES,
            storage: self.storage.to_options()?,
        })
    }
}

/// The bundled field lists: name, number of fields and event-time field, one a line.
fn list_datasets() -> Result<String> {
    let mut out = String::new();
    for name in EventSchema::bundled_names() {
        let schema = EventSchema::bundled(name)?;
        let event_time = schema
            .event_time()
            .map_or("-", |i| schema.fields()[i].name.as_str());
        out.push_str(&format!(
            "{name:<38} {:>4} fields  event time {event_time}\n",
            schema.fields().len()
        ));
    }
    Ok(out)
}

/// Parses `1048576`, `64KiB`, `512MiB`, `1GiB`, `10MB` (KB/MB/GB are powers of 1000).
pub fn parse_size(text: &str) -> std::result::Result<u64, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, suffix) = t.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 1048576, 64KiB or 512MiB"))?;
    let factor: u64 = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => return Err(format!("unknown size suffix {other:?} (use KiB, MiB, GiB)")),
    };
    n.checked_mul(factor)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1048576"), Ok(1_048_576));
        assert_eq!(parse_size("64KiB"), Ok(65_536));
        assert_eq!(parse_size("512MiB"), Ok(512 << 20));
        assert_eq!(parse_size("1g"), Ok(1 << 30));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert!(parse_size("ten").is_err());
        assert!(parse_size("5 parsecs").is_err());
        assert!(parse_size("99999999999999GiB").is_err());
    }

    #[test]
    fn the_command_line_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
