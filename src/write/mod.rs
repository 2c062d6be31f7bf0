//! Writing: Parquet files per partition, rolled at a size limit, staged as hidden temporaries
//! and made visible only at commit by a rename to a deterministic name.
//!
//! Layout under the output root:
//!
//! ```text
//! <root>/date=2026-11-23/hour=5/part-<run id>-00000.parquet   committed data files
//! <root>/_rejects/rejects-<run id>.ndjson                     rejected lines of that run
//! <root>/_staging/<shard>/<run>/...                           temporaries while a run is live
//! <root>/_ledger/...                                          the ledger (see crate::ledger)
//! ```
//!
//! Spark skips names starting with `_` or `.`, and DuckDB's `**/*.parquet` glob skips anything
//! not ending in `.parquet`, so staging files are never read as data. Files are published by the
//! ledger's commit protocol ([`crate::ledger`]).

pub mod rejects;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::BufWriter;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use arrow_array::{RecordBatch, UInt32Array};
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, GzipLevel, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::error::{Error, Result};
use crate::partition::Split;
use crate::schema::{ColumnEncoding, EventSchema};

/// Write buffer of each open data file.
pub const FILE_BUFFER_BYTES: usize = 64 << 10;

/// Folder (under the output root) of staged temporaries.
pub const STAGING_DIR: &str = "_staging";

/// The Parquet compression codec of the data files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// zstd (default level 1).
    Zstd,
    /// Snappy.
    Snappy,
    /// LZ4 (the raw-block LZ4 Parquet codec).
    Lz4,
    /// gzip (default level 6).
    Gzip,
    /// No compression.
    None,
}

/// How data files are encoded and sized.
#[derive(Debug, Clone)]
pub struct ParquetOptions {
    /// Compression codec.
    pub codec: Codec,
    /// Codec level (zstd 1-22, gzip 0-10); `None` for the codec's default.
    pub level: Option<i32>,
    /// Most rows in a row group.
    pub row_group_rows: usize,
    /// Most estimated encoded bytes in a row group.
    pub row_group_bytes: usize,
    /// A file is closed and the next one started once it reaches this many bytes.
    pub max_file_bytes: u64,
}

impl Default for ParquetOptions {
    fn default() -> Self {
        ParquetOptions {
            codec: Codec::Zstd,
            level: None,
            row_group_rows: 1024 * 1024,
            row_group_bytes: 128 * 1024 * 1024,
            max_file_bytes: 512 * 1024 * 1024,
        }
    }
}

impl ParquetOptions {
    /// The parquet writer properties for these options, with `metadata` as key-value metadata
    /// and each field's column encoding from the field list.
    pub fn writer_properties(
        &self,
        schema: &EventSchema,
        metadata: Vec<KeyValue>,
    ) -> Result<WriterProperties> {
        let level_error = |e: parquet::errors::ParquetError| Error::InvalidOption {
            option: "--compression-level",
            message: e.to_string(),
        };
        let compression = match self.codec {
            Codec::Zstd => Compression::ZSTD(match self.level {
                Some(l) => ZstdLevel::try_new(l).map_err(level_error)?,
                None => ZstdLevel::default(),
            }),
            Codec::Gzip => Compression::GZIP(match self.level {
                Some(l) => GzipLevel::try_new(u32::try_from(l).map_err(|_| {
                    level_error(parquet::errors::ParquetError::General(
                        "gzip levels are 0 to 10".into(),
                    ))
                })?)
                .map_err(level_error)?,
                None => GzipLevel::default(),
            }),
            Codec::Snappy | Codec::Lz4 | Codec::None if self.level.is_some() => {
                return Err(Error::InvalidOption {
                    option: "--compression-level",
                    message: format!("{:?} has no levels", self.codec).to_lowercase(),
                });
            }
            Codec::Snappy => Compression::SNAPPY,
            Codec::Lz4 => Compression::LZ4_RAW,
            Codec::None => Compression::UNCOMPRESSED,
        };
        if self.row_group_rows == 0 || self.row_group_bytes == 0 || self.max_file_bytes == 0 {
            return Err(Error::InvalidOption {
                option: "--row-group-size/--max-file-size",
                message: "must be greater than zero".into(),
            });
        }
        let mut builder = WriterProperties::builder();
        for field in schema.fields() {
            let column = ColumnPath::from(field.name.as_str());
            match field.encoding {
                None | Some(ColumnEncoding::Dictionary) => {}
                Some(ColumnEncoding::Plain) => {
                    builder = builder.set_column_dictionary_enabled(column, false);
                }
                Some(ColumnEncoding::Delta) => {
                    builder = builder
                        .set_column_dictionary_enabled(column.clone(), false)
                        .set_column_encoding(column, Encoding::DELTA_BINARY_PACKED);
                }
            }
        }
        Ok(builder
            .set_compression(compression)
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .set_max_row_group_bytes(Some(self.row_group_bytes))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_created_by(format!(
                "logpush-parquet version {} ({})",
                env!("CARGO_PKG_VERSION"),
                parquet::file::properties::DEFAULT_CREATED_BY
            ))
            .set_key_value_metadata(Some(metadata))
            .build())
    }
}

