//! The conversion job: takes the output's lock, plans a run (the inputs the ledger does not hold,
//! in this shard and time window), drives them through decode, partition and write, and commits
//! the result through the ledger ([`crate::ledger`] describes the commit protocol).
//!
//! Every row is accounted for: a line is either written or kept in the rejects file, and
//! `rows_read = rows_written + rows_rejected`. Reading and decoding run in parallel
//! ([`crate::pipeline`]), which hands decoded chunks over in a fixed order; this thread
//! partitions them and routes the rows to the writer, whose encoder threads encode them
//! ([`crate::write`]). An input that cannot be read to its end (truncated gzip, I/O
//! error) is left out: the run converts the other inputs again without it, commits them, and
//! reports it ([`Status::InputFailed`], exit 3); it is not in the ledger, so the next run tries
//! it again.
//!
//! The run id is a hash of the inputs (key, size and version, or the content of standard input),
//! of the runs it replaces and of the options that decide which rows are written where: a run
//! interrupted before its commit point and started again writes the same names.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arrow_schema::SchemaRef;
use parquet::file::metadata::KeyValue;
use sha2::{Digest, Sha256};

use crate::commit::{self, Table, TableFormat};
use crate::decode::csv::CsvColumns;
use crate::decode::{DecodeOptions, DecodeStats};
use crate::error::{Error, Result};
use crate::input::{self, Input, Source};
use crate::ledger::{InputRecord, Ledger, MANIFEST_FORMAT, Manifest, ManifestFile};
use crate::lock::{self, Lease, Shard};
use crate::partition::{self, PartitionSpec};
use crate::pipeline::{self, Delivery, PipelineOptions};
use crate::plan::{self, Plan, Selection};
use crate::quarantine::{self, FailureRecord, Failures};
use crate::report::{FailedInput, Progress, QuarantinedInput, SalvagedInput, Status, Summary};
use crate::schema::EventSchema;
use crate::stage::{Staging, UPLOAD_CONCURRENCY, clean_staging, unix_nanos, upload_groups};
use crate::storage::{Location, Storage, StorageOptions, concurrently};
use crate::write::rejects::{RejectWriter, rejects_file_name};
use crate::write::{self, ParquetOptions, PartitionedWriter, StagedFile, WriterLimits};

/// The default of `--max-reject-ratio`: more than 1 line in 100 rejected fails the run.
pub const DEFAULT_MAX_REJECT_RATIO: f64 = 0.01;
/// The default of `--memory-limit`.
pub const DEFAULT_MEMORY_LIMIT: usize = 64 << 20;
/// What one open data file costs in memory, measured: 128 open files took 156 MB more than 32
/// (parquet-rs gives each column its own zstd compressor and decompressor).
pub const OPEN_FILE_BYTES: usize = 2 << 20;
/// The smallest `--memory-limit`.
pub const MIN_MEMORY_LIMIT: usize = 16 << 20;

/// How the memory budget is shared between the stages.
///
/// A quarter goes to the read/decode pipeline, whose chunks are sized so that all of them in
/// flight fit; a quarter to the row groups being built (the largest are written out early when
/// they outgrow it); a quarter to open files, which caps how many are open at once (an open
/// Parquet writer costs about [`OPEN_FILE_BYTES`], mostly its 31 columns' zstd contexts); an
/// eighth to rows of partitions beyond that (spilled to disk in partition order when they outgrow
/// it, then written into one file per partition). The rest is headroom for the allocator, the
/// rejects, the segments waiting in files and the binary. Lines up to `--max-line-bytes` come on
/// top: one such line can be in memory per reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryPlan {
    /// Bytes of line text per pipeline chunk.
    pub chunk_bytes: usize,
    /// Memory for row groups being built.
    pub row_group_buffers: usize,
    /// Most files open at once.
    pub max_open_files: usize,
    /// Memory for rows of partitions without an open file.
    pub overflow_bytes: usize,
}

