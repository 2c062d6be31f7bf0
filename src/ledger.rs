//! The ledger: which inputs have been converted, into which files, and the commit protocol that
//! makes every run count exactly once, whatever crashes.
//!
//! It lives under the output root in `_ledger/` (Spark and DuckDB skip `_` folders):
//!
//! ```text
//! _ledger/runs/<run id>.json        a run's manifest: its inputs, its files, what it replaces
//! _ledger/runs/<run id>.published   written once every file of the manifest is in place
//! _ledger/locks/<i>-of-<n>/<gen>.json  the lease of the run working on shard i of n
//! ```
//!
//! # Commit protocol
//!
//! 1. A run takes the lease of its shard ([`crate::lock`]), then finishes any run that committed
//!    but did not publish (step 4 below), then deletes its shard's staging leftovers.
//! 2. It converts the inputs the ledger does not hold into files under `_staging/`, invisible
//!    to readers. A crash here leaves only staging garbage: the inputs are not in the ledger, so
//!    the next run converts them again.
//! 3. **Commit point:** it checks that it still holds its lease and writes its manifest (one
//!    atomic object write). From then on the inputs count as converted.
//! 4. **Publish:** it moves each staged file to its final name (`part-<run id>-<n>.parquet`,
//!    deterministic), deletes the files the run replaces (`--reprocess`, or an earlier run with
//!    the same run id), and writes the `.published` marker. Every step is idempotent, so a run
//!    that finds a manifest without a marker simply publishes it again (roll forward).
//!
//! Hence after a kill at any moment and a re-run, every input row is in the output exactly once:
//! before the commit point nothing is visible and nothing is recorded; after it the manifest
//! says exactly which files hold the inputs' rows, and publishing converges to that. Between
//! the kill and the re-run, readers may see part of a run that was being published.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::storage::{Location, concurrently};

/// Files moved (or deleted) at once while publishing a run.
const PUBLISH_CONCURRENCY: usize = 16;

/// The ledger folder under the output root.
pub const LEDGER_DIR: &str = "_ledger";
/// Where manifests live.
pub const RUNS_DIR: &str = "_ledger/runs";
/// The manifest format this version writes for plain outputs.
pub const MANIFEST_FORMAT: u32 = 1;
/// The format of manifests of Delta table runs (with [`Manifest::delta_txn`]), which earlier
/// versions, knowing no Delta commit, must refuse.
pub const DELTA_MANIFEST_FORMAT: u32 = 2;
/// The format of manifests of Iceberg table runs (with [`Manifest::iceberg_snapshot`]); the
/// newest this version reads.
pub const ICEBERG_MANIFEST_FORMAT: u32 = 3;

/// An input as the ledger records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputRecord {
    /// Canonical local path, or URL.
    pub key: String,
    /// Size in bytes when converted.
    pub size: u64,
    /// ETag or modification time when converted.
    pub version: String,
    /// `--salvage`: the error that ended its reading; only the lines before it were converted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub salvaged: Option<String>,
}

/// A file a run wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// Final path, relative to the output root.
    pub path: String,
    /// Where it waits until published, relative to the output root.
    pub staged: String,
    /// Rows (data files) or lines (rejects) in it.
    pub rows: u64,
    /// Size in bytes.
    pub bytes: u64,
}

/// A committed run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_FORMAT`].
    pub format: u32,
    /// The run id (also in the file names).
    pub run_id: String,
    /// The shard that ran it, `i-of-n`.
    pub shard: String,
    /// When it started (RFC 3339, UTC; not recorded before 2026-11-28).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// When it committed (RFC 3339, UTC).
    pub committed_at: String,
    /// The inputs converted, every row of which is in `files` or `rejects`.
    pub inputs: Vec<InputRecord>,
    /// The data files.
    pub files: Vec<ManifestFile>,
    /// The rejected lines, if any.
    pub rejects: Option<ManifestFile>,
    /// Runs whose inputs this run converted again (`--reprocess`): their manifests go.
    pub replaces: Vec<String>,
    /// Files of replaced runs (or of an earlier run with this run id) that publishing deletes.
    pub removes: Vec<String>,
    /// Delta tables: the run's number in its shard's `txn` (see [`crate::commit`]), recorded
    /// before the Delta commit that makes the run visible. Such a manifest without its
    /// `.published` marker counts only once the table's `txn` for its shard has reached it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delta_txn: Option<u64>,
    /// Iceberg tables: the id of the snapshot that makes the run visible, recorded before the
    /// commit. Such a manifest without its `.published` marker counts only once the table has
    /// a snapshot of its run id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iceberg_snapshot: Option<i64>,
}

