//! Writing: Parquet files per partition, rolled at a size limit, staged as hidden temporaries
//! and made visible only at commit by a rename to a deterministic name.
//!
//! Layout under the output root:
//!
//! ```text
//! <root>/date=2026-11-23/hour=5/part-<run id>-00000.parquet   committed data files
//! <root>/_rejects/rejects-<run id>.ndjson                     rejected lines of that run
//! <root>/_staging/<process>/...                               temporaries while a run is live
//! ```
//!
//! Spark skips names starting with `_` or `.`, and DuckDB's `**/*.parquet` glob skips anything
//! not ending in `.parquet`, so staging files are never read as data. The run id is a hash of the
//! inputs and options (see [`crate::job`]), so the same command run twice writes the same names
//! and the second run replaces the first instead of adding rows.

pub mod rejects;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, Encoding, GzipLevel, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::error::{Error, Result};
use crate::schema::{ColumnEncoding, EventSchema};

/// Folder (under the output root) of staged temporaries.
pub const STAGING_DIR: &str = "_staging";

/// The Parquet compression codec of the data files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// zstd (default level 3).
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

struct OpenFile {
    writer: ArrowWriter<BufWriter<File>>,
    temp: PathBuf,
    seq: u32,
    rows: u64,
}

/// Writes record batches into one rolling Parquet file per partition, in a staging folder.
pub struct PartitionedWriter {
    staging: PathBuf,
    schema: SchemaRef,
    properties: WriterProperties,
    max_file_bytes: u64,
    open: BTreeMap<String, OpenFile>,
    next_seq: BTreeMap<String, u32>,
    staged: Vec<StagedFile>,
    temp_counter: u64,
}

impl PartitionedWriter {
    /// A writer of files with `schema` into the (existing) `staging` folder.
    pub fn new(
        staging: PathBuf,
        schema: SchemaRef,
        properties: WriterProperties,
        max_file_bytes: u64,
    ) -> Self {
        PartitionedWriter {
            staging,
            schema,
            properties,
            max_file_bytes,
            open: BTreeMap::new(),
            next_seq: BTreeMap::new(),
            staged: Vec::new(),
            temp_counter: 0,
        }
    }

    /// Appends `batch` to the current file of `partition`, rolling it at the size limit.
    pub fn write(&mut self, partition: &str, batch: &RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if !self.open.contains_key(partition) {
            let file = self.open_file(partition)?;
            self.open.insert(partition.to_string(), file);
        }
        let file = self.open.get_mut(partition).expect("inserted above");
        file.writer.write(batch).map_err(|source| Error::Parquet {
            path: file.temp.clone(),
            source,
        })?;
        file.rows += batch.num_rows() as u64;
        let size = (file.writer.bytes_written() + file.writer.in_progress_size()) as u64;
        if size >= self.max_file_bytes {
            let file = self.open.remove(partition).expect("present");
            self.close_file(partition.to_string(), file)?;
        }
        Ok(())
    }

    fn open_file(&mut self, partition: &str) -> Result<OpenFile> {
        let seq = self.next_seq.entry(partition.to_string()).or_insert(0);
        let this_seq = *seq;
        *seq += 1;
        self.temp_counter += 1;
        let temp = self
            .staging
            .join(format!("{:06}.parquet.tmp", self.temp_counter));
        let handle = File::create(&temp).map_err(|e| Error::output(&temp, e))?;
        let writer = ArrowWriter::try_new(
            BufWriter::with_capacity(1 << 20, handle),
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
            seq: this_seq,
            rows: 0,
        })
    }

    fn close_file(&mut self, partition: String, file: OpenFile) -> Result<()> {
        let OpenFile {
            writer,
            temp,
            seq,
            rows,
        } = file;
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
        self.staged.push(StagedFile {
            temp,
            partition,
            seq,
            rows,
            bytes,
        });
        Ok(())
    }

    /// Closes every open file and returns all staged files of the run.
    pub fn finish(mut self) -> Result<Vec<StagedFile>> {
        let open = std::mem::take(&mut self.open);
        for (partition, file) in open {
            self.close_file(partition, file)?;
        }
        Ok(self.staged)
    }
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

/// Makes staged files visible: renames each into its partition folder under its final name.
/// A file of the same name from an earlier run of the same command is replaced.
pub fn commit(root: &Path, run_id: &str, staged: Vec<StagedFile>) -> Result<Vec<WrittenFile>> {
    // Every folder first: a failure here leaves nothing visible (an empty folder is no data).
    for file in &staged {
        let folder = root.join(&file.partition);
        std::fs::create_dir_all(&folder).map_err(|e| Error::output(&folder, e))?;
    }
    let mut written = Vec::with_capacity(staged.len());
    for file in staged {
        let relative = data_file_name(&file.partition, run_id, file.seq);
        let target = root.join(&relative);
        std::fs::rename(&file.temp, &target).map_err(|e| Error::output(&target, e))?;
        written.push(WrittenFile {
            path: relative,
            partition: file.partition,
            rows: file.rows,
            bytes: file.bytes,
        });
    }
    sync_dir(root);
    Ok(written)
}

/// Best-effort fsync of a folder so renames into it survive a power cut.
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(handle) = File::open(dir) {
        let _ = handle.sync_all();
    }
}
