//! The conversion job: plans a run (inputs, run id), drives every input through decode,
//! partition and write, and commits the result.
//!
//! Every row is accounted for: a line is either written or kept in the rejects file, and
//! `rows_read = rows_written + rows_rejected`. An input that cannot be read to its end
//! (truncated gzip, I/O error) contributes no rows at all: its batches and rejects are held
//! until its last line has been read, and dropped if that never happens. The run then ends with
//! [`Status::PartialFailure`] and the input is named in the summary.
//!
//! Nothing is visible before the commit: data files are written as temporaries under
//! `<output>/_staging/` and renamed to `part-<run id>-<n>.parquet` at the end. The run id is a
//! hash of the inputs (canonical path and size, or the content of standard input) and of every
//! option that shapes the output, so running the same command again replaces the same files.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use arrow_array::RecordBatch;
use parquet::file::metadata::KeyValue;
use sha2::{Digest, Sha256};

use crate::decode::lines::{Line, LineReader};
use crate::decode::{DecodeOptions, DecodeStats, Decoder};
use crate::error::{Error, Result};
use crate::input::{self, Input, Source};
use crate::partition::{self, PartitionSpec};
use crate::report::{FailedInput, Progress, Status, Summary};
use crate::schema::EventSchema;
use crate::write::rejects::{RejectRecord, RejectWriter};
use crate::write::{self, ParquetOptions, PartitionedWriter, STAGING_DIR};

