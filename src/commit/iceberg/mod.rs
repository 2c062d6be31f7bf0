//! The Iceberg layout (`--table-format iceberg`): a table in an Iceberg REST catalog (R2 Data
//! Catalog first), its Parquet files written by our own writer, made visible by one snapshot per
//! run.
//!
//! # Commit protocol
//!
//! The table's location (from the catalog) is the output root: the lease, the ledger and the
//! data files (`data/<partition folders>/part-<run id>-<n>.parquet`) live under it; readers see
//! only what the table's snapshots list. A run:
//!
//! 1. takes its shard's lease, settles what crashed runs of free shards left (below), and checks
//!    the table (dataset, partition spec, column types), adding the columns it lacks by a schema
//!    change before any file is written;
//! 2. writes its data files straight to their final names, invisible until committed;
//! 3. records its manifest in the ledger with the snapshot id it will commit (a hash of its run
//!    id), before committing;
//! 4. **commit point:** writes an Avro manifest of its files and a manifest list (the parent
//!    snapshot's manifests and the new one), then asks the catalog to add the snapshot (a fast
//!    append, the run id in its summary) and move `main` to it, provided `main` is still the
//!    parent. Another writer committed first (409): the table is loaded again and the manifest
//!    list rewritten on the new parent. Before every attempt, and after a reply that was lost or
//!    a 5xx, the table's snapshots are searched for the run id: a commit that landed is never
//!    made twice;
//! 5. writes the manifest's `.published` marker.
//!
//! Settling a crashed run: a manifest with a snapshot id and no marker is published when the
//! table has a snapshot of its run id, and otherwise forgotten (its files deleted, then the
//! manifest), so its inputs are converted again. Readers see all of a run or none of it.

pub mod catalog;
mod maintenance;
pub mod manifest;
pub mod spec;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use arrow_schema::SchemaRef;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::{Recorded, Table};
use crate::error::{Error, Result};
use crate::ledger::{ICEBERG_MANIFEST_FORMAT, Ledger, Manifest};
use crate::lock::Lease;
use crate::partition::{PartitionColumn, PartitionSpec, folder_values};
use crate::schema::{EventSchema, FieldType};
use crate::storage::{Location, Storage, StorageOptions};
use crate::write::StagedFile;
use catalog::{Catalog, CatalogOptions, CommitOutcome};
use manifest::{
    DataFile, Entry, ManifestContext, ManifestFile, PartitionField, PartitionType, PartitionValue,
    Status,
};

/// Attempts of one commit against conflicting commits and unknown outcomes.
const COMMIT_ATTEMPTS: u32 = 30;
/// The snapshot summary key holding the run id (and the compaction id).
pub const RUN_ID_KEY: &str = "logpush-parquet.run-id";
/// The table property naming the dataset the table holds.
pub const DATASET_PROPERTY: &str = "logpush-parquet.dataset";
/// The folder of data files under the table's location.
pub const DATA_DIR: &str = "data";
/// The folder of metadata files (manifests and manifest lists) under the table's location.
pub const METADATA_DIR: &str = "metadata";

/// What the table of a run holds: its field list and partitioning.
#[derive(Debug, Clone)]
pub struct TableShape {
    /// The dataset's field list (the catch-all column included when kept).
    pub schema: Arc<EventSchema>,
    /// `--partition-by`.
    pub partition: PartitionSpec,
    /// The decoded columns (microsecond timestamps), which the data files hold.
    pub columns: SchemaRef,
}

/// A catalog connection and the table's location: found before the lease is taken (the lease
/// lives under the location).
pub struct Connection {
    catalog: Catalog,
    loaded: Value,
}

