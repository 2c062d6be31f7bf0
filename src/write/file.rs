//! One partition's data file: rows pushed in order, encoded by encoder tasks, written as row
//! groups, closed into the staging folder.
//!
//! Rows wait in the file until they make a segment ([`SEGMENT_ROWS`]); a segment is encoded into
//! the open row group's column writers by tasks on the [`EncoderPool`], each task taking a group
//! of columns. A file has at most one segment out at a time: before the next, the writers come
//! back, and with them the row group's size. So every decision (end the row group, roll the
//! file, write row groups out early for memory) is taken on sizes that depend only on the rows
//! pushed, never on thread timing, and the file's bytes are the same whatever the threads do.
//!
//! A finished row group is appended to the file by a task of its own while the next row group's
//! segments are encoded. A file that never fills a segment (a small partition) is created,
//! written and closed by one task.

use std::fs::File;
use std::io::BufWriter;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::SchemaRef;
use crossbeam_channel::{Receiver, Sender, bounded};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{
    ArrowColumnWriter, ArrowRowGroupWriterFactory, ArrowWriterOptions, compute_leaves,
};
use parquet::file::properties::{WriterProperties, WriterPropertiesPtr};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::TypePtr;

use super::encode::{ColumnCosts, EncoderPool};
use super::stats::FileStats;
use super::{FILE_BUFFER_BYTES, dictionary};
use crate::error::{Error, Result};

/// Rows gathered before they are handed to encoder tasks. Large enough that a task's work
/// (thousands of values per column) dwarfs handing it over; small enough that the rows waiting
/// in the files, and out in tasks, stay few: each segment held costs about 5 MB of memory for
/// `spectrum_events`. (Tiny under test, so that files take many segments.)
pub const SEGMENT_ROWS: usize = if cfg!(test) { 7 } else { 2048 };

/// A segment is also due once its rows hold this many bytes in Arrow (wide rows).
pub const SEGMENT_BYTES: usize = 2 << 20;

/// Below this many rows per batch on average, a task joins a segment's batches into one column
/// before encoding it: each write into a column writer has a cost of its own, which small
/// batches (many threads share a small memory budget) would pay hundreds of times a segment.
const JOIN_BELOW_ROWS: usize = 1024;

/// Values (rows times columns) that make a task worth handing over on its own.
const VALUES_PER_TASK: usize = 4 * 1024;

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
    /// Rows, nulls and bounds of each leaf column.
    pub stats: FileStats,
}

/// The file being written.
type Sink = SerializedFileWriter<BufWriter<File>>;

/// What every data file of a run shares: where it goes, its schema and writer properties, and
/// the maker of its column writers, all worked out once for the run.
pub struct FileFactory {
    staging: PathBuf,
    schema: SchemaRef,
    /// The Parquet schema's root.
    root: TypePtr,
    /// The writer properties, with the Arrow schema already encoded into the key-value metadata.
    properties: WriterPropertiesPtr,
    row_groups: ArrowRowGroupWriterFactory,
    /// The same writers with no dictionary, for the leaves whose values do not repeat enough
    /// ([`super::dictionary`]).
    plain_row_groups: ArrowRowGroupWriterFactory,
    /// Parquet leaf columns of each field (one for a flat field).
    leaves: Vec<usize>,
    /// For each leaf column, whether its row group's first values decide its dictionary (it
    /// would have one otherwise).
    decided: Vec<bool>,
    /// Numbers temporaries.
    counter: AtomicU64,
    /// A file is closed once it holds this many bytes (the router rolls it).
    max_file_bytes: u64,
}

impl FileFactory {
    /// Files of Arrow `schema` with `properties`, in the (existing) `staging` folder, rolled at
    /// `max_file_bytes`.
    pub fn try_new(
        staging: PathBuf,
        schema: SchemaRef,
        properties: WriterProperties,
        max_file_bytes: u64,
    ) -> Result<Self> {
        // The Arrow writer works out the Parquet schema; its parts then serve every file. The
        // Arrow schema is not embedded: every type has its Parquet logical type (strings, UTC
        // timestamps, 64-bit integers), which every reader maps back, and at 2.8 KB it was a
        // sixth of a small partition's file (with the field descriptions, 9 KB and half). Enum
        // columns are dictionary-encoded in Parquet either way; only readers that would have
        // returned them as Arrow dictionaries now return plain strings.
        let parquet_error = |source| Error::Parquet {
            path: staging.clone(),
            source,
        };
        let writers = |properties| {
            ArrowWriter::try_new_with_options(
                Vec::new(),
                schema.clone(),
                ArrowWriterOptions::new()
                    .with_properties(properties)
                    .with_skip_arrow_metadata(true),
            )
            .and_then(ArrowWriter::into_serialized_writer)
            .map_err(parquet_error)
        };
        let plain = properties
            .clone()
            .into_builder()
            .set_dictionary_enabled(false)
            .build();
        let (probe, row_groups) = writers(properties)?;
        let (_, plain_row_groups) = writers(plain)?;
        let descriptor = probe.schema_descr();
        let mut leaves = vec![0; schema.fields().len()];
        let mut decided = Vec::with_capacity(descriptor.num_columns());
        for column in 0..descriptor.num_columns() {
            leaves[descriptor.get_column_root_idx(column)] += 1;
            let leaf = descriptor.column(column);
            decided.push(
                leaf.physical_type() != parquet::basic::Type::BOOLEAN
                    && probe.properties().dictionary_enabled(leaf.path()),
            );
        }
        Ok(FileFactory {
            root: descriptor.root_schema_ptr(),
            properties: probe.properties().clone(),
            staging,
            schema,
            row_groups,
            plain_row_groups,
            leaves,
            decided,
            counter: AtomicU64::new(0),
            max_file_bytes,
        })
    }