/// The default of `--max-reject-ratio`: more than 1 line in 100 rejected fails the run.
pub const DEFAULT_MAX_REJECT_RATIO: f64 = 0.01;
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
        })
    }

    /// The options that shape the output, as text: part of the run id.
    fn output_shape(&self) -> String {
        let p = &self.parquet;
        format!(
            "unit={:?} strict={} partition={} codec={:?} level={:?} row_group_rows={} \
             row_group_bytes={} max_file_bytes={} max_line_bytes={}",
            self.decode.timestamp_unit,
            self.decode.strict,
            self.partition.to_option_text(),
            p.codec,
            p.level,
            p.row_group_rows,
            p.row_group_bytes,
            p.max_file_bytes,
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

/// What reading one input produced.
enum InputOutcome {
    /// Read to the end: its rows and rejects, ready to be written.
    Complete {
        batches: Vec<RecordBatch>,
        rejects: Vec<RejectRecord>,
        stats: DecodeStats,
        blank_lines: u64,
        content_digest: Option<String>,
    },
    /// Failed part-way: nothing of it is written.
    Failed(FailedInput),
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

    let mut decoder = Decoder::try_new(options.schema.clone(), options.decode)?;
    let file_schema = options.partition.file_schema(decoder.arrow_schema());
    let properties = options.parquet.writer_properties(file_metadata(options))?;
    let mut writer = PartitionedWriter::new(
        staging.0.clone(),
        file_schema,
        properties,
        options.parquet.max_file_bytes,
    );
    let mut rejects = RejectWriter::new(&staging.0);

    let bytes_in = Arc::new(AtomicU64::new(0));
    let mut stats = DecodeStats::default();
    let mut blank_lines = 0;
    let mut inputs_read = 0;
    let mut failed = Vec::new();
    let mut identity = Sha256::new();
    identity.update(b"logpush-parquet run v1\n");
    identity.update(format!("schema {}\n", options.schema.fingerprint()));
    identity.update(format!("options {}\n", options.output_shape()));

    for input in &listed.inputs {
        let outcome = read_input(input, &mut decoder, options, &bytes_in, progress);
        match outcome {
            InputOutcome::Complete {
                batches,
                rejects: input_rejects,
                stats: input_stats,
                blank_lines: blanks,
                content_digest,
            } => {
                for batch in &batches {
                    for (folder, piece) in partition::split(batch, &options.partition)? {
                        writer.write(&folder, &piece)?;
                    }
                }
                rejects.write_all(&input_rejects)?;
                tracing::info!(
                    input = %input.source.display_name(),
                    rows = input_stats.rows,
                    rejected = input_rejects.len(),
                    "converted"
                );
                stats.merge(input_stats);
                blank_lines += blanks;
                inputs_read += 1;
                identity.update(input_identity(input, content_digest.as_deref()));
            }
            InputOutcome::Failed(f) => {
                tracing::warn!(input = %f.input, "input failed: {}", f.error);
                identity.update(input_identity(input, None));
                failed.push(f);
            }
        }
    }
    progress.finish();
    let staged = writer.finish()?;
    let run_id = crate::hex(&identity.finalize()[..8]);

    let rows_rejected = rejects.count();
    let rows_read = stats.rows + rows_rejected;
    let too_many_rejects = rows_rejected as f64 > options.max_reject_ratio * rows_read as f64;
    let rejects_file = rejects.commit(root, &run_id)?;
    let (files, status) = if too_many_rejects {
        (Vec::new(), Status::RejectThresholdExceeded)
    } else {
        let files = write::commit(root, &run_id, staged)?;
        let status = if failed.is_empty() {
            Status::Ok
        } else {
            Status::PartialFailure
        };
        (files, status)
    };
    Ok(Summary {
        status,
        committed: !too_many_rejects,
        output: root.display().to_string(),
        rows_read,
        rows_written: stats.rows,
        rows_rejected,
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

/// Reads one input to its end, or fails without leaving anything behind in the decoder.
fn read_input(
    input: &Input,
    decoder: &mut Decoder,
    options: &ConvertOptions,
    bytes_in: &Arc<AtomicU64>,
    progress: &Progress,
) -> InputOutcome {
    let name = input.source.display_name();
    let failed = |line: u64, source: std::io::Error| {
        InputOutcome::Failed(FailedInput {
            input: name.clone(),
            error: Error::InputRead {
                path: name.clone(),
                line,
                source,
            }
            .to_string(),
            lines_discarded: line,
        })
    };
    let reader = match input::open(input, bytes_in.clone()) {
        Ok(r) => r,
        Err(e) => return failed(0, e),
    };
    let mut lines = LineReader::new(reader, options.max_line_bytes);
    let mut digest = matches!(input.source, Source::Stdin).then(Sha256::new);
    let mut batches = Vec::new();
    let mut rejects = Vec::new();
    let mut blank_lines = 0;
    loop {
        let (number, line) = match lines.next_line() {
            Ok(Some(next)) => next,
            Ok(None) => break,
            Err(e) => {
                let line = lines.line_no();
                decoder.discard();
                return failed(line, e);
            }
        };
        match line {
            Line::Complete(bytes) => {
                if let Some(d) = digest.as_mut() {
                    d.update(bytes);
                    d.update(b"\n");
                }
                if bytes.iter().all(u8::is_ascii_whitespace) {
                    blank_lines += 1;
                    continue;
                }
                if decoder.is_full() {
                    match decoder.flush() {
                        Ok(batch) => batches.extend(batch),
                        Err(e) => return failed(number, std::io::Error::other(e)),
                    }
                    progress.update(bytes_in.load(Ordering::Relaxed), &name);
                }
                if let Err(reject) = decoder.decode_line(bytes) {
                    rejects.push(RejectRecord::new(
                        &name,
                        number,
                        reject.field,
                        reject.reason,
                        bytes,
                        bytes.len() as u64,
                    ));
                }
            }
            Line::TooLong { len, head } => {
                if let Some(d) = digest.as_mut() {
                    d.update(format!("too long {len}\n"));
                    d.update(head);
                }
                rejects.push(RejectRecord::new(
                    &name,
                    number,
                    None,
                    format!(
                        "line is {len} bytes, over the limit of {} (--max-line-bytes)",
                        options.max_line_bytes
                    ),
                    head,
                    len,
                ));
            }
        }
    }
    match decoder.flush() {
        Ok(batch) => batches.extend(batch),
        Err(e) => return failed(lines.line_no(), std::io::Error::other(e)),
    }
    progress.update(bytes_in.load(Ordering::Relaxed), &name);
    InputOutcome::Complete {
        batches,
        rejects,
        stats: decoder.take_stats(),
        blank_lines,
        content_digest: digest.map(|d| crate::hex(&d.finalize())),
    }
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
