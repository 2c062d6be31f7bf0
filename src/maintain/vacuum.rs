//! `logpush-parquet vacuum`: expires a lake table's versions older than the retention period
//! (Iceberg snapshots) and deletes the files no remaining version needs: files a compaction
//! merged away longer ago than that, and files of runs that never committed (a killed run's,
//! which its re-run usually overwrote anyway).
//!
//! A file is kept when a version the table keeps reads it (Delta: the latest version, and every
//! file a commit written within the retention period names, so time travel to any version of
//! that period still reads its rows; Iceberg: every snapshot left after expiry, the current one
//! included), or when it was written within the retention period (a run converting right now
//! has written files it has not committed yet). The retention must be at least an hour and
//! twice the longest run the ledger records, unless `--force` says otherwise. Only the layout's
//! own files are considered ([`super::MaintainedTable::may_delete`]): the log, the ledger, the
//! rejects files and the catalog's metadata files are never deleted.

use std::time::{Duration, Instant};

use super::TableAt;
use crate::error::{Error, Result};
use crate::ledger::Ledger;
use crate::storage::{StorageOptions, concurrently};
use crate::time::parse_rfc3339;

/// The default of `--retain`: a week, Delta's own default.
pub const DEFAULT_RETAIN: Duration = Duration::from_secs(7 * 86_400);

/// The retention may not be shorter than this unless forced, nor than twice the longest run
/// on record.
const MIN_RETAIN: Duration = Duration::from_secs(3_600);

/// Files deleted at once.
const DELETE_CONCURRENCY: usize = 16;

/// What to vacuum.
#[derive(Debug, Clone)]
pub struct VacuumOptions {
    /// The table.
    pub table: TableAt,
    /// Keep what versions of this period need.
    pub retain: Duration,
    /// Allow a retention shorter than the longest run on record.
    pub force: bool,
    /// Only list what would be deleted.
    pub dry_run: bool,
    /// How to reach object stores.
    pub storage: StorageOptions,
}

/// What a vacuum did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct VacuumSummary {
    /// Versions expired (Iceberg snapshots; or, with `--dry-run`, that would be).
    pub versions_expired: u64,
    /// Files deleted (or, with `--dry-run`, that would be).
    pub files_deleted: u64,
    /// Their bytes.
    pub bytes_deleted: u64,
    /// Data files kept.
    pub files_kept: u64,
    /// The files deleted (or that would be), relative to the root.
    pub deleted: Vec<String>,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// Wall-clock seconds.
    pub elapsed_s: f64,
}

impl VacuumSummary {
    /// A line for a person.
    pub fn to_text(&self) -> String {
        let expired = match (self.versions_expired, self.dry_run) {
            (0, _) => String::new(),
            (n, false) => format!("expired {n} snapshots, "),
            (n, true) => format!("would expire {n} snapshots, "),
        };
        format!(
            "{expired}{} {} files ({:.1} MB), kept {}; {:.2} s\n",
            if self.dry_run {
                "would delete"
            } else {
                "deleted"
            },
            self.files_deleted,
            self.bytes_deleted as f64 / 1e6,
            self.files_kept,
            self.elapsed_s
        )
    }
}

/// Vacuums the table `options.table`.
pub fn vacuum(options: &VacuumOptions) -> Result<VacuumSummary> {
    let started = Instant::now();
    let mut table = super::open(&options.table, &options.storage, "vacuum")?;
    let root = table.root().clone();
    check_retention(table.ledger(), options)?;
    let now_ms = now_ms();
    let cutoff_ms = now_ms - options.retain.as_millis() as i64;
    let versions_expired = table.expire_versions(cutoff_ms, options.dry_run)?;
    let keep = table.needed_files(cutoff_ms)?;

    let mut summary = VacuumSummary {
        versions_expired,
        dry_run: options.dry_run,
        ..VacuumSummary::default()
    };
    let mut doomed = Vec::new();
    for object in root.list("")? {
        if !table.may_delete(&object.key) {
            continue;
        }
        if keep.contains(&object.key) || object.modified_ms >= cutoff_ms {
            summary.files_kept += 1;
            continue;
        }
        summary.bytes_deleted += object.size;
        doomed.push(object.key);
    }
    summary.files_deleted = doomed.len() as u64;
    if !options.dry_run {
        concurrently(&doomed, DELETE_CONCURRENCY, |key| root.delete(key))?;
    }
    summary.deleted = doomed;
    summary.elapsed_s = started.elapsed().as_secs_f64();
    Ok(summary)
}

/// Refuses a retention shorter than twice the longest run on record (a run's files, written
/// before its commit, could be deleted under it), or than an hour.
fn check_retention(ledger: &Ledger, options: &VacuumOptions) -> Result<()> {
    if options.force {
        return Ok(());
    }
    let seconds = |text: &str| parse_rfc3339(text.as_bytes()).ok().map(|i| i.secs);
    let longest = ledger
        .manifests
        .values()
        .filter_map(|m| Some(seconds(&m.committed_at)? - seconds(m.started_at.as_deref()?)?))
        .max()
        .map(|s| Duration::from_secs(s.max(0) as u64));
    let floor = longest.map_or(MIN_RETAIN, |l| (2 * l).max(MIN_RETAIN));
    if options.retain < floor {
        return Err(Error::InvalidOption {
            option: "--retain",
            message: format!(
                "{}s is shorter than {}s (an hour, or twice the longest run on record, {}s): \
                 files a run writes before its commit could be deleted under it; give a longer \
                 retention, or --force",
                options.retain.as_secs(),
                floor.as_secs(),
                longest.map_or(0, |l| l.as_secs())
            ),
        });
    }
    Ok(())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