/// A closed data file waiting in staging for the commit.
#[derive(Debug, Clone)]
pub struct StagedFile {
    /// The temporary's path.
    pub temp: PathBuf,
    /// The partition folder, relative to the root (empty when unpartitioned).
    pub partition: String,
    /// The file's number within its partition in this run.
    pub seq: u32,
    /// Rows in the file.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
}

/// A committed data file.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WrittenFile {
    /// Path relative to the output root.
    pub path: String,
    /// The partition folder (empty when unpartitioned).
    pub partition: String,
    /// Rows in the file.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
}

/// Opens data files in the staging folder: shared by the writer and its merge workers.
struct FileFactory {
    staging: PathBuf,
    schema: SchemaRef,
    properties: WriterProperties,
    /// Numbers temporaries.
    counter: AtomicU64,
}

impl FileFactory {
    /// A new file of a partition, the partition's file number `seq`.
    fn open(&self, seq: u32) -> Result<OpenFile> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        let temp = self.staging.join(format!("{n:06}.parquet.tmp"));
        let handle = File::create(&temp).map_err(|e| Error::output(&temp, e))?;
        let writer = ArrowWriter::try_new(
            BufWriter::with_capacity(FILE_BUFFER_BYTES, handle),
            self.schema.clone(),
            Some(self.properties.clone()),
        )
        .map_err(|source| Error::Parquet {
            path: temp.clone(),
            source,
        })?;
        Ok(OpenFile {
            writer,
            temp,
            seq,
            rows: 0,
            buffered: 0,
            last_split: 0,
        })
    }
}

/// A data file being written.
struct OpenFile {
    writer: ArrowWriter<BufWriter<File>>,
    temp: PathBuf,
    seq: u32,
    rows: u64,
    /// Memory of the buffered row group when last measured.
    buffered: usize,
    /// The writer's split count when rows last came to this file.
    last_split: u64,
}

impl OpenFile {
    /// Appends `batch`; returns how much the buffered row group grew (or shrank, when the
    /// writer wrote a full row group out).
    fn write(&mut self, batch: &RecordBatch) -> Result<isize> {
        self.writer.write(batch).map_err(|source| Error::Parquet {
            path: self.temp.clone(),
            source,
        })?;
        self.rows += batch.num_rows() as u64;
        let before = self.buffered;
        self.buffered = self.writer.memory_size();
        Ok(self.buffered as isize - before as isize)
    }

    /// Bytes the file will hold once its buffered rows are written.
    fn size(&self) -> u64 {
        (self.writer.bytes_written() + self.writer.in_progress_size()) as u64
    }

    /// Writes the buffered rows out as a row group.
    fn flush(&mut self) -> Result<()> {
        self.writer.flush().map_err(|source| Error::Parquet {
            path: self.temp.clone(),
            source,
        })?;
        self.buffered = 0;
        Ok(())
    }

    /// Finishes the file and makes it durable.
    fn close(self, partition: String) -> Result<StagedFile> {
        let OpenFile {
            writer,
            temp,
            seq,
            rows,
            ..
        } = self;
        let mut inner = writer.into_inner().map_err(|source| Error::Parquet {
            path: temp.clone(),
            source,
        })?;
        use std::io::Write as _;
        inner.flush().map_err(|e| Error::output(&temp, e))?;
        let handle = inner
            .into_inner()
            .map_err(|e| Error::output(&temp, e.into_error()))?;
        // Durable before it can be renamed into view.
        handle.sync_all().map_err(|e| Error::output(&temp, e))?;
        let bytes = handle
            .metadata()
            .map_err(|e| Error::output(&temp, e))?
            .len();
        Ok(StagedFile {
            temp,
            partition,
            seq,
            rows,
            bytes,
        })
    }
}

/// Rows of partitions that found no open file.
#[derive(Default)]
struct Overflow {
    /// Every partition that went here.
    partitions: HashSet<String>,
    /// Batches not yet spilled, in the order they came, each grouped by partition (sorted) with
    /// each group's rows.
    buffered: Vec<(RecordBatch, Vec<(String, usize)>)>,
    bytes: usize,
    runs: Vec<Run>,
    /// Numbers run files.
    next_run: u64,
    plain: Option<SchemaRef>,
}

impl Overflow {
    /// The file schema with dictionary columns as plain strings: pieces from many batches then
    /// concatenate without merging dictionaries, and spill without resending them.
    fn plain_schema(&mut self, schema: &SchemaRef) -> SchemaRef {
        self.plain
            .get_or_insert_with(|| {
                let fields: Vec<arrow_schema::Field> = schema
                    .fields()
                    .iter()
                    .map(|f| match f.data_type() {
                        arrow_schema::DataType::Dictionary(_, value) => {
                            f.as_ref().clone().with_data_type(value.as_ref().clone())
                        }
                        _ => f.as_ref().clone(),
                    })
                    .collect();
                std::sync::Arc::new(arrow_schema::Schema::new_with_metadata(
                    fields,
                    schema.metadata().clone(),
                ))
            })
            .clone()
    }
}