/// Connects to the catalog and opens the table's location with `storage`, or with the S3
/// endpoint and region the catalog names when none was given. With a `shape` (a run), the
/// namespace and the table (with `shape`'s schema and partition spec) are created unless they
/// exist; without one (maintenance), a missing table is an error.
pub fn connect(
    options: &CatalogOptions,
    shape: Option<&TableShape>,
    storage_options: &StorageOptions,
) -> Result<(Location, Connection)> {
    let storage = Storage::new(storage_options.clone())?;
    let catalog = Catalog::connect(options, storage.clone())?;
    if shape.is_some() {
        catalog.ensure_namespace()?;
    }
    let loaded = match (catalog.load_table()?, shape) {
        (Some(loaded), _) => loaded,
        (None, None) => {
            return Err(Error::Iceberg {
                table: catalog.table_name(),
                message: "the catalog has no such table".into(),
            });
        }
        (None, Some(shape)) => {
            let (schema, _) = spec::new_table_schema(&shape.schema);
            let partition = spec::partition_spec(&shape.partition, &shape.schema, &schema)?;
            let properties = json!({
                "format-version": "2",
                DATASET_PROPERTY: shape.schema.dataset(),
                "write.parquet.compression-codec": "zstd",
            });
            tracing::info!(table = %catalog.table_name(), "creating the Iceberg table");
            catalog.create_table(&schema, &partition, &properties)?
        }
    };
    let location = loaded["metadata"]["location"]
        .as_str()
        .ok_or_else(|| Error::Iceberg {
            table: catalog.table_name(),
            message: "the catalog's table has no location".into(),
        })?
        .to_string();
    let storage = match (
        &storage_options.s3_endpoint,
        std::env::var("AWS_ENDPOINT_URL"),
    ) {
        (None, Err(_)) if loaded["config"]["s3.endpoint"].is_string() => {
            // The catalog names the S3 endpoint of its warehouse (SeaweedFS, MinIO).
            let endpoint = loaded["config"]["s3.endpoint"].as_str().unwrap_or_default();
            Storage::new(StorageOptions {
                s3_endpoint: Some(endpoint.to_string()),
                s3_region: (storage_options.s3_region.clone())
                    .or_else(|| loaded["config"]["s3.region"].as_str().map(str::to_string)),
                s3_allow_http: storage_options.s3_allow_http || endpoint.starts_with("http://"),
                ..storage_options.clone()
            })?
        }
        _ => storage,
    };
    let root = storage.open(&location)?;
    Ok((root, Connection { catalog, loaded }))
}

/// An Iceberg table, the ledger under its location, and what this run writes into it.
pub struct IcebergTable {
    root: Location,
    ledger: Ledger,
    catalog: Catalog,
    /// What the run writes (`None` for maintenance that rewrites nothing).
    shape: Option<TableShape>,
    /// The table metadata as last loaded.
    metadata: Value,
}

impl IcebergTable {
    /// The table of `connection` at `root`, for runs of `shape` (checked against the table).
    pub fn open(
        root: &Location,
        connection: Connection,
        shape: Option<TableShape>,
    ) -> Result<Self> {
        let table = IcebergTable {
            root: root.clone(),
            ledger: Ledger::load(root)?,
            metadata: connection.loaded["metadata"].clone(),
            catalog: connection.catalog,
            shape,
        };
        table.check()?;
        Ok(table)
    }

    /// Sets what the runs write (for maintenance, once the table said what it holds), and
    /// checks it against the table.
    pub fn set_shape(&mut self, shape: TableShape) -> Result<()> {
        self.shape = Some(shape);
        self.check()
    }

    /// What the table records of its runs: the dataset property, the partitioning its spec
    /// means (`hour(t)` is `date,hour`, `day(t)` is `date`, `identity(f)` is `f`), and whether
    /// it has the catch-all column.
    pub fn recorded(&self) -> Result<Recorded> {
        let columns = spec::columns_by_name(self.current_schema()?);
        let name_of = |id: Option<i64>| {
            (columns.iter())
                .find(|(_, c)| c["id"].as_i64() == id)
                .map(|(name, _)| name.to_string())
        };
        let mut partition = Vec::new();
        for field in (self.default_spec()?["fields"].as_array().into_iter()).flatten() {
            let source = name_of(field["source-id"].as_i64());
            match (field["transform"].as_str(), source) {
                (Some("hour"), Some(_)) => partition.extend(["date".to_string(), "hour".into()]),
                (Some("day"), Some(_)) => partition.push("date".into()),
                (Some("identity"), Some(name)) => partition.push(name),
                (transform, source) => {
                    return Err(self.error(format!(
                        "the table's partition field {}({}) is not one this tool writes",
                        transform.unwrap_or("?"),
                        source.unwrap_or_default()
                    )));
                }
            }
        }
        Ok(Recorded {
            dataset: self.metadata["properties"][DATASET_PROPERTY]
                .as_str()
                .map(str::to_string),
            partition_by: match partition.as_slice() {
                [] => "none".to_string(),
                columns => columns.join(","),
            },
            catch_all: columns.contains_key(crate::schema::CATCH_ALL),
        })
    }