impl MemoryPlan {
    /// The plan for `limit` bytes and `threads` pipeline threads.
    pub fn new(limit: usize, threads: usize) -> Self {
        // Per reading thread: `LOOKAHEAD` chunks read ahead of delivery (queued, being decoded
        // or decoded, about half as large again in Arrow) and 1 being framed, and 2 spare
        // buffers.
        let chunks_in_flight = threads.max(1) * ((pipeline::LOOKAHEAD as usize + 1) * 3 / 2 + 2);
        MemoryPlan {
            chunk_bytes: (limit / 4 / chunks_in_flight).clamp(64 << 10, pipeline::CHUNK_BYTES),
            row_group_buffers: limit / 4,
            max_open_files: (limit / 4 / OPEN_FILE_BYTES).clamp(2, 4096),
            overflow_bytes: limit / 8,
        }
    }
}

/// The default of `--max-line-bytes`.
pub const DEFAULT_MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

/// Everything a conversion needs, validated.
#[derive(Debug, Clone)]
pub struct ConvertOptions {
    /// Input arguments: paths, folders, glob patterns, `-`, object store URLs.
    pub inputs: Vec<String>,
    /// The output root: a local folder or an object store URL.
    pub output: String,
    /// The dataset's field list.
    pub schema: Arc<EventSchema>,
    /// Decoder options.
    pub decode: DecodeOptions,
    /// Partition columns.
    pub partition: PartitionSpec,
    /// Parquet encoding and file sizes.
    pub parquet: ParquetOptions,
    /// Fail the run (commit nothing) when rejected lines exceed this share of lines read.
    pub max_reject_ratio: f64,
    /// Lines longer than this are rejected without being held in memory.
    pub max_line_bytes: usize,
    /// Threads that read and decode (the calling thread encodes).
    pub threads: usize,
    /// The memory budget, in bytes (see [`MemoryPlan`]).
    pub memory_limit: usize,
    /// How to reach object stores.
    pub storage: StorageOptions,
    /// Which inputs to take.
    pub selection: Selection,
    /// Only say what would be converted.
    pub dry_run: bool,
    /// This run's share of the inputs.
    pub shard: Shard,
    /// How long the lock's lease lasts without renewal.
    pub lease: Duration,
    /// Where data files are written before they are uploaded, for object store outputs
    /// (default: the system's temporary folder).
    pub temp_dir: Option<PathBuf>,
    /// The output's layout.
    pub table_format: TableFormat,
    /// The columns of CSV input (`--input-format csv --csv-fields`); `None` for NDJSON.
    pub csv_columns: Option<CsvColumns>,
    /// Runs in a row an input may fail before it is quarantined (see [`crate::quarantine`]).
    pub quarantine_after: u32,
    /// The Iceberg catalog and table (`--table-format iceberg`).
    pub iceberg: Option<crate::commit::iceberg::catalog::CatalogOptions>,
}

