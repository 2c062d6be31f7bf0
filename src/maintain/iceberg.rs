//! Maintenance of an Iceberg table: compaction commits a `replace` snapshot; vacuum expires the
//! snapshots older than the retention, then deletes the data files and manifests that no
//! remaining snapshot reads (the protocol is in [`crate::commit::iceberg`]).

use std::collections::HashSet;

use arrow_schema::SchemaRef;

use super::{MaintainedTable, Shape};
use crate::commit::iceberg::catalog::CatalogOptions;
use crate::commit::iceberg::{self, IcebergTable, TableShape};
use crate::commit::{ActiveFile, NewFile, Recorded, Table};
use crate::error::Result;
use crate::ledger::Ledger;
use crate::storage::{Location, StorageOptions};

/// An Iceberg table, and the snapshots an expiry (or a dry run of one) leaves out.
pub struct IcebergMaintenance {
    table: IcebergTable,
    root: Location,
    columns: Option<SchemaRef>,
    expired: HashSet<i64>,
}

impl IcebergMaintenance {
    /// The catalog's table, refused when there is none or (with a `shape`) when it holds another
    /// dataset or partitioning.
    pub fn open(catalog: &CatalogOptions, storage: &StorageOptions) -> Result<Self> {
        let (root, connection) = iceberg::connect(catalog, None, storage)?;
        let table = IcebergTable::open(&root, connection, None)?;
        Ok(IcebergMaintenance {
            table,
            root,
            columns: None,
            expired: HashSet::new(),
        })
    }
}

impl MaintainedTable for IcebergMaintenance {
    fn root(&self) -> &Location {
        &self.root
    }

    fn ledger(&self) -> &Ledger {
        self.table.ledger()
    }

    fn recorded(&self) -> Result<Recorded> {
        self.table.recorded()
    }

    fn set_shape(&mut self, shape: &Shape) -> Result<()> {
        let shape = TableShape {
            schema: shape.schema.clone(),
            partition: shape.partition.clone(),
            columns: shape
                .schema
                .arrow_schema(arrow_schema::TimeUnit::Microsecond),
        };
        self.columns = Some(shape.partition.file_schema(&shape.columns));
        self.table.set_shape(shape)
    }

    fn file_schema(&self) -> Result<SchemaRef> {
        let columns = (self.columns.clone()).ok_or_else(|| crate::error::Error::InvalidOption {
            option: "--dataset",
            message: "no field list given".into(),
        })?;
        self.table.data_file_schema(&columns)
    }

    fn active_files(&mut self) -> Result<Vec<ActiveFile>> {
        self.table.active_files()
    }

    fn data_key(&self, partition: &str, name: &str) -> String {
        self.table.data_path(&match partition {
            "" => name.to_string(),
            folder => format!("{folder}/{name}"),
        })
    }

    fn replace_files(
        &mut self,
        id: &str,
        removes: &HashSet<String>,
        adds: &[NewFile],
    ) -> Result<()> {
        self.table.replace_files(id, removes, adds)
    }

    fn expire_versions(&mut self, cutoff_ms: i64, dry_run: bool) -> Result<u64> {
        if !dry_run {
            // A run killed between its commit and its mark is known to have landed only by its
            // snapshot: marked now, before the snapshot can expire.
            self.table.publish_landed_runs()?;
        }
        let expired = self.table.expire_snapshots(cutoff_ms, dry_run)?;
        self.expired = expired.iter().copied().collect();
        Ok(expired.len() as u64)
    }

    fn needed_files(&self, _cutoff_ms: i64) -> Result<HashSet<String>> {
        self.table.referenced_files(&self.expired)
    }

    fn may_delete(&self, key: &str) -> bool {
        IcebergTable::may_delete(key)
    }
}
