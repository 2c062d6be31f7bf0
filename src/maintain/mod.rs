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
use std::sync::Arc;

use arrow_schema::SchemaRef;

use crate::commit::iceberg::catalog::CatalogOptions;
use crate::commit::{ActiveFile, NewFile, Recorded};
use crate::error::{Error, Result};
use crate::ledger::Ledger;
use crate::partition::PartitionSpec;
use crate::schema::{EventSchema, UnknownFields};
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

/// The field list and partitioning a compaction rewrites files with.
#[derive(Debug, Clone)]
pub struct Shape {
    /// The dataset's field list (with the catch-all column when the table has it).
    pub schema: Arc<EventSchema>,
    /// The table's partition columns.
    pub partition: PartitionSpec,
}

/// What the flags of a maintenance command say of the table's field list and partitioning; what
/// they leave out is read from the table.
#[derive(Debug, Clone, Default)]
pub struct ShapeFlags {
    /// The field list of `--dataset` or `--schema`, and which flag gave it.
    pub schema: Option<(Arc<EventSchema>, &'static str)>,
    /// `--partition-by`.
    pub partition_by: Option<String>,
}

impl ShapeFlags {
    /// The shape of the table that recorded `recorded` (described as `table` in errors): the
    /// flags where given, the table's record elsewhere. A flag that contradicts the table is
    /// refused in one sentence naming both values.
    pub fn resolve(&self, recorded: &Recorded, table: &str) -> Result<Shape> {
        let refuse = |message: String| Error::TableMismatch {
            location: table.to_string(),
            message,
        };
        let schema = match (&self.schema, &recorded.dataset) {
            (Some((schema, flag)), Some(dataset)) if schema.dataset() != dataset => {
                return Err(refuse(format!(
                    "{flag} says {}, and the table holds the dataset {dataset}: leave {flag} out \
                     to use the table's",
                    schema.dataset()
                )));
            }
            (Some((schema, _)), _) => (**schema).clone(),
            (None, Some(dataset)) => EventSchema::bundled(dataset)?,
            (None, None) => EventSchema::bundled(crate::schema::DEFAULT_DATASET)?,
        };
        // The catch-all column is rewritten where the table has it, and not added where not.
        let unknown = match recorded.catch_all {
            true => UnknownFields::Keep,
            false => UnknownFields::Drop,
        };
        let schema = Arc::new(schema.with_unknown_fields(unknown)?);
        let partition = match &self.partition_by {
            Some(text) => {
                let flag = PartitionSpec::parse(text, &schema)?;
                if flag.to_option_text() != recorded.partition_by {
                    return Err(refuse(format!(
                        "--partition-by {}, and the table is partitioned by {}: leave \
                         --partition-by out to use the table's",
                        flag.to_option_text(),
                        recorded.partition_by
                    )));
                }
                flag
            }
            None => PartitionSpec::parse(&recorded.partition_by, &schema)?,
        };
        Ok(Shape { schema, partition })
    }
}

/// What `compact` and `vacuum` need of a table: one implementation per layout.
pub trait MaintainedTable {
    /// Where the table's files are.
    fn root(&self) -> &Location;

    /// The ledger of the runs that wrote the table.
    fn ledger(&self) -> &Ledger;

    /// What the table records of the runs that write it.
    fn recorded(&self) -> Result<Recorded>;

    /// Sets the shape files are rewritten with (checked against the table).
    fn set_shape(&mut self, shape: &Shape) -> Result<()>;

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

/// Opens the table at `at` for maintenance (`command` names the command in errors).
pub fn open(
    at: &TableAt,
    storage: &StorageOptions,
    command: &str,
) -> Result<Box<dyn MaintainedTable>> {
    match at {
        TableAt::Root(root) => Ok(Box::new(delta::DeltaMaintenance::open(
            root, storage, command,
        )?)),
        TableAt::Catalog(catalog) => Ok(Box::new(iceberg::IcebergMaintenance::open(
            catalog, storage,
        )?)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded(dataset: &str, partition_by: &str, catch_all: bool) -> Recorded {
        Recorded {
            dataset: Some(dataset.into()),
            partition_by: partition_by.into(),
            catch_all,
        }
    }

    fn bundled(name: &str, flag: &'static str) -> Option<(Arc<EventSchema>, &'static str)> {
        Some((Arc::new(EventSchema::bundled(name).unwrap()), flag))
    }

    #[test]
    fn without_flags_the_table_says_what_it_holds() {
        let table = recorded("http_requests", "date,ZoneName", false);
        let shape = ShapeFlags::default().resolve(&table, "t").unwrap();
        assert_eq!(shape.schema.dataset(), "http_requests");
        assert_eq!(shape.partition.to_option_text(), "date,ZoneName");
        // A table written before the catch-all column: none is added.
        assert!(shape.schema.catch_all().is_none());
        let shape = (ShapeFlags::default())
            .resolve(&recorded("spectrum_events", "none", true), "t")
            .unwrap();
        assert!(shape.schema.catch_all().is_some());
        assert_eq!(shape.partition.to_option_text(), "none");
    }

    #[test]
    fn flags_that_agree_are_taken_and_flags_that_contradict_are_refused_in_one_sentence() {
        let table = recorded("http_requests", "date,hour", true);
        let agree = ShapeFlags {
            schema: bundled("http_requests", "--dataset"),
            partition_by: Some("date,hour".into()),
        };
        assert!(agree.resolve(&table, "t").is_ok());
        let dataset = ShapeFlags {
            schema: bundled("dns_logs", "--dataset"),
            partition_by: None,
        };
        let message = dataset
            .resolve(&table, "s3://lake/t")
            .unwrap_err()
            .to_string();
        assert_eq!(
            message,
            "write into the table at s3://lake/t: --dataset says dns_logs, and the table holds \
             the dataset http_requests: leave --dataset out to use the table's"
        );
        let partition = ShapeFlags {
            schema: None,
            partition_by: Some("date".into()),
        };
        let message = partition.resolve(&table, "t").unwrap_err().to_string();
        assert!(
            message.ends_with(
                "--partition-by date, and the table is partitioned by date,hour: leave \
                 --partition-by out to use the table's"
            ),
            "{message}"
        );
    }
}
