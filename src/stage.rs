//! Staging: where a run's files wait until its commit (a local folder for the Parquet writer
//! and, for object store outputs, the prefix they are uploaded to), the upload to it in bounded
//! groups, and the clean-up of what killed runs left there.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::lock::Shard;
use crate::storage::Location;
use crate::write::{STAGING_DIR, StagedFile};

/// Where a run's files wait until the commit: a local folder for the Parquet writer and, for
/// object store outputs, the prefix they are uploaded to. Both are under a `_` folder (or the
/// system's temporary folder), so readers never see them. Removed however the run ends.
pub struct Staging {
    /// Local folder the writer writes into.
    pub local: PathBuf,
    /// The same place as a key under the output root (`_staging/<shard>/<name>`).
    pub key: String,
    /// Whether `local` is under the output root (local outputs).
    pub in_root: bool,
}

/// The staging folder of maintenance (`compact`), under `_staging/`. Maintenance holds no
/// shard's lease, so runs cleaning up cannot tell a live compaction from a killed one: they
/// leave its folders alone until [`MAINTENANCE_STAGING_TTL`] has passed.
pub const MAINTENANCE_STAGING: &str = "maintenance";
/// How long a maintenance staging folder is kept before a run may take it for abandoned.
pub const MAINTENANCE_STAGING_TTL: std::time::Duration = std::time::Duration::from_secs(86_400);

impl Staging {
    /// A new staging folder for a run of `shard`.
    pub fn create(root: &Location, shard: Shard, temp_dir: Option<&Path>) -> Result<Staging> {
        Self::create_in(root, &shard.to_string(), temp_dir)
    }

    /// A new staging folder for maintenance ([`MAINTENANCE_STAGING`]).
    pub fn for_maintenance(root: &Location, temp_dir: Option<&Path>) -> Result<Staging> {
        Self::create_in(root, MAINTENANCE_STAGING, temp_dir)
    }

    fn create_in(root: &Location, owner: &str, temp_dir: Option<&Path>) -> Result<Staging> {
        let name = format!("{}-{}", std::process::id(), unix_nanos());
        let key = format!("{STAGING_DIR}/{owner}/{name}");
        let (local, in_root) = match root.local_root() {
            Some(dir) => (dir.join(&key), true),
            None => {
                let base = temp_dir.map_or_else(std::env::temp_dir, Path::to_path_buf);
                (base.join(format!("logpush-parquet-{name}")), false)
            }
        };
        // Another shard's run, cleaning up, removes `_staging/<shard>/` when it finds it empty:
        // between our creating that folder and the run's folder inside it. Then again.
        let mut attempts = 0;
        while let Err(e) = std::fs::create_dir_all(&local) {
            attempts += 1;
            if e.kind() != std::io::ErrorKind::NotFound || attempts == 10 {
                return Err(Error::output(&local, e));
            }
        }
        Ok(Staging {
            local,
            key,
            in_root,
        })
    }

    /// The key of a local file of this staging folder, under the output root.
    pub fn key_of(&self, file: &Path) -> String {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{}/{name}", self.key)
    }

    /// Puts a closed local file of this staging folder at `key` under the output root: uploads
    /// it to an object store, moves it on local disk (nothing, when `key` is where it is).
    pub fn put(&self, root: &Location, file: &Path, key: &str) -> Result<()> {
        if !self.in_root {
            return root.upload_file(file, key).map(|_| ());
        }
        if key == self.key_of(file) {
            return Ok(());
        }
        let target = root
            .local_root()
            .map(|dir| dir.join(key))
            .unwrap_or_else(|| file.to_path_buf());
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| Error::output(parent, e))?;
        }
        std::fs::rename(file, &target).map_err(|e| Error::output(&target, e))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.local);
        if self.in_root
            && let Some(parent) = self.local.parent()
        {
            let _ = std::fs::remove_dir(parent); // only if empty
            if let Some(grandparent) = parent.parent() {
                let _ = std::fs::remove_dir(grandparent);
            }
        }
    }
}

/// Files uploaded to staging at once.
pub const UPLOAD_CONCURRENCY: usize = 16;

/// Consecutive groups of `files` to upload together: at most [`UPLOAD_CONCURRENCY`] files, whose
/// uploads hold at most `budget` bytes together (an upload holds its file, or two parts of
/// `per_file / 2` bytes of a larger one), unless one file alone holds more.
pub fn upload_groups(files: &[StagedFile], budget: usize, per_file: u64) -> Vec<&[StagedFile]> {
    let mut groups = Vec::new();
    let (mut start, mut held) = (0, 0u64);
    for (i, file) in files.iter().enumerate() {
        let cost = file.bytes.min(per_file);
        if i > start && (held + cost > budget as u64 || i - start >= UPLOAD_CONCURRENCY) {
            groups.push(&files[start..i]);
            (start, held) = (i, 0);
        }
        held += cost;
    }
    if start < files.len() {
        groups.push(&files[start..]);
    }
    groups
}

