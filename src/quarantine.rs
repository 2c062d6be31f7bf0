//! Poison inputs: an input that cannot be read to its end (a damaged gzip tail, an object cut
//! short) must not fail every future run.
//!
//! Each failure of an input is recorded under `_ledger/failures/`, one object per input key:
//! its size and version (ETag or mtime), how many runs in a row it failed, the first and last
//! time and the last error. A run converts such an input again like any other, until it has
//! failed `--quarantine-after` runs (3): from then on it is quarantined: left out of the runs,
//! which no longer fail because of it, and listed in every summary (`inputs_quarantined`) with
//! its error, so nothing is skipped out of sight. A new version of the object (re-uploaded,
//! its size or ETag changed) starts again from nothing.
//!
//! `--salvage` converts a quarantined input's lines read before the damage, once: the run keeps
//! them instead of leaving the input out, and the ledger records the input as converted (and
//! salvaged, with the error), so it is neither converted again nor quarantined any more.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::input::Input;
use crate::storage::Location;

/// Folder (under the output root) of the failure records.
pub const FAILURES_DIR: &str = "_ledger/failures";
/// The default of `--quarantine-after`.
pub const DEFAULT_QUARANTINE_AFTER: u32 = 3;

/// What is known of one input's failures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureRecord {
    /// The input's key (canonical path or URL).
    pub key: String,
    /// Its size when it last failed.
    pub size: u64,
    /// Its ETag or modification time when it last failed.
    pub version: String,
    /// Runs in a row that failed to read it (this version of it).
    pub failures: u32,
    /// When the first of those runs started.
    pub first_failed_at: String,
    /// When the last of them started.
    pub last_failed_at: String,
    /// The last error, naming the last line read.
    pub error: String,
    /// Whether it has reached `--quarantine-after`.
    pub quarantined: bool,
}

impl FailureRecord {
    /// Whether the record is about this very object (same size and version).
    fn is_about(&self, input: &Input) -> bool {
        self.size == input.size && self.version == input.version
    }
}

/// The failure records of an output root, by input key.
#[derive(Debug, Default)]
pub struct Failures {
    records: HashMap<String, FailureRecord>,
}

impl Failures {
    /// Reads every failure record of `root`.
    pub fn load(root: &Location) -> Result<Self> {
        let names: Vec<String> = root
            .list(FAILURES_DIR)?
            .into_iter()
            .filter(|l| l.key.ends_with(".json"))
            .map(|l| l.key)
            .collect();
        let mut records = HashMap::new();
        for bytes in root.get_many(&names)?.into_iter().flatten() {
            // A record that does not parse is a record lost: the input is simply tried again.
            if let Ok(record) = serde_json::from_slice::<FailureRecord>(&bytes) {
                records.insert(record.key.clone(), record);
            }
        }
        Ok(Failures { records })
    }

    /// The quarantine record of `input`, if this version of it is quarantined.
    pub fn quarantined(&self, input: &Input) -> Option<&FailureRecord> {
        self.records
            .get(&input.key())
            .filter(|r| r.quarantined && r.is_about(input))
    }

    /// Records that `input` failed with `error` in a run started at `now`; quarantines it when
    /// it has failed `quarantine_after` runs in a row. Returns the record written.
    pub fn record(
        &mut self,
        root: &Location,
        input: &Input,
        error: &str,
        now: &str,
        quarantine_after: u32,
    ) -> Result<FailureRecord> {
        let key = input.key();
        let record = match self.records.get(&key).filter(|r| r.is_about(input)) {
            Some(previous) => FailureRecord {
                failures: previous.failures + 1,
                last_failed_at: now.to_string(),
                error: error.to_string(),
                ..previous.clone()
            },
            None => FailureRecord {
                key: key.clone(),
                size: input.size,
                version: input.version.clone(),
                failures: 1,
                first_failed_at: now.to_string(),
                last_failed_at: now.to_string(),
                error: error.to_string(),
                quarantined: false,
            },
        };
        let record = FailureRecord {
            quarantined: record.failures >= quarantine_after.max(1),
            ..record
        };
        let body = serde_json::to_vec_pretty(&record).expect("a record serializes");
        root.put_bytes(&record_name(&key), body, false)?;
        self.records.insert(key, record.clone());
        Ok(record)
    }

    /// Forgets the failures of an input that has now been converted (read to its end, or
    /// salvaged).
    pub fn clear(&mut self, root: &Location, key: &str) -> Result<()> {
        if self.records.remove(key).is_some() {
            root.delete(&record_name(key))?;
        }
        Ok(())
    }
}

/// The object holding `key`'s record: named by a digest of the key, which may be any URL.
fn record_name(key: &str) -> String {
    format!(
        "{FAILURES_DIR}/{}.json",
        &crate::hex_sha256(key.as_bytes())[..32]
    )
}
