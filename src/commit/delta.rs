//! The Delta Lake layout (`--table-format delta`): the same Hive-partitioned Parquet files, made
//! visible by one commit per run to the table's log (`_delta_log/`), through `delta_kernel`.
//!
//! # Commit protocol
//!
//! Each shard is a Delta writer with its own application id, `logpush-parquet/<shard>`, whose
//! `txn` version counts that shard's runs. A run:
//!
//! 1. takes its shard's lease ([`crate::lock`]), then settles what crashed runs of free shards
//!    left (below);
//! 2. converts its inputs and writes the data files straight to their final names: a file no
//!    commit lists is invisible to every Delta reader;
//! 3. records its manifest in the ledger ([`crate::ledger`]) with the next `txn` version of its
//!    shard, before committing: the ledger keeps which inputs each run converted, which the log
//!    cannot (its `commitInfo` is dropped by checkpoints and log clean-up);
//! 4. **commit point:** one Delta commit with an `add` for every file and `txn(app id, version)`.
//!    A conflicting commit (another shard, a compaction) is answered by reading the table
//!    again and committing again; before every attempt the shard's `txn` version is read back,
//!    so a commit whose reply was lost is recognised and never made twice;
//! 5. writes the manifest's `.published` marker.
//!
//! Settling a crashed run: a manifest with a `txn` version and no marker is published (marker
//! written) when the table's `txn` for its shard has reached that version, and otherwise
//! forgotten: its files, which no commit lists, are deleted, then the manifest, so its inputs
//! are converted again. Readers see all of a run or none of it, at every moment.
//!
//! A plain output converted with `--table-format delta` for the first time is adopted: its
//! published files are registered in one commit without being rewritten (their row counts as
//! statistics), under the application id `logpush-parquet/adopt`.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use arrow_array::cast::AsArray;
use arrow_array::{
    ArrayRef, BooleanArray, Int32Array, Int64Array, StringArray, StructArray,
    TimestampMicrosecondArray,
};
use arrow_schema::{DataType as ArrowType, Field, Fields, SchemaRef, TimeUnit};
use delta_kernel::committer::FileSystemCommitter;
use delta_kernel::engine::arrow_conversion::{TryFromArrow, TryIntoArrow};
use delta_kernel::engine::arrow_data::ArrowEngineData;
use delta_kernel::expressions::Scalar;
use delta_kernel::scan::state::ScanFile;
use delta_kernel::schema::{DataType, StructField, StructType};
use delta_kernel::transaction::create_table::create_table;
use delta_kernel::transaction::data_layout::DataLayout;
use delta_kernel::transaction::{
    BoundWriteContext, CommitResult, Transaction, UpdateTableOperation,
};
use delta_kernel::{FileMeta, FilteredEngineData, Snapshot, SnapshotRef};
use delta_kernel_default_engine::executor::tokio::TokioMultiThreadExecutor;
use delta_kernel_default_engine::parquet::DataFileMetadata;
use delta_kernel_default_engine::{DefaultEngine, DefaultEngineBuilder, build_add_file_metadata};
use url::Url;

use super::{ActiveFile, NewFile, Recorded, Table};
use crate::error::{Error, Result};
use crate::ledger::{DELTA_MANIFEST_FORMAT, Ledger, Manifest};
use crate::lock::Lease;
use crate::partition::{PartitionColumn, PartitionSpec, folder_values, percent_decode};
use crate::storage::Location;
use crate::time::days_from_civil;
use crate::write::StagedFile;
use crate::write::stats::{ColumnStats, FileStats, StatValue};

/// The writer named in each commit.
const ENGINE_INFO: &str = concat!("logpush-parquet/", env!("CARGO_PKG_VERSION"));
/// Commits between checkpoints, so that opening the table reads a bounded log.
pub const CHECKPOINT_INTERVAL: u64 = 10;
/// Attempts of one commit against conflicting commits and lost replies.
const COMMIT_ATTEMPTS: u32 = 30;
/// Delta's limit on the characters of a string statistic.
const STAT_PREFIX_CHARS: usize = 32;
/// Writers racing to create one object when a store's atomic creates are checked.
const ATOMICITY_PROBE_WRITERS: usize = 16;
/// The table's log, under its root.
pub const LOG_DIR: &str = "_delta_log";
/// The application id of a plain output's adoption.
const ADOPT_APP_ID: &str = "logpush-parquet/adopt";
/// The table property naming the dataset the table holds.
const DATASET_PROPERTY: &str = "logpush-parquet.dataset";

/// What a Delta table of this dataset looks like: its data columns and partition columns.
#[derive(Debug, Clone)]
pub struct TableShape {
    /// The Arrow schema of the data files.
    pub file_schema: SchemaRef,
    /// The partition columns.
    pub partition: PartitionSpec,
    /// The full schema the partition columns' types come from (as decoded, with every field).
    pub decoded_schema: SchemaRef,
    /// Recorded in the table's properties.
    pub dataset: String,
}

/// A Delta table at an output root, and the ledger beside it.
pub struct DeltaTable {
    root: Location,
    ledger: Ledger,
    engine: DefaultEngine<TokioMultiThreadExecutor>,
    url: Url,
    /// What the runs writing to it write; `None` for maintenance that only reads the log.
    shape: Option<TableShape>,
}