/// Deletes what runs left in staging (killed, or failed before their commit): not the staging
/// of shards a live run held when `busy` was listed, nor any created after `snapshot` (Unix
/// nanoseconds, taken just before that listing: a run that took its lease since then). Called
/// while holding this shard's lease, after unfinished runs were published.
pub fn clean_staging(
    root: &Location,
    busy: &std::collections::HashSet<String>,
    snapshot: u128,
) -> Result<()> {
    // Staging folders are `_staging/<shard>/<pid>-<nanos>` (or `_staging/maintenance/...`).
    let stale_folder = |shard: &str, name: &str| {
        let created = name
            .rsplit_once('-')
            .and_then(|(_, nanos)| nanos.parse::<u128>().ok());
        if shard == MAINTENANCE_STAGING {
            let cutoff = snapshot.saturating_sub(MAINTENANCE_STAGING_TTL.as_nanos());
            return created.is_none_or(|c| c < cutoff);
        }
        !busy.contains(shard) && created.is_none_or(|c| c < snapshot)
    };
    let mut stale: Vec<String> = root
        .list(STAGING_DIR)?
        .into_iter()
        .map(|l| l.key)
        .filter(|key| {
            let mut parts = key.split('/').skip(1);
            let shard = parts.next().unwrap_or_default();
            stale_folder(shard, parts.next().unwrap_or_default())
        })
        .collect();
    stale.sort();
    for key in &stale {
        root.delete(key)?;
    }
    if let Some(dir) = root.local_root() {
        // Empty folders are left behind on local disk.
        if let Ok(shards) = std::fs::read_dir(dir.join(STAGING_DIR)) {
            for shard in shards.flatten() {
                let shard_name = shard.file_name().to_string_lossy().into_owned();
                for run in std::fs::read_dir(shard.path())
                    .into_iter()
                    .flatten()
                    .flatten()
                {
                    let name = run.file_name().to_string_lossy().into_owned();
                    if stale_folder(&shard_name, &name) {
                        let _ = std::fs::remove_dir_all(run.path());
                    }
                }
                let _ = std::fs::remove_dir(shard.path()); // only if empty
            }
        }
    }
    Ok(())
}

/// Now, in Unix nanoseconds.
pub fn unix_nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn staged(bytes: u64) -> StagedFile {
        StagedFile {
            temp: PathBuf::new(),
            partition: String::new(),
            seq: 0,
            rows: 0,
            bytes,
            stats: Default::default(),
        }
    }

    /// Regression: a shard run that started while `compact` was writing took the compaction's
    /// staging folder (no shard holds it) for a killed run's and deleted it under it.
    #[test]
    fn a_cleaning_run_leaves_a_live_compactions_staging_alone_for_a_day() {
        let dir = tempfile::tempdir().unwrap();
        let storage = crate::storage::Storage::new(Default::default()).unwrap();
        let root = storage.open(dir.path().to_str().unwrap()).unwrap();
        let compaction = Staging::for_maintenance(&root, None).unwrap();
        std::fs::write(compaction.local.join("000001.parquet.tmp"), b"x").unwrap();
        let killed = Staging::create(&root, Shard::default(), None).unwrap();
        std::fs::write(killed.local.join("000001.parquet.tmp"), b"x").unwrap();
        let busy = std::collections::HashSet::new();
        clean_staging(&root, &busy, unix_nanos()).unwrap();
        assert!(compaction.local.join("000001.parquet.tmp").exists());
        assert!(!killed.local.exists(), "a killed run's staging is cleaned");
        let day_later = unix_nanos() + MAINTENANCE_STAGING_TTL.as_nanos() + 1;
        clean_staging(&root, &busy, day_later).unwrap();
        assert!(
            !compaction.local.exists(),
            "an abandoned compaction's, a day later"
        );
    }

    #[test]
    fn upload_groups_hold_at_most_the_budget_and_keep_every_file_once_in_order() {
        let files: Vec<StagedFile> = [5, 5, 5, 40, 1, 1, 100, 3]
            .into_iter()
            .chain(std::iter::repeat_n(1, 40))
            .map(staged)
            .collect();
        let groups = upload_groups(&files, 12, 30);
        let sizes: Vec<Vec<u64>> = groups
            .iter()
            .map(|g| g.iter().map(|f| f.bytes).collect())
            .collect();
        assert_eq!(
            sizes[..5],
            [vec![5, 5], vec![5], vec![40], vec![1, 1], vec![100]]
        );
        for group in &groups {
            let held: u64 = group.iter().map(|f| f.bytes.min(30)).sum();
            assert!(group.len() == 1 || held <= 12, "{held} bytes held at once");
            assert!(group.len() <= UPLOAD_CONCURRENCY);
        }
        let flat: Vec<u64> = groups
            .iter()
            .flat_map(|g| g.iter().map(|f| f.bytes))
            .collect();
        let all: Vec<u64> = files.iter().map(|f| f.bytes).collect();
        assert_eq!(flat, all);
        assert!(upload_groups(&[], 12, 30).is_empty());
    }
}