impl ConvertOptions {
    /// What the run writes, as the commit seam needs it.
    pub fn target(&self) -> commit::Target<'_> {
        commit::Target {
            format: self.table_format,
            output: &self.output,
            iceberg: self.iceberg.as_ref(),
            schema: &self.schema,
            partition: &self.partition,
            unit: self.decode.timestamp_unit,
            storage: &self.storage,
        }
    }

    /// Options with defaults for everything but the inputs, output and schema.
    pub fn new(inputs: Vec<String>, output: String, schema: Arc<EventSchema>) -> Result<Self> {
        let partition = PartitionSpec::parse("date,hour", &schema)?;
        Ok(ConvertOptions {
            inputs,
            output,
            schema,
            decode: DecodeOptions::default(),
            partition,
            parquet: ParquetOptions::default(),
            max_reject_ratio: DEFAULT_MAX_REJECT_RATIO,
            max_line_bytes: DEFAULT_MAX_LINE_BYTES,
            threads: default_threads(),
            memory_limit: DEFAULT_MEMORY_LIMIT,
            storage: StorageOptions::default(),
            selection: Selection::default(),
            dry_run: false,
            shard: Shard::default(),
            lease: Duration::from_secs(lock::DEFAULT_LEASE_S),
            temp_dir: None,
            table_format: TableFormat::default(),
            csv_columns: None,
            quarantine_after: quarantine::DEFAULT_QUARANTINE_AFTER,
            iceberg: None,
        })
    }

    /// The options that shape the output, as text: part of the run id.
    fn output_shape(&self) -> String {
        // Only what decides which rows are written, where, and with which values: options that
        // change only the files' bytes or where they split (codec, row groups, file size,
        // memory, threads) keep the run id.
        let mut shape = format!(
            "unit={:?} strict={} unknown={} partition={} max_line_bytes={}",
            self.decode.timestamp_unit,
            self.decode.strict,
            self.schema.unknown_fields().as_str(),
            self.partition.to_option_text(),
            self.max_line_bytes,
        );
        if let Some(columns) = &self.csv_columns {
            shape.push_str(&format!(" csv={columns:?}"));
        }
        shape
    }
}

/// What some lines came to.
#[derive(Default, Clone)]
struct Counts {
    stats: DecodeStats,
    rejected: u64,
    blank_lines: u64,
}

impl Counts {
    fn add(&mut self, other: Counts) {
        self.stats.merge(other.stats);
        self.rejected += other.rejected;
        self.blank_lines += other.blank_lines;
    }
}

/// One pass of the pipeline over some inputs, staged but not committed.
struct Attempt {
    staging: Staging,
    staged: Vec<StagedFile>,
    rejects: Option<(PathBuf, u64)>,
    counts: Counts,
    /// SHA-256 of standard input's content, when it was read.
    stdin_digest: Option<String>,
    failed: Vec<(usize, FailedInput)>,
    /// Inputs that failed part-way, their lines read before the failure kept (`--salvage`).
    salvaged: Vec<(usize, SalvagedInput)>,
    inputs_read: u64,
    bytes_in: u64,
}

impl Attempt {
    fn figures(&self) -> Figures {
        Figures {
            counts: self.counts.clone(),
            inputs_read: self.inputs_read,
            bytes_in: self.bytes_in,
        }
    }
}