    /// The schema of the files.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// The staging folder.
    pub fn staging(&self) -> &PathBuf {
        &self.staging
    }

    /// Starts file number `seq` of `partition` (nothing is created on disk until rows come).
    pub fn open(self: &Arc<Self>, partition: &str, seq: u32) -> RollingFile {
        let n = self.counter.fetch_add(1, Ordering::Relaxed) + 1;
        RollingFile {
            factory: self.clone(),
            partition: partition.to_string(),
            seq,
            temp: self.staging.join(format!("{n:06}.parquet.tmp")),
            rows: 0,
            pending: Vec::new(),
            pending_rows: 0,
            pending_bytes: 0,
            group: None,
            row_groups_finished: 0,
            segment: None,
            finishing: None,
            sink: None,
            written: 0,
            last_split: 0,
        }
    }

    fn max_row_group_rows(&self) -> usize {
        self.properties
            .max_row_group_row_count()
            .unwrap_or(usize::MAX)
    }

    fn max_row_group_bytes(&self) -> usize {
        self.properties.max_row_group_bytes().unwrap_or(usize::MAX)
    }

    /// The column writers of row group `index`, per field, whose first rows are `batches`:
    /// each leaf whose dictionary is decided by its values gets one only where it pays. The
    /// writers without dictionaries are created only when a leaf needs one (creating a row
    /// group's writers is most of the cost of a small partition's file).
    fn column_writers(
        &self,
        index: usize,
        batches: &[RecordBatch],
    ) -> Result<Vec<Vec<ArrowColumnWriter>>> {
        let mut keep = Vec::with_capacity(self.decided.len());
        for (field, &n) in self.leaves.iter().enumerate() {
            let decided = &self.decided[keep.len()..keep.len() + n];
            if !decided.iter().any(|&d| d) {
                keep.extend(decided.iter().map(|_| true));
                continue;
            }
            let mut parts: Vec<Vec<ArrayRef>> = vec![Vec::new(); n];
            for batch in batches {
                let mut arrays = Vec::with_capacity(n);
                dictionary::leaf_arrays(batch.column(field), &mut arrays);
                for (part, array) in parts.iter_mut().zip(arrays) {
                    part.push(array);
                }
            }
            keep.extend(
                decided
                    .iter()
                    .zip(&parts)
                    .map(|(&decided, part)| !decided || dictionary::pays(part)),
            );
        }
        let create = |factory: &ArrowRowGroupWriterFactory| {
            factory
                .create_column_writers(index)
                .map_err(|source| self.parquet_error(source))
        };
        let with = create(&self.row_groups)?;
        let writers: Vec<ArrowColumnWriter> = if keep.iter().all(|&k| k) {
            with
        } else {
            let without = create(&self.plain_row_groups)?;
            with.into_iter()
                .zip(without)
                .zip(&keep)
                .map(|((with, without), &keep)| if keep { with } else { without })
                .collect()
        };
        let mut writers = writers.into_iter();
        Ok(self
            .leaves
            .iter()
            .map(|&n| writers.by_ref().take(n).collect())
            .collect())
    }

    fn create_sink(&self, temp: &Path) -> Result<Sink> {
        let handle = File::create(temp).map_err(|e| Error::output(temp, e))?;
        SerializedFileWriter::new(
            BufWriter::with_capacity(FILE_BUFFER_BYTES, handle),
            self.root.clone(),
            self.properties.clone(),
        )
        .map_err(|source| Error::Parquet {
            path: temp.to_path_buf(),
            source,
        })
    }

    fn parquet_error(&self, source: parquet::errors::ParquetError) -> Error {
        Error::Parquet {
            path: self.staging.clone(),
            source,
        }
    }
}

