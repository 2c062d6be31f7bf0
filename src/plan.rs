//! Planning a run: which of the listed inputs it converts (this shard's, in the time window, not
//! in the ledger, or all again with `--reprocess`), and why it leaves the others.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::input::{self, Input, InputList, SkippedInput, Source};
use crate::ledger::Ledger;
use crate::lock::Shard;
use crate::quarantine::{FailureRecord, Failures};
use crate::storage::Storage;

/// Which of the listed inputs a run converts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Selection {
    /// Convert inputs the ledger holds again, replacing their runs.
    pub reprocess: bool,
    /// Only inputs whose time (from their `YYYYMMDD/` folder or Logpush file name) is at or after
    /// this Unix time, in seconds.
    pub since: Option<i64>,
    /// Only inputs whose time is before this Unix time, in seconds.
    pub until: Option<i64>,
    /// Convert what can be read of inputs that fail part-way, quarantined ones included.
    pub salvage: bool,
}

/// The inputs a run takes, and why it leaves the others.
#[derive(Debug, Default)]
pub struct Plan {
    /// The inputs to convert, sorted.
    pub convert: Vec<Input>,
    /// Runs whose inputs are all converted again (`--reprocess`).
    pub replaces: BTreeSet<String>,
    /// Inputs skipped as not being log data.
    pub skipped: Vec<SkippedInput>,
    /// Inputs the ledger holds.
    pub already_converted: u64,
    /// Inputs of other shards.
    pub other_shards: u64,
    /// Inputs outside `--since`/`--until`.
    pub outside_window: u64,
    /// Quarantined inputs left out (see [`crate::quarantine`]).
    pub quarantined: Vec<FailureRecord>,
}

/// Chooses the inputs to convert: this shard's, in the time window, not in the ledger (or all
/// of them with `--reprocess`, together with every other input of the runs they replace).
pub fn plan(
    listed: InputList,
    ledger: &Ledger,
    failures: &Failures,
    shard: Shard,
    selection: Selection,
    storage: &Arc<Storage>,
) -> Result<Plan> {
    let converted = ledger.converted();
    let mut plan = Plan {
        skipped: listed.skipped,
        ..Plan::default()
    };
    for input in listed.inputs {
        let key = input.key();
        if input.source == Source::Stdin {
            plan.convert.push(input); // identified by its content, after reading
            continue;
        }
        if !shard.owns(&key) {
            plan.other_shards += 1;
            continue;
        }
        if (selection.since.is_some() || selection.until.is_some())
            && !in_window(&key, selection.since, selection.until)
        {
            plan.outside_window += 1;
            continue;
        }
        match converted.get(key.as_str()) {
            Some(done) if selection.reprocess => {
                plan.replaces.insert(done.run_id.clone());
                plan.convert.push(input);
            }
            Some(done) => {
                if done.record.size != input.size || done.record.version != input.version {
                    tracing::warn!(
                        input = %key,
                        run = %done.run_id,
                        "changed since it was converted (size or version differs); \
                         --reprocess converts it again"
                    );
                }
                plan.already_converted += 1;
            }
            // `--salvage` takes quarantined inputs again, to keep what can be read of them.
            None => match failures.quarantined(&input) {
                Some(record) if !selection.salvage => plan.quarantined.push(record.clone()),
                _ => plan.convert.push(input),
            },
        }
    }
    // A replaced run's files hold rows of all its inputs: every one is converted again.
    let mut have: std::collections::HashSet<String> = plan.convert.iter().map(Input::key).collect();
    for run in &plan.replaces {
        for record in ledger.manifests.get(run).map_or(&[][..], |m| &m.inputs) {
            if record.key.starts_with("stdin:") {
                return Err(Error::InputNotFound {
                    input: "-".into(),
                    message: format!(
                        "--reprocess must convert every input of run {run} again, and one of them \
                         was standard input, which cannot be read again"
                    ),
                });
            }
            if have.insert(record.key.clone()) {
                let input =
                    input::resolve(&record.key, storage).map_err(|e| Error::InputNotFound {
                        input: record.key.clone(),
                        message: format!(
                            "--reprocess must convert every input of run {run} again, and this \
                             one cannot be read: {e}"
                        ),
                    })?;
                plan.convert.push(input);
            }
        }
    }
    plan.convert.sort_by_key(|i| i.source.clone());
    Ok(plan)
}

/// Whether an input's time, read from its key, falls in `[since, until)`. Logpush names files
/// `<start>_<end>_<hash>.log.gz` with `20261123T225959Z` times, in `YYYYMMDD/` folders; the
/// file's start time is used when there is one, else the folder's whole day must overlap the
/// window. An input with neither is outside any window.
pub fn in_window(key: &str, since: Option<i64>, until: Option<i64>) -> bool {
    let since = since.unwrap_or(i64::MIN);
    let until = until.unwrap_or(i64::MAX);
    let file = key.rsplit('/').next().unwrap_or(key);
    if let Some(start) = logpush_file_start(file) {
        return since <= start && start < until;
    }
    key.split('/')
        .rev()
        .skip(1)
        .find_map(parse_yyyymmdd)
        .is_some_and(|day| day + 86_400 > since && day < until)
}

/// Unix seconds of midnight of a `YYYYMMDD` string.
fn parse_yyyymmdd(text: &str) -> Option<i64> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let year: i64 = text[..4].parse().ok()?;
    let month: u32 = text[4..6].parse().ok()?;
    let day: u32 = text[6..8].parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    Some(crate::time::days_from_civil(year, month, day) * 86_400)
}

/// The start time of a Logpush file name `20261123T225959Z_...`, in Unix seconds.
fn logpush_file_start(name: &str) -> Option<i64> {
    let stamp = name.get(..16)?;
    let bytes = stamp.as_bytes();
    if bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let day = parse_yyyymmdd(&stamp[..8])?;
    let digits = &stamp[9..15];
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let h: i64 = digits[..2].parse().ok()?;
    let m: i64 = digits[2..4].parse().ok()?;
    let s: i64 = digits[4..].parse().ok()?;
    (h < 24 && m < 60 && s < 61).then_some(day + h * 3600 + m * 60 + s)
}