/// Converts `inputs` into staged files (nothing committed).
fn convert_inputs(
    inputs: &[Input],
    options: &ConvertOptions,
    root: &Location,
    file_schema: &SchemaRef,
    progress: &Progress,
) -> Result<Attempt> {
    let staging = Staging::create(root, options.shard, options.temp_dir.as_deref())?;
    let file_schema = file_schema.clone();
    let properties = options
        .parquet
        .writer_properties(&options.schema, file_metadata(options))?;
    let memory = MemoryPlan::new(options.memory_limit, options.threads);
    tracing::debug!(?memory, "memory plan");
    let mut writer = PartitionedWriter::try_new(
        staging.local.clone(),
        file_schema,
        properties,
        WriterLimits {
            max_file_bytes: options.parquet.max_file_bytes,
            buffer_bytes: memory.row_group_buffers,
            max_open_files: memory.max_open_files,
            overflow_bytes: memory.overflow_bytes,
            encode_threads: options.threads,
            idle_splits: write::options::IDLE_SPLITS_PER_THREAD * options.threads.max(1) as u64,
        },
    )?;
    let mut rejects = RejectWriter::new(&staging.local);
    let bytes_in = Arc::new(AtomicU64::new(0));
    let pipeline = PipelineOptions {
        schema: options.schema.clone(),
        decode: options.decode,
        max_line_bytes: options.max_line_bytes,
        threads: options.threads,
        partition_fields: options.partition.folder_fields(),
        chunk_bytes: memory.chunk_bytes,
        csv_columns: options.csv_columns.clone(),
    };
    // Counts of the inputs being delivered (their chunks come interleaved), each added to the
    // run's once the input has been read to its end.
    let mut input_counts: std::collections::HashMap<usize, Counts> =
        std::collections::HashMap::new();
    let mut counts = Counts::default();
    let mut failed = Vec::new();
    let mut salvaged = Vec::new();
    let mut stdin_digest = None;
    let mut inputs_read = 0;
    pipeline::run(inputs, &pipeline, &bytes_in, |delivery| {
        match delivery {
            Delivery::Chunk { input, decoded } => {
                for batch in &decoded.batches {
                    writer.write_split(&partition::split(batch, &options.partition)?)?;
                }
                rejects.write_all(&decoded.rejects)?;
                progress.decoded(
                    decoded.stats.rows,
                    decoded.text_bytes,
                    bytes_in.load(Ordering::Relaxed),
                );
                input_counts.entry(input).or_default().add(Counts {
                    stats: decoded.stats,
                    rejected: decoded.rejects.len() as u64,
                    blank_lines: decoded.blank_lines,
                });
            }
            Delivery::InputDone {
                input,
                content_digest,
            } => {
                let name = inputs[input].source.display_name();
                let done = input_counts.remove(&input).unwrap_or_default();
                tracing::info!(
                    input = %name,
                    rows = done.stats.rows,
                    rejected = done.rejected,
                    "converted"
                );
                counts.add(done);
                inputs_read += 1;
                if content_digest.is_some() {
                    stdin_digest = content_digest;
                }
                progress.update(bytes_in.load(Ordering::Relaxed), &name);
            }
            Delivery::InputFailed { input, failure } if options.selection.salvage => {
                tracing::warn!(input = %failure.input, "input failed, salvaged: {}", failure.error);
                let kept = input_counts.remove(&input).unwrap_or_default();
                let lines_kept = kept.stats.rows + kept.rejected;
                counts.add(kept);
                inputs_read += 1;
                salvaged.push((
                    input,
                    SalvagedInput {
                        input: failure.input,
                        error: failure.error,
                        lines_kept,
                    },
                ));
            }
            Delivery::InputFailed { input, failure } => {
                tracing::warn!(input = %failure.input, "input failed: {}", failure.error);
                input_counts.remove(&input);
                failed.push((input, failure));
            }
        }
        Ok(())
    })?;
    let staged = writer.finish()?;
    let rejects = rejects.finish()?;
    Ok(Attempt {
        staging,
        staged,
        rejects,
        counts,
        stdin_digest,
        failed,
        salvaged,
        inputs_read,
        bytes_in: bytes_in.load(Ordering::Relaxed),
    })
}

/// Converts the inputs of `options` into partitioned Parquet under `options.output`.
pub fn convert(options: &ConvertOptions, progress: &Progress) -> Result<Summary> {
    let started = Instant::now();
    let started_at = lock::now_rfc3339();
    let storage = Storage::new(options.storage.clone())?;
    let target = options.target();
    let mut output = commit::open(&target, &storage)?;
    let root = output.root.clone();
    let lease = if options.dry_run {
        None
    } else {
        Some(Lease::acquire(&root, options.shard, options.lease)?)
    };
    let mut table = output.table(&target)?;
    let table = table.as_mut();
    let mut recovered = Vec::new();
    if lease.is_some() {
        // Runs of shards no live run holds are ours to finish and clean up.
        let snapshot = unix_nanos();
        let busy = lock::live_shards(&root, options.shard)?;
        recovered = table.recover(&root, &busy)?;
        clean_staging(&root, &busy, snapshot)?;
    }
    let mut failures = Failures::load(&root)?;
    let listed = input::expand(&options.inputs, &storage)?;
    let plan = plan::plan(
        listed,
        table.ledger(),
        &failures,
        options.shard,
        options.selection,
        &storage,
    )?;
    tracing::info!(
        convert = plan.convert.len(),
        already_converted = plan.already_converted,
        other_shards = plan.other_shards,
        outside_window = plan.outside_window,
        "planned"
    );
    let mut quarantined: Vec<QuarantinedInput> =
        plan.quarantined.iter().map(quarantined_input).collect();
    let outcome = if options.dry_run {
        Outcome::DryRun
    } else if plan.convert.is_empty() {
        Outcome::NothingNew
    } else {
        table.prepare()?;
        run(
            &plan,
            options,
            &root,
            table,
            &mut failures,
            &mut quarantined,
            lease.as_ref(),
            progress,
            &started_at,
        )?
    };
    drop(lease);
    let mut summary = summarize(
        root.display_key(""),
        options.dry_run,
        &plan,
        recovered,
        outcome,
        started,
    );
    summary.inputs_quarantined = quarantined;
    summary.unknown_fields_mode = options.schema.unknown_fields().as_str();
    summary.near_misses = options.schema.near_misses(&summary.unknown_fields);
    Ok(summary)
}