/// A field's column writers, out in a task or back.
type FieldWriters = Vec<ArrowColumnWriter>;

/// What a segment task hands back per field: its writers, their memory and estimated size.
struct FieldDone {
    field: usize,
    writers: FieldWriters,
    memory: usize,
    estimate: usize,
}

/// The row group being built.
struct RowGroup {
    index: usize,
    rows: usize,
    /// Each field's writers; `None` while a task has them, all `None` before the first segment
    /// (whose task creates them).
    writers: Vec<Option<FieldWriters>>,
    /// Each field's memory and estimated encoded size, as of the last segment back.
    memory: Vec<usize>,
    estimate: Vec<usize>,
}

impl RowGroup {
    fn new(index: usize, fields: usize) -> Self {
        RowGroup {
            index,
            rows: 0,
            writers: (0..fields).map(|_| None).collect(),
            memory: vec![0; fields],
            estimate: vec![0; fields],
        }
    }

    fn memory(&self) -> usize {
        self.memory.iter().sum()
    }

    fn estimate(&self) -> usize {
        self.estimate.iter().sum()
    }

    fn created(&self) -> bool {
        self.writers.iter().all(Option::is_some)
    }
}

/// A segment out in tasks: their results, and how many there are.
struct Segment {
    results: Receiver<Result<Vec<FieldDone>>>,
    tasks: usize,
}

/// A row group being appended by a task, which holds the file.
struct Finishing {
    result: Receiver<Result<(Sink, u64)>>,
    memory: usize,
    estimate: usize,
}

/// A partition's data file being written: see the module documentation.
pub struct RollingFile {
    factory: Arc<FileFactory>,
    partition: String,
    seq: u32,
    temp: PathBuf,
    /// Rows pushed into this file.
    rows: u64,
    /// Rows waiting for a segment, in order, and their size in Arrow ([`rows_bytes`]).
    pending: Vec<RecordBatch>,
    pending_rows: usize,
    pending_bytes: usize,
    group: Option<RowGroup>,
    /// Row groups handed to a task to be appended.
    row_groups_finished: usize,
    segment: Option<Segment>,
    finishing: Option<Finishing>,
    /// The file on disk, when no task holds it; `None` too before it is created.
    sink: Option<Sink>,
    /// Bytes of the file as of the last row group appended and waited for.
    written: u64,
    /// The router's split count when rows last came (see the router's idle rule).
    pub last_split: u64,
}

impl RollingFile {
    /// The file's number within its partition.
    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// Appends rows; hands a segment to the encoder tasks once enough have come, or once the
    /// rows waiting might fill the file or the row group (their Arrow size is at least the room
    /// left, and encoded rows are rarely larger): then the segment is also waited for, so that
    /// [`RollingFile::size`] tells at once whether the file is full.
    pub fn push(&mut self, pool: &EncoderPool, rows: RecordBatch) -> Result<()> {
        if rows.num_rows() == 0 {
            return Ok(());
        }
        self.rows += rows.num_rows() as u64;
        self.pending_rows += rows.num_rows();
        self.pending_bytes += rows_bytes(&rows);
        self.pending.push(rows);
        let may_fill = self.pending_bytes >= self.room();
        if self.pending_rows >= SEGMENT_ROWS || self.pending_bytes >= SEGMENT_BYTES || may_fill {
            self.encode_pending(pool)?;
            if may_fill {
                self.join_segment()?;
            }
        }
        Ok(())
    }

    /// Memory held for the row group being built (encoded, not yet in the file), as of the
    /// last segment back.
    pub fn buffered(&self) -> usize {
        self.group.as_ref().map_or(0, RowGroup::memory)
    }

    /// Memory held by the row group handed over to be appended, until it is waited for
    /// ([`RollingFile::settle`]).
    pub fn appending(&self) -> usize {
        self.finishing.as_ref().map_or(0, |f| f.memory)
    }

    /// Waits for the row group being appended, if any: its memory is free afterwards.
    pub fn settle(&mut self) -> Result<()> {
        self.join_finishing()
    }

    /// Bytes the file will hold once its rows encoded so far are written, as of the last
    /// segment and row group back.
    pub fn size(&self) -> u64 {
        self.written
            + self.finishing.as_ref().map_or(0, |f| f.estimate) as u64
            + self.group.as_ref().map_or(0, RowGroup::estimate) as u64
    }

    /// Bytes the file and its row group can still take before one of their limits, as of the
    /// last segment and row group back.
    fn room(&self) -> usize {
        let file = self.factory.max_file_bytes.saturating_sub(self.size());
        let group = self
            .factory
            .max_row_group_bytes()
            .saturating_sub(self.group.as_ref().map_or(0, RowGroup::estimate));
        (file.min(usize::MAX as u64) as usize).min(group)
    }

