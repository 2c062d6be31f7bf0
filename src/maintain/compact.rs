//! `logpush-parquet compact`: merges a lake table's small files (Delta or Iceberg), partition by
//! partition, into few large ones, in one commit that changes no data.
//!
//! A job every five minutes leaves a dozen small files per hour partition. Compaction reads the
//! files of a partition smaller than the target size, oldest name first, and writes their rows
//! through the same writer as `convert` (rolled at the target size, within the memory budget),
//! then commits the removal of the old files and the addition of the new ones together (Delta:
//! an `OPTIMIZE` commit with `dataChange=false`; Iceberg: a `replace` snapshot): readers see the
//! same rows before and after, at every moment, and runs appending meanwhile are not disturbed
//! (a conflicting commit is answered by committing again on a fresh version). Partitions with a
//! file newer than `--min-age` are left alone (the hour being written), and `--partition` limits
//! it further. The old files stay until `vacuum` deletes them, so time travel to an older
//! version still reads them. The dataset, field list and partitioning come from the table
//! unless flags say them (and agree with it).
//!
//! Only lake tables are compacted. On the plain layout readers would see the old and the new
//! files side by side, or neither, while the files are swapped, and a run's files (which
//! `--reprocess` replaces) would no longer be its own.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use futures::StreamExt;
use parquet::arrow::ParquetRecordBatchStreamBuilder;
use sha2::{Digest, Sha256};

use super::{ShapeFlags, TableAt};
use crate::commit::{ActiveFile, NewFile};
use crate::error::{Error, Result};
use crate::job::MemoryPlan;
use crate::schema::EventSchema;
use crate::stage::{Staging, UPLOAD_CONCURRENCY, unix_nanos, upload_groups};
use crate::storage::{Location, StorageOptions, concurrently};
use crate::write::options::IDLE_SPLITS_PER_THREAD;
use crate::write::{ParquetOptions, PartitionedWriter, StagedFile, WriterLimits};

/// The default of `--target-file-size`.
pub const DEFAULT_TARGET_FILE_BYTES: u64 = 256 << 20;

/// Rows read from a file at a time.
const READ_BATCH_ROWS: usize = 8192;

/// What to compact, and how.
#[derive(Debug, Clone)]
pub struct CompactOptions {
    /// The table.
    pub table: TableAt,
    /// The field list and partitioning the flags give (the rest is read from the table).
    pub shape: ShapeFlags,
    /// Files at least this large are left as they are; merged files are rolled at it.
    pub target_file_bytes: u64,
    /// Partitions with a file written less than this long ago are left alone.
    pub min_age: Duration,
    /// Only partitions whose folder matches this pattern.
    pub partitions: Option<glob::Pattern>,
    /// The memory budget.
    pub memory_limit: usize,
    /// Encoder threads.
    pub threads: usize,
    /// Parquet encoding of the new files.
    pub parquet: ParquetOptions,
    /// How to reach object stores.
    pub storage: StorageOptions,
    /// Where the new files are written before they are uploaded (object store outputs).
    pub temp_dir: Option<std::path::PathBuf>,
    /// Only say what would be compacted.
    pub dry_run: bool,
}

/// What a compaction did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CompactSummary {
    /// Partitions compacted.
    pub partitions: u64,
    /// The table's files before.
    pub files_before: u64,
    /// The table's files after.
    pub files_after: u64,
    /// Files merged away.
    pub files_removed: u64,
    /// Files written.
    pub files_added: u64,
    /// Rows rewritten.
    pub rows: u64,
    /// Bytes of the files merged away.
    pub bytes_removed: u64,
    /// Bytes of the files written.
    pub bytes_added: u64,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Wall-clock seconds.
    pub elapsed_s: f64,
}

impl CompactSummary {
    /// A line for a person.
    pub fn to_text(&self) -> String {
        let verb = if self.dry_run {
            "would merge"
        } else {
            "merged"
        };
        format!(
            "{verb} {} files ({:.1} MB) of {} partitions into {} ({:.1} MB); the table has {} \
             files, {} before; {:.2} s\n",
            self.files_removed,
            self.bytes_removed as f64 / 1e6,
            self.partitions,
            self.files_added,
            self.bytes_added as f64 / 1e6,
            self.files_after,
            self.files_before,
            self.elapsed_s
        )
    }
}