/// A quarantine record as the summary lists it.
fn quarantined_input(record: &FailureRecord) -> QuarantinedInput {
    QuarantinedInput {
        input: record.key.clone(),
        failures: record.failures,
        since: record.first_failed_at.clone(),
        error: record.error.clone(),
    }
}

/// How a run ended: what [`summarize`] turns into its [`Summary`].
enum Outcome {
    /// `--dry-run`: nothing written.
    DryRun,
    /// Nothing to convert.
    NothingNew,
    /// Inputs failed, and the others could not be committed without them (standard input,
    /// `--reprocess`) or there were none: nothing committed.
    InputsFailed {
        failed: Vec<FailedInput>,
        read: Figures,
    },
    /// More lines rejected than `--max-reject-ratio` allows: only the rejects file was written.
    TooManyRejects {
        failed: Vec<FailedInput>,
        read: Figures,
        run_id: String,
        rejects: Option<(String, u64)>,
    },
    /// The run committed.
    Committed {
        failed: Vec<FailedInput>,
        read: Figures,
        run: Box<Manifest>,
        staged: Vec<StagedFile>,
        salvaged: Vec<SalvagedInput>,
    },
}

/// What the inputs read to their end came to.
struct Figures {
    counts: Counts,
    inputs_read: u64,
    bytes_in: u64,
}