    /// What this run writes.
    fn shape(&self) -> Result<&TableShape> {
        (self.shape.as_ref()).ok_or_else(|| self.error("no field list given for this table"))
    }

    fn error(&self, message: impl Into<String>) -> Error {
        Error::Iceberg {
            table: self.catalog.table_name(),
            message: message.into(),
        }
    }

    fn mismatch(&self, message: String) -> Error {
        Error::TableMismatch {
            location: format!(
                "{} ({})",
                self.catalog.table_name(),
                self.root.display_key("")
            ),
            message,
        }
    }

    /// Loads the table's metadata again.
    fn reload(&mut self) -> Result<()> {
        let loaded = (self.catalog.load_table()?)
            .ok_or_else(|| self.error("the table is gone from the catalog"))?;
        let location =
            |metadata: &Value| metadata["location"].as_str().unwrap_or("none").to_string();
        let (was, is) = (location(&self.metadata), location(&loaded["metadata"]));
        if was != is {
            // Another table of the same name: this run's files are under the old location.
            return Err(self.error(format!(
                "the table was replaced in the catalog since this run opened it: its location is \
                 now {is}, not {was}; nothing was committed, run again"
            )));
        }
        self.metadata = loaded["metadata"].clone();
        Ok(())
    }

    /// The current schema's JSON.
    fn current_schema(&self) -> Result<&Value> {
        let id = self.metadata["current-schema-id"].as_i64().unwrap_or(0);
        (self.metadata["schemas"].as_array().into_iter().flatten())
            .find(|s| s["schema-id"].as_i64() == Some(id))
            .ok_or_else(|| self.error("the table's current schema is missing from its metadata"))
    }

    /// The default partition spec's JSON.
    fn default_spec(&self) -> Result<&Value> {
        let id = self.metadata["default-spec-id"].as_i64().unwrap_or(0);
        (self.metadata["partition-specs"]
            .as_array()
            .into_iter()
            .flatten())
        .find(|s| s["spec-id"].as_i64() == Some(id))
        .ok_or_else(|| self.error("the table's default partition spec is missing"))
    }

    /// Refuses a table of another dataset or partitioning (column types are checked when the
    /// missing columns are added, in [`Table::prepare`]).
    fn check(&self) -> Result<()> {
        let Some(shape) = &self.shape else {
            return Ok(());
        };
        let dataset = shape.schema.dataset();
        if let Some(have) = self.metadata["properties"][DATASET_PROPERTY].as_str()
            && have != dataset
        {
            return Err(self.mismatch(format!(
                "the table holds the dataset {have}, and this run converts {dataset} (--dataset \
                 or --schema)"
            )));
        }
        let wanted = spec::partition_spec(&shape.partition, &shape.schema, self.current_schema()?)?;
        let have = self.default_spec()?;
        let describe = |spec: &Value| -> Vec<String> {
            let names = spec::columns_by_name(self.current_schema().unwrap_or(&Value::Null));
            let by_id: std::collections::HashMap<i64, &str> = names
                .iter()
                .filter_map(|(name, c)| Some((c["id"].as_i64()?, *name)))
                .collect();
            (spec["fields"].as_array().into_iter().flatten())
                .map(|f| {
                    let source = f["source-id"]
                        .as_i64()
                        .and_then(|id| by_id.get(&id).copied());
                    format!(
                        "{}({})",
                        f["transform"].as_str().unwrap_or("?"),
                        source.unwrap_or("?")
                    )
                })
                .collect()
        };
        let (have, wanted) = (describe(have), describe(&wanted));
        if have != wanted {
            let list = |l: &[String]| match l {
                [] => "nothing".to_string(),
                l => l.join(", "),
            };
            return Err(self.mismatch(format!(
                "the table is partitioned by {}, and this run's --partition-by {} means {}",
                list(&have),
                shape.partition.to_option_text(),
                list(&wanted)
            )));
        }
        Ok(())
    }

