//! Maintenance of an Iceberg table: the files of its current snapshot, the replace snapshot that
//! merges small files (`compact`), snapshot expiry and the files the remaining snapshots need
//! (`vacuum`).
//!
//! A compaction commits one snapshot of operation `replace`: its added manifest lists the new
//! files, and each manifest of the parent that listed a merged file is rewritten with that entry
//! `DELETED` and the others `EXISTING` (their snapshot ids and sequence numbers kept). It is
//! committed like a run's append, against the parent it was built on: when another writer
//! committed first, the manifests are built again on the new parent, so concurrent appends are
//! kept; when a merged file left the table meanwhile (another compaction), nothing is
//! committed. Readers see the same rows before and after, and time travel to the snapshots
//! before it still reads the old files until they expire.

use std::collections::{HashMap, HashSet};

use serde_json::json;

use super::manifest::{
    self, Entry, ManifestContext, ManifestFile, PartitionField, PartitionValue, Status,
};
use super::{Attempt, CommitOutcome, IcebergTable, METADATA_DIR, snapshot_id_of};
use crate::commit::{ActiveFile, NewFile};
use crate::error::Result;

/// Attempts of an expiry commit.
const EXPIRE_ATTEMPTS: u32 = 5;

/// The folder of a key (`data/date=2026-11-23/hour=22/part-1.parquet` is in
/// `data/date=2026-11-23/hour=22`).
fn folder_of(key: &str) -> &str {
    key.rsplit_once('/').map_or("", |(folder, _)| folder)
}

impl IcebergTable {
    /// The entries of one of the table's manifests, with the snapshot ids and sequence numbers
    /// they inherit from the manifest list filled in; partition tuples in the order of `fields`.
    fn manifest_entries(
        &self,
        manifest: &ManifestFile,
        fields: &[PartitionField],
    ) -> Result<Vec<Entry>> {
        let key = (self.key_of(&manifest.path)).ok_or_else(|| {
            self.error(format!(
                "manifest {} is not under the table's location",
                manifest.path
            ))
        })?;
        let bytes = (self.root.get_bytes(&key)?)
            .ok_or_else(|| self.error(format!("manifest {} is missing", manifest.path)))?;
        let mut entries = manifest::read_manifest(&bytes, fields)?;
        for entry in &mut entries {
            entry.snapshot_id.get_or_insert(manifest.added_snapshot_id);
            entry
                .sequence_number
                .get_or_insert(manifest.sequence_number);
            (entry.file_sequence_number).get_or_insert(manifest.sequence_number);
        }
        Ok(entries)
    }

    /// When each snapshot of the table was committed, in Unix milliseconds.
    fn snapshot_times(&self) -> HashMap<i64, i64> {
        (self.metadata["snapshots"].as_array().into_iter().flatten())
            .filter_map(|s| Some((s["snapshot-id"].as_i64()?, s["timestamp-ms"].as_i64()?)))
            .collect()
    }

    /// The data files of the current snapshot that this tool can rewrite (under the table's
    /// location, in manifests of the default partition spec), each with the time of the snapshot
    /// that added it.
    pub fn active_files(&mut self) -> Result<Vec<ActiveFile>> {
        self.reload()?;
        let (fields, spec_id, _) = self.partition_fields()?;
        let times = self.snapshot_times();
        let mut files = Vec::new();
        for manifest in self.current_manifests()? {
            if manifest.content != 0 || i64::from(manifest.spec_id) != spec_id {
                continue;
            }
            for entry in self.manifest_entries(&manifest, &fields)? {
                if entry.status == Status::Deleted {
                    continue;
                }
                let Some(key) = self.key_of(&entry.file.path) else {
                    continue;
                };
                let partition = folder_of(&key);
                let partition = partition.strip_prefix(super::DATA_DIR).unwrap_or(partition);
                files.push(ActiveFile {
                    partition: partition.trim_start_matches('/').to_string(),
                    size: entry.file.file_size.max(0) as u64,
                    modified_ms: (entry.snapshot_id)
                        .and_then(|id| times.get(&id).copied())
                        .unwrap_or(0),
                    rows: Some(entry.file.record_count.max(0) as u64),
                    key,
                });
            }
        }
        files.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(files)
    }