/// Converts the planned inputs and commits them; when inputs fail, converts the others again
/// without them (their rows are mixed into the staged files) and commits those. Standard input
/// cannot be read twice, and a `--reprocess` run needs all the inputs of the runs it replaces:
/// then nothing is committed.
#[allow(
    clippy::too_many_arguments,
    reason = "the run's context, each used once"
)]
fn run(
    plan: &Plan,
    options: &ConvertOptions,
    root: &Location,
    table: &mut dyn Table,
    failures: &mut Failures,
    quarantined: &mut Vec<QuarantinedInput>,
    lease: Option<&Lease>,
    progress: &Progress,
    started_at: &str,
) -> Result<Outcome> {
    progress.set_total(plan.convert.iter().map(|i| i.size).sum());
    let mut inputs = plan.convert.clone();
    let mut failed: Vec<FailedInput> = Vec::new();
    let columns = options.schema.arrow_schema(options.decode.timestamp_unit);
    let file_schema = table.data_file_schema(
        &(options.table_format).data_file_schema(&options.partition.file_schema(&columns)),
    )?;
    let attempt = loop {
        let attempt = match convert_inputs(&inputs, options, root, &file_schema, progress) {
            Ok(attempt) => attempt,
            // A run paused past its lease finds its staging cleaned by the run that took over:
            // say so rather than name the missing file.
            Err(e) => return Err(lease_lost(lease).unwrap_or(e)),
        };
        if attempt.failed.is_empty() {
            break attempt;
        }
        let bad: BTreeSet<usize> = attempt.failed.iter().map(|(i, _)| *i).collect();
        failed.extend(attempt.failed.iter().map(|(_, f)| f.clone()));
        for (i, failure) in &attempt.failed {
            if inputs[*i].source == Source::Stdin {
                continue; // not an object that later runs would read again
            }
            let record = failures.record(
                root,
                &inputs[*i],
                &failure.error,
                started_at,
                options.quarantine_after,
            )?;
            if record.quarantined {
                tracing::warn!(input = %failure.input, failures = record.failures, "quarantined");
                quarantined.push(quarantined_input(&record));
            }
        }
        let stdin = inputs.iter().any(|i| i.source == Source::Stdin);
        inputs = inputs
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !bad.contains(i))
            .map(|(_, input)| input)
            .collect();
        // Replacing runs needs every one of their inputs: without one, its rows would be lost.
        if stdin || !plan.replaces.is_empty() || inputs.is_empty() {
            progress.finish();
            return Ok(Outcome::InputsFailed {
                failed,
                read: attempt.figures(),
            });
        }
        tracing::warn!(
            failed = bad.len(),
            remaining = inputs.len(),
            "converting the other inputs again without the failed ones"
        );
    };
    progress.finish();

    let salvage_errors: std::collections::HashMap<usize, &str> = attempt
        .salvaged
        .iter()
        .map(|(i, s)| (*i, s.error.as_str()))
        .collect();
    let records: Vec<InputRecord> = inputs
        .iter()
        .enumerate()
        .map(|(n, i)| match i.source {
            Source::Stdin => InputRecord {
                key: format!("stdin:{}", attempt.stdin_digest.as_deref().unwrap_or("")),
                size: 0, // counted as it was read; the digest identifies it
                version: String::new(),
                salvaged: salvage_errors.get(&n).map(|e| e.to_string()),
            },
            _ => InputRecord {
                key: i.key(),
                size: i.size,
                version: i.version.clone(),
                salvaged: salvage_errors.get(&n).map(|e| e.to_string()),
            },
        })
        .collect();
    let replaces = runs_replaced(table.ledger(), &plan.replaces, &records)?;
    let run_id = run_id(options, &records, &replaces);
    let read = attempt.figures();
    let rows_read = read.counts.stats.rows + read.counts.rejected;
    if read.counts.rejected as f64 > options.max_reject_ratio * rows_read as f64 {
        // No data: the rejects go straight to their final name for the user to inspect.
        let rejects = match &attempt.rejects {
            Some((file, count)) => {
                let name = rejects_file_name(&run_id);
                root.upload_file(file, &name)?;
                Some((name, *count))
            }
            None => None,
        };
        return Ok(Outcome::TooManyRejects {
            failed,
            read,
            run_id,
            rejects,
        });
    }

    // Stage (upload, for object stores), then commit.
    let paths: Vec<String> = attempt
        .staged
        .iter()
        .map(|s| table.data_path(&write::data_file_name(&s.partition, &run_id, s.seq)))
        .collect();
    let keys: Vec<String> = attempt
        .staged
        .iter()
        .zip(&paths)
        .map(|(s, path)| table.staging_key(&attempt.staging, &s.temp, path))
        .collect();
    let jobs: Vec<(&StagedFile, &String)> = attempt.staged.iter().zip(&keys).collect();
    let put = |(s, key): &(&StagedFile, &String)| attempt.staging.put(root, &s.temp, key);
    if attempt.staging.in_root {
        jobs.iter().try_for_each(put)?;
    } else {
        let per_file = 2 * options.storage.part_size as u64;
        let groups = upload_groups(&attempt.staged, options.memory_limit / 4, per_file);
        let mut start = 0;
        for group in groups {
            concurrently(&jobs[start..start + group.len()], UPLOAD_CONCURRENCY, put)?;
            start += group.len();
        }
    }
    let files: Vec<ManifestFile> = attempt
        .staged
        .iter()
        .zip(paths)
        .zip(keys)
        .map(|((staged, path), key)| ManifestFile {
            path,
            staged: key,
            rows: staged.rows,
            bytes: staged.bytes,
        })
        .collect();
    let rejects = match &attempt.rejects {
        Some((file, count)) => {
            let path = rejects_file_name(&run_id);
            let key = table.staging_key(&attempt.staging, file, &path);
            attempt.staging.put(root, file, &key)?;
            Some(ManifestFile {
                path,
                staged: key,
                rows: *count,
                bytes: std::fs::metadata(file).map_or(0, |m| m.len()),
            })
        }
        None => None,
    };
    let ledger = table.ledger();
    let mut replaced: Vec<String> = replaces.into_iter().collect();
    if ledger.manifests.contains_key(&run_id) && !replaced.contains(&run_id) {
        replaced.push(run_id.clone());
    }
    let mut manifest = Manifest {
        format: MANIFEST_FORMAT,
        run_id,
        shard: options.shard.to_string(),
        started_at: Some(started_at.to_string()),
        committed_at: lock::now_rfc3339(),
        inputs: records,
        removes: ledger.files_of(&replaced),
        replaces: replaced,
        files,
        rejects,
        delta_txn: None,
        iceberg_snapshot: None,
    };
    table.commit(root, &mut manifest, &attempt.staged, lease)?;
    // Converted now (whole, or salvaged): no longer a failing input.
    for record in &manifest.inputs {
        failures.clear(root, &record.key)?;
    }
    Ok(Outcome::Committed {
        failed,
        read,
        run: Box::new(manifest),
        staged: attempt.staged,
        salvaged: attempt.salvaged.into_iter().map(|(_, s)| s).collect(),
    })
}