    /// The partition spec's fields as manifests need them, and its id and fields' JSON.
    fn partition_fields(&self) -> Result<(Vec<PartitionField>, i64, String)> {
        let spec = self.default_spec()?;
        let columns = spec::columns_by_name(self.current_schema()?);
        let fields = (spec["fields"].as_array().into_iter().flatten())
            .map(|f| {
                let kind = match f["transform"].as_str() {
                    Some("identity") => {
                        let source = f["source-id"].as_i64();
                        let column = columns.values().find(|c| c["id"].as_i64() == source);
                        match column.and_then(|c| c["type"].as_str()) {
                            Some("long") => PartitionType::Long,
                            Some("boolean") => PartitionType::Boolean,
                            _ => PartitionType::String,
                        }
                    }
                    _ => PartitionType::Int,
                };
                PartitionField {
                    name: f["name"].as_str().unwrap_or_default().to_string(),
                    field_id: f["field-id"].as_i64().unwrap_or_default(),
                    kind,
                }
            })
            .collect();
        Ok((
            fields,
            spec["spec-id"].as_i64().unwrap_or(0),
            spec["fields"].to_string(),
        ))
    }

    /// The partition tuple of a file in partition folder `folder` (`date=.../hour=...`).
    fn partition_tuple(
        &self,
        folder: &str,
        fields: &[PartitionField],
    ) -> Result<Vec<PartitionValue>> {
        let values = folder_values(folder);
        let value_of = |name: &str| -> Option<String> {
            values
                .iter()
                .find(|(n, _)| *n == name)
                .and_then(|(_, v)| v.clone())
        };
        let bad = |what: &str| self.error(format!("partition folder {folder:?}: {what}"));
        let mut tuple = Vec::new();
        let mut time_done = false;
        let shape = self.shape()?;
        for (name, column) in shape.partition.columns() {
            let value = match column {
                PartitionColumn::Date | PartitionColumn::Hour => {
                    if time_done {
                        continue;
                    }
                    time_done = true;
                    match value_of("date") {
                        None => PartitionValue::Null,
                        Some(date) => {
                            let mut parts = date.splitn(3, '-').map(str::parse::<i64>);
                            let (Some(Ok(y)), Some(Ok(m)), Some(Ok(d))) =
                                (parts.next(), parts.next(), parts.next())
                            else {
                                return Err(bad("the date does not parse"));
                            };
                            let days = crate::time::days_from_civil(y, m as u32, d as u32);
                            let value = match value_of("hour") {
                                Some(hour) => {
                                    let hour: i64 = hour.parse().map_err(|_| bad("the hour"))?;
                                    days * 24 + hour
                                }
                                None => days,
                            };
                            PartitionValue::Int(
                                i32::try_from(value).map_err(|_| bad("out of range"))?,
                            )
                        }
                    }
                }
                PartitionColumn::Field(i) => match value_of(name) {
                    None => PartitionValue::Null,
                    Some(text) => match shape.schema.fields()[*i].field_type {
                        FieldType::Int => {
                            PartitionValue::Long(text.parse().map_err(|_| bad(name))?)
                        }
                        FieldType::Bool => {
                            PartitionValue::Boolean(text.parse().map_err(|_| bad(name))?)
                        }
                        _ => PartitionValue::String(text),
                    },
                },
            };
            tuple.push(value);
        }
        if tuple.len() != fields.len() {
            return Err(bad("its values do not match the table's partition spec"));
        }
        Ok(tuple)
    }

    /// The full URI of a file under the table's location.
    fn uri(&self, relative: &str) -> String {
        match self.root.local_root() {
            Some(dir) => format!("file://{}", dir.join(relative).display()),
            None => self.root.display_key(relative),
        }
    }

    /// The key under the location of a URI the table lists (`None`: not under it).
    fn key_of(&self, uri: &str) -> Option<String> {
        let base = self.uri("");
        uri.strip_prefix(base.trim_end_matches('/'))
            .map(|rest| rest.trim_start_matches('/').to_string())
    }

    /// The snapshot of run `run_id`, if the table has one.
    fn snapshot_of_run(&self, run_id: &str) -> Option<i64> {
        (self.metadata["snapshots"].as_array().into_iter().flatten())
            .find(|s| s["summary"][RUN_ID_KEY].as_str() == Some(run_id))
            .and_then(|s| s["snapshot-id"].as_i64())
    }

    /// The current snapshot of `main` (`None` for an empty table).
    fn current_snapshot(&self) -> Option<&Value> {
        let id = self.metadata["refs"]["main"]["snapshot-id"]
            .as_i64()
            .or_else(|| self.metadata["current-snapshot-id"].as_i64())
            .filter(|id| *id >= 0)?;
        (self.metadata["snapshots"].as_array().into_iter().flatten())
            .find(|s| s["snapshot-id"].as_i64() == Some(id))
    }