    /// Hands the waiting rows to the encoder tasks, ending the row group first where its limits
    /// say so, and splitting the rows where the row limit falls between them.
    fn encode_pending(&mut self, pool: &EncoderPool) -> Result<()> {
        let max_rows = self.factory.max_row_group_rows();
        let max_bytes = self.factory.max_row_group_bytes();
        while self.pending_rows > 0 {
            self.join_segment()?;
            if self
                .group
                .as_ref()
                .is_some_and(|g| g.rows >= max_rows || g.estimate() >= max_bytes)
            {
                self.finish_row_group(pool)?;
            }
            let index = self.next_row_group_index();
            let fields = self.factory.schema.fields().len();
            let group = self
                .group
                .get_or_insert_with(|| RowGroup::new(index, fields));
            let take = self.pending_rows.min(max_rows - group.rows);
            let (head, tail) = split_rows(std::mem::take(&mut self.pending), take);
            self.pending_bytes = tail.iter().map(rows_bytes).sum();
            self.pending = tail;
            self.pending_rows -= take;
            self.submit_segment(pool, head, take);
        }
        Ok(())
    }

    /// The index the next row group will have in the file.
    fn next_row_group_index(&self) -> usize {
        self.row_groups_finished
    }

    /// Hands `rows` rows in `batches` to encoder tasks: all columns to one task when the row
    /// group's writers do not exist yet (it creates them) or the rows are few, else groups of
    /// columns of about equal cost, one task each.
    fn submit_segment(&mut self, pool: &EncoderPool, batches: Vec<RecordBatch>, rows: usize) {
        let group = self
            .group
            .as_mut()
            .expect("the caller opened the row group");
        group.rows += rows;
        let fields = group.writers.len();
        let tasks = if group.created() {
            (rows * fields / VALUES_PER_TASK).clamp(1, pool.threads())
        } else {
            1
        };
        let field_groups = pool.costs().groups(fields, tasks);
        let (results, receiver) = bounded(field_groups.len());
        let batches = Arc::new(batches);
        let create = (!group.created()).then_some(group.index);
        for fields in &field_groups {
            let work: Vec<(usize, Option<FieldWriters>)> = fields
                .iter()
                .map(|&f| (f, group.writers[f].take()))
                .collect();
            let (factory, batches, costs, results) = (
                self.factory.clone(),
                batches.clone(),
                pool.costs().clone(),
                results.clone(),
            );
            pool.spawn(move || {
                let done = encode_fields(&factory, create, work, &batches, &costs);
                let _ = results.send(done);
            });
        }
        self.segment = Some(Segment {
            results: receiver,
            tasks: field_groups.len(),
        });
    }