impl DeltaTable {
    /// The table at `root` (created at the first commit when there is none), to be written
    /// with files of `shape` (`None` to only read its log: [`DeltaTable::active_files`]).
    pub fn open(root: &Location, shape: Option<TableShape>) -> Result<Self> {
        if !root.creates_atomically(ATOMICITY_PROBE_WRITERS)? {
            return Err(Error::Delta {
                location: root.display_key(""),
                message: "this store let several writers create the same object at once \
                          (If-None-Match is not enforced), so concurrent Delta commits could \
                          overwrite each other: use a store that enforces it (AWS S3, R2, MinIO) \
                          or the plain layout"
                    .into(),
            });
        }
        let (url, store) = root.url_and_root_store()?;
        let engine = DefaultEngineBuilder::new(store)
            .with_task_executor(Arc::new(TokioMultiThreadExecutor::new(root.runtime())))
            .build();
        Ok(DeltaTable {
            root: root.clone(),
            ledger: Ledger::load(root)?,
            engine,
            url,
            shape,
        })
    }

    /// Sets what the runs write (for maintenance, once the table said what it holds).
    pub fn set_shape(&mut self, shape: TableShape) {
        self.shape = Some(shape);
    }

    /// What the table records of its runs (`None` when the root holds no table).
    pub fn recorded(&self) -> Result<Option<Recorded>> {
        let Some(snapshot) = self.snapshot()? else {
            return Ok(None);
        };
        let partition = snapshot
            .table_configuration()
            .metadata()
            .partition_columns();
        Ok(Some(Recorded {
            dataset: (snapshot.table_properties().unknown_properties)
                .get(DATASET_PROPERTY)
                .cloned(),
            partition_by: match partition {
                [] => "none".to_string(),
                columns => columns.join(","),
            },
            catch_all: snapshot.schema().field(crate::schema::CATCH_ALL).is_some(),
        }))
    }

    fn shape(&self) -> Result<&TableShape> {
        self.shape
            .as_ref()
            .ok_or_else(|| self.error("the table's schema was not given"))
    }

    fn error(&self, message: impl std::fmt::Display) -> Error {
        Error::Delta {
            location: self.url.to_string(),
            message: message.to_string(),
        }
    }

    /// The latest snapshot, or `None` when the root holds no table yet (no commit in its log).
    fn snapshot(&self) -> Result<Option<SnapshotRef>> {
        let log = self.root.list(LOG_DIR)?;
        if !log.iter().any(|l| l.key.ends_with(".json")) {
            return Ok(None);
        }
        Snapshot::builder_for(self.url.as_str())
            .build(&self.engine)
            .map(Some)
            .map_err(|e| self.error(e))
    }

    /// The latest snapshot, creating the table (and adopting a plain output's files) first
    /// when there is none.
    fn snapshot_or_create(&self) -> Result<SnapshotRef> {
        let snapshot = match self.snapshot()? {
            Some(snapshot) => snapshot,
            None => {
                self.create()?;
                self.snapshot()?
                    .ok_or_else(|| self.error("the table is still missing after its creation"))?
            }
        };
        let snapshot = self.evolve(snapshot)?;
        self.adopt(snapshot)
    }

