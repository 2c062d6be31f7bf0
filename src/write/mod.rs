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
//!
//! The pieces, in the order rows pass through them:
//!
//! - [`router`]: the partition router, sending each partition's rows to its open file or to
//!   the overflow, within the memory budget;
//! - [`mod@file`]: one partition's file, its rows cut into segments and row groups;
//! - [`encode`]: the encoder threads that encode segments column group by column group, and
//!   write and close files;
//! - `spill`: the overflow, spilled to disk and read back partition by partition at the end;
//! - [`options`]: codec, sizes and limits; [`rejects`]: the rejects file; [`stats`]: what a
//!   closed file holds, column by column.

mod dictionary;
pub mod encode;
pub mod file;
pub mod options;
pub mod rejects;
pub mod router;
mod spill;
pub mod stats;

pub use file::StagedFile;
pub use options::{Codec, ParquetOptions, WriterLimits};
pub use router::PartitionedWriter;
pub use spill::{cast_batch, plain_schema};

/// Write buffer of each open data file.
pub const FILE_BUFFER_BYTES: usize = 64 << 10;

/// Folder (under the output root) of staged temporaries.
pub const STAGING_DIR: &str = "_staging";

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

/// The committed name of a data file, relative to the output root.
pub fn data_file_name(partition: &str, run_id: &str, seq: u32) -> String {
    let name = format!("part-{run_id}-{seq:05}.parquet");
    if partition.is_empty() {
        name
    } else {
        format!("{partition}/{name}")
    }
}
