//! The commit: how a run's files become visible to readers and its inputs count as converted,
//! exactly once whatever crashes. One seam, one implementation per output layout:
//!
//! - [`plain`]: Hive-partitioned Parquet files, published by the ledger's commit protocol
//!   ([`crate::ledger`]);
//! - [`delta`]: a Delta Lake table (`--table-format delta`), whose log is the commit point;
//! - [`iceberg`]: an Iceberg table in a REST catalog (`--table-format iceberg`), whose
//!   snapshots are the commit point.
//!
//! [`open`] finds the output's root (for Iceberg, the table's location, from the catalog) and
//! [`Output::table`] opens the layout there. The job stages a run's files through
//! [`Table::staging_key`], builds its [`Manifest`] and hands it to [`Table::commit`]; nothing
//! else in it knows which layout it writes.

pub mod delta;
pub mod iceberg;
pub mod plain;

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use arrow_schema::extension::{
    EXTENSION_TYPE_METADATA_KEY, EXTENSION_TYPE_NAME_KEY, ExtensionType, Json,
};
use arrow_schema::{Field, Schema, SchemaRef, TimeUnit};

use crate::error::{Error, Result};
use crate::ledger::{Ledger, Manifest};
use crate::lock::Lease;
use crate::partition::PartitionSpec;
use crate::schema::EventSchema;
use crate::stage::Staging;
use crate::storage::{Location, Storage, StorageOptions};
use crate::write::StagedFile;
use crate::write::stats::FileStats;
use delta::DeltaTable;
use iceberg::IcebergTable;
use plain::PlainTable;

/// A data file of a table's current version, as maintenance sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveFile {
    /// Its key under the table's root.
    pub key: String,
    /// Its partition folder (`date=2026-11-23/hour=22`; empty when unpartitioned).
    pub partition: String,
    /// Size in bytes.
    pub size: u64,
    /// When it was written (Delta) or committed (Iceberg), in Unix milliseconds.
    pub modified_ms: i64,
    /// Rows, when the table says.
    pub rows: Option<u64>,
}

/// What a lake table records of the runs that write it: their dataset, partitioning, and
/// whether it has the catch-all column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recorded {
    /// The dataset (the table property `logpush-parquet.dataset`), when recorded.
    pub dataset: Option<String>,
    /// The partitioning, as `--partition-by` writes it (`date,hour`, `none`).
    pub partition_by: String,
    /// Whether the table has the catch-all column `_extra`.
    pub catch_all: bool,
}

/// A data file to add to a table: its key under the root, size and statistics.
#[derive(Debug, Clone)]
pub struct NewFile {
    /// Its key under the table's root.
    pub key: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Rows and column statistics.
    pub stats: FileStats,
}

/// The layout of an output root (`--table-format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TableFormat {
    /// Hive-partitioned Parquet files and the tool's own ledger (`_ledger/`).
    #[default]
    Plain,
    /// A Delta Lake table: the same files, made visible by commits to `_delta_log/`.
    Delta,
    /// An Iceberg table in a REST catalog (R2 Data Catalog): the files made visible by one
    /// snapshot per run (`--catalog-uri`, `--warehouse`, `--table`).
    Iceberg,
}

