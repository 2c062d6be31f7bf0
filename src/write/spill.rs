//! The overflow: rows of partitions that found no open file. They wait in memory, converted to
//! plain string columns, and past their budget are spilled to disk as runs (Arrow IPC streams,
//! rows in partition order), merged level by level so the runs stay few. At the end of the run
//! they are read back partition by partition, each partition's rows in the order they came, to be
//! written into one file per partition.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::BufWriter;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{RecordBatch, UInt32Array};
use arrow_ipc::reader::StreamReader;
use arrow_ipc::writer::StreamWriter;
use arrow_schema::{DataType, Field, Schema, SchemaRef};

use super::FILE_BUFFER_BYTES;
use super::file::rows_bytes;
use crate::error::{Error, Result};

/// Rows of partitions that found no open file.
pub(super) struct Overflow {
    /// Folder of the run files.
    staging: PathBuf,
    /// The file schema with dictionary columns as plain strings: pieces from many batches then
    /// concatenate without merging dictionaries, and spill without resending them.
    plain: SchemaRef,
    /// Memory for buffered rows: past it, they are spilled.
    budget: usize,
    /// Every partition that went here.
    partitions: HashSet<String>,
    /// Batches not yet spilled, in the order they came, each grouped by partition (sorted) with
    /// each group's rows.
    buffered: Vec<(RecordBatch, Vec<(String, usize)>)>,
    bytes: usize,
    runs: Vec<Run>,
    /// Numbers run files.
    next_run: u64,
}

impl Overflow {
    /// An empty overflow for rows of `schema`, spilling into `staging` past `budget` bytes.
    pub(super) fn new(staging: PathBuf, schema: &SchemaRef, budget: usize) -> Self {
        Overflow {
            staging,
            plain: plain_schema(schema),
            budget,
            partitions: HashSet::new(),
            buffered: Vec::new(),
            bytes: 0,
            runs: Vec::new(),
            next_run: 0,
        }
    }

    /// Whether rows of `partition` went here: its later rows must too, to keep their order.
    pub(super) fn holds(&self, partition: &str) -> bool {
        self.partitions.contains(partition)
    }

    /// Sends the later rows of `partition` here (its file was closed to make room).
    pub(super) fn take_over(&mut self, partition: String) {
        self.partitions.insert(partition);
    }

    /// Buffers the rows of `groups` (ranges of `batch`, in partition order) as one batch with
    /// plain string columns; spills the buffer when it is over its budget.
    pub(super) fn push(
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
        let rows_only = cast_batch(&rows_only, &self.plain)?;
        let groups = groups
            .into_iter()
            .map(|(partition, range)| {
                if !self.partitions.contains(partition) {
                    self.partitions.insert(partition.to_string());
                }
                (partition.to_string(), range.len())
            })
            .collect();
        self.bytes += rows_bytes(&rows_only);
        self.buffered.push((rows_only, groups));
        if self.bytes > self.budget {
            self.spill()?;
        }
        Ok(())
    }

    /// Writes the buffer to a run file in partition order and empties it; then, when
    /// [`RUNS_PER_LEVEL`] runs of one level have piled up at the end, merges them into one run
    /// of the next level, so the runs stay few (logarithmic in the data) and are each rewritten
    /// only once per level. Rows are gathered into the run's messages by index, a message at a
    /// time, whatever the number of partitions.
    fn spill(&mut self) -> Result<()> {
        let buffered = std::mem::take(&mut self.buffered);
        self.bytes = 0;
        // Each partition's ranges of the buffered batches, in the order they came.
        let mut ranges: BTreeMap<&str, Vec<(usize, usize, usize)>> = BTreeMap::new();
        for (b, (_, groups)) in buffered.iter().enumerate() {
            let mut offset = 0;
            for (partition, rows) in groups {
                ranges
                    .entry(partition)
                    .or_default()
                    .push((b, offset, *rows));
                offset += rows;
            }
        }
        let mut run = RunWriter::create(&self.staging, &mut self.next_run, &self.plain, 0)?;
        for (partition, ranges) in ranges {
            for (b, offset, rows) in ranges {
                run.add(partition, &buffered[b].0, offset, rows)?;
            }
        }
        drop(buffered);
        self.runs.push(run.finish()?);
        loop {
            let runs = &self.runs;
            let level = runs.last().map_or(0, |r| r.level);
            let same = runs.iter().rev().take_while(|r| r.level == level).count();
            if same < RUNS_PER_LEVEL {
                return Ok(());
            }
            let merged: Vec<Run> = self.runs.split_off(runs.len() - same);
            let mut run =
                RunWriter::create(&self.staging, &mut self.next_run, &self.plain, level + 1)?;
            read_runs_in_order(&merged, |partition, message, offset, rows| {
                run.add(partition, message, offset, rows)
            })?;
            self.runs.push(run.finish()?);
            remove_runs(&merged);
        }
    }

    /// Calls `each` with every row that came here: partition by partition (sorted), each
    /// partition's rows in the order they came, gathered into batches of at most
    /// [`DRAIN_ROWS`] rows with plain string columns. The run files are removed however it
    /// ends.
    pub(super) fn drain(
        mut self,
        mut each: impl FnMut(&str, RecordBatch) -> Result<()>,
    ) -> Result<()> {
        if self.buffered.is_empty() && self.runs.is_empty() {
            return Ok(());
        }
        let spilled = self.spill();
        let runs = std::mem::take(&mut self.runs);
        let mut gather = Gather::default();
        let mut current = String::new();
        let read = spilled.and_then(|()| {
            read_runs_in_order(&runs, |partition, message, offset, rows| {
                if partition != current {
                    if !gather.is_empty() {
                        each(&current, gather.take()?)?;
                    }
                    current = partition.to_string();
                }
                gather.add(message, offset, rows);
                if gather.len() >= DRAIN_ROWS {
                    each(&current, gather.take()?)?;
                }
                Ok(())
            })?;
            if !gather.is_empty() {
                each(&current, gather.take()?)?;
            }
            Ok(())
        });
        remove_runs(&runs);
        read
    }
}