/// The runs a run replaces: those of `--reprocess`, and the run that converted the same
/// standard input before, when it converted nothing else (its files hold the rows of that run's
/// other inputs too: replacing them would lose those rows, and converting it again would double
/// its own, so that is refused).
fn runs_replaced(
    ledger: &Ledger,
    reprocessed: &BTreeSet<String>,
    records: &[InputRecord],
) -> Result<BTreeSet<String>> {
    let converted = ledger.converted();
    let mut replaces = reprocessed.clone();
    for record in records {
        if record.key.starts_with("stdin:")
            && let Some(done) = converted.get(record.key.as_str())
        {
            let alone = ledger
                .manifests
                .get(&done.run_id)
                .is_some_and(|m| m.inputs.len() == 1);
            if !alone {
                return Err(Error::InvalidOption {
                    option: "-",
                    message: format!(
                        "this standard input was converted before together with other inputs \
                         (run {}); nothing was committed",
                        done.run_id
                    ),
                });
            }
            replaces.insert(done.run_id.clone());
        }
    }
    Ok(replaces)
}

/// The summary of a run: the one place where an [`Outcome`] and the plan become figures.
fn summarize(
    output: String,
    dry_run: bool,
    plan: &Plan,
    runs_recovered: Vec<String>,
    outcome: Outcome,
    started: Instant,
) -> Summary {
    let mut summary = Summary {
        output,
        dry_run,
        runs_recovered,
        inputs_skipped: plan.skipped.clone(),
        inputs_already_converted: plan.already_converted,
        inputs_other_shards: plan.other_shards,
        inputs_outside_window: plan.outside_window,
        ..Summary::default()
    };
    let read = |summary: &mut Summary, read: Figures| {
        let Counts {
            stats,
            rejected,
            blank_lines,
        } = read.counts;
        summary.rows_read = stats.rows + rejected;
        summary.blank_lines = blank_lines;
        summary.bytes_in = read.bytes_in;
        summary.inputs_read = read.inputs_read;
        summary.unknown_fields = stats.unknown_fields;
        summary.unknown_fields_other = stats.unknown_fields_other;
        summary.out_of_enum = stats.out_of_enum;
        summary.values_coerced = stats.values_coerced;
        (stats.rows, rejected)
    };
    match outcome {
        Outcome::DryRun => {
            summary.would_convert = plan
                .convert
                .iter()
                .map(|i| i.source.display_name())
                .collect();
        }
        Outcome::NothingNew => {}
        Outcome::InputsFailed { failed, read: r } => {
            // The lines of the inputs read to their end, none committed.
            summary.rows_read = r.counts.stats.rows + r.counts.rejected;
            summary.rows_discarded = summary.rows_read;
            summary.inputs_read = r.inputs_read;
            summary.status = Status::InputFailed;
            summary.inputs_failed = failed;
        }
        Outcome::TooManyRejects {
            failed,
            read: r,
            run_id,
            rejects,
        } => {
            let (rows, _) = read(&mut summary, r);
            summary.status = Status::RejectThresholdExceeded;
            summary.rows_discarded = rows;
            summary.inputs_failed = failed;
            summary.run_id = run_id;
            if let Some((name, count)) = rejects {
                summary.rows_rejected = count;
                summary.rejects_file = Some(name);
            }
        }
        Outcome::Committed {
            failed,
            read: r,
            run,
            staged,
            salvaged,
        } => {
            summary.inputs_salvaged = salvaged;
            let (rows, rejected) = read(&mut summary, r);
            summary.status = if failed.is_empty() {
                Status::Ok
            } else {
                Status::InputFailed
            };
            summary.inputs_failed = failed;
            summary.committed = true;
            summary.run_id = run.run_id.clone();
            summary.inputs_converted = run.inputs.len() as u64;
            summary.rows_written = rows;
            summary.rows_rejected = rejected;
            summary.rejects_file = run.rejects.as_ref().map(|r| r.path.clone());
            summary.files = run
                .files
                .iter()
                .zip(&staged)
                .map(|(f, s)| write::WrittenFile {
                    path: f.path.clone(),
                    partition: s.partition.clone(),
                    rows: f.rows,
                    bytes: f.bytes,
                })
                .collect();
            summary.files_written = summary.files.len() as u64;
            summary.bytes_out = summary.files.iter().map(|f| f.bytes).sum();
        }
    }
    summary.elapsed_s = started.elapsed().as_secs_f64();
    summary
}