/// `batch` with its columns cast to the types of `schema` (same names, same order).
fn cast_batch(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema() == *schema {
        return Ok(batch.clone());
    }
    let columns = batch
        .columns()
        .iter()
        .zip(schema.fields())
        .map(|(c, f)| arrow_cast::cast(c, f.data_type()))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Runs of one level merged into one of the next level once this many have piled up.
const RUNS_PER_LEVEL: usize = 16;

/// Rows per message of a run file. Pieces of any number of partitions share a message, so a
/// run costs per row, not per partition; and a reader holds one message of each run it merges.
/// (Tiny under test, so that partitions straddle messages.)
const RUN_MESSAGE_ROWS: usize = if cfg!(test) { 7 } else { 1024 };

/// Rows gathered from the runs before they are written to a partition's file at the end.
const MERGE_WRITE_ROWS: usize = if cfg!(test) { 3 } else { 2048 };

/// A spilled run: an Arrow IPC stream of rows in partition order, and how many per partition.
struct Run {
    path: PathBuf,
    index: Vec<(String, usize)>,
    level: u32,
}

/// Writes one run.
struct RunWriter {
    path: PathBuf,
    schema: SchemaRef,
    writer: StreamWriter<BufWriter<File>>,
    index: Vec<(String, usize)>,
    level: u32,
    /// Pieces not yet written, gathered into the next message.
    pending: Vec<RecordBatch>,
    pending_rows: usize,
}

impl RunWriter {
    fn create(staging: &Path, counter: &mut u64, schema: &SchemaRef, level: u32) -> Result<Self> {
        *counter += 1;
        let path = staging.join(format!("run-{counter:06}.arrows"));
        let file = File::create(&path).map_err(|e| Error::output(&path, e))?;
        let writer =
            StreamWriter::try_new(BufWriter::with_capacity(FILE_BUFFER_BYTES, file), schema)
                .map_err(|e| Error::output(&path, std::io::Error::other(e)))?;
        Ok(RunWriter {
            path,
            schema: schema.clone(),
            writer,
            index: Vec::new(),
            level,
            pending: Vec::new(),
            pending_rows: 0,
        })
    }

    /// Appends a piece; pieces must come in partition order.
    fn write(&mut self, partition: &str, piece: RecordBatch) -> Result<()> {
        let rows = piece.num_rows();
        if rows == 0 {
            return Ok(());
        }
        match self.index.last_mut() {
            Some((p, count)) if p == partition => *count += rows,
            _ => self.index.push((partition.to_string(), rows)),
        }
        self.pending.push(piece);
        self.pending_rows += rows;
        if self.pending_rows >= RUN_MESSAGE_ROWS {
            self.write_pending()?;
        }
        Ok(())
    }

    fn write_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let message = arrow_select::concat::concat_batches(&self.schema, &self.pending)?;
        self.pending.clear();
        self.pending_rows = 0;
        self.writer
            .write(&message)
            .map_err(|e| Error::output(&self.path, std::io::Error::other(e)))
    }

    fn finish(mut self) -> Result<Run> {
        self.write_pending()?;
        self.writer
            .finish()
            .map_err(|e| Error::output(&self.path, std::io::Error::other(e)))?;
        Ok(Run {
            path: self.path,
            index: self.index,
            level: self.level,
        })
    }
}

/// Reads one run back, a partition's rows at a time.
struct RunReader<'a> {
    run: &'a Run,
    reader: StreamReader<std::io::BufReader<File>>,
    /// The next entry of the run's index.
    next: usize,
    /// The message being read, and how many of its rows were handed out.
    message: Option<RecordBatch>,
    taken: usize,
}

impl<'a> RunReader<'a> {
    fn open(run: &'a Run) -> Result<Self> {
        let file = File::open(&run.path).map_err(|e| Error::output(&run.path, e))?;
        let reader = StreamReader::try_new(
            std::io::BufReader::with_capacity(FILE_BUFFER_BYTES, file),
            None,
        )
        .map_err(|e| Error::output(&run.path, std::io::Error::other(e)))?;
        Ok(RunReader {
            run,
            reader,
            next: 0,
            message: None,
            taken: 0,
        })
    }

