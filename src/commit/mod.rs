//! The commit: how a run's files become visible to readers and its inputs count as converted,
//! exactly once whatever crashes. One seam, one implementation per output layout:
//!
//! - [`plain`]: Hive-partitioned Parquet files, published by the ledger's commit protocol
//!   ([`crate::ledger`]);
//! - [`delta`]: a Delta Lake table (`--table-format delta`), whose log is the commit point.
//!
//! The job stages a run's files through [`Table::staging_key`], builds its [`Manifest`] and
//! hands it to [`Table::commit`]; nothing else in it knows which layout it writes.

pub mod delta;
pub mod plain;

/// The layout of an output root (`--table-format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TableFormat {
    /// Hive-partitioned Parquet files and the tool's own ledger (`_ledger/`).
    #[default]
    Plain,
    /// A Delta Lake table: the same files, made visible by commits to `_delta_log/`.
    Delta,
}

impl TableFormat {
    /// The Arrow schema of this layout's data files, given the columns they hold. Delta tables
    /// declare `json` columns (and the catch-all) as strings: Delta has no JSON type, and a
    /// reader such as Polars refuses a file whose column is annotated otherwise than the table
    /// declares it, so their files leave Parquet's JSON annotation out. Plain outputs keep it.
    pub fn data_file_schema(self, columns: &SchemaRef) -> SchemaRef {
        match self {
            TableFormat::Plain => columns.clone(),
            TableFormat::Delta => {
                let fields: Vec<Field> = (columns.fields().iter())
                    .map(|f| {
                        let mut metadata = f.metadata().clone();
                        if f.extension_type_name() == Some(Json::NAME) {
                            metadata.remove(EXTENSION_TYPE_NAME_KEY);
                            metadata.remove(EXTENSION_TYPE_METADATA_KEY);
                        }
                        f.as_ref().clone().with_metadata(metadata)
                    })
                    .collect();
                Arc::new(Schema::new_with_metadata(
                    fields,
                    columns.metadata().clone(),
                ))
            }
        }
    }
}

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use arrow_schema::extension::{
    EXTENSION_TYPE_METADATA_KEY, EXTENSION_TYPE_NAME_KEY, ExtensionType, Json,
};
use arrow_schema::{Field, Schema, SchemaRef};

use crate::error::Result;
use crate::ledger::{Ledger, Manifest};
use crate::lock::Lease;
use crate::stage::Staging;
use crate::storage::Location;
use crate::write::StagedFile;

/// What an output root holds and how runs commit to it.
pub trait Table {
    /// The ledger: which inputs were converted, by which run, into which files.
    fn ledger(&self) -> &Ledger;

    /// Finishes or undoes what crashed runs of shards no live run holds (`busy`) left half-done;
    /// returns the run ids it finished.
    fn recover(&mut self, root: &Location, busy: &HashSet<String>) -> Result<Vec<String>>;

    /// Makes the table ready for this run's files, before any is written: a Delta table of
    /// another dataset, partitioning or column type is refused, and the columns this run writes
    /// that the table lacks are added (one schema-change commit). The plain layout has nothing
    /// to do: its readers take each file's columns (DuckDB with `union_by_name`).
    fn prepare(&mut self) -> Result<()> {
        Ok(())
    }

    /// The key, under the output root, where the run's closed local file `file`, to be
    /// committed as `final_path`, waits for the commit.
    fn staging_key(&self, staging: &Staging, file: &Path, final_path: &str) -> String;

    /// The commit point and what follows it: from here the run's inputs count as converted and
    /// its files are (or, after a crash, will be made) visible. The lease, when there is one,
    /// is checked just before the commit point.
    /// `staged` are the run's data files, in the order of `run.files`. The layout may complete
    /// the manifest (its format, a Delta `txn` version) before recording it.
    fn commit(
        &mut self,
        root: &Location,
        run: &mut Manifest,
        staged: &[StagedFile],
        lease: Option<&Lease>,
    ) -> Result<()>;
}
