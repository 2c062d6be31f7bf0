//! The conversion job: plans a run (inputs, run id), drives every input through decode,
//! partition and write, and commits the result.
//!
//! Every row is accounted for: a line is either written or kept in the rejects file, and
//! `rows_read = rows_written + rows_rejected`. Reading and decoding run in parallel
//! ([`crate::pipeline`]), which hands decoded chunks over in input and line order; this thread
//! partitions and encodes them. An input that cannot be read to its end
//! (truncated gzip, I/O error) makes the run commit nothing ([`Status::InputFailed`]): the
//! summary names it, and once it is mended or removed the same command converts everything.
//!
//! Nothing is visible before the commit: data files are written as temporaries under
//! `<output>/_staging/` and renamed to `part-<run id>-<n>.parquet` at the end. The run id is a
//! hash of the inputs (canonical path and size, or the content of standard input) and of the
//! options that decide which rows are written where, so running the same command again (even
//! with another codec, file size or thread count) replaces the same files.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use parquet::file::metadata::KeyValue;
use sha2::{Digest, Sha256};

use crate::decode::{DecodeOptions, DecodeStats};
use crate::error::{Error, Result};
use crate::input::{self, Input, Source};
use crate::partition::{self, PartitionSpec};
use crate::pipeline::{self, Delivery, PipelineOptions};
use crate::report::{Progress, Status, Summary};
use crate::schema::EventSchema;
use crate::write::rejects::RejectWriter;
use crate::write::{self, ParquetOptions, PartitionedWriter, STAGING_DIR, WriterLimits};

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
/// it, then merged into one file per partition). The rest is headroom for the allocator, the
/// rejects and the binary. Lines up to `--max-line-bytes` come on top: one such line can be in
/// memory per reader.
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
        // In flight per thread: 2 queued, 1 being decoded, 1 being framed and up to
        // `LOOKAHEAD` read ahead, each also held once decoded (about half the size).
        let chunks_in_flight = threads.max(1) * (4 + pipeline::LOOKAHEAD as usize) * 3 / 2;
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
    /// Input arguments: paths, folders, glob patterns, `-`.
    pub inputs: Vec<String>,
    /// The output root folder.
    pub output: PathBuf,
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
}

impl ConvertOptions {
    /// Options with defaults for everything but the inputs, output and schema.
    pub fn new(inputs: Vec<String>, output: PathBuf, schema: Arc<EventSchema>) -> Result<Self> {
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
        })
    }

    /// The options that shape the output, as text: part of the run id.
    fn output_shape(&self) -> String {
        // Only what decides which rows are written, where, and with which values. Options that
        // change only the files' bytes or where they split (codec, row groups, file size,
        // memory, threads) keep the run id, so re-running with them replaces the files (see
        // `write::commit`) instead of adding a second copy under other names.
        format!(
            "unit={:?} strict={} partition={} max_line_bytes={}",
            self.decode.timestamp_unit,
            self.decode.strict,
            self.partition.to_option_text(),
            self.max_line_bytes,
        )
    }
}

/// Removes the run's staging folder however the run ends.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        if let Some(parent) = self.0.parent() {
            let _ = std::fs::remove_dir(parent); // only if empty
        }
    }
}

/// What some lines came to.
#[derive(Default)]
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