impl Manifest {
    fn key(run_id: &str) -> String {
        format!("{RUNS_DIR}/{run_id}.json")
    }

    fn marker(run_id: &str) -> String {
        format!("{RUNS_DIR}/{run_id}.published")
    }

    /// Every path this run makes visible (data files and rejects).
    pub fn visible_paths(&self) -> impl Iterator<Item = &str> {
        self.files
            .iter()
            .chain(self.rejects.iter())
            .map(|f| f.path.as_str())
    }
}

/// Where an input was converted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Converted {
    /// The run that holds it.
    pub run_id: String,
    /// The input as recorded.
    pub record: InputRecord,
}

/// Every committed run of an output root.
#[derive(Debug, Default)]
pub struct Ledger {
    /// Manifests by run id.
    pub manifests: BTreeMap<String, Manifest>,
    /// Runs whose files are all in place.
    pub published: HashSet<String>,
}

impl Ledger {
    /// Reads the ledger of `root` (empty when there is none).
    pub fn load(root: &Location) -> Result<Ledger> {
        let listed = root.list(RUNS_DIR)?;
        let mut ledger = Ledger::default();
        let manifest_keys: Vec<String> = listed
            .iter()
            .filter(|l| l.key.ends_with(".json"))
            .map(|l| l.key.clone())
            .collect();
        for (key, bytes) in manifest_keys.iter().zip(root.get_many(&manifest_keys)?) {
            let Some(bytes) = bytes else { continue }; // deleted since listed
            let manifest: Manifest = serde_json::from_slice(&bytes).map_err(|e| Error::Ledger {
                location: root.display_key(key),
                message: e.to_string(),
            })?;
            if manifest.format > ICEBERG_MANIFEST_FORMAT {
                return Err(Error::Ledger {
                    location: root.display_key(key),
                    message: format!(
                        "written by a newer version (format {}); upgrade logpush-parquet",
                        manifest.format
                    ),
                });
            }
            ledger.manifests.insert(manifest.run_id.clone(), manifest);
        }
        for l in &listed {
            if let Some(name) = l.key.strip_suffix(".published") {
                let run_id = name.rsplit('/').next().unwrap_or(name);
                ledger.published.insert(run_id.to_string());
            }
        }
        Ok(ledger)
    }

    /// Runs that another committed run replaces (their inputs count under the newer run).
    fn superseded(&self) -> HashSet<&str> {
        self.manifests
            .values()
            .flat_map(|m| m.replaces.iter())
            .filter(|r| self.manifests.contains_key(*r))
            .map(String::as_str)
            .collect()
    }

    /// Every converted input, by key.
    pub fn converted(&self) -> HashMap<&str, Converted> {
        let superseded = self.superseded();
        let mut map = HashMap::new();
        for m in self.manifests.values() {
            if superseded.contains(m.run_id.as_str()) {
                continue;
            }
            for record in &m.inputs {
                map.insert(
                    record.key.as_str(),
                    Converted {
                        run_id: m.run_id.clone(),
                        record: record.clone(),
                    },
                );
            }
        }
        map
    }

    /// Runs without their `.published` marker, except those of shards a live run holds (`busy`:
    /// that run is finishing them).
    pub fn unfinished(&self, busy: &HashSet<String>) -> Vec<Manifest> {
        self.manifests
            .values()
            .filter(|m| !self.published.contains(&m.run_id) && !busy.contains(&m.shard))
            .cloned()
            .collect()
    }

    /// Publishes every committed run that is not yet fully in place (a crash struck during its
    /// publication), except those of shards a live run holds (`busy`: that run is publishing
    /// them). Returns the run ids finished.
    pub fn recover(&mut self, root: &Location, busy: &HashSet<String>) -> Result<Vec<String>> {
        let pending = self.unfinished(busy);
        let mut finished = Vec::new();
        for manifest in pending {
            tracing::warn!(run = %manifest.run_id, "finishing a run a crash interrupted");
            self.publish(root, &manifest)?;
            finished.push(manifest.run_id);
        }
        Ok(finished)
    }