    /// Waits for the segment out in tasks, if any, and takes its writers and sizes back.
    fn join_segment(&mut self) -> Result<()> {
        let Some(segment) = self.segment.take() else {
            return Ok(());
        };
        let group = self
            .group
            .as_mut()
            .expect("a segment belongs to a row group");
        let mut first_error = None;
        for _ in 0..segment.tasks {
            match segment.results.recv() {
                Ok(Ok(done)) => {
                    for field in done {
                        group.writers[field.field] = Some(field.writers);
                        group.memory[field.field] = field.memory;
                        group.estimate[field.field] = field.estimate;
                    }
                }
                Ok(Err(e)) => {
                    first_error.get_or_insert(e);
                }
                Err(_) => {
                    first_error.get_or_insert(stopped(&self.temp));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Waits for the row group being appended, if any, and takes the file back.
    fn join_finishing(&mut self) -> Result<()> {
        let Some(finishing) = self.finishing.take() else {
            return Ok(());
        };
        let (sink, written) = finishing.result.recv().map_err(|_| stopped(&self.temp))??;
        self.sink = Some(sink);
        self.written = written;
        Ok(())
    }

    /// Ends the row group: a task appends it to the file (creating the file first if this is
    /// its first), while the next row group starts. Does nothing without rows.
    pub fn finish_row_group(&mut self, pool: &EncoderPool) -> Result<()> {
        self.join_segment()?;
        let Some(group) = self.group.as_ref().filter(|g| g.rows > 0) else {
            return Ok(());
        };
        let (memory, estimate) = (group.memory(), group.estimate());
        let writers: Vec<FieldWriters> = self
            .group
            .take()
            .expect("checked above")
            .writers
            .into_iter()
            .map(|w| w.expect("every writer is back"))
            .collect();
        self.row_groups_finished += 1;
        self.join_finishing()?;
        let (sink, factory, temp) = (self.sink.take(), self.factory.clone(), self.temp.clone());
        let (result, receiver) = bounded(1);
        pool.spawn(move || {
            let appended = sink
                .map_or_else(|| factory.create_sink(&temp), Ok)
                .and_then(|mut sink| {
                    append_row_group(&mut sink, writers, &temp)?;
                    let written = sink.bytes_written() as u64;
                    Ok((sink, written))
                });
            let _ = result.send(appended);
        });
        self.finishing = Some(Finishing {
            result: receiver,
            memory,
            estimate,
        });
        Ok(())
    }

    /// Closes the file: a task writes the rows still waiting, appends the last row group,
    /// writes the footer, makes the file durable and sends it to `closed`. The file must have
    /// rows.
    pub fn close(mut self, pool: &EncoderPool, closed: &Sender<Result<StagedFile>>) -> Result<()> {
        self.join_segment()?;
        self.join_finishing()?;
        let fields = self.factory.schema.fields().len();
        let index = self.next_row_group_index();
        let group = self.group.take().filter(|g| g.rows > 0);
        let writers: Option<Vec<FieldWriters>> = group.map(|g| {
            g.writers
                .into_iter()
                .map(|w| w.expect("every writer is back"))
                .collect()
        });
        let pending = std::mem::take(&mut self.pending);
        let RollingFile {
            factory,
            partition,
            seq,
            temp,
            rows,
            sink,
            ..
        } = self;
        let (closed, costs) = (closed.clone(), pool.costs().clone());
        pool.spawn(move || {
            // The result is sent whatever happens: the router counts on one per closing file.
            let closing = AssertUnwindSafe(|| {
                close_file(
                    &factory, sink, &temp, writers, index, pending, &costs, fields,
                )
            });
            let staged = catch_unwind(closing)
                .unwrap_or_else(|_| Err(stopped(&temp)))
                .map(|(bytes, stats)| StagedFile {
                    temp,
                    partition,
                    seq,
                    rows,
                    bytes,
                    stats,
                });
            let _ = closed.send(staged);
        });
        Ok(())
    }
}

/// The error of a task that never answered (its thread panicked).
fn stopped(temp: &Path) -> Error {
    Error::Pipeline(format!(
        "an encoder thread stopped while writing {}",
        temp.display()
    ))
}

/// The size of `rows` in Arrow, counting only the bytes its rows use (not the capacity of the
/// buffers, nor the rest of the batch a slice is cut from): it depends on the rows alone, so
/// decisions taken on it are the same every run.
pub fn rows_bytes(rows: &RecordBatch) -> usize {
    rows.columns()
        .iter()
        .map(|c| column_bytes(c.as_ref()))
        .sum()
}

/// [`rows_bytes`] of one column: the common types read off directly (this runs for every piece
/// a file receives), the rest through Arrow's `get_slice_memory_size`.
fn column_bytes(column: &dyn Array) -> usize {
    use arrow_array::cast::AsArray;
    use arrow_schema::DataType;
    let len = column.len();
    let validity = column
        .nulls()
        .filter(|n| n.null_count() > 0)
        .map_or(0, |_| len.div_ceil(8));
    let values = match column.data_type() {
        DataType::Utf8 => {
            let offsets = column.as_string::<i32>().value_offsets();
            (offsets[len] - offsets[0]) as usize + (len + 1) * 4
        }
        DataType::Boolean => len.div_ceil(8),
        DataType::Dictionary(_, _) => {
            let dictionary = column.as_any_dictionary();
            column_bytes(dictionary.keys()) + column_bytes(dictionary.values().as_ref())
        }
        data_type => match data_type.primitive_width() {
            Some(width) => len * width,
            None => return column.to_data().get_slice_memory_size().unwrap_or(0),
        },
    };
    validity + values
}

/// `batches` cut after `rows` rows: the rows before, and the rest.
fn split_rows(batches: Vec<RecordBatch>, rows: usize) -> (Vec<RecordBatch>, Vec<RecordBatch>) {
    let (mut head, mut tail) = (Vec::new(), Vec::new());
    let mut left = rows;
    for batch in batches {
        let n = batch.num_rows();
        if left >= n {
            left -= n;
            head.push(batch);
        } else if left > 0 {
            head.push(batch.slice(0, left));
            tail.push(batch.slice(left, n - left));
            left = 0;
        } else {
            tail.push(batch);
        }
    }
    (head, tail)
}

/// A segment task: encodes `batches` into the writers of the fields in `work` (creating all the
/// row group's writers first when `create` names the row group), and hands them back with their
/// sizes.
fn encode_fields(
    factory: &FileFactory,
    create: Option<usize>,
    work: Vec<(usize, Option<FieldWriters>)>,
    batches: &[RecordBatch],
    costs: &ColumnCosts,
) -> Result<Vec<FieldDone>> {
    let mut created = match create {
        Some(index) => Some(factory.column_writers(index, batches)?),
        None => None,
    };
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    work.into_iter()
        .map(|(field, writers)| {
            let mut writers = match (writers, created.as_mut()) {
                (Some(w), _) => w,
                (None, Some(all)) => std::mem::take(&mut all[field]),
                (None, None) => unreachable!("writers are either handed over or created"),
            };
            let start = Instant::now();
            write_field(factory, field, &mut writers, batches)?;
            costs.record(field, rows, start);
            Ok(FieldDone {
                field,
                memory: writers.iter().map(ArrowColumnWriter::memory_size).sum(),
                estimate: writers
                    .iter()
                    .map(ArrowColumnWriter::get_estimated_total_bytes)
                    .sum(),
                writers,
            })
        })
        .collect()
}

/// Encodes column `field` of `batches` into its writers.
fn write_field(
    factory: &FileFactory,
    field: usize,
    writers: &mut [ArrowColumnWriter],
    batches: &[RecordBatch],
) -> Result<()> {
    let spec = factory.schema.field(field);
    let rows: usize = batches.iter().map(RecordBatch::num_rows).sum();
    let joined;
    let columns: Vec<&ArrayRef> = if batches.len() > 1 && rows < JOIN_BELOW_ROWS * batches.len() {
        let parts: Vec<&dyn Array> = batches.iter().map(|b| b.column(field).as_ref()).collect();
        joined = arrow_select::concat::concat(&parts)?;
        vec![&joined]
    } else {
        batches.iter().map(|b| b.column(field)).collect()
    };
    for column in columns {
        let leaves = compute_leaves(spec, column).map_err(|e| factory.parquet_error(e))?;
        for (leaf, writer) in leaves.iter().zip(writers.iter_mut()) {
            writer.write(leaf).map_err(|e| factory.parquet_error(e))?;
        }
    }
    Ok(())
}

/// Appends a row group, its columns closed in order, to the file.
///
/// When every column of the row group fits in one data page (a small partition's file), the
/// page index is left out: each column index would repeat its chunk's statistics, and together
/// they took 1.5 KB of such a file.
fn append_row_group(sink: &mut Sink, writers: Vec<FieldWriters>, temp: &Path) -> Result<()> {
    let parquet_error = |source| Error::Parquet {
        path: temp.to_path_buf(),
        source,
    };
    let mut chunks = writers
        .into_iter()
        .flatten()
        .map(ArrowColumnWriter::close)
        .collect::<parquet::errors::Result<Vec<_>>>()
        .map_err(parquet_error)?;
    let one_page_each = chunks.iter().all(|chunk| {
        chunk
            .close()
            .offset_index
            .as_ref()
            .is_none_or(|index| index.page_locations().len() <= 1)
    });
    if one_page_each {
        for chunk in &mut chunks {
            chunk.close_mut().column_index = None;
            chunk.close_mut().offset_index = None;
        }
    }
    let mut row_group = sink.next_row_group().map_err(parquet_error)?;
    for chunk in chunks {
        chunk
            .append_to_row_group(&mut row_group)
            .map_err(parquet_error)?;
    }
    row_group.close().map_err(parquet_error)?;
    Ok(())
}

/// The closing task: writes `pending` into the last row group (whose writers are `writers`, or
/// are created as row group `index`), appends it, writes the footer and makes the file durable;
/// returns its size and statistics.
#[allow(clippy::too_many_arguments)] // one task's whole state, moved in at once
fn close_file(
    factory: &FileFactory,
    sink: Option<Sink>,
    temp: &Path,
    writers: Option<Vec<FieldWriters>>,
    index: usize,
    pending: Vec<RecordBatch>,
    costs: &ColumnCosts,
    fields: usize,
) -> Result<(u64, FileStats)> {
    let mut sink = match sink {
        Some(sink) => sink,
        None => factory.create_sink(temp)?,
    };
    let mut writers = writers;
    if !pending.is_empty() {
        let mut all = match writers.take() {
            Some(w) => w,
            None => factory.column_writers(index, &pending)?,
        };
        let rows: usize = pending.iter().map(RecordBatch::num_rows).sum();
        for (field, field_writers) in all.iter_mut().enumerate().take(fields) {
            let start = Instant::now();
            write_field(factory, field, field_writers, &pending)?;
            costs.record(field, rows, start);
        }
        writers = Some(all);
    }
    if let Some(writers) = writers {
        append_row_group(&mut sink, writers, temp)?;
    }
    let parquet_error = |source| Error::Parquet {
        path: temp.to_path_buf(),
        source,
    };
    let stats = FileStats::of_row_groups(sink.flushed_row_groups());
    let buffered = sink.into_inner().map_err(parquet_error)?;
    let handle = buffered
        .into_inner()
        .map_err(|e| Error::output(temp, e.into_error()))?;
    // Durable before it can be renamed into view.
    handle.sync_all().map_err(|e| Error::output(temp, e))?;
    let bytes = handle.metadata().map_err(|e| Error::output(temp, e))?.len();
    Ok((bytes, stats))
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int64Array};

    fn batch(values: std::ops::Range<i64>) -> RecordBatch {
        let column: ArrayRef = Arc::new(Int64Array::from_iter_values(values));
        RecordBatch::try_from_iter([("v", column)]).unwrap()
    }

    fn values(batches: &[RecordBatch]) -> Vec<i64> {
        batches
            .iter()
            .flat_map(|b| {
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec()
            })
            .collect()
    }

    /// Writes rows `0..rows` (pieces of `piece` rows, a row group ended by hand after each
    /// `finish_every` pieces) into one file with `threads` encoder threads; returns the file's
    /// bytes.
    fn write_file(threads: usize, rows: i64, piece: i64, finish_every: usize) -> Vec<u8> {
        let staging = tempfile::tempdir().unwrap();
        let text: ArrayRef = Arc::new(arrow_array::StringArray::from_iter_values(
            (0..rows).map(|i| format!("row {i}")),
        ));
        let numbers: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows));
        let all = RecordBatch::try_from_iter([("v", numbers), ("t", text)]).unwrap();
        let factory = Arc::new(
            FileFactory::try_new(
                staging.path().to_path_buf(),
                all.schema(),
                WriterProperties::builder()
                    .set_max_row_group_row_count(Some(40))
                    .build(),
                u64::MAX,
            )
            .unwrap(),
        );
        let pool = EncoderPool::new(threads, 2);
        let mut file = factory.open("", 0);
        let mut start = 0;
        for n in 0.. {
            if start >= rows {
                break;
            }
            let len = piece.min(rows - start);
            file.push(&pool, all.slice(start as usize, len as usize))
                .unwrap();
            start += len;
            if (n + 1) % finish_every == 0 {
                file.finish_row_group(&pool).unwrap();
            }
        }
        let (closed, staged) = crossbeam_channel::unbounded();
        file.close(&pool, &closed).unwrap();
        let staged = staged.recv().unwrap().unwrap();
        assert_eq!(staged.rows, rows as u64);
        let bytes = std::fs::read(&staged.temp).unwrap();
        assert_eq!(staged.bytes, bytes.len() as u64);
        bytes
    }

    #[test]
    fn a_file_holds_every_row_in_order_and_its_bytes_do_not_depend_on_the_threads() {
        use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
        for (rows, piece, finish_every) in [(100, 3, 5), (100, 1, 1000), (5, 2, 1), (200, 50, 2)] {
            let reference = write_file(1, rows, piece, finish_every);
            for threads in [2, 4] {
                assert!(
                    write_file(threads, rows, piece, finish_every) == reference,
                    "{threads} threads changed the bytes of ({rows}, {piece}, {finish_every})"
                );
            }
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(reference)).unwrap();
            let groups = reader.metadata().num_row_groups();
            let batches: Vec<RecordBatch> = reader.build().unwrap().map(|b| b.unwrap()).collect();
            let expected: Vec<i64> = (0..rows).collect();
            assert_eq!(
                values(&batches),
                expected,
                "({rows}, {piece}, {finish_every})"
            );
            // Row groups end at 40 rows, and wherever one was ended by hand.
            let by_hand = (rows as usize).div_ceil(piece as usize) / finish_every;
            assert!(
                groups >= (rows as usize).div_ceil(40),
                "{groups} row groups"
            );
            assert!(
                groups <= (rows as usize).div_ceil(40) + by_hand,
                "{groups} row groups"
            );
        }
    }