/// Converts the inputs of `options` into partitioned Parquet under `options.output`.
pub fn convert(options: &ConvertOptions, progress: &Progress) -> Result<Summary> {
    let started = Instant::now();
    let listed = input::expand(&options.inputs)?;
    progress.set_total(listed.inputs.iter().map(|i| i.size).sum());
    tracing::info!(
        inputs = listed.inputs.len(),
        skipped = listed.skipped.len(),
        "listed inputs"
    );
    let root = &options.output;
    std::fs::create_dir_all(root).map_err(|e| Error::output(root, e))?;
    let staging = Staging(root.join(STAGING_DIR).join(staging_name()));
    std::fs::create_dir_all(&staging.0).map_err(|e| Error::output(&staging.0, e))?;

    let file_schema = options
        .partition
        .file_schema(&options.schema.arrow_schema(options.decode.timestamp_unit));
    let properties = options
        .parquet
        .writer_properties(&options.schema, file_metadata(options))?;
    let memory = MemoryPlan::new(options.memory_limit, options.threads);
    tracing::debug!(?memory, "memory plan");
    let mut writer = PartitionedWriter::new(
        staging.0.clone(),
        file_schema,
        properties,
        WriterLimits {
            max_file_bytes: options.parquet.max_file_bytes,
            buffer_bytes: memory.row_group_buffers,
            max_open_files: memory.max_open_files,
            overflow_bytes: memory.overflow_bytes,
        },
    );
    let mut rejects = RejectWriter::new(&staging.0);

    let bytes_in = Arc::new(AtomicU64::new(0));
    let mut inputs_read = 0;
    let mut failed = Vec::new();
    let mut identity = Sha256::new();
    identity.update(b"logpush-parquet run v1\n");
    identity.update(format!("schema {}\n", options.schema.fingerprint()));
    identity.update(format!("options {}\n", options.output_shape()));

    let pipeline = PipelineOptions {
        schema: options.schema.clone(),
        decode: options.decode,
        max_line_bytes: options.max_line_bytes,
        threads: options.threads,
        partition_fields: options.partition.moved_fields(),
        chunk_bytes: memory.chunk_bytes,
    };
    // Counts of the input being delivered, added to the run's once it has been read to its end.
    let mut input_counts = Counts::default();
    let mut counts = Counts::default();
    pipeline::run(&listed.inputs, &pipeline, &bytes_in, |delivery| {
        match delivery {
            Delivery::Chunk { decoded, .. } => {
                for batch in &decoded.batches {
                    for (folder, piece) in partition::split(batch, &options.partition)? {
                        writer.write(&folder, &piece)?;
                    }
                }
                rejects.write_all(&decoded.rejects)?;
                input_counts.add(Counts {
                    stats: decoded.stats,
                    rejected: decoded.rejects.len() as u64,
                    blank_lines: decoded.blank_lines,
                });
            }
            Delivery::InputDone {
                input,
                content_digest,
            } => {
                let input = &listed.inputs[input];
                let name = input.source.display_name();
                tracing::info!(
                    input = %name,
                    rows = input_counts.stats.rows,
                    rejected = input_counts.rejected,
                    "converted"
                );
                counts.add(std::mem::take(&mut input_counts));
                inputs_read += 1;
                identity.update(input_identity(input, content_digest.as_deref()));
                progress.update(bytes_in.load(Ordering::Relaxed), &name);
            }
            Delivery::InputFailed { input, failure } => {
                tracing::warn!(input = %failure.input, "input failed: {}", failure.error);
                // Its first rows may be in the staged files: the run will commit nothing.
                input_counts = Counts::default();
                identity.update(input_identity(&listed.inputs[input], None));
                failed.push(failure);
            }
        }
        Ok(())
    })?;
    progress.finish();
    let staged = writer.finish()?;
    let run_id = crate::hex(&identity.finalize()[..8]);

    // Lines of the inputs read to their end. (When an input failed, the rejects file may also
    // hold some of its lines; it is then not committed.)
    let Counts {
        stats,
        rejected,
        blank_lines,
    } = counts;
    let rows_read = stats.rows + rejected;
    let too_many_rejects = rejected as f64 > options.max_reject_ratio * rows_read as f64;
    // Without a record of which inputs were converted, a run that skipped a failed input could
    // not be retried without writing the others twice: so it commits nothing at all.
    let status = if !failed.is_empty() {
        Status::InputFailed
    } else if too_many_rejects {
        Status::RejectThresholdExceeded
    } else {
        Status::Ok
    };
    let (rows_rejected, rejects_file) = match status {
        Status::InputFailed => (0, None),
        _ => (rejected, rejects.commit(root, &run_id)?),
    };
    let files = match status {
        Status::Ok => write::commit(root, &run_id, staged)?,
        _ => Vec::new(),
    };
    let rows_written = if status == Status::Ok { stats.rows } else { 0 };
    Ok(Summary {
        status,
        committed: status == Status::Ok,
        output: root.display().to_string(),
        rows_read,
        rows_written,
        rows_rejected,
        rows_discarded: rows_read - rows_written - rows_rejected,
        blank_lines,
        files_written: files.len() as u64,
        bytes_in: bytes_in.load(Ordering::Relaxed),
        bytes_out: files.iter().map(|f| f.bytes).sum(),
        inputs_read,
        unknown_fields: stats.unknown_fields,
        out_of_enum: stats.out_of_enum,
        inputs_skipped: listed.skipped,
        inputs_failed: failed,
        rejects_file,
        files,
        run_id,
        elapsed_s: started.elapsed().as_secs_f64(),
    })
}

/// The part of the run id one input contributes.
fn input_identity(input: &Input, content_digest: Option<&str>) -> String {
    match &input.source {
        Source::Stdin => format!("input - {}\n", content_digest.unwrap_or("unread")),
        Source::File(path) => {
            let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            format!("input {} {}\n", canonical.display(), input.size)
        }
    }
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

/// A staging folder name unique to this process and moment.
fn staging_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{nanos}", std::process::id())
}