    /// Replaces the data files `removes` (keys) by `adds` in one `replace` snapshot named by the
    /// compaction's `id`. Fails, committing nothing, when one of `removes` left the table (another
    /// compaction took it): the caller deletes its new files.
    pub fn replace_files(
        &mut self,
        id: &str,
        removes: &HashSet<String>,
        adds: &[NewFile],
    ) -> Result<()> {
        let run_id = format!("compact-{id}");
        let snapshot_id = snapshot_id_of(&run_id);
        self.reload()?;
        if self.snapshot_of_run(&run_id).is_some() {
            return Ok(()); // committed, its reply lost
        }
        let (fields, spec_id, spec_json) = self.partition_fields()?;
        // The new files take the partition tuple of the files they merge, folder by folder.
        let mut tuples: HashMap<String, Vec<PartitionValue>> = HashMap::new();
        let mut removed_rows = 0;
        let mut removed_bytes = 0;
        for manifest in self.current_manifests()? {
            if manifest.content != 0 || i64::from(manifest.spec_id) != spec_id {
                continue;
            }
            for entry in self.manifest_entries(&manifest, &fields)? {
                let key = self.key_of(&entry.file.path).unwrap_or_default();
                if entry.status != Status::Deleted && removes.contains(&key) {
                    removed_rows += entry.file.record_count;
                    removed_bytes += entry.file.file_size;
                    tuples.insert(folder_of(&key).to_string(), entry.file.partition);
                }
            }
        }
        let entries = (adds.iter())
            .map(|add| {
                let partition = tuples.get(folder_of(&add.key)).cloned().ok_or_else(|| {
                    self.error(format!(
                        "{} is in no partition of the files it merges",
                        add.key
                    ))
                })?;
                Ok(Entry {
                    status: Status::Added,
                    snapshot_id: Some(snapshot_id),
                    sequence_number: None,
                    file_sequence_number: None,
                    file: manifest::DataFile {
                        path: self.uri(&add.key),
                        partition,
                        record_count: add.stats.rows as i64,
                        file_size: add.bytes as i64,
                    },
                })
            })
            .collect::<Result<Vec<Entry>>>()?;
        let schema_json = self.current_schema()?.to_string();
        let schema_id = self.metadata["current-schema-id"].as_i64().unwrap_or(0);
        let context = ManifestContext {
            schema_json: &schema_json,
            schema_id,
            spec_id,
            spec_fields_json: &spec_json,
            fields: &fields,
        };
        let bytes = manifest::write_manifest(&context, &entries)?;
        let length = bytes.len() as i64;
        let added_key = format!("{METADATA_DIR}/{run_id}-m0.avro");
        self.root.put_bytes(&added_key, bytes, false)?;

        let rewrite = |table: &IcebergTable, manifests: &[ManifestFile], attempt: &Attempt| {
            let mut kept = Vec::new();
            let mut found = 0;
            for (n, manifest) in manifests.iter().enumerate() {
                if manifest.content != 0 || i64::from(manifest.spec_id) != spec_id {
                    kept.push(manifest.clone());
                    continue;
                }
                let entries = table.manifest_entries(manifest, &fields)?;
                let merged = |e: &Entry| {
                    e.status != Status::Deleted
                        && (table.key_of(&e.file.path)).is_some_and(|key| removes.contains(&key))
                };
                let hits = entries.iter().filter(|e| merged(e)).count();
                if hits == 0 {
                    kept.push(manifest.clone());
                    continue;
                }
                found += hits;
                // Entries deleted by an earlier snapshot mean nothing in this one: left out.
                let rewritten: Vec<Entry> = (entries.iter())
                    .filter(|e| e.status != Status::Deleted)
                    .map(|e| {
                        let mut e = e.clone();
                        if merged(&e) {
                            e.status = Status::Deleted;
                            e.snapshot_id = Some(attempt.snapshot_id);
                        } else {
                            e.status = Status::Existing;
                        }
                        e
                    })
                    .collect();
                let bytes = manifest::write_manifest(&context, &rewritten)?;
                let length = bytes.len() as i64;
                let key = format!("{METADATA_DIR}/{run_id}-r{}-{n}.avro", attempt.number);
                table.root.put_bytes(&key, bytes, false)?;
                kept.push(ManifestFile::describe(
                    table.uri(&key),
                    length,
                    spec_id as i32,
                    attempt.snapshot_id,
                    attempt.sequence,
                    &rewritten,
                ));
            }
            if found != removes.len() {
                return Err(table.error(format!(
                    "{} of the {} files being merged left the table meanwhile (another \
                     compaction?): nothing was committed",
                    removes.len() - found,
                    removes.len()
                )));
            }
            Ok(kept)
        };
        let added_rows: i64 = entries.iter().map(|e| e.file.record_count).sum();
        let added_bytes: i64 = entries.iter().map(|e| e.file.file_size).sum();
        let mut summary = serde_json::Map::new();
        for (key, value) in [
            ("added-data-files", entries.len() as i64),
            ("deleted-data-files", removes.len() as i64),
            ("added-records", added_rows),
            ("deleted-records", removed_rows),
            ("added-files-size", added_bytes),
            ("removed-files-size", removed_bytes),
        ] {
            summary.insert(key.into(), json!(value.to_string()));
        }
        self.commit_snapshot(
            snapshot_id,
            &run_id,
            "replace",
            &[(added_key, length, spec_id as i32, entries)],
            &rewrite,
            summary,
        )
    }

    /// Marks published the crashed runs whose snapshots are in the table, before an expiry
    /// could remove the snapshots that show they landed; returns how many.
    pub fn publish_landed_runs(&mut self) -> Result<usize> {
        self.reload()?;
        let root = self.root.clone();
        let mut published = 0;
        for manifest in self.ledger.unfinished(&HashSet::new()) {
            if self.snapshot_of_run(&manifest.run_id).is_some() {
                self.ledger.mark_published(&root, &manifest.run_id)?;
                published += 1;
            }
        }
        Ok(published)
    }