    /// The manifests of the current snapshot.
    fn current_manifests(&self) -> Result<Vec<ManifestFile>> {
        let Some(snapshot) = self.current_snapshot() else {
            return Ok(Vec::new());
        };
        let list = snapshot["manifest-list"]
            .as_str()
            .ok_or_else(|| self.error("a snapshot without a manifest list"))?;
        let key = self.key_of(list).ok_or_else(|| {
            self.error(format!(
                "manifest list {list} is not under the table's location"
            ))
        })?;
        let bytes = (self.root.get_bytes(&key)?)
            .ok_or_else(|| self.error(format!("manifest list {list} is missing")))?;
        manifest::read_manifest_list(&bytes)
    }

    /// Commits a snapshot of `operation` adding `manifest` (already written) to the current
    /// manifests less those `replace` drops, under `requirements` on `main`, with `summary`.
    /// Retried on a new parent after a conflict; recognised by `run_id` after a lost reply.
    #[allow(clippy::too_many_arguments, reason = "the parts of one snapshot")]
    fn commit_snapshot(
        &mut self,
        snapshot_id: i64,
        run_id: &str,
        operation: &str,
        new_manifests: &[(String, i64, i32, Vec<Entry>)],
        replace: &Replace<'_>,
        mut summary: serde_json::Map<String, Value>,
    ) -> Result<()> {
        summary.insert("operation".into(), json!(operation));
        summary.insert(RUN_ID_KEY.into(), json!(run_id));
        let mut last_error = String::new();
        for attempt in 0..COMMIT_ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(backoff(attempt));
                self.reload()?;
            }
            if self.snapshot_of_run(run_id).is_some() {
                return Ok(()); // committed, its reply lost
            }
            let parent = self
                .current_snapshot()
                .and_then(|s| s["snapshot-id"].as_i64());
            let sequence = self.metadata["last-sequence-number"].as_i64().unwrap_or(0) + 1;
            let mut current = self.current_manifests()?;
            // A manifest left with deleted entries only (by a compaction) is not carried on.
            current.retain(|m| m.added_files + m.existing_files > 0 || m.deleted_files == 0);
            let this = Attempt {
                snapshot_id,
                sequence,
                number: attempt,
            };
            let mut manifests = replace(self, &current, &this)?;
            for (path, length, spec_id, entries) in new_manifests {
                manifests.push(ManifestFile::describe(
                    self.uri(path),
                    *length,
                    *spec_id,
                    snapshot_id,
                    sequence,
                    entries,
                ));
            }
            let list = manifest::write_manifest_list(&manifests, snapshot_id, parent, sequence)?;
            let list_key = format!("{METADATA_DIR}/snap-{snapshot_id}-{attempt}-{run_id}.avro");
            self.root.put_bytes(&list_key, list, false)?;
            let totals = |key: &str, added: i64| {
                let before = (self.current_snapshot())
                    .and_then(|s| s["summary"][key].as_str()?.parse::<i64>().ok())
                    .unwrap_or(0);
                json!((before + added).to_string())
            };
            let mut snapshot_summary = summary.clone();
            let added = |key: &str| {
                summary
                    .get(key)
                    .and_then(|v| v.as_str()?.parse::<i64>().ok())
                    .unwrap_or(0)
            };
            let deleted = |key: &str| added(key);
            snapshot_summary.insert(
                "total-data-files".into(),
                totals(
                    "total-data-files",
                    added("added-data-files") - deleted("deleted-data-files"),
                ),
            );
            snapshot_summary.insert(
                "total-records".into(),
                totals(
                    "total-records",
                    added("added-records") - deleted("deleted-records"),
                ),
            );
            let mut snapshot = json!({
                "snapshot-id": snapshot_id,
                "sequence-number": sequence,
                "timestamp-ms": unix_millis(),
                "manifest-list": self.uri(&list_key),
                "summary": snapshot_summary,
                "schema-id": self.metadata["current-schema-id"],
            });
            if let Some(parent) = parent {
                snapshot["parent-snapshot-id"] = json!(parent);
            }
            let requirements = json!([
                {"type": "assert-table-uuid", "uuid": self.metadata["table-uuid"]},
                {"type": "assert-ref-snapshot-id", "ref": "main", "snapshot-id": parent},
            ]);
            let updates = json!([
                {"action": "add-snapshot", "snapshot": snapshot},
                {"action": "set-snapshot-ref", "ref-name": "main", "type": "branch",
                 "snapshot-id": snapshot_id},
            ]);
            match self.catalog.commit(requirements, updates)? {
                CommitOutcome::Committed(loaded) => {
                    if let Some(metadata) = loaded.get("metadata") {
                        self.metadata = metadata.clone();
                    }
                    return Ok(());
                }
                CommitOutcome::Conflict(why) => {
                    tracing::info!(attempt, "commit conflict, trying again: {why}");
                    let _ = self.root.delete(&list_key);
                    last_error = why;
                }
                CommitOutcome::Unknown(why) => {
                    tracing::warn!(attempt, "commit outcome unknown, checking: {why}");
                    last_error = why;
                }
            }
        }
        Err(self.error(format!(
            "the commit did not succeed in {COMMIT_ATTEMPTS} attempts: {last_error}"
        )))
    }

    /// Settles a crashed run's manifest: published when its snapshot landed (found by its run
    /// id, or, should the snapshot have expired since, by its files being in the table), else
    /// forgotten.
    fn settle(&mut self, root: &Location, manifest: &Manifest) -> Result<bool> {
        let committed = self.snapshot_of_run(&manifest.run_id).is_some() || {
            let live: HashSet<String> = self.active_files()?.into_iter().map(|f| f.key).collect();
            manifest.files.iter().any(|f| live.contains(&f.path))
        };
        if committed {
            self.ledger.mark_published(root, &manifest.run_id)?;
        } else {
            tracing::warn!(run = %manifest.run_id, "dropping a run that never committed");
            self.ledger.forget(root, manifest)?;
        }
        Ok(committed)
    }
}