    #[test]
    fn each_row_group_keeps_a_dictionary_only_where_its_first_values_repeat() {
        use arrow_array::{DictionaryArray, StringArray, types::Int16Type};
        use parquet::file::reader::{FileReader, SerializedFileReader};
        // Row groups of 400 rows, each pushed whole (one segment), "switch" repeating in its
        // first 300 rows: the first group starts repeated, the second distinct.
        let rows = 800;
        let repeated: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..rows).map(|i| format!("host-{}", i % 3)),
        ));
        let distinct: ArrayRef = Arc::new(StringArray::from_iter_values(
            (0..rows).map(|i| format!("ray-{i:016x}")),
        ));
        let switch: ArrayRef = Arc::new(StringArray::from_iter_values((0..rows).map(|i| {
            if i < 300 {
                format!("same-{}", i % 2)
            } else {
                format!("other-{i}")
            }
        })));
        let names: Vec<String> = (0..rows).map(|i| format!("enum-{i}")).collect();
        let enums: ArrayRef = Arc::new(
            names
                .iter()
                .map(String::as_str)
                .collect::<DictionaryArray<Int16Type>>(),
        );
        let ints: ArrayRef = Arc::new(Int64Array::from_iter_values(0..rows as i64));
        let all = RecordBatch::try_from_iter([
            ("repeated", repeated),
            ("distinct", distinct),
            ("switch", switch),
            ("enum", enums),
            ("ints", ints),
        ])
        .unwrap();
        let staging = tempfile::tempdir().unwrap();
        let factory = Arc::new(
            FileFactory::try_new(
                staging.path().to_path_buf(),
                all.schema(),
                WriterProperties::builder()
                    .set_max_row_group_row_count(Some(400))
                    .build(),
                u64::MAX,
            )
            .unwrap(),
        );
        let pool = EncoderPool::new(2, 5);
        // Writes `rows` in pieces of `piece` rows; returns the file and, per row group, which
        // columns have a dictionary page.
        let write = |rows: &RecordBatch, piece: usize| {
            let mut file = factory.open("", 0);
            for start in (0..rows.num_rows()).step_by(piece) {
                let len = piece.min(rows.num_rows() - start);
                file.push(&pool, rows.slice(start, len)).unwrap();
            }
            let (closed, staged) = crossbeam_channel::unbounded();
            file.close(&pool, &closed).unwrap();
            let path = staged.recv().unwrap().unwrap().temp;
            let reader = SerializedFileReader::new(File::open(&path).unwrap()).unwrap();
            let groups: Vec<Vec<bool>> = reader
                .metadata()
                .row_groups()
                .iter()
                .map(|g| {
                    g.columns()
                        .iter()
                        .map(|c| c.dictionary_page_offset().is_some())
                        .collect()
                })
                .collect();
            (path, groups)
        };
        let (path, groups) = write(&all, 400);
        // repeated, distinct, switch, enum, ints
        assert_eq!(
            groups,
            [
                [true, false, true, true, false],
                [true, false, false, true, false]
            ]
        );
        let batches: Vec<RecordBatch> =
            parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
                File::open(&path).unwrap(),
            )
            .unwrap()
            .build()
            .unwrap()
            .map(|b| b.unwrap())
            .collect();
        let read = arrow_select::concat::concat_batches(&batches[0].schema(), &batches).unwrap();
        for (name, column) in ["repeated", "distinct", "switch", "ints"]
            .iter()
            .map(|n| (n, read.column_by_name(n).unwrap()))
        {
            assert_eq!(column, all.column_by_name(name).unwrap(), "{name}");
        }
        // A small partition's file (first values too few to tell) keeps every dictionary.
        let (_, groups) = write(&all.slice(400, 100), 100);
        assert_eq!(groups, [[true; 5]]);
    }

    #[test]
    fn rows_bytes_counts_the_rows_used_like_arrow_does() {
        use arrow_array::{BooleanArray, DictionaryArray, StringArray, types::Int16Type};
        let strings: ArrayRef = Arc::new(StringArray::from(vec![
            Some("a"),
            None,
            Some("ccc"),
            Some("dd"),
        ]));
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(2), None, Some(4)]));
        let bools: ArrayRef = Arc::new(BooleanArray::from(vec![true, false, true, true]));
        let enums: ArrayRef = Arc::new(
            vec!["x", "y", "x", "x"]
                .into_iter()
                .collect::<DictionaryArray<Int16Type>>(),
        );
        let batch =
            RecordBatch::try_from_iter([("s", strings), ("i", ints), ("b", bools), ("e", enums)])
                .unwrap();
        for (offset, len) in [(0, 4), (1, 2), (3, 1), (2, 0)] {
            let slice = batch.slice(offset, len);
            for column in slice.columns() {
                assert_eq!(
                    column_bytes(column.as_ref()),
                    column.to_data().get_slice_memory_size().unwrap(),
                    "{} rows {offset}..+{len}",
                    column.data_type()
                );
            }
        }
    }

    #[test]
    fn split_rows_cuts_at_any_row_and_keeps_the_order() {
        let batches = vec![batch(0..3), batch(3..4), batch(4..9)];
        for rows in 0..=9 {
            let (head, tail) = split_rows(batches.clone(), rows);
            let expected_head: Vec<i64> = (0..rows as i64).collect();
            let expected_tail: Vec<i64> = (rows as i64..9).collect();
            assert_eq!(values(&head), expected_head, "{rows}");
            assert_eq!(values(&tail), expected_tail, "{rows}");
            assert!(head.iter().chain(&tail).all(|b| b.num_rows() > 0));
        }
    }
}