    /// Expires the snapshots committed before `cutoff_ms`, except those a branch or tag points
    /// at (the current one among them); returns their ids. With `dry_run`, only names them.
    pub fn expire_snapshots(&mut self, cutoff_ms: i64, dry_run: bool) -> Result<Vec<i64>> {
        let mut last_error = String::new();
        for attempt in 0..EXPIRE_ATTEMPTS {
            if attempt > 0 {
                std::thread::sleep(super::backoff(attempt));
            }
            self.reload()?;
            let referenced: HashSet<i64> = (self.metadata["refs"].as_object().into_iter())
                .flat_map(|refs| refs.values())
                .filter_map(|r| r["snapshot-id"].as_i64())
                .chain(self.metadata["current-snapshot-id"].as_i64())
                .collect();
            let expired: Vec<i64> = (self.metadata["snapshots"].as_array().into_iter().flatten())
                .filter(|s| s["timestamp-ms"].as_i64().is_some_and(|t| t < cutoff_ms))
                .filter_map(|s| s["snapshot-id"].as_i64())
                .filter(|id| !referenced.contains(id))
                .collect();
            if expired.is_empty() || dry_run {
                return Ok(expired);
            }
            let requirements = json!([
                {"type": "assert-table-uuid", "uuid": self.metadata["table-uuid"]},
            ]);
            let updates = json!([{"action": "remove-snapshots", "snapshot-ids": expired}]);
            match self.catalog.commit(requirements, updates)? {
                CommitOutcome::Committed(_) => {
                    self.reload()?;
                    return Ok(expired);
                }
                CommitOutcome::Conflict(why) | CommitOutcome::Unknown(why) => {
                    tracing::info!(attempt, "expiry commit failed, trying again: {why}");
                    last_error = why;
                }
            }
        }
        Err(self.error(format!(
            "the snapshots could not be expired in {EXPIRE_ATTEMPTS} attempts: {last_error}"
        )))
    }

    /// The keys of every file that a snapshot of the table (other than `excluded`) reads: its
    /// manifest list, its manifests and their live data files.
    pub fn referenced_files(&self, excluded: &HashSet<i64>) -> Result<HashSet<String>> {
        let mut keys = HashSet::new();
        let mut manifests: HashMap<String, ManifestFile> = HashMap::new();
        let snapshots = (self.metadata["snapshots"].as_array().into_iter().flatten()).filter(|s| {
            s["snapshot-id"]
                .as_i64()
                .is_none_or(|id| !excluded.contains(&id))
        });
        for snapshot in snapshots {
            let Some(list) = snapshot["manifest-list"].as_str() else {
                continue;
            };
            let key = self.under_location(list)?;
            let bytes = (self.root.get_bytes(&key)?)
                .ok_or_else(|| self.error(format!("manifest list {list} is missing")))?;
            keys.insert(key);
            for manifest in manifest::read_manifest_list(&bytes)? {
                manifests.entry(manifest.path.clone()).or_insert(manifest);
            }
        }
        for manifest in manifests.values() {
            keys.insert(self.under_location(&manifest.path)?);
            for entry in self.manifest_entries(manifest, &[])? {
                if entry.status != Status::Deleted {
                    keys.insert(self.under_location(&entry.file.path)?);
                }
            }
        }
        Ok(keys)
    }

    /// The key of a file the table lists; one outside the table's location stops a vacuum (its
    /// files could not be told apart from files the table needs).
    fn under_location(&self, uri: &str) -> Result<String> {
        self.key_of(uri).ok_or_else(|| {
            self.error(format!(
                "{uri} is not under the table's location: vacuum deletes nothing in such a table"
            ))
        })
    }

    /// Whether vacuum may delete `key` when no snapshot needs it: the data files and Avro
    /// manifests under the location (the catalog's metadata JSON files are the catalog's).
    pub fn may_delete(key: &str) -> bool {
        (key.starts_with(&format!("{}/", super::DATA_DIR)) && key.ends_with(".parquet"))
            || (key.starts_with(&format!("{METADATA_DIR}/")) && key.ends_with(".avro"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vacuum_deletes_only_data_files_and_manifests() {
        assert!(IcebergTable::may_delete(
            "data/date=2026-11-23/hour=22/part-1.parquet"
        ));
        assert!(IcebergTable::may_delete("metadata/snap-1-0-r.avro"));
        assert!(!IcebergTable::may_delete(
            "metadata/00001-abc.metadata.json"
        ));
        assert!(!IcebergTable::may_delete("_ledger/manifests/r.json"));
        assert!(!IcebergTable::may_delete("_rejects/rejects-1.ndjson"));
        assert!(!IcebergTable::may_delete("part-1.parquet"));
    }

    #[test]
    fn folders_of_keys() {
        assert_eq!(
            folder_of("data/date=1/hour=2/p.parquet"),
            "data/date=1/hour=2"
        );
        assert_eq!(folder_of("p.parquet"), "");
    }
}