    /// Calls `each` with the rows of `partition`, as slices of the run's messages, if the run's
    /// next partition is that one.
    fn read_partition(
        &mut self,
        partition: &str,
        each: &mut impl FnMut(&str, RecordBatch) -> Result<()>,
    ) -> Result<()> {
        let Some((p, rows)) = self.run.index.get(self.next) else {
            return Ok(());
        };
        if p != partition {
            return Ok(());
        }
        self.next += 1;
        let mut left = *rows;
        while left > 0 {
            let available = self
                .message
                .as_ref()
                .map_or(0, |m| m.num_rows() - self.taken);
            if available == 0 {
                let message = self.reader.next().ok_or_else(|| {
                    Error::output(&self.run.path, std::io::Error::other("run ended early"))
                })?;
                self.message = Some(
                    message.map_err(|e| Error::output(&self.run.path, std::io::Error::other(e)))?,
                );
                self.taken = 0;
                continue;
            }
            let n = left.min(available);
            let piece = self
                .message
                .as_ref()
                .expect("available rows come from a message")
                .slice(self.taken, n);
            self.taken += n;
            left -= n;
            each(partition, piece)?;
        }
        Ok(())
    }
}

/// Calls `each` with the rows of `runs`: partition by partition (sorted), and within a
/// partition run by run, in the order the runs were written. Rows come as slices of the runs'
/// messages, so a partition may come in several pieces.
fn read_runs_in_order(
    runs: &[Run],
    mut each: impl FnMut(&str, RecordBatch) -> Result<()>,
) -> Result<()> {
    let mut readers = runs
        .iter()
        .map(RunReader::open)
        .collect::<Result<Vec<_>>>()?;
    let mut partitions: Vec<&str> = runs
        .iter()
        .flat_map(|r| r.index.iter().map(|(p, _)| p.as_str()))
        .collect();
    partitions.sort_unstable();
    partitions.dedup();
    for partition in partitions {
        for reader in &mut readers {
            reader.read_partition(partition, &mut each)?;
        }
    }
    Ok(())
}

fn remove_runs(runs: &[Run]) {
    for run in runs {
        let _ = std::fs::remove_file(&run.path);
    }
}

/// Limits that keep the writer's memory flat however many partitions a run touches.
#[derive(Debug, Clone, Copy)]
pub struct WriterLimits {
    /// A file is closed and the next one started once it reaches this many bytes.
    pub max_file_bytes: u64,
    /// Most memory for row groups being built, over all open files: past it, the largest are
    /// written out early (as smaller row groups).
    pub buffer_bytes: usize,
    /// Most files open at once. Rows of partitions beyond it wait in the overflow buffer.
    pub max_open_files: usize,
    /// Memory for rows of partitions without an open file: past it, they are spilled to disk in
    /// partition order, to be merged into one file per partition at the end.
    pub overflow_bytes: usize,
    /// Threads writing the overflowed partitions' files at the end.
    pub merge_threads: usize,
}

/// Splits (batches) without rows for an open file after which it may be closed to make room.
const IDLE_SPLITS: u64 = 32;

/// Writes record batches into one rolling Parquet file per partition, in a staging folder.
pub struct PartitionedWriter {
    files: FileFactory,
    limits: WriterLimits,
    open: HashMap<String, OpenFile>,
    next_seq: HashMap<String, u32>,
    staged: Vec<StagedFile>,
    buffered: usize,
    overflow: Overflow,
    /// Splits written so far: the clock of `OpenFile::last_split`.
    splits: u64,
}

impl PartitionedWriter {
    /// A writer of files with `schema` into the (existing) `staging` folder.
    pub fn new(
        staging: PathBuf,
        schema: SchemaRef,
        properties: WriterProperties,
        limits: WriterLimits,
    ) -> Self {
        PartitionedWriter {
            files: FileFactory {
                staging,
                schema,
                properties,
                counter: AtomicU64::new(0),
            },
            limits,
            open: HashMap::new(),
            next_seq: HashMap::new(),
            staged: Vec::new(),
            buffered: 0,
            overflow: Overflow::default(),
            splits: 0,
        }
    }

    /// Appends the rows of `split`, partition by partition: to the partition's open file (rolling
    /// it at the size limit), or, when as many files as allowed are open, to the overflow.
    pub fn write_split(&mut self, split: &Split) -> Result<()> {
        let mut overflowing: Vec<(&str, Range<usize>)> = Vec::new();
        let mut offset = 0;
        for (partition, rows) in &split.groups {
            let range = offset..offset + rows;
            offset += rows;
            if range.is_empty() {
                continue;
            }
            if !self.open.contains_key(partition) {
                // A partition that overflowed once stays there, so its rows keep their order.
                if self.overflow.partitions.contains(partition)
                    || (self.open.len() >= self.limits.max_open_files && !self.close_idle()?)
                {
                    overflowing.push((partition, range));
                    continue;
                }
                let file = self.open_file(partition)?;
                self.open.insert(partition.to_string(), file);
            }
            if let Some(file) = self.open.get_mut(partition.as_str()) {
                file.last_split = self.splits;
            }
            self.write_open(partition, &split.batch.slice(range.start, range.len()))?;
        }
        self.splits += 1;
        if overflowing.is_empty() {
            return Ok(());
        }
        self.overflow_write(&split.batch, overflowing)
    }