    /// The commit point: records `manifest` in the ledger. Its inputs count as converted from
    /// here on; [`Ledger::publish`] then makes its files visible.
    pub fn commit(&mut self, root: &Location, manifest: &Manifest) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(manifest).map_err(|e| Error::Ledger {
            location: root.display_key(&Manifest::key(&manifest.run_id)),
            message: e.to_string(),
        })?;
        // An earlier run with the same id is being replaced: its marker goes first, so a crash
        // between here and the end of publishing leaves this manifest unpublished.
        root.delete(&Manifest::marker(&manifest.run_id))?;
        self.published.remove(&manifest.run_id);
        root.put_bytes(&Manifest::key(&manifest.run_id), bytes, false)?;
        self.manifests
            .insert(manifest.run_id.clone(), manifest.clone());
        Ok(())
    }

    /// Moves a committed run's files into place and removes what it replaces. Idempotent.
    pub fn publish(&mut self, root: &Location, manifest: &Manifest) -> Result<()> {
        let files: Vec<&ManifestFile> = manifest.files.iter().chain(&manifest.rejects).collect();
        concurrently(&files, PUBLISH_CONCURRENCY, |file| {
            if !root.rename_if_present(&file.staged, &file.path)?
                && root.head(&file.path)?.is_none()
            {
                return Err(Error::Ledger {
                    location: root.display_key(&file.path),
                    message: format!(
                        "run {} lists this file, but neither it nor its staged copy {} exists",
                        manifest.run_id, file.staged
                    ),
                });
            }
            Ok(())
        })?;
        let keep: HashSet<&str> = manifest.visible_paths().collect();
        let removes: Vec<&String> = manifest
            .removes
            .iter()
            .filter(|path| !keep.contains(path.as_str()))
            .collect();
        concurrently(&removes, PUBLISH_CONCURRENCY, |path| root.delete(path))?;
        root.put_bytes(&Manifest::marker(&manifest.run_id), Vec::new(), false)?;
        self.published.insert(manifest.run_id.clone());
        for replaced in &manifest.replaces {
            if *replaced != manifest.run_id {
                root.delete(&Manifest::key(replaced))?;
                root.delete(&Manifest::marker(replaced))?;
                self.manifests.remove(replaced);
                self.published.remove(replaced);
            }
        }
        Ok(())
    }

    /// Writes the `.published` marker of a run whose files are all visible by other means (a
    /// Delta commit).
    pub fn mark_published(&mut self, root: &Location, run_id: &str) -> Result<()> {
        root.put_bytes(&Manifest::marker(run_id), Vec::new(), false)?;
        self.published.insert(run_id.to_string());
        Ok(())
    }

    /// Drops a run that never became visible: deletes its files, then its manifest, so that its
    /// inputs count as not converted.
    pub fn forget(&mut self, root: &Location, manifest: &Manifest) -> Result<()> {
        let paths: Vec<&str> = manifest.visible_paths().collect();
        concurrently(&paths, PUBLISH_CONCURRENCY, |path| root.delete(path))?;
        root.delete(&Manifest::key(&manifest.run_id))?;
        self.manifests.remove(&manifest.run_id);
        Ok(())
    }

    /// The files to delete when `replaced` runs are replaced by a run writing `keep`.
    pub fn files_of(&self, replaced: &[String]) -> Vec<String> {
        let mut paths: Vec<String> = replaced
            .iter()
            .filter_map(|r| self.manifests.get(r))
            .flat_map(|m| m.visible_paths().map(str::to_string))
            .collect();
        paths.sort();
        paths.dedup();
        paths
    }

    /// Every visible path any committed run lists (what a reader may see as data).
    pub fn all_paths(&self) -> HashSet<&str> {
        self.manifests
            .values()
            .flat_map(|m| m.visible_paths())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn root() -> Location {
        Location::with_store(
            crate::storage::tests::storage(),
            Arc::new(object_store::memory::InMemory::new()),
            "memory://out",
        )
    }

    fn manifest(run_id: &str, inputs: &[&str], files: &[&str]) -> Manifest {
        Manifest {
            format: MANIFEST_FORMAT,
            run_id: run_id.into(),
            shard: "0-of-1".into(),
            started_at: None,
            committed_at: "2026-11-24T00:00:00Z".into(),
            inputs: inputs
                .iter()
                .map(|k| InputRecord {
                    key: k.to_string(),
                    size: 1,
                    version: "v".into(),
                    salvaged: None,
                })
                .collect(),
            files: files
                .iter()
                .map(|f| ManifestFile {
                    path: f.to_string(),
                    staged: format!("_staging/x/{f}"),
                    rows: 1,
                    bytes: 1,
                })
                .collect(),
            rejects: None,
            replaces: Vec::new(),
            removes: Vec::new(),
            delta_txn: None,
            iceberg_snapshot: None,
        }
    }

    fn stage(root: &Location, m: &Manifest) {
        for f in &m.files {
            root.put_bytes(&f.staged, f.path.as_bytes().to_vec(), false)
                .unwrap();
        }
    }

    fn visible(root: &Location) -> Vec<String> {
        root.list("")
            .unwrap()
            .into_iter()
            .map(|l| l.key)
            .filter(|k| !k.starts_with('_'))
            .collect()
    }

    #[test]
    fn a_run_committed_but_not_published_is_finished_by_the_next() {
        let root = root();
        let m = manifest("aaaa", &["in/1"], &["d=1/part-aaaa-00000.parquet"]);
        stage(&root, &m);
        let mut ledger = Ledger::load(&root).unwrap();
        ledger.commit(&root, &m).unwrap();
        // Crash: nothing published yet.
        assert!(visible(&root).is_empty());
        let mut ledger = Ledger::load(&root).unwrap();
        assert_eq!(ledger.converted()["in/1"].run_id, "aaaa");
        assert_eq!(ledger.recover(&root, &HashSet::new()).unwrap(), ["aaaa"]);
        assert_eq!(visible(&root), ["d=1/part-aaaa-00000.parquet"]);
        // Publishing again (another crash before the marker) changes nothing.
        ledger.publish(&root, &m).unwrap();
        let mut ledger = Ledger::load(&root).unwrap();
        assert!(ledger.recover(&root, &HashSet::new()).unwrap().is_empty());
        assert_eq!(visible(&root), ["d=1/part-aaaa-00000.parquet"]);
    }

    #[test]
    fn a_replacing_run_removes_the_old_files_and_takes_over_the_inputs() {
        let root = root();
        let old = manifest("old1", &["in/1", "in/2"], &["d=1/part-old1-00000.parquet"]);
        stage(&root, &old);
        let mut ledger = Ledger::load(&root).unwrap();
        ledger.commit(&root, &old).unwrap();
        ledger.publish(&root, &old).unwrap();

        let mut new = manifest("new1", &["in/1", "in/2"], &["d=1/part-new1-00000.parquet"]);
        new.replaces = vec!["old1".into()];
        new.removes = ledger.files_of(&new.replaces);
        stage(&root, &new);
        ledger.commit(&root, &new).unwrap();
        // Before publishing, the inputs already belong to the new run.
        let reread = Ledger::load(&root).unwrap();
        assert_eq!(reread.converted()["in/2"].run_id, "new1");
        ledger.publish(&root, &new).unwrap();
        assert_eq!(visible(&root), ["d=1/part-new1-00000.parquet"]);
        let reread = Ledger::load(&root).unwrap();
        assert_eq!(reread.manifests.keys().collect::<Vec<_>>(), ["new1"]);
    }

    #[test]
    fn a_missing_file_is_reported_not_ignored() {
        let root = root();
        let m = manifest("bbbb", &["in/1"], &["part-bbbb-00000.parquet"]);
        let mut ledger = Ledger::default();
        ledger.commit(&root, &m).unwrap();
        let err = ledger.publish(&root, &m).unwrap_err();
        assert!(err.to_string().contains("part-bbbb-00000.parquet"), "{err}");
    }

    #[test]
    fn a_manifest_from_a_newer_version_is_refused() {
        let root = root();
        let mut m = manifest("cccc", &["in/1"], &[]);
        m.format = 99;
        root.put_bytes(
            &Manifest::key("cccc"),
            serde_json::to_vec(&m).unwrap(),
            false,
        )
        .unwrap();
        let err = Ledger::load(&root).unwrap_err();
        assert!(err.to_string().contains("newer version"), "{err}");
    }
}