/// One attempt at committing a snapshot.
struct Attempt {
    /// The snapshot's id.
    snapshot_id: i64,
    /// Its sequence number on the parent of this attempt.
    sequence: i64,
    /// Which attempt (names its files apart from those of earlier attempts).
    number: u32,
}

/// The manifests a snapshot keeps of its parent's: the table, the parent's manifests, and the
/// attempt.
type Replace<'a> =
    dyn Fn(&IcebergTable, &[ManifestFile], &Attempt) -> Result<Vec<ManifestFile>> + 'a;

/// The snapshot id of a run (or a compaction): a positive hash of its id, so that the same run
/// started again after a crash commits the same snapshot.
pub fn snapshot_id_of(run_id: &str) -> i64 {
    let digest = Sha256::digest(format!("logpush-parquet snapshot {run_id}").as_bytes());
    let bytes: [u8; 8] = digest[..8].try_into().expect("eight bytes");
    (u64::from_be_bytes(bytes) >> 1) as i64
}

fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Exponential backoff with jitter, as for Delta commits.
fn backoff(attempt: u32) -> Duration {
    let base = 50u64 << attempt.min(6);
    let jitter = (crate::stage::unix_nanos() % 50) as u64;
    Duration::from_millis(base + jitter)
}

impl Table for IcebergTable {
    fn prepare(&mut self) -> Result<()> {
        self.reload()?;
        self.check()?;
        let last = self.metadata["last-column-id"].as_i64().unwrap_or(0);
        let (added, last) =
            spec::missing_columns(&self.shape()?.schema, self.current_schema()?, last).map_err(
                |e| match e {
                    Error::TableMismatch { message, .. } => self.mismatch(message),
                    other => other,
                },
            )?;
        if added.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = added.iter().filter_map(|f| f["name"].as_str()).collect();
        tracing::info!(columns = ?names, "adding columns to the Iceberg table");
        let mut schema = self.current_schema()?.clone();
        let current = schema["schema-id"].as_i64().unwrap_or(0);
        let next_id = (self.metadata["schemas"].as_array().into_iter().flatten())
            .filter_map(|s| s["schema-id"].as_i64())
            .max()
            .unwrap_or(0)
            + 1;
        schema["schema-id"] = json!(next_id);
        (schema["fields"].as_array_mut())
            .ok_or_else(|| self.error("the table's schema has no fields"))?
            .extend(added);
        let requirements = json!([
            {"type": "assert-table-uuid", "uuid": self.metadata["table-uuid"]},
            {"type": "assert-current-schema-id", "current-schema-id": current},
        ]);
        let updates = json!([
            {"action": "add-schema", "schema": schema, "last-column-id": last},
            {"action": "set-current-schema", "schema-id": -1},
        ]);
        match self.catalog.commit(requirements, updates)? {
            CommitOutcome::Committed(_) => {}
            // Another writer changed the schema meanwhile: checked again below.
            CommitOutcome::Conflict(_) | CommitOutcome::Unknown(_) => {}
        }
        self.reload()?;
        let last = self.metadata["last-column-id"].as_i64().unwrap_or(0);
        let (still, _) =
            spec::missing_columns(&self.shape()?.schema, self.current_schema()?, last)?;
        if !still.is_empty() {
            return Err(self.error("the columns could not be added to the table's schema"));
        }
        Ok(())
    }

