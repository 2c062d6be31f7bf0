//! Table maintenance: `compact` merges a table's small files, `vacuum` expires old versions and
//! deletes the files no remaining version needs.
//!
//! Both commands work on a lake table, Delta or Iceberg, through one interface,
//! [`MaintainedTable`], with one implementation per layout ([`delta`], [`iceberg`]); they
//! dispatch on the table they are pointed at ([`TableAt`]): a root folder or URL holds a Delta
//! table, `--table` names an Iceberg table in a catalog. The plain layout has no versions to
//! replace files in, so it is not maintained.

pub mod compact;
pub mod delta;
pub mod iceberg;
pub mod vacuum;

use std::collections::HashSet;
use std::fmt;

use arrow_schema::SchemaRef;

use crate::commit::iceberg::catalog::CatalogOptions;
use crate::commit::{ActiveFile, NewFile};
use crate::error::Result;
use crate::ledger::Ledger;
use crate::partition::PartitionSpec;
use crate::schema::EventSchema;
use crate::storage::{Location, StorageOptions};

/// Where a maintenance command finds its table.
#[derive(Debug, Clone)]
pub enum TableAt {
    /// A Delta table's root: a folder or an object store URL.
    Root(String),
    /// An Iceberg table in a REST catalog.
    Catalog(CatalogOptions),
}

impl fmt::Display for TableAt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TableAt::Root(root) => f.write_str(root),
            TableAt::Catalog(catalog) => write!(f, "{}", catalog.table_name()),
        }
    }
}

/// The field list and partitioning a compaction rewrites files with (as given to `convert`).
#[derive(Debug, Clone)]
pub struct Shape {
    /// The dataset's field list.
    pub schema: std::sync::Arc<EventSchema>,
    /// The table's partition columns.
    pub partition: PartitionSpec,
}

/// What `compact` and `vacuum` need of a table: one implementation per layout.
pub trait MaintainedTable {
    /// Where the table's files are.
    fn root(&self) -> &Location;

    /// The ledger of the runs that wrote the table.
    fn ledger(&self) -> &Ledger;

    /// The Arrow schema of rewritten data files.
    fn file_schema(&self) -> Result<SchemaRef>;

    /// The data files of the table's current version.
    fn active_files(&mut self) -> Result<Vec<ActiveFile>>;

    /// The key of a new data file named `name` in partition folder `partition`.
    fn data_key(&self, partition: &str, name: &str) -> String;

    /// Replaces the files `removes` (keys, from [`MaintainedTable::active_files`]) by `adds` in
    /// one commit that changes no data, validated against what other writers committed since;
    /// `id` names the compaction (the same files merged give the same id). Fails, committing
    /// nothing, when one of `removes` left the table meanwhile.
    fn replace_files(
        &mut self,
        id: &str,
        removes: &HashSet<String>,
        adds: &[NewFile],
    ) -> Result<()>;

    /// Expires the versions committed before `cutoff_ms` that no reference needs (Iceberg
    /// snapshots; a Delta table keeps its log); returns how many. `dry_run` only counts them.
    fn expire_versions(&mut self, cutoff_ms: i64, dry_run: bool) -> Result<u64>;

    /// The keys of the files that the versions kept by the last
    /// [`MaintainedTable::expire_versions`] read (with `cutoff_ms` the same retention).
    fn needed_files(&self, cutoff_ms: i64) -> Result<HashSet<String>>;

    /// Whether vacuum may delete `key` when no version needs it (data files, and the layout's
    /// own metadata files that versions name; never the ledger, rejects or the log).
    fn may_delete(&self, key: &str) -> bool;
}

/// Opens the table at `at` for maintenance; a compaction gives the `shape` its files are
/// rewritten with. `command` names the command in errors.
pub fn open(
    at: &TableAt,
    shape: Option<&Shape>,
    storage: &StorageOptions,
    command: &str,
) -> Result<Box<dyn MaintainedTable>> {
    match at {
        TableAt::Root(root) => Ok(Box::new(delta::DeltaMaintenance::open(
            root, shape, storage, command,
        )?)),
        TableAt::Catalog(catalog) => Ok(Box::new(iceberg::IcebergMaintenance::open(
            catalog, shape, storage,
        )?)),
    }
}