    /// Closes the open file written least recently, if no rows came to it for [`IDLE_SPLITS`]
    /// splits, to make room for another partition; returns whether it did. Archives come in
    /// time order, so with `date,hour` partitions an hour's file goes idle once the hour is
    /// over: closing it keeps a day of hours out of the overflow. Rows that still come to the
    /// closed partition go to the overflow (and a second file at the end).
    fn close_idle(&mut self) -> Result<bool> {
        let Some((partition, last)) = self
            .open
            .iter()
            .map(|(p, f)| (p, f.last_split))
            .min_by_key(|(_, last)| *last)
        else {
            return Ok(false);
        };
        if self.splits - last < IDLE_SPLITS {
            return Ok(false);
        }
        let partition = partition.clone();
        let file = self.open.remove(&partition).expect("listed above");
        self.close_file(partition.clone(), file)?;
        self.overflow.partitions.insert(partition);
        Ok(true)
    }

    /// Appends all of `batch` to `partition` (see [`PartitionedWriter::write_split`]).
    pub fn write(&mut self, partition: &str, batch: &RecordBatch) -> Result<()> {
        self.write_split(&Split {
            batch: batch.clone(),
            groups: vec![(partition.to_string(), batch.num_rows())],
        })
    }

    fn write_open(&mut self, partition: &str, batch: &RecordBatch) -> Result<()> {
        let file = self.open.get_mut(partition).expect("opened by the caller");
        self.buffered = self.buffered.saturating_add_signed(file.write(batch)?);
        if file.size() >= self.limits.max_file_bytes {
            let file = self.open.remove(partition).expect("present");
            self.close_file(partition.to_string(), file)?;
        }
        if self.buffered > self.limits.buffer_bytes {
            self.flush_largest()?;
        }
        Ok(())
    }

    /// Writes out the largest row groups being built until half the buffer budget is free.
    fn flush_largest(&mut self) -> Result<()> {
        let mut by_size: Vec<(usize, String)> = self
            .open
            .iter()
            .filter(|(_, f)| f.buffered > 0)
            .map(|(p, f)| (f.buffered, p.clone()))
            .collect();
        by_size.sort_unstable_by(|a, b| b.cmp(a));
        for (_, partition) in by_size {
            if self.buffered <= self.limits.buffer_bytes / 2 {
                break;
            }
            let file = self.open.get_mut(&partition).expect("listed above");
            self.buffered -= file.buffered;
            file.flush()?;
        }
        Ok(())
    }

    /// Buffers the rows of `groups` (ranges of `batch`, in partition order) in the overflow, as
    /// one batch with plain string columns; spills the buffer when it is over its budget.
    fn overflow_write(
        &mut self,
        batch: &RecordBatch,
        groups: Vec<(&str, Range<usize>)>,
    ) -> Result<()> {
        let rows: usize = groups.iter().map(|(_, r)| r.len()).sum();
        let rows_only = if rows == batch.num_rows() {
            batch.clone()
        } else {
            let indices: UInt32Array = groups
                .iter()
                .flat_map(|(_, r)| r.clone())
                .map(|i| i as u32)
                .collect();
            arrow_select::take::take_record_batch(batch, &indices)?
        };
        let plain = self.overflow.plain_schema(&self.files.schema);
        let rows_only = cast_batch(&rows_only, &plain)?;
        let overflow = &mut self.overflow;
        let groups = groups
            .into_iter()
            .map(|(partition, range)| {
                if !overflow.partitions.contains(partition) {
                    overflow.partitions.insert(partition.to_string());
                }
                (partition.to_string(), range.len())
            })
            .collect();
        overflow.bytes += rows_only.get_array_memory_size();
        overflow.buffered.push((rows_only, groups));
        if overflow.bytes > self.limits.overflow_bytes {
            self.spill()?;
        }
        Ok(())
    }

    /// Writes the overflow buffer to a run file in partition order and empties it; then, when
    /// [`RUNS_PER_LEVEL`] runs of one level have piled up at the end, merges them into one run
    /// of the next level, so the runs stay few (logarithmic in the data) and are each rewritten
    /// only once per level.
    fn spill(&mut self) -> Result<()> {
        let plain = self.overflow.plain_schema(&self.files.schema);
        let buffered = std::mem::take(&mut self.overflow.buffered);
        self.overflow.bytes = 0;
        // Each partition's pieces, in the order they came.
        let mut pieces: BTreeMap<&str, Vec<RecordBatch>> = BTreeMap::new();
        for (batch, groups) in &buffered {
            let mut offset = 0;
            for (partition, rows) in groups {
                pieces
                    .entry(partition)
                    .or_default()
                    .push(batch.slice(offset, *rows));
                offset += rows;
            }
        }
        let mut run =
            RunWriter::create(&self.files.staging, &mut self.overflow.next_run, &plain, 0)?;
        for (partition, slices) in pieces {
            for piece in slices {
                run.write(partition, piece)?;
            }
        }
        drop(buffered);
        self.overflow.runs.push(run.finish()?);
        loop {
            let runs = &self.overflow.runs;
            let level = runs.last().map_or(0, |r| r.level);
            let same = runs.iter().rev().take_while(|r| r.level == level).count();
            if same < RUNS_PER_LEVEL {
                return Ok(());
            }
            let merged: Vec<Run> = self.overflow.runs.split_off(runs.len() - same);
            let mut run = RunWriter::create(
                &self.files.staging,
                &mut self.overflow.next_run,
                &plain,
                level + 1,
            )?;
            read_runs_in_order(&merged, |partition, piece| run.write(partition, piece))?;
            self.overflow.runs.push(run.finish()?);
            remove_runs(&merged);
        }
    }