    fn data_file_schema(&self, columns: &SchemaRef) -> Result<SchemaRef> {
        spec::data_file_schema(columns, self.current_schema()?).map_err(|e| match e {
            Error::TableMismatch { message, .. } => self.mismatch(message),
            other => other,
        })
    }

    fn data_path(&self, path: &str) -> String {
        format!("{DATA_DIR}/{path}")
    }

    fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn recover(&mut self, root: &Location, busy: &HashSet<String>) -> Result<Vec<String>> {
        let mut finished = Vec::new();
        let unfinished = self.ledger.unfinished(busy);
        if unfinished.is_empty() {
            return Ok(finished);
        }
        self.reload()?;
        for manifest in unfinished {
            if self.settle(root, &manifest)? {
                finished.push(manifest.run_id.clone());
            }
        }
        Ok(finished)
    }

    fn commit(
        &mut self,
        root: &Location,
        run: &mut Manifest,
        staged: &[StagedFile],
        lease: Option<&Lease>,
    ) -> Result<()> {
        self.reload()?;
        let snapshot_id = snapshot_id_of(&run.run_id);
        run.format = ICEBERG_MANIFEST_FORMAT;
        run.iceberg_snapshot = Some(snapshot_id);
        if let Some(lease) = lease {
            lease.check()?;
        }
        self.ledger.commit(root, run)?;

        let (fields, spec_id, spec_json) = self.partition_fields()?;
        let entries = (run.files.iter().zip(staged))
            .map(|(file, staged)| {
                Ok(Entry {
                    status: Status::Added,
                    snapshot_id: Some(snapshot_id),
                    sequence_number: None,
                    file_sequence_number: None,
                    file: DataFile {
                        path: self.uri(&file.path),
                        partition: self.partition_tuple(&staged.partition, &fields)?,
                        record_count: file.rows as i64,
                        file_size: file.bytes as i64,
                    },
                })
            })
            .collect::<Result<Vec<Entry>>>()?;
        let schema_json = self.current_schema()?.to_string();
        let context = ManifestContext {
            schema_json: &schema_json,
            schema_id: self.metadata["current-schema-id"].as_i64().unwrap_or(0),
            spec_id,
            spec_fields_json: &spec_json,
            fields: &fields,
        };
        let bytes = manifest::write_manifest(&context, &entries)?;
        let length = bytes.len() as i64;
        let key = format!("{METADATA_DIR}/{}-m0.avro", run.run_id);
        self.root.put_bytes(&key, bytes, false)?;

        let rows: u64 = run.files.iter().map(|f| f.rows).sum();
        let size: u64 = run.files.iter().map(|f| f.bytes).sum();
        let mut summary = serde_json::Map::new();
        summary.insert("added-data-files".into(), json!(entries.len().to_string()));
        summary.insert("added-records".into(), json!(rows.to_string()));
        summary.insert("added-files-size".into(), json!(size.to_string()));
        summary.insert("logpush-parquet.shard".into(), json!(run.shard));
        summary.insert(
            "logpush-parquet.inputs".into(),
            json!(run.inputs.len().to_string()),
        );
        let keep_all =
            |_: &IcebergTable, manifests: &[ManifestFile], _: &Attempt| Ok(manifests.to_vec());
        let run_id = run.run_id.clone();
        self.commit_snapshot(
            snapshot_id,
            &run_id,
            "append",
            &[(key, length, spec_id as i32, entries)],
            &keep_all,
            summary,
        )?;
        self.ledger.mark_published(root, &run.run_id)
    }
}