impl Drop for Overflow {
    fn drop(&mut self) {
        remove_runs(&self.runs);
    }
}

/// `schema` with dictionary columns as plain strings (what Parquet stores either way).
pub fn plain_schema(schema: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Dictionary(_, value) => {
                f.as_ref().clone().with_data_type(value.as_ref().clone())
            }
            _ => f.as_ref().clone(),
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
}

/// `batch` as a batch of `schema`: each of its columns found by name and cast to the type
/// there, and NULL where `batch` lacks the column (a file written before a table gained it).
pub fn cast_batch(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema() == *schema {
        return Ok(batch.clone());
    }
    let columns = schema
        .fields()
        .iter()
        .map(|f| match batch.column_by_name(f.name()) {
            Some(c) => arrow_cast::cast(c, f.data_type()),
            None => Ok(arrow_array::new_null_array(f.data_type(), batch.num_rows())),
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Ok(RecordBatch::try_new(schema.clone(), columns)?)
}

/// Runs of one level merged into one of the next level once this many have piled up.
const RUNS_PER_LEVEL: usize = 16;

/// Rows per message of a run file. Pieces of any number of partitions share a message, so a
/// run costs per row, not per partition; and a reader holds one message of each run it merges.
/// (Tiny under test, so that partitions straddle messages.)
const RUN_MESSAGE_ROWS: usize = if cfg!(test) { 7 } else { 1024 };

/// Rows of one partition handed out at a time when the overflow is drained.
const DRAIN_ROWS: usize = if cfg!(test) { 5 } else { 8192 };

/// A spilled run: an Arrow IPC stream of rows in partition order, and how many per partition.
struct Run {
    path: PathBuf,
    index: Vec<(String, usize)>,
    level: u32,
}

/// Rows picked from some batches, by index, to be copied into one batch in one pass: far
/// cheaper than slicing each partition's few rows out and concatenating the slices when a
/// message holds rows of thousands of partitions.
#[derive(Default)]
struct Gather {
    sources: Vec<RecordBatch>,
    indices: Vec<(usize, usize)>,
}

impl Gather {
    /// Picks rows `offset..offset + rows` of `batch`.
    fn add(&mut self, batch: &RecordBatch, offset: usize, rows: usize) {
        // Ranges come a batch at a time: the last source is most often the same batch.
        let same = self.sources.last().is_some_and(|last| {
            last.num_rows() == batch.num_rows()
                && last
                    .columns()
                    .iter()
                    .zip(batch.columns())
                    .all(|(a, b)| std::sync::Arc::ptr_eq(a, b))
        });
        if !same {
            self.sources.push(batch.clone());
        }
        let source = self.sources.len() - 1;
        self.indices
            .extend((offset..offset + rows).map(|row| (source, row)));
    }

    fn len(&self) -> usize {
        self.indices.len()
    }

    fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// The picked rows as one batch; empties the gather.
    fn take(&mut self) -> Result<RecordBatch> {
        let sources: Vec<&RecordBatch> = self.sources.iter().collect();
        let batch = arrow_select::interleave::interleave_record_batch(&sources, &self.indices)?;
        self.sources.clear();
        self.indices.clear();
        Ok(batch)
    }
}

/// Writes one run.
struct RunWriter {
    path: PathBuf,
    writer: StreamWriter<BufWriter<File>>,
    index: Vec<(String, usize)>,
    level: u32,
    /// Rows of the next message.
    pending: Gather,
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
            writer,
            index: Vec::new(),
            level,
            pending: Gather::default(),
        })
    }

    /// Appends rows `offset..offset + rows` of `batch`, of `partition`; rows must come in
    /// partition order.
    fn add(
        &mut self,
        partition: &str,
        batch: &RecordBatch,
        offset: usize,
        rows: usize,
    ) -> Result<()> {
        if rows == 0 {
            return Ok(());
        }
        match self.index.last_mut() {
            Some((p, count)) if p == partition => *count += rows,
            _ => self.index.push((partition.to_string(), rows)),
        }
        self.pending.add(batch, offset, rows);
        if self.pending.len() >= RUN_MESSAGE_ROWS {
            self.write_pending()?;
        }
        Ok(())
    }

    fn write_pending(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let message = self.pending.take()?;
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

    /// Calls `each` with the rows of `partition`, as ranges of the run's messages, if the run's
    /// next partition is that one.
    fn read_partition(
        &mut self,
        partition: &str,
        each: &mut impl FnMut(&str, &RecordBatch, usize, usize) -> Result<()>,
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
            let message = self
                .message
                .as_ref()
                .expect("available rows come from a message");
            each(partition, message, self.taken, n)?;
            self.taken += n;
            left -= n;
        }
        Ok(())
    }
}

/// Calls `each` with the rows of `runs`: partition by partition (sorted), and within a
/// partition run by run, in the order the runs were written. Rows come as ranges (message,
/// offset, rows) of the runs' messages, so a partition may come in several ranges.
fn read_runs_in_order(
    runs: &[Run],
    mut each: impl FnMut(&str, &RecordBatch, usize, usize) -> Result<()>,
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
