//! Maintenance of a Delta table: compaction commits an `OPTIMIZE` with `dataChange=false`;
//! vacuum keeps what the latest version lists and every file a commit of the retention period
//! names (the log itself is Delta's to clean).

use std::collections::HashSet;

use arrow_schema::SchemaRef;
use delta_kernel::SnapshotRef;

use super::{MaintainedTable, Shape};
use crate::commit::delta::{DeltaTable, LOG_DIR, TableShape};
use crate::commit::{ActiveFile, NewFile, Recorded, Table, TableFormat};
use crate::error::{Error, Result};
use crate::ledger::Ledger;
use crate::partition::percent_decode;
use crate::storage::{Location, Storage, StorageOptions};

/// A Delta table and the version its files were listed from.
pub struct DeltaMaintenance {
    table: DeltaTable,
    root: Location,
    file_schema: Option<SchemaRef>,
    snapshot: Option<SnapshotRef>,
}

impl DeltaMaintenance {
    /// The Delta table at `root`, refused when there is none.
    pub fn open(root: &str, storage: &StorageOptions, command: &str) -> Result<Self> {
        let root = Storage::new(storage.clone())?.open(root)?;
        let table = DeltaTable::open(&root, None)?;
        let maintenance = DeltaMaintenance {
            table,
            root,
            file_schema: None,
            snapshot: None,
        };
        if maintenance.table.recorded()?.is_none() {
            return Err(Error::InvalidOption {
                option: "OUTPUT",
                message: format!(
                    "{} is not a Delta table: {command} works on tables written with \
                     --table-format delta, or on an Iceberg table named by --table (see \
                     docs/delta.md, docs/iceberg.md)",
                    maintenance.root.display_key("")
                ),
            });
        }
        Ok(maintenance)
    }
}

impl MaintainedTable for DeltaMaintenance {
    fn root(&self) -> &Location {
        &self.root
    }

    fn ledger(&self) -> &Ledger {
        self.table.ledger()
    }

    fn recorded(&self) -> Result<Recorded> {
        (self.table.recorded()?).ok_or_else(|| Error::Delta {
            location: self.root.display_key(""),
            message: "the table is gone".into(),
        })
    }

    fn set_shape(&mut self, shape: &Shape) -> Result<()> {
        let decoded = shape
            .schema
            .arrow_schema(arrow_schema::TimeUnit::Microsecond);
        let shape = TableShape {
            file_schema: TableFormat::Delta
                .data_file_schema(&shape.partition.file_schema(&decoded)),
            partition: shape.partition.clone(),
            decoded_schema: decoded,
            dataset: shape.schema.dataset().to_string(),
        };
        self.file_schema = Some(shape.file_schema.clone());
        self.table.set_shape(shape);
        // Checks the table against the shape (columns and their types).
        self.table.active_files().map(|_| ())
    }

    fn file_schema(&self) -> Result<SchemaRef> {
        (self.file_schema.clone()).ok_or_else(|| Error::InvalidOption {
            option: "--dataset",
            message: "no field list given".into(),
        })
    }

    fn active_files(&mut self) -> Result<Vec<ActiveFile>> {
        let (snapshot, files) = (self.table.active_files()?).ok_or_else(|| Error::Delta {
            location: self.root.display_key(""),
            message: "the table is gone".into(),
        })?;
        self.snapshot = Some(snapshot);
        Ok(files)
    }

    fn data_key(&self, partition: &str, name: &str) -> String {
        match partition {
            "" => name.to_string(),
            folder => format!("{folder}/{name}"),
        }
    }

    fn replace_files(
        &mut self,
        _id: &str,
        removes: &HashSet<String>,
        adds: &[NewFile],
    ) -> Result<()> {
        let snapshot = match self.snapshot.take() {
            Some(snapshot) => snapshot,
            None => {
                self.active_files()?;
                self.snapshot.take().expect("listed just now")
            }
        };
        self.table.replace_files(snapshot, removes, adds)
    }

    fn expire_versions(&mut self, _cutoff_ms: i64, _dry_run: bool) -> Result<u64> {
        Ok(0)
    }

    fn needed_files(&self, cutoff_ms: i64) -> Result<HashSet<String>> {
        let (_, active) = (self.table.active_files()?).ok_or_else(|| Error::Delta {
            location: self.root.display_key(""),
            message: "the table is gone".into(),
        })?;
        let mut keep: HashSet<String> = active.into_iter().map(|f| f.key).collect();
        keep.extend(named_since(&self.root, cutoff_ms)?);
        Ok(keep)
    }

    fn may_delete(&self, key: &str) -> bool {
        key.ends_with(".parquet")
            && !key
                .split('/')
                .any(|part| part.starts_with('_') || part.starts_with('.'))
    }
}

/// Every file named (added or removed) by a commit written since `cutoff_ms`: versions of the
/// retention period may list them.
fn named_since(root: &Location, cutoff_ms: i64) -> Result<HashSet<String>> {
    let commits: Vec<String> = root
        .list(LOG_DIR)?
        .into_iter()
        .filter(|l| l.key.ends_with(".json") && l.modified_ms >= cutoff_ms)
        .map(|l| l.key)
        .collect();
    let mut named = HashSet::new();
    for (key, bytes) in commits.iter().zip(root.get_many(&commits)?) {
        let Some(bytes) = bytes else { continue };
        for line in bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let action: serde_json::Value =
                serde_json::from_slice(line).map_err(|e| Error::Delta {
                    location: root.display_key(key),
                    message: format!("a commit line does not parse: {e}"),
                })?;
            for kind in ["add", "remove"] {
                if let Some(path) = action[kind]["path"].as_str() {
                    named.insert(percent_decode(path));
                }
            }
        }
    }
    Ok(named)
}