/// Compacts the table `options.table`.
pub fn compact(options: &CompactOptions) -> Result<CompactSummary> {
    let started = Instant::now();
    let mut table = super::open(&options.table, &options.storage, "compact")?;
    let root = table.root().clone();
    let shape = (options.shape).resolve(&table.recorded()?, &options.table.to_string())?;
    table.set_shape(&shape)?;
    let files = table.active_files()?;
    let chosen = choose(&files, options);
    let mut summary = CompactSummary {
        files_before: files.len() as u64,
        files_after: files.len() as u64,
        partitions: chosen.len() as u64,
        files_removed: chosen.values().map(|f| f.len() as u64).sum(),
        bytes_removed: chosen.values().flatten().map(|f| f.size).sum(),
        dry_run: options.dry_run,
        ..CompactSummary::default()
    };
    if options.dry_run || chosen.is_empty() {
        summary.elapsed_s = started.elapsed().as_secs_f64();
        return Ok(summary);
    }
    tracing::info!(
        partitions = chosen.len(),
        files = summary.files_removed,
        "compacting"
    );

    let staging = Staging::for_maintenance(&root, options.temp_dir.as_deref())?;
    let staged = rewrite(
        &root,
        &chosen,
        &table.file_schema()?,
        &shape.schema,
        options,
        &staging,
    )?;
    let id = compaction_id(&chosen);
    let adds: Vec<NewFile> = staged
        .iter()
        .map(|s| NewFile {
            key: table.data_key(&s.partition, &format!("part-c{id}-{:05}.parquet", s.seq)),
            bytes: s.bytes,
            stats: s.stats.clone(),
        })
        .collect();
    let uploads: Vec<(&StagedFile, &String)> =
        staged.iter().zip(adds.iter().map(|a| &a.key)).collect();
    let per_file = 2 * options.storage.part_size as u64;
    let mut start = 0;
    for group in upload_groups(&staged, options.memory_limit / 4, per_file) {
        concurrently(
            &uploads[start..start + group.len()],
            UPLOAD_CONCURRENCY,
            |(file, key)| staging.put(&root, &file.temp, key),
        )?;
        start += group.len();
    }
    let removes: HashSet<String> = chosen.values().flatten().map(|f| f.key.clone()).collect();
    if let Err(e) = table.replace_files(&id, &removes, &adds) {
        // Nothing committed: the new files are nobody's.
        let keys: Vec<&String> = adds.iter().map(|a| &a.key).collect();
        let _ = concurrently(&keys, UPLOAD_CONCURRENCY, |key| root.delete(key));
        return Err(e);
    }
    summary.files_added = adds.len() as u64;
    summary.bytes_added = adds.iter().map(|a| a.bytes).sum();
    summary.rows = staged.iter().map(|s| s.rows).sum();
    summary.files_after = summary.files_before - summary.files_removed + summary.files_added;
    summary.elapsed_s = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// The files to merge, by partition: in each partition that matches and whose files are all
/// older than `--min-age`, the files below the target size, when there are at least two.
fn choose<'a>(
    files: &'a [ActiveFile],
    options: &CompactOptions,
) -> BTreeMap<String, Vec<&'a ActiveFile>> {
    let now_ms = (unix_nanos() / 1_000_000) as i64;
    let min_age_ms = options.min_age.as_millis() as i64;
    let mut by_partition: BTreeMap<String, Vec<&ActiveFile>> = BTreeMap::new();
    for file in files {
        by_partition
            .entry(file.partition.clone())
            .or_default()
            .push(file);
    }
    by_partition
        .into_iter()
        .filter(|(partition, _)| {
            options
                .partitions
                .as_ref()
                .is_none_or(|p| p.matches(partition))
        })
        .filter(|(_, files)| files.iter().all(|f| now_ms - f.modified_ms >= min_age_ms))
        .map(|(partition, files)| {
            let small: Vec<&ActiveFile> = files
                .into_iter()
                .filter(|f| f.size < options.target_file_bytes)
                .collect();
            (partition, small)
        })
        .filter(|(_, small)| small.len() >= 2)
        .collect()
}

/// Reads the chosen files, partition by partition, and writes their rows into new files.
fn rewrite(
    root: &Location,
    chosen: &BTreeMap<String, Vec<&ActiveFile>>,
    file_schema: &SchemaRef,
    schema: &EventSchema,
    options: &CompactOptions,
    staging: &Staging,
) -> Result<Vec<StagedFile>> {
    // Enum columns are plain strings in the files (and in files written before, maybe
    // dictionaries): everything read is cast to plain columns, and written so.
    let plain = crate::write::plain_schema(file_schema);
    let memory = MemoryPlan::new(options.memory_limit, options.threads);
    let properties = options.parquet.writer_properties(schema, Vec::new())?;
    let mut writer = PartitionedWriter::try_new(
        staging.local.clone(),
        plain.clone(),
        properties,
        WriterLimits {
            max_file_bytes: options.target_file_bytes,
            buffer_bytes: memory.row_group_buffers,
            max_open_files: memory.max_open_files,
            overflow_bytes: memory.overflow_bytes,
            encode_threads: options.threads,
            idle_splits: IDLE_SPLITS_PER_THREAD * options.threads.max(1) as u64,
        },
    )?;
    for (partition, files) in chosen {
        let mut files = files.clone();
        files.sort_by(|a, b| (a.modified_ms, &a.key).cmp(&(b.modified_ms, &b.key)));
        for file in files {
            for batch in read_file(root, &file.key, file.size)? {
                let batch = crate::write::cast_batch(&batch?, &plain)?;
                writer.write(partition, &batch)?;
            }
        }
    }
    writer.finish()
}

/// The record batches of one Parquet file of the table.
fn read_file(
    root: &Location,
    key: &str,
    size: u64,
) -> Result<impl Iterator<Item = Result<RecordBatch>>> {
    let display = root.display_key(key);
    let parquet_error = move |e: parquet::errors::ParquetError| Error::Parquet {
        path: display.clone().into(),
        source: e,
    };
    let file = root.parquet_file(key, size);
    let storage = root.storage().clone();
    let mut stream = storage
        .block_on(async {
            ParquetRecordBatchStreamBuilder::new(file)
                .await
                .and_then(|b| b.with_batch_size(READ_BATCH_ROWS).build())
        })
        .map_err(parquet_error.clone())?;
    Ok(std::iter::from_fn(move || {
        storage
            .block_on(stream.next())
            .map(|batch| batch.map_err(parquet_error.clone()))
    }))
}

/// A name for this compaction's files: a hash of the files it merges, so that one run again
/// after a crash writes the same names.
fn compaction_id(chosen: &BTreeMap<String, Vec<&ActiveFile>>) -> String {
    let mut hash = Sha256::new();
    for file in chosen.values().flatten() {
        hash.update(file.key.as_bytes());
        hash.update(b"\n");
    }
    crate::hex(&hash.finalize()[..8])
}