    /// Writes each overflowed partition into its own file, its rows in the order they came.
    /// The runs are read here, in partition order; each partition's rows go to one of
    /// `merge_threads` workers, which encode and write its file, one file at a time each.
    fn merge_overflow(&mut self) -> Result<()> {
        if self.overflow.buffered.is_empty() && self.overflow.runs.is_empty() {
            return Ok(());
        }
        self.spill()?;
        let runs = std::mem::take(&mut self.overflow.runs);
        let workers = self.limits.merge_threads.max(1);
        let buffer_each = self.limits.buffer_bytes / workers;
        let (files, limits, next_seq) = (&self.files, &self.limits, &self.next_seq);
        let (read, written) = std::thread::scope(|scope| {
            let mut senders = Vec::with_capacity(workers);
            let mut handles = Vec::with_capacity(workers);
            for _ in 0..workers {
                let (sender, jobs) = crossbeam_channel::bounded::<MergeJob>(2);
                senders.push(sender);
                handles.push(scope.spawn(move || merge_worker(files, limits, buffer_each, jobs)));
            }
            let mut current: Option<(String, usize)> = None;
            let mut pending: Vec<RecordBatch> = Vec::new();
            let mut pending_rows = 0;
            let send = |worker: usize, job: MergeJob| {
                senders[worker].send(job).map_err(|_| Error::Parquet {
                    path: files.staging.clone(),
                    source: parquet::errors::ParquetError::General("a merge worker stopped".into()),
                })
            };
            let read = read_runs_in_order(&runs, |partition, piece| {
                if current.as_ref().is_none_or(|(p, _)| p != partition) {
                    if let Some((_, worker)) = current.take() {
                        send(worker, MergeJob::Rows(std::mem::take(&mut pending)))?;
                        send(worker, MergeJob::End)?;
                        pending_rows = 0;
                    }
                    // The least busy worker takes the partition.
                    let worker = (0..workers)
                        .min_by_key(|&w| senders[w].len())
                        .expect("at least one worker");
                    let seq = next_seq.get(partition).copied().unwrap_or(0);
                    send(worker, MergeJob::Start(partition.to_string(), seq))?;
                    current = Some((partition.to_string(), worker));
                }
                pending_rows += piece.num_rows();
                pending.push(piece);
                if pending_rows >= MERGE_WRITE_ROWS {
                    let (_, worker) = current.as_ref().expect("set above");
                    send(*worker, MergeJob::Rows(std::mem::take(&mut pending)))?;
                    pending_rows = 0;
                }
                Ok(())
            })
            .and_then(|()| match current.take() {
                Some((_, worker)) => {
                    send(worker, MergeJob::Rows(std::mem::take(&mut pending)))?;
                    send(worker, MergeJob::End)
                }
                None => Ok(()),
            });
            drop(senders);
            let written: Vec<Result<Vec<StagedFile>>> = handles
                .into_iter()
                .map(|h| h.join().expect("a merge worker panicked"))
                .collect();
            (read, written)
        });
        remove_runs(&runs);
        // A worker's own error explains a failed send better than the send does.
        let mut first_error = None;
        for result in written {
            match result {
                Ok(staged) => self.staged.extend(staged),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match (first_error, read) {
            (Some(e), _) | (None, Err(e)) => Err(e),
            (None, Ok(())) => Ok(()),
        }
    }

    fn open_file(&mut self, partition: &str) -> Result<OpenFile> {
        let seq = self.next_seq.entry(partition.to_string()).or_insert(0);
        let file = self.files.open(*seq)?;
        *seq += 1;
        Ok(file)
    }

    fn close_file(&mut self, partition: String, file: OpenFile) -> Result<()> {
        self.buffered -= file.buffered;
        self.staged.push(file.close(partition)?);
        Ok(())
    }

    /// Closes every open file, writes the overflowed partitions, and returns all staged files
    /// of the run, in a stable order.
    pub fn finish(mut self) -> Result<Vec<StagedFile>> {
        let mut open: Vec<(String, OpenFile)> =
            std::mem::take(&mut self.open).into_iter().collect();
        open.sort_by(|a, b| a.0.cmp(&b.0));
        for (partition, file) in open {
            self.close_file(partition, file)?;
        }
        self.merge_overflow()?;
        self.staged
            .sort_by(|a, b| (&a.partition, a.seq).cmp(&(&b.partition, b.seq)));
        Ok(self.staged)
    }
}

/// What the merge hands a worker, partition by partition.
enum MergeJob {
    /// The rows that follow are of this partition, whose next file number is this.
    Start(String, u32),
    /// Rows of the partition, with plain string columns.
    Rows(Vec<RecordBatch>),
    /// The partition's rows are all sent: close its file.
    End,
}

/// A merge worker: writes the partitions it is handed into files, rolling them at the size
/// limit and writing row groups out once they buffer `buffer` bytes.
fn merge_worker(
    files: &FileFactory,
    limits: &WriterLimits,
    buffer: usize,
    jobs: crossbeam_channel::Receiver<MergeJob>,
) -> Result<Vec<StagedFile>> {
    let mut staged = Vec::new();
    let mut partition = String::new();
    let mut next_seq = 0;
    let mut open: Option<OpenFile> = None;
    for job in jobs {
        match job {
            MergeJob::Start(p, seq) => (partition, next_seq) = (p, seq),
            MergeJob::Rows(pieces) => {
                let Some(first) = pieces.first() else {
                    continue;
                };
                let rows = arrow_select::concat::concat_batches(&first.schema(), &pieces)?;
                drop(pieces);
                let batch = cast_batch(&rows, &files.schema)?;
                let file = match &mut open {
                    Some(file) => file,
                    None => {
                        next_seq += 1;
                        open.insert(files.open(next_seq - 1)?)
                    }
                };
                file.write(&batch)?;
                if file.size() >= limits.max_file_bytes {
                    let full = open.take().expect("just written");
                    staged.push(full.close(partition.clone())?);
                } else if file.buffered > buffer {
                    file.flush()?;
                }
            }
            MergeJob::End => {
                if let Some(file) = open.take() {
                    staged.push(file.close(std::mem::take(&mut partition))?);
                }
            }
        }
    }
    Ok(staged)
}

/// The committed name of a data file, relative to the output root.
pub fn data_file_name(partition: &str, run_id: &str, seq: u32) -> String {
    let name = format!("part-{run_id}-{seq:05}.parquet");
    if partition.is_empty() {
        name
    } else {
        format!("{partition}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{DecodeOptions, Decoder};
    use crate::partition::{PartitionSpec, split};
    use arrow_array::cast::AsArray;
    use arrow_array::types::Int64Type;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use std::sync::Arc;

    /// Writes `lines` partitioned by Application with `limits`; returns, per staged file, its
    /// partition, its number and the Status values it holds, in order.
    fn write_all(lines: &[String], limits: WriterLimits) -> Vec<(String, u32, Vec<i64>)> {
        let schema = Arc::new(EventSchema::spectrum_events());
        let spec = PartitionSpec::parse("Application", &schema).unwrap();
        let mut decoder = Decoder::try_new(
            schema.clone(),
            DecodeOptions {
                batch_size: 5,
                ..DecodeOptions::default()
            },
        )
        .unwrap();
        let staging = tempfile::tempdir().unwrap();
        let file_schema = spec.file_schema(decoder.arrow_schema());
        let properties = ParquetOptions::default()
            .writer_properties(&schema, Vec::new())
            .unwrap();
        let mut writer = PartitionedWriter::new(
            staging.path().to_path_buf(),
            file_schema,
            properties,
            limits,
        );
        for chunk in lines.chunks(5) {
            for line in chunk {
                decoder.decode_line(line.as_bytes()).unwrap();
            }
            let batch = decoder.flush().unwrap().unwrap();
            writer.write_split(&split(&batch, &spec).unwrap()).unwrap();
        }
        let staged = writer.finish().unwrap();
        let leftovers: Vec<_> = std::fs::read_dir(staging.path())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("run-"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "spill runs are removed after the merge"
        );
        staged
            .into_iter()
            .map(|f| {
                let file = File::open(&f.temp).unwrap();
                let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                    .unwrap()
                    .build()
                    .unwrap();
                let statuses = reader
                    .flat_map(|b| {
                        let b = b.unwrap();
                        b.column_by_name("Status")
                            .unwrap()
                            .as_primitive::<Int64Type>()
                            .values()
                            .to_vec()
                    })
                    .collect();
                (f.partition, f.seq, statuses)
            })
            .collect()
    }

    #[test]
    fn spilled_partitions_are_merged_into_one_file_each_in_row_order() {
        let lines: Vec<String> = (0..400)
            .map(|i| {
                format!(
                    r#"{{"Application":"a{}","Status":{i},"Event":"connect"}}"#,
                    (i * 13) % 37
                )
            })
            .collect();
        let roomy = WriterLimits {
            max_file_bytes: u64::MAX,
            buffer_bytes: usize::MAX,
            max_open_files: 1000,
            overflow_bytes: usize::MAX,
            merge_threads: 1,
        };
        let expected = write_all(&lines, roomy);
        assert_eq!(expected.len(), 37);
        for merge_threads in [1, 3] {
            // Two open files, and every overflowing piece spilled at once: many runs to merge.
            let tight = WriterLimits {
                max_open_files: 2,
                overflow_bytes: 1,
                buffer_bytes: 1,
                merge_threads,
                ..roomy
            };
            let got = write_all(&lines, tight);
            assert_eq!(got, expected, "{merge_threads} merge threads");
            for (partition, _, statuses) in &got {
                assert!(statuses.windows(2).all(|w| w[0] < w[1]), "{partition}");
            }
        }
    }

    /// Two open files at most, nothing else limited.
    const TWO_OPEN_FILES: WriterLimits = WriterLimits {
        max_file_bytes: u64::MAX,
        buffer_bytes: usize::MAX,
        max_open_files: 2,
        overflow_bytes: usize::MAX,
        merge_threads: 1,
    };

    /// Partition, sequence number and row count of each file written by [`write_all`].
    fn file_layout(files: &[(String, u32, Vec<i64>)]) -> Vec<(&str, u32, usize)> {
        files
            .iter()
            .map(|(p, seq, statuses)| (p.as_str(), *seq, statuses.len()))
            .collect()
    }

    #[test]
    fn idle_files_make_room_so_time_ordered_partitions_skip_the_overflow() {
        // Ten partitions one after the other (like hours), two files open at most: each closes
        // when idle, so each partition gets one file and nothing overflows. A straggler of the
        // first partition at the end goes to the overflow, into a second file after the first.
        let mut lines: Vec<String> = (0..10)
            .flat_map(|p| {
                (0..200)
                    .map(move |i| format!(r#"{{"Application":"p{p}","Status":{}}}"#, p * 1000 + i))
            })
            .collect();
        lines.push(r#"{"Application":"p0","Status":99999}"#.to_string());
        let got = write_all(&lines, TWO_OPEN_FILES);
        let layout = file_layout(&got);
        let mut expected = vec![("Application=p0", 0, 200), ("Application=p0", 1, 1)];
        let names: Vec<String> = (1..10).map(|p| format!("Application=p{p}")).collect();
        expected.extend(names.iter().map(|n| (n.as_str(), 0, 200)));
        assert_eq!(layout, expected);
        assert_eq!(got[1].2, [99999], "the straggler comes last");
        for (partition, _, statuses) in &got {
            assert!(statuses.windows(2).all(|w| w[0] < w[1]), "{partition}");
        }
    }

    #[test]
    fn files_in_use_are_not_closed_to_make_room() {
        // A and B take turns batch by batch (5 rows each), two files open at most: neither is
        // ever idle for long, so C's row goes to the overflow and every partition gets one file.
        let mut lines: Vec<String> = (0..100)
            .flat_map(|b| {
                let p = if b % 2 == 0 { "A" } else { "B" };
                (0..5).map(move |i| format!(r#"{{"Application":"{p}","Status":{}}}"#, b * 10 + i))
            })
            .collect();
        lines[251] = r#"{"Application":"C","Status":7}"#.to_string();
        let got = write_all(&lines, TWO_OPEN_FILES);
        let layout = file_layout(&got);
        assert_eq!(
            layout,
            [
                ("Application=A", 0, 249),
                ("Application=B", 0, 250),
                ("Application=C", 0, 1)
            ]
        );
    }

    #[test]
    fn files_rolled_in_the_merge_keep_numbering_and_row_order() {
        let lines: Vec<String> = (0..300)
            .map(|i| format!(r#"{{"Application":"a{}","Status":{i}}}"#, (i * 7) % 11))
            .collect();
        // Every write fills a file: each piece becomes a file, in the main phase and the merge.
        let limits = WriterLimits {
            max_file_bytes: 1,
            buffer_bytes: 1,
            max_open_files: 2,
            overflow_bytes: 1,
            merge_threads: 2,
        };
        let got = write_all(&lines, limits);
        assert!(got.len() > 11 * 3, "{} files", got.len());
        let mut by_partition: BTreeMap<&str, (Vec<u32>, Vec<i64>)> = BTreeMap::new();
        for (partition, seq, statuses) in &got {
            let (seqs, all) = by_partition.entry(partition).or_default();
            seqs.push(*seq);
            all.extend(statuses);
        }
        assert_eq!(by_partition.len(), 11);
        for (partition, (seqs, statuses)) in by_partition {
            let numbered: Vec<u32> = (0..seqs.len() as u32).collect();
            assert_eq!(seqs, numbered, "{partition}: files numbered 0, 1, 2...");
            let n: usize = partition[13..].parse().unwrap();
            let wanted: Vec<i64> = (0..300).filter(|i| (i * 7) % 11 == n as i64).collect();
            assert_eq!(statuses, wanted, "{partition}");
        }
    }
}