impl TableFormat {
    /// The Arrow schema of this layout's data files, given the columns they hold. Delta tables
    /// declare `json` columns (and the catch-all) as strings: Delta has no JSON type, and a
    /// reader such as Polars refuses a file whose column is annotated otherwise than the table
    /// declares it, so their files leave Parquet's JSON annotation out. Plain outputs keep it.
    /// (Iceberg files also carry field ids: [`Table::data_file_schema`].)
    pub fn data_file_schema(self, columns: &SchemaRef) -> SchemaRef {
        match self {
            TableFormat::Plain => columns.clone(),
            TableFormat::Delta | TableFormat::Iceberg => {
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

/// An output's root, found: the folder or prefix a run writes under (for Iceberg, the table's
/// location, with the catalog connection that found it).
pub struct Output {
    /// Where the run's lease, ledger and files go.
    pub root: Location,
    catalog: Option<iceberg::Connection>,
}

/// What a run writes: the layout, where, and what its table holds.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// `--table-format`.
    pub format: TableFormat,
    /// `--output` (the plain and Delta layouts).
    pub output: &'a str,
    /// The Iceberg table in its catalog.
    pub iceberg: Option<&'a iceberg::catalog::CatalogOptions>,
    /// The dataset's field list.
    pub schema: &'a Arc<EventSchema>,
    /// `--partition-by`.
    pub partition: &'a PartitionSpec,
    /// `--timestamp-unit`.
    pub unit: TimeUnit,
    /// How to reach object stores.
    pub storage: &'a StorageOptions,
}

/// Finds the output of `target`: `--output` for the plain and Delta layouts, the catalog's
/// table (created on first use) for Iceberg.
pub fn open(target: &Target<'_>, storage: &Arc<Storage>) -> Result<Output> {
    match (target.format, target.iceberg) {
        (TableFormat::Iceberg, Some(catalog)) => {
            let (root, connection) =
                iceberg::connect(catalog, Some(&iceberg_shape(target)), target.storage)?;
            Ok(Output {
                root,
                catalog: Some(connection),
            })
        }
        (TableFormat::Iceberg, None) => Err(Error::InvalidOption {
            option: "--table-format",
            message: "iceberg needs --catalog-uri, --warehouse and --table".into(),
        }),
        _ => {
            let root = storage.open(target.output)?;
            check_layout(&root, target.format)?;
            Ok(Output {
                root,
                catalog: None,
            })
        }
    }
}

fn iceberg_shape(target: &Target<'_>) -> iceberg::TableShape {
    iceberg::TableShape {
        schema: target.schema.clone(),
        partition: target.partition.clone(),
        columns: target.schema.arrow_schema(target.unit),
    }
}

/// Refuses a plain run into a Delta table, before anything is written: its files would not be
/// what the table's readers see.
fn check_layout(root: &Location, format: TableFormat) -> Result<()> {
    if format == TableFormat::Plain && !root.list(delta::LOG_DIR)?.is_empty() {
        return Err(Error::InvalidOption {
            option: "--table-format",
            message: format!(
                "{} is a Delta table: convert into it with --table-format delta",
                root.display_key("")
            ),
        });
    }
    Ok(())
}

impl Output {
    /// The table at the root, in the layout `--table-format` names (taken once the lease is
    /// held: it loads the ledger).
    pub fn table(&mut self, target: &Target<'_>) -> Result<Box<dyn Table>> {
        match target.format {
            TableFormat::Plain => Ok(Box::new(PlainTable::open(&self.root)?)),
            TableFormat::Delta => {
                let decoded = target.schema.arrow_schema(target.unit);
                let shape = delta::TableShape {
                    file_schema: TableFormat::Delta
                        .data_file_schema(&target.partition.file_schema(&decoded)),
                    partition: target.partition.clone(),
                    decoded_schema: decoded,
                    dataset: target.schema.dataset().to_string(),
                };
                Ok(Box::new(DeltaTable::open(&self.root, Some(shape))?))
            }
            TableFormat::Iceberg => {
                let connection = self.catalog.take().ok_or_else(|| Error::InvalidOption {
                    option: "--table-format",
                    message: "the Iceberg table was opened once already".into(),
                })?;
                Ok(Box::new(IcebergTable::open(
                    &self.root,
                    connection,
                    Some(iceberg_shape(target)),
                )?))
            }
        }
    }
}

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

    /// The Arrow schema of the run's data files, given the columns they hold (the layout may
    /// annotate them: Iceberg's field ids).
    fn data_file_schema(&self, columns: &SchemaRef) -> Result<SchemaRef> {
        Ok(columns.clone())
    }

    /// Where a data file of the run goes, relative to the root, given its partition folder and
    /// name (Iceberg keeps data files under `data/`).
    fn data_path(&self, path: &str) -> String {
        path.to_string()
    }

    /// The key, under the output root, where the run's closed local file `file`, to be
    /// committed as `final_path`, waits for the commit: by default its final name, where the
    /// layout's readers do not see it until the commit lists it.
    fn staging_key(&self, _staging: &Staging, _file: &Path, final_path: &str) -> String {
        final_path.to_string()
    }

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