/// The lease's loss, if it was lost: the reason a failure happened, more than the failure.
fn lease_lost(lease: Option<&Lease>) -> Option<Error> {
    lease.and_then(|l| l.check().err())
}

/// The run id: a hash of the field list, the row-shaping options, the inputs and the runs
/// replaced.
fn run_id(options: &ConvertOptions, inputs: &[InputRecord], replaces: &BTreeSet<String>) -> String {
    let mut identity = Sha256::new();
    identity.update(b"logpush-parquet run v2\n");
    identity.update(format!("schema {}\n", options.schema.fingerprint()));
    identity.update(format!("options {}\n", options.output_shape()));
    for input in inputs {
        identity.update(format!(
            "input {} {} {}\n",
            input.key, input.size, input.version
        ));
    }
    for run in replaces {
        identity.update(format!("replaces {run}\n"));
    }
    crate::hex(&identity.finalize()[..8])
}

/// One thread per core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Key-value metadata of every data file.
fn file_metadata(options: &ConvertOptions) -> Vec<KeyValue> {
    vec![
        KeyValue::new(
            "logpush_parquet.version".into(),
            env!("CARGO_PKG_VERSION").to_string(),
        ),
        KeyValue::new(
            "logpush_parquet.dataset".into(),
            options.schema.dataset().to_string(),
        ),
        KeyValue::new(
            "logpush_parquet.schema_sha256".into(),
            options.schema.fingerprint().to_string(),
        ),
        KeyValue::new(
            "logpush_parquet.partition_by".into(),
            options.partition.to_option_text(),
        ),
    ]
}