    /// Adds the columns this run writes that the table lacks (a field list with more fields, the
    /// catch-all column), in one schema-change commit before any file is written: older files
    /// read them as NULL. Refuses, before anything is written, a table of another dataset or
    /// partitioning, or a column whose type differs. Another writer adding the same columns
    /// first is fine: the table is read again and checked again.
    fn evolve(&self, mut snapshot: SnapshotRef) -> Result<SnapshotRef> {
        for attempt in 0..COMMIT_ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(backoff(attempt));
                snapshot = Snapshot::builder_from(snapshot.clone())
                    .build(&self.engine)
                    .map_err(|e| self.error(e))?;
            }
            let missing = self.check_schema(&snapshot)?;
            if missing.is_empty() {
                return Ok(snapshot);
            }
            let names: Vec<&str> = missing.iter().map(|f| f.name().as_str()).collect();
            tracing::info!(columns = ?names, "adding columns to the Delta table");
            let mut builder =
                snapshot
                    .clone()
                    .update_table(UpdateTableOperation::AlterTable, ENGINE_INFO, false);
            for field in missing {
                builder = builder.add_column(field);
            }
            let transaction = builder
                .build(&self.engine, Box::new(FileSystemCommitter::new()))
                .map_err(|e| self.error(e))?;
            match transaction.commit(&self.engine) {
                Ok(CommitResult::Committed(_)) => {}
                Ok(CommitResult::Conflicted(_)) => continue,
                Ok(CommitResult::Retryable(r)) => {
                    tracing::warn!("schema change not committed, trying again: {}", r.error);
                }
                Err(e) => return Err(self.error(e)),
            }
        }
        Err(self.error(format!(
            "the columns could not be added in {COMMIT_ATTEMPTS} attempts"
        )))
    }

    /// The table's schema: the data columns, then the partition columns.
    fn table_schema(&self) -> Result<StructType> {
        let mut fields: Vec<StructField> = Vec::new();
        let shape = self.shape()?;
        for field in shape.file_schema.fields() {
            fields.push(self.delta_field(field)?);
        }
        for (name, column) in shape.partition.columns() {
            let data_type = match column {
                PartitionColumn::Date => DataType::DATE,
                PartitionColumn::Hour => DataType::INTEGER,
                PartitionColumn::Field(i) => self
                    .delta_field(shape.decoded_schema.field(*i))?
                    .data_type()
                    .clone(),
            };
            fields.push(StructField::nullable(name, data_type));
        }
        StructType::try_new(fields).map_err(|e| self.error(e))
    }

    /// A data column as Delta declares it (enum columns are plain strings in Parquet).
    fn delta_field(&self, field: &Field) -> Result<StructField> {
        let plain = match field.data_type() {
            ArrowType::Dictionary(_, value) => {
                Field::new(field.name(), value.as_ref().clone(), true)
            }
            _ => Field::new(field.name(), field.data_type().clone(), true),
        };
        StructField::try_from_arrow(&plain).map_err(|e| self.error(e))
    }

    /// Creates the table: version 0, no files. A table another run created meanwhile is fine.
    fn create(&self) -> Result<()> {
        let schema = Arc::new(self.table_schema()?);
        let partition: Vec<&str> = self
            .shape()?
            .partition
            .columns()
            .iter()
            .map(|(name, _)| name.as_str())
            .collect();
        let interval = CHECKPOINT_INTERVAL.to_string();
        let mut builder = create_table(self.url.as_str(), schema, ENGINE_INFO, false)
            .with_table_properties([
                ("delta.checkpointInterval", interval.as_str()),
                (DATASET_PROPERTY, self.shape()?.dataset.as_str()),
            ]);
        if !partition.is_empty() {
            builder = builder.with_data_layout(DataLayout::partitioned(partition));
        }
        let transaction = builder
            .build(&self.engine, Box::new(FileSystemCommitter::new()))
            .map_err(|e| self.error(e))?;
        match transaction
            .commit(&self.engine)
            .map_err(|e| self.error(e))?
        {
            CommitResult::Committed(_) | CommitResult::Conflicted(_) => Ok(()),
            CommitResult::Retryable(r) => Err(self.error(r.error)),
        }
    }

    /// Checks the table against what this run writes, and returns the data columns the table
    /// lacks. Refused, each in one sentence naming both values: another dataset, another
    /// partitioning, a column of another type. Columns of the table that this run does not
    /// write are fine: its rows read them as NULL.
    fn check_schema(&self, snapshot: &SnapshotRef) -> Result<Vec<StructField>> {
        let shape = self.shape()?;
        let refuse = |message: String| Error::TableMismatch {
            location: self.root.display_key(""),
            message,
        };
        let properties = &snapshot.table_properties().unknown_properties;
        if let Some(dataset) = properties.get(DATASET_PROPERTY)
            && *dataset != shape.dataset
        {
            return Err(refuse(format!(
                "the table holds the dataset {dataset}, and this run converts {} (--dataset or \
                 --schema)",
                shape.dataset
            )));
        }
        let partition: Vec<String> = (shape.partition.columns().iter())
            .map(|(name, _)| name.clone())
            .collect();
        let table_partition = snapshot
            .table_configuration()
            .metadata()
            .partition_columns();
        if table_partition != partition.as_slice() {
            let list = |columns: &[String]| match columns {
                [] => "none".to_string(),
                columns => columns.join(","),
            };
            return Err(refuse(format!(
                "the table is partitioned by {}, and this run's --partition-by is {}",
                list(table_partition),
                list(&partition)
            )));
        }
        let actual = snapshot.schema();
        let mut missing = Vec::new();
        for field in self.table_schema()?.fields() {
            match actual.field(field.name()) {
                Some(have) if have.data_type() == field.data_type() => {}
                Some(have) => {
                    return Err(refuse(format!(
                        "the column {} is {} in the table, and {} in this run's field list: a \
                         column's type cannot change (convert into another output)",
                        field.name(),
                        have.data_type(),
                        field.data_type()
                    )));
                }
                None => missing.push(field.clone()),
            }
        }
        Ok(missing)
    }

    /// Registers the files of a plain output's published runs, once, without rewriting them.
    fn adopt(&self, snapshot: SnapshotRef) -> Result<SnapshotRef> {
        let plain: Vec<&Manifest> = self
            .ledger
            .manifests
            .values()
            .filter(|m| m.delta_txn.is_none() && self.ledger.published.contains(&m.run_id))
            .collect();
        if plain.is_empty() || self.app_version(&snapshot, ADOPT_APP_ID)? >= 1 {
            return Ok(snapshot);
        }
        let files: Vec<NewFile> = plain
            .iter()
            .flat_map(|m| m.files.iter())
            .map(|f| {
                let stats = FileStats {
                    rows: f.rows,
                    columns: Vec::new(),
                };
                NewFile {
                    key: f.path.clone(),
                    bytes: f.bytes,
                    stats,
                }
            })
            .collect();
        tracing::info!(
            runs = plain.len(),
            files = files.len(),
            "adopting the plain output's files into the Delta table"
        );
        let parameters = [("runs", plain.len().to_string())];
        self.commit_files(snapshot, ADOPT_APP_ID, 1, &files, &parameters)
    }

    /// The version of `app_id`'s last `txn`, 0 when it has none.
    fn app_version(&self, snapshot: &SnapshotRef, app_id: &str) -> Result<u64> {
        let version = snapshot
            .get_app_id_version(app_id, &self.engine)
            .map_err(|e| self.error(e))?;
        Ok(version.map_or(0, |v| v.max(0) as u64))
    }

    /// Commits `files` (path under the root, size, statistics) with `txn(app_id, version)`,
    /// again on a fresh snapshot after a conflict or an unknown outcome, until the table's
    /// `txn` for `app_id` reaches `version`. Returns the snapshot after the commit.
    fn commit_files(
        &self,
        mut snapshot: SnapshotRef,
        app_id: &str,
        version: u64,
        files: &[NewFile],
        parameters: &[(&str, String)],
    ) -> Result<SnapshotRef> {
        let mut last_error = String::new();
        for attempt in 0..COMMIT_ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(backoff(attempt));
                snapshot = Snapshot::builder_from(snapshot.clone())
                    .build(&self.engine)
                    .map_err(|e| self.error(e))?;
            }
            if self.app_version(&snapshot, app_id)? >= version {
                return Ok(snapshot); // committed, its reply lost
            }
            let transaction = self.append(&snapshot, app_id, version, files, parameters)?;
            match transaction.commit(&self.engine) {
                Ok(CommitResult::Committed(committed))
                    if !self.commit_has_txn(committed.commit_version(), app_id, version)? =>
                {
                    // A store that let another writer create the same version over ours.
                    last_error = format!(
                        "version {} holds another writer's commit",
                        committed.commit_version()
                    );
                    tracing::warn!(attempt, app_id, "{last_error}: committing again");
                }
                Ok(CommitResult::Committed(committed)) => {
                    let after = committed.post_commit_snapshot().cloned();
                    let since = committed.post_commit_stats().commits_since_checkpoint;
                    let snapshot = match after {
                        Some(after) => after,
                        None => Snapshot::builder_from(snapshot.clone())
                            .build(&self.engine)
                            .map_err(|e| self.error(e))?,
                    };
                    if since >= CHECKPOINT_INTERVAL {
                        return Ok(self.checkpoint(snapshot));
                    }
                    return Ok(snapshot);
                }
                Ok(CommitResult::Conflicted(conflict)) => {
                    last_error = format!(
                        "version {} was committed first",
                        conflict.conflict_version()
                    );
                    tracing::info!(attempt, app_id, "{last_error}: committing again");
                }
                Ok(CommitResult::Retryable(retry)) => {
                    last_error = retry.error.to_string();
                    tracing::info!(attempt, app_id, "commit failed, trying again: {last_error}");
                }
                // A storage error: the commit may or may not have landed.
                Err(e) => {
                    last_error = e.to_string();
                    tracing::info!(attempt, app_id, "commit failed, trying again: {last_error}");
                }
            }
        }
        Err(self.error(format!(
            "gave up committing after {COMMIT_ATTEMPTS} attempts: {last_error}"
        )))
    }

    /// Whether commit `commit` of the log holds `txn(app_id, version)`: read back after each
    /// commit, so that a store that let two writers create the same commit file (it should
    /// refuse the second) loses no run. The creation probe refuses such stores; this is the
    /// safety net for one that slipped through.
    fn commit_has_txn(&self, commit: u64, app_id: &str, version: u64) -> Result<bool> {
        let key = format!("{LOG_DIR}/{commit:020}.json");
        let Some(bytes) = self.root.get_bytes(&key)? else {
            return Ok(false);
        };
        Ok(bytes
            .split(|&b| b == b'\n')
            .filter_map(|line| serde_json::from_slice::<serde_json::Value>(line).ok())
            .any(|action| {
                action["txn"]["appId"].as_str() == Some(app_id)
                    && action["txn"]["version"].as_u64() == Some(version)
            }))
    }

    /// A transaction adding `files` with `txn(app_id, version)`.
    fn append(
        &self,
        snapshot: &SnapshotRef,
        app_id: &str,
        version: u64,
        files: &[NewFile],
        parameters: &[(&str, String)],
    ) -> Result<Transaction> {
        let mut operation: Vec<(&str, Option<&str>)> = vec![("mode", Some("Append"))];
        operation.extend(parameters.iter().map(|(k, v)| (*k, Some(v.as_str()))));
        let mut transaction = snapshot
            .clone()
            .update_table(UpdateTableOperation::Write, ENGINE_INFO, true)
            .with_blind_append()
            .with_transaction_id(app_id.to_string(), version as i64)
            .with_operation_parameters(operation)
            .build(&self.engine, Box::new(FileSystemCommitter::new()))
            .map_err(|e| self.error(e))?;
        self.add_files(&mut transaction, files)?;
        Ok(transaction)
    }

    /// Adds `files` (key, size, statistics) to `transaction`, each with its partition values.
    fn add_files(&self, transaction: &mut Transaction, files: &[NewFile]) -> Result<()> {
        let modified = unix_millis();
        for file in files {
            let folder = (file.key.rsplit_once('/')).map_or("", |(folder, _)| folder);
            let context = self.write_context(transaction, folder)?;
            let url = self.file_url(&file.key)?;
            let stats = self.stats_array(&context, &file.stats)?;
            let metadata = DataFileMetadata::new(FileMeta::new(url, modified, file.bytes), stats);
            let add = build_add_file_metadata(metadata, &context).map_err(|e| self.error(e))?;
            transaction.add_files(add);
        }
        Ok(())
    }

    /// The write context of a partition folder: its typed partition values.
    fn write_context(&self, transaction: &Transaction, folder: &str) -> Result<BoundWriteContext> {
        let values = folder_values(folder);
        let mut partition_values = std::collections::HashMap::new();
        for (name, column) in self.shape()?.partition.columns() {
            let text = values
                .iter()
                .find(|(n, _)| *n == name.as_str())
                .and_then(|(_, v)| v.clone());
            partition_values.insert(name.clone(), self.partition_scalar(*column, text)?);
        }
        transaction
            .write_state()
            .and_then(|state| {
                state
                    .write_context_builder()
                    .with_partition_values(partition_values)
                    .build()
            })
            .map_err(|e| self.error(e))
    }

    /// A partition column's value in the log, typed as the column is.
    fn partition_scalar(&self, column: PartitionColumn, text: Option<String>) -> Result<Scalar> {
        let invalid = |text: &str| self.error(format!("partition value {text:?} does not parse"));
        let data_type = match column {
            PartitionColumn::Date => DataType::DATE,
            PartitionColumn::Hour => DataType::INTEGER,
            PartitionColumn::Field(i) => self
                .delta_field(self.shape()?.decoded_schema.field(i))?
                .data_type()
                .clone(),
        };
        let Some(text) = text else {
            return Ok(Scalar::Null(data_type));
        };
        Ok(match column {
            PartitionColumn::Date => {
                let mut parts = text.splitn(3, '-').map(str::parse::<i64>);
                let (Some(Ok(y)), Some(Ok(m)), Some(Ok(d))) =
                    (parts.next(), parts.next(), parts.next())
                else {
                    return Err(invalid(&text));
                };
                let days = days_from_civil(y, m as u32, d as u32);
                Scalar::Date(i32::try_from(days).map_err(|_| invalid(&text))?)
            }
            PartitionColumn::Hour => Scalar::Integer(text.parse().map_err(|_| invalid(&text))?),
            PartitionColumn::Field(_) => match data_type {
                DataType::LONG => Scalar::Long(text.parse().map_err(|_| invalid(&text))?),
                DataType::BOOLEAN => Scalar::Boolean(text.parse().map_err(|_| invalid(&text))?),
                _ => Scalar::String(text),
            },
        })
    }

    /// The URL of a file under the root, its key's parts percent-encoded (partition folders
    /// hold `%XX` escapes that are part of the key).
    fn file_url(&self, path: &str) -> Result<Url> {
        let mut url = self.url.clone();
        {
            let mut segments = url
                .path_segments_mut()
                .map_err(|()| self.error("the table's URL is not hierarchical"))?;
            segments.pop_if_empty();
            for part in path.split('/') {
                segments.push(part);
            }
        }
        Ok(url)
    }

    /// A file's statistics as the log takes them: rows, and for each statistics column its
    /// nulls and bounds (strings cut to 32 characters, Delta's rule).
    fn stats_array(&self, context: &BoundWriteContext, stats: &FileStats) -> Result<StructArray> {
        let physical: arrow_schema::Schema = context
            .physical_data_schema()
            .as_ref()
            .try_into_arrow()
            .map_err(|e| self.error(e))?;
        let wanted: HashSet<String> = context
            .stats_columns()
            .iter()
            .map(|c| c.to_string())
            .collect();
        let mut fields = vec![Field::new("numRecords", ArrowType::Int64, true)];
        let mut arrays: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(vec![stats.rows as i64]))];
        if !stats.columns.is_empty() {
            let (mut nulls, mut mins, mut maxes) = (Vec::new(), Vec::new(), Vec::new());
            // Statistics are per Parquet leaf column of the file: a list has one leaf, a map
            // two, and Delta keeps none for either. The file's columns are found by name: the
            // table may have columns in another order, or columns the file lacks.
            let mut leaf_of = std::collections::HashMap::new();
            let mut leaf = 0;
            for field in self.shape()?.file_schema.fields() {
                let leaves = leaf_count(field.data_type());
                if leaves == 1 {
                    leaf_of.insert(field.name().as_str(), leaf);
                }
                leaf += leaves;
            }
            for field in physical.fields() {
                let Some(column) =
                    (leaf_of.get(field.name().as_str())).and_then(|&leaf| stats.columns.get(leaf))
                else {
                    continue;
                };
                if !wanted.contains(field.name())
                    || field.data_type().is_nested()
                    || !column.known()
                {
                    continue;
                }
                nulls.push((
                    Field::new(field.name(), ArrowType::Int64, true),
                    Arc::new(Int64Array::from(vec![column.nulls as i64])) as ArrayRef,
                ));
                if let Some((min, max)) = bound_arrays(field.data_type(), column) {
                    let bound = Field::new(field.name(), field.data_type().clone(), true);
                    mins.push((bound.clone(), min));
                    maxes.push((bound, max));
                }
            }
            for (name, section) in [
                ("nullCount", nulls),
                ("minValues", mins),
                ("maxValues", maxes),
            ] {
                if section.is_empty() {
                    continue;
                }
                let (section_fields, section_arrays): (Vec<Field>, Vec<ArrayRef>) =
                    section.into_iter().unzip();
                let array =
                    StructArray::try_new(Fields::from(section_fields), section_arrays, None)
                        .map_err(|e| self.error(e))?;
                fields.push(Field::new(
                    name,
                    arrow_array::Array::data_type(&array).clone(),
                    true,
                ));
                arrays.push(Arc::new(array));
            }
            fields.push(Field::new("tightBounds", ArrowType::Boolean, true));
            arrays.push(Arc::new(BooleanArray::from(vec![true])));
        }
        StructArray::try_new(Fields::from(fields), arrays, None).map_err(|e| self.error(e))
    }

    /// Writes a checkpoint of `snapshot`; returns the snapshot that knows of it (later commits
    /// count their distance to it). A failure only costs reading a longer log later.
    fn checkpoint(&self, snapshot: SnapshotRef) -> SnapshotRef {
        match snapshot.checkpoint(&self.engine, None) {
            Ok((_, checkpointed)) => {
                tracing::info!(version = snapshot.version(), "checkpoint written");
                checkpointed
            }
            Err(e) => {
                tracing::warn!(version = snapshot.version(), "no checkpoint: {e}");
                snapshot
            }
        }
    }

    /// The table's files now, or `None` when the root holds no table.
    pub fn active_files(&self) -> Result<Option<(SnapshotRef, Vec<ActiveFile>)>> {
        let Some(snapshot) = self.snapshot()? else {
            return Ok(None);
        };
        if self.shape.is_some() {
            let missing = self.check_schema(&snapshot)?;
            if !missing.is_empty() {
                let names: Vec<&str> = missing.iter().map(|f| f.name().as_str()).collect();
                return Err(Error::TableMismatch {
                    location: self.root.display_key(""),
                    message: format!(
                        "the table has no column {}: give the field list the table was \
                         written with",
                        names.join(", ")
                    ),
                });
            }
        }
        let files = self.files_of(&snapshot)?;
        Ok(Some((snapshot, files)))
    }

    fn files_of(&self, snapshot: &SnapshotRef) -> Result<Vec<ActiveFile>> {
        fn visit(files: &mut Vec<ActiveFile>, file: ScanFile) {
            let key = percent_decode(&file.path);
            files.push(ActiveFile {
                partition: key
                    .rsplit_once('/')
                    .map_or("", |(folder, _)| folder)
                    .to_string(),
                key,
                size: file.size.max(0) as u64,
                modified_ms: file.modification_time,
                rows: file.stats.map(|s| s.num_records),
            });
        }
        let scan = snapshot
            .clone()
            .scan_builder()
            .build()
            .map_err(|e| self.error(e))?;
        let mut files = Vec::new();
        for metadata in scan
            .scan_metadata(&self.engine)
            .map_err(|e| self.error(e))?
        {
            let metadata = metadata.map_err(|e| self.error(e))?;
            files = metadata
                .visit_scan_files(files, visit)
                .map_err(|e| self.error(e))?;
        }
        files.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(files)
    }

    /// Replaces the files `removes` (keys) by `adds` (key, size, statistics) in one commit that
    /// changes no data (`dataChange=false`), so that it commutes with the runs appending meanwhile:
    /// committed again on a fresh snapshot after a conflict. Fails, committing nothing, when one
    /// of `removes` is gone from the table (another compaction took it): the caller deletes its
    /// own new files. A commit whose reply was lost is recognised by its files being there.
    pub fn replace_files(
        &self,
        mut snapshot: SnapshotRef,
        removes: &HashSet<String>,
        adds: &[NewFile],
    ) -> Result<()> {
        let mut last_error = String::new();
        for attempt in 0..COMMIT_ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(backoff(attempt));
                snapshot = Snapshot::builder_from(snapshot.clone())
                    .build(&self.engine)
                    .map_err(|e| self.error(e))?;
            }
            let active: HashSet<String> = self
                .files_of(&snapshot)?
                .into_iter()
                .map(|f| f.key)
                .collect();
            if !adds.is_empty() && adds.iter().all(|add| active.contains(&add.key)) {
                return Ok(()); // committed, its reply lost
            }
            if let Some(gone) = removes.iter().find(|key| !active.contains(*key)) {
                return Err(self.error(format!(
                    "{gone} left the table while it was being compacted (another compaction?): \
                     nothing was committed"
                )));
            }
            let transaction = self.replacement(&snapshot, removes, adds)?;
            match transaction.commit(&self.engine) {
                Ok(CommitResult::Committed(committed)) => {
                    if committed.post_commit_stats().commits_since_checkpoint >= CHECKPOINT_INTERVAL
                        && let Some(after) = committed.post_commit_snapshot()
                    {
                        self.checkpoint(after.clone());
                    }
                    return Ok(());
                }
                Ok(CommitResult::Conflicted(conflict)) => {
                    last_error = format!(
                        "version {} was committed first",
                        conflict.conflict_version()
                    );
                }
                Ok(CommitResult::Retryable(retry)) => last_error = retry.error.to_string(),
                Err(e) => last_error = e.to_string(),
            }
            tracing::info!(
                attempt,
                "compaction commit failed, trying again: {last_error}"
            );
        }
        Err(self.error(format!(
            "gave up committing the compaction after {COMMIT_ATTEMPTS} attempts: {last_error}"
        )))
    }

    /// The transaction of [`DeltaTable::replace_files`].
    fn replacement(
        &self,
        snapshot: &SnapshotRef,
        removes: &HashSet<String>,
        adds: &[NewFile],
    ) -> Result<Transaction> {
        let count = removes.len().to_string();
        let mut transaction = snapshot
            .clone()
            .update_table(UpdateTableOperation::Optimize, ENGINE_INFO, false)
            .with_operation_parameters([("filesCompacted", Some(count.as_str()))])
            .build(&self.engine, Box::new(FileSystemCommitter::new()))
            .map_err(|e| self.error(e))?;
        let scan = snapshot
            .clone()
            .scan_builder()
            .build()
            .map_err(|e| self.error(e))?;
        for metadata in scan
            .scan_metadata(&self.engine)
            .map_err(|e| self.error(e))?
        {
            let (data, selection) = metadata.map_err(|e| self.error(e))?.scan_files.into_parts();
            let data = ArrowEngineData::try_from_engine_data(data).map_err(|e| self.error(e))?;
            let paths = data
                .record_batch()
                .column_by_name("path")
                .and_then(|c| c.as_string_opt::<i32>())
                .ok_or_else(|| self.error("the scan's files have no path column"))?
                .clone();
            let chosen: Vec<bool> = (0..arrow_array::Array::len(&paths))
                .map(|i| {
                    selection.get(i).copied().unwrap_or(true)
                        && removes.contains(&percent_decode(paths.value(i)))
                })
                .collect();
            let filtered = FilteredEngineData::try_new(data, chosen).map_err(|e| self.error(e))?;
            transaction.remove_files(filtered);
        }
        self.add_files(&mut transaction, adds)?;
        Ok(transaction)
    }

    /// Settles a crashed run's manifest: published when its commit landed, else forgotten.
    fn settle(&mut self, root: &Location, manifest: &Manifest, version: u64) -> Result<bool> {
        let committed = match self.snapshot()? {
            Some(snapshot) => self.app_version(&snapshot, &app_id(&manifest.shard))? >= version,
            None => false,
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

impl Table for DeltaTable {
    fn prepare(&mut self) -> Result<()> {
        if let Some(snapshot) = self.snapshot()? {
            self.evolve(snapshot)?;
        }
        Ok(())
    }

    fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn recover(&mut self, root: &Location, busy: &HashSet<String>) -> Result<Vec<String>> {
        let mut finished = Vec::new();
        for manifest in self.ledger.unfinished(busy) {
            match manifest.delta_txn {
                Some(version) => {
                    if self.settle(root, &manifest, version)? {
                        finished.push(manifest.run_id.clone());
                    }
                }
                // A plain run (before the output became a table): finished the plain way, then
                // adopted with the others.
                None => {
                    self.ledger.publish(root, &manifest)?;
                    finished.push(manifest.run_id.clone());
                }
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
        let snapshot = self.snapshot_or_create()?;
        let app_id = app_id(&run.shard);
        let version = self.app_version(&snapshot, &app_id)? + 1;
        run.format = DELTA_MANIFEST_FORMAT;
        run.delta_txn = Some(version);
        if let Some(lease) = lease {
            lease.check()?;
        }
        self.ledger.commit(root, run)?;
        let files: Vec<NewFile> = run
            .files
            .iter()
            .zip(staged)
            .map(|(file, staged)| NewFile {
                key: file.path.clone(),
                bytes: file.bytes,
                stats: staged.stats.clone(),
            })
            .collect();
        let parameters = [
            ("runId", run.run_id.clone()),
            ("shard", run.shard.clone()),
            ("inputs", run.inputs.len().to_string()),
        ];
        self.commit_files(snapshot, &app_id, version, &files, &parameters)?;
        self.ledger.mark_published(root, &run.run_id)
    }
}

/// The Parquet leaf columns of a column of type `data_type`.
fn leaf_count(data_type: &ArrowType) -> usize {
    match data_type {
        ArrowType::List(item) | ArrowType::LargeList(item) | ArrowType::Map(item, _) => {
            leaf_count(item.data_type())
        }
        ArrowType::Struct(fields) => fields.iter().map(|f| leaf_count(f.data_type())).sum(),
        _ => 1,
    }
}

/// Now, in Unix milliseconds.
fn unix_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The Delta application id of a shard's runs.
fn app_id(shard: &str) -> String {
    format!("logpush-parquet/{shard}")
}

/// The pause before commit attempt `attempt` (1-based), spread so racing writers part.
fn backoff(attempt: u32) -> Duration {
    let base = 20u64 << attempt.min(6);
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::from(d.subsec_nanos()) % base);
    Duration::from_millis(base + jitter)
}

/// A column's min and max as one-row arrays of its Delta statistics type, when both are known.
fn bound_arrays(data_type: &ArrowType, column: &ColumnStats) -> Option<(ArrayRef, ArrayRef)> {
    let (min, max) = (column.min.as_ref()?, column.max.as_ref()?);
    let pair = |min: ArrayRef, max: ArrayRef| Some((min, max));
    match (data_type, min, max) {
        (ArrowType::Int64, StatValue::Int64(a), StatValue::Int64(b)) => pair(
            Arc::new(Int64Array::from(vec![*a])),
            Arc::new(Int64Array::from(vec![*b])),
        ),
        (ArrowType::Int32 | ArrowType::Date32, StatValue::Int32(a), StatValue::Int32(b)) => {
            let (a, b): (ArrayRef, ArrayRef) = (
                Arc::new(Int32Array::from(vec![*a])),
                Arc::new(Int32Array::from(vec![*b])),
            );
            let cast = |x: ArrayRef| arrow_cast::cast(&x, data_type).ok();
            Some((cast(a)?, cast(b)?))
        }
        (
            ArrowType::Timestamp(TimeUnit::Microsecond, tz),
            StatValue::Int64(a),
            StatValue::Int64(b),
        ) => pair(
            Arc::new(TimestampMicrosecondArray::from(vec![*a]).with_timezone_opt(tz.clone())),
            Arc::new(TimestampMicrosecondArray::from(vec![*b]).with_timezone_opt(tz.clone())),
        ),
        (ArrowType::Boolean, StatValue::Bool(a), StatValue::Bool(b)) => pair(
            Arc::new(BooleanArray::from(vec![*a])),
            Arc::new(BooleanArray::from(vec![*b])),
        ),
        (ArrowType::Utf8, StatValue::Bytes(a), StatValue::Bytes(b)) => {
            let (a, b) = (std::str::from_utf8(a).ok()?, std::str::from_utf8(b).ok()?);
            let max = string_max(b)?;
            pair(
                Arc::new(StringArray::from(vec![string_min(a)])),
                Arc::new(StringArray::from(vec![max])),
            )
        }
        _ => None,
    }
}

/// A string minimum cut to Delta's 32 characters (a prefix is never larger).
fn string_min(s: &str) -> &str {
    match s.char_indices().nth(STAT_PREFIX_CHARS) {
        Some((end, _)) => &s[..end],
        None => s,
    }
}

/// A string maximum cut to Delta's 32 characters and followed by a character no smaller than
/// the first one cut (so it stays an upper bound), or `None` when no such character exists.
fn string_max(s: &str) -> Option<String> {
    let Some((end, cut)) = s.char_indices().nth(STAT_PREFIX_CHARS) else {
        return Some(s.to_string());
    };
    let tie_breaker = if (cut as u32) < 0x7F {
        '\u{7F}'
    } else if cut != char::MAX {
        char::MAX
    } else {
        return None;
    };
    Some(format!("{}{tie_breaker}", &s[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::{ConvertOptions, convert};
    use crate::ledger::ManifestFile;
    use crate::report::Progress;
    use crate::schema::EventSchema;
    use std::path::Path;

    fn options(inputs: &[&str], out: &Path) -> ConvertOptions {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let inputs = inputs
            .iter()
            .map(|i| root.join(i).display().to_string())
            .collect();
        let mut options = ConvertOptions::new(
            inputs,
            out.display().to_string(),
            Arc::new(EventSchema::spectrum_events()),
        )
        .unwrap();
        options.table_format = super::super::TableFormat::Delta;
        options
    }

    fn open(out: &Path, options: &ConvertOptions) -> (Location, DeltaTable) {
        let root = crate::storage::tests::storage()
            .open(&out.display().to_string())
            .unwrap();
        let decoded = options.schema.arrow_schema(options.decode.timestamp_unit);
        let shape = TableShape {
            file_schema: options.partition.file_schema(&decoded),
            partition: options.partition.clone(),
            decoded_schema: decoded,
            dataset: "spectrum_events".into(),
        };
        let table = DeltaTable::open(&root, Some(shape)).unwrap();
        (root, table)
    }

    #[test]
    fn a_run_killed_before_its_commit_is_forgotten_and_one_killed_after_it_is_published() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let first = options(&["examples/data"], &out);
        let summary = convert(&first, &Progress::new(false)).unwrap();
        assert!(summary.committed);

        // Killed between recording its manifest (txn 2) and its Delta commit.
        let (root, mut table) = open(&out, &first);
        let orphan = "date=2026-11-30/hour=1/part-feedface-00000.parquet";
        root.put_bytes(orphan, b"not yet committed".to_vec(), false)
            .unwrap();
        let mut prepared = table.ledger().manifests.values().next().unwrap().clone();
        prepared.run_id = "feedface".into();
        prepared.inputs[0].key = "/nowhere/prepared.log.gz".into();
        prepared.files = vec![ManifestFile {
            path: orphan.into(),
            staged: orphan.into(),
            rows: 1,
            bytes: 17,
        }];
        prepared.rejects = None;
        prepared.delta_txn = Some(2);
        table.ledger.commit(&root, &prepared).unwrap();
        // A second run that committed, but was killed before its marker.
        let second = options(&["tests/fixtures/second.ndjson.zst"], &out);
        drop(table);
        let (_, table) = open(&out, &second);
        let converted = table.ledger().converted().len();
        drop(table);
        assert_eq!(converted, 5, "4 sample inputs and the prepared run's");

        let (root, mut table) = open(&out, &second);
        let finished = table.recover(&root, &HashSet::new()).unwrap();
        assert!(finished.is_empty(), "{finished:?}");
        assert!(!table.ledger().manifests.contains_key("feedface"));
        assert_eq!(
            root.head(orphan).unwrap(),
            None,
            "the uncommitted file is deleted"
        );
        assert_eq!(table.ledger().converted().len(), 4);

        let summary = convert(&second, &Progress::new(false)).unwrap();
        assert!(summary.committed);
        let marker = format!("_ledger/runs/{}.published", summary.run_id);
        root.delete(&marker).unwrap();
        let (root, mut table) = open(&out, &second);
        let finished = table.recover(&root, &HashSet::new()).unwrap();
        assert_eq!(finished, std::slice::from_ref(&summary.run_id));
        assert!(root.head(&marker).unwrap().is_some(), "the marker is back");
        assert_eq!(table.ledger().converted().len(), 5);
        let snapshot = table.snapshot().unwrap().unwrap();
        assert_eq!(
            table
                .app_version(&snapshot, "logpush-parquet/0-of-1")
                .unwrap(),
            2
        );
    }

    #[test]
    fn opening_a_table_of_thousands_of_commits_reads_a_checkpoint_and_at_most_ten_commits() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let options = options(&["examples/data"], &out);
        let (_, table) = open(&out, &options);
        table.create().unwrap();
        let mut snapshot = table.snapshot().unwrap().unwrap();
        // Every commit a run of its own (one file each); the log is what is measured.
        let log_files_read = |table: &DeltaTable| {
            let segment = table.snapshot().unwrap().unwrap();
            let segment = segment.log_segment();
            (
                segment.checkpoint_version,
                segment.listed.ascending_commit_files.len(),
            )
        };
        let mut read_at = Vec::new();
        for run in 1..=2_000u64 {
            let file = format!("date=2026-11-23/hour=5/part-{run:016x}-00000.parquet");
            let stats = FileStats {
                rows: 1,
                columns: Vec::new(),
            };
            snapshot = table
                .commit_files(
                    snapshot,
                    "logpush-parquet/0-of-1",
                    run,
                    &[NewFile {
                        key: file,
                        bytes: 1,
                        stats,
                    }],
                    &[],
                )
                .unwrap();
            if run == 100 || run == 2_000 {
                read_at.push(log_files_read(&table));
            }
        }
        for (checkpoint, commits) in &read_at {
            assert!(checkpoint.is_some(), "{read_at:?}");
            assert!(*commits <= CHECKPOINT_INTERVAL as usize, "{read_at:?}");
        }
        assert_eq!(read_at[1].0, Some(2_000), "checkpointed every ten commits");
        assert_eq!(
            table
                .app_version(&snapshot, "logpush-parquet/0-of-1")
                .unwrap(),
            2_000
        );
        assert_eq!(table.files_of(&snapshot).unwrap().len(), 2_000);
    }

    #[test]
    fn string_statistics_are_cut_to_32_characters_and_stay_bounds() {
        let short = "abc";
        assert_eq!(string_min(short), "abc");
        assert_eq!(string_max(short).as_deref(), Some("abc"));
        let long: String = "x".repeat(40);
        assert_eq!(string_min(&long).chars().count(), 32);
        let max = string_max(&long).unwrap();
        assert_eq!(max.chars().count(), 33);
        assert!(max.as_str() >= long.as_str(), "still an upper bound");
        let wide: String = "é".repeat(40);
        let max = string_max(&wide).unwrap();
        assert!(max.ends_with(char::MAX) && max.as_str() >= wide.as_str());
        assert!(string_min(&wide) <= wide.as_str());
        let unbounded = format!("{}{}", "a".repeat(32), char::MAX);
        assert_eq!(
            string_max(&unbounded),
            None,
            "no character above the one cut"
        );
    }
}
