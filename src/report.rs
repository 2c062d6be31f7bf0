//! What a run tells its user: the [`Summary`] (JSON with `--summary-json`, a short text on
//! stderr) and a progress bar on stderr when it is a terminal.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::input::SkippedInput;
use crate::write::WrittenFile;

/// How a run ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Every input selected was converted and committed (or there was nothing new).
    #[default]
    Ok,
    /// Some inputs could not be read to their end: the others were committed, these were not
    /// (nor recorded in the ledger, so the next run tries them again).
    InputFailed,
    /// More lines were rejected than `--max-reject-ratio` allows: no data file was committed,
    /// the rejects file was.
    RejectThresholdExceeded,
}

/// An input that could not be read to its end: none of its rows were written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FailedInput {
    /// The input's name.
    pub input: String,
    /// What went wrong, naming the last line read.
    pub error: String,
    /// Lines read from it before the failure, all discarded.
    pub lines_discarded: u64,
}

/// An input left out because it failed `--quarantine-after` runs in a row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantinedInput {
    /// The input's name.
    pub input: String,
    /// Runs in a row it failed.
    pub failures: u32,
    /// When it first failed.
    pub since: String,
    /// The last error.
    pub error: String,
}

/// An input that failed part-way whose lines read before the failure were converted
/// (`--salvage`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SalvagedInput {
    /// The input's name.
    pub input: String,
    /// What went wrong, naming the last line read.
    pub error: String,
    /// Lines read before the failure, converted.
    pub lines_kept: u64,
}

/// The figures of one run. Invariant: `rows_read = rows_written + rows_rejected +
/// rows_discarded`, where `rows_discarded` is 0 whenever the run commits.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// How the run ended.
    pub status: Status,
    /// Whether the data files were made visible.
    pub committed: bool,
    /// The output root.
    pub output: String,
    /// Non-blank lines read from inputs that were read to their end.
    pub rows_read: u64,
    /// Rows in the data files committed.
    pub rows_written: u64,
    /// Lines kept in the committed rejects file instead.
    pub rows_rejected: u64,
    /// Lines read whose rows or rejects were not committed (the run failed).
    pub rows_discarded: u64,
    /// Blank lines, which hold no row.
    pub blank_lines: u64,
    /// Data files written.
    pub files_written: u64,
    /// Raw (compressed) bytes read from inputs.
    pub bytes_in: u64,
    /// Bytes of the data files written.
    pub bytes_out: u64,
    /// Inputs read to their end.
    pub inputs_read: u64,
    /// Inputs converted and committed by this run.
    pub inputs_converted: u64,
    /// Inputs left out because the ledger says they were converted before.
    pub inputs_already_converted: u64,
    /// Inputs left to the other shards.
    pub inputs_other_shards: u64,
    /// Inputs left out by `--since`/`--until`.
    pub inputs_outside_window: u64,
    /// With `--dry-run`: the inputs a run would convert.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_convert: Vec<String>,
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
    /// Runs that had committed but not finished publishing (a crash), finished by this one.
    pub runs_recovered: Vec<String>,
    /// What happened to keys the field list does not know (`--unknown-fields`).
    pub unknown_fields_mode: &'static str,
    /// Unknown keys, by name: how many written rows carried each (the first 10,000 names).
    pub unknown_fields: BTreeMap<String, u64>,
    /// Occurrences of unknown keys beyond the first 10,000 names.
    pub unknown_fields_other: u64,
    /// Unknown keys that differ from a field only by letter case, as `KEY (field NAME)`: how
    /// many written rows carried each (kept with the other unknown keys, not mapped).
    pub near_misses: BTreeMap<String, u64>,
    /// Values outside an enum's documented list, by field.
    pub out_of_enum: BTreeMap<String, u64>,
    /// Values of another JSON type kept by a lossless reading (a number in a string field,
    /// `""` for a number, ...), by field.
    pub values_coerced: BTreeMap<String, u64>,
    /// Inputs skipped as not being log data.
    pub inputs_skipped: Vec<SkippedInput>,
    /// Inputs that failed part-way.
    pub inputs_failed: Vec<FailedInput>,
    /// Inputs left out as quarantined (`_ledger/failures/`), this run's included.
    pub inputs_quarantined: Vec<QuarantinedInput>,
    /// Inputs converted up to where they failed (`--salvage`).
    pub inputs_salvaged: Vec<SalvagedInput>,
    /// The rejects file, relative to the output root.
    pub rejects_file: Option<String>,
    /// The data files written.
    pub files: Vec<WrittenFile>,
    /// The run id that names this run's files.
    pub run_id: String,
    /// Wall-clock seconds.
    pub elapsed_s: f64,
}

impl Summary {
    /// The summary of a run that has not converted anything yet.
    pub fn new(output: String, dry_run: bool) -> Self {
        Summary {
            output,
            dry_run,
            ..Summary::default()
        }
    }

    /// The partitions written to, sorted, each once.
    pub fn partitions(&self) -> Vec<&str> {
        let mut p: Vec<&str> = self.files.iter().map(|f| f.partition.as_str()).collect();
        p.sort_unstable();
        p.dedup();
        p
    }

    /// A few lines for a person, for stderr.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for run in &self.runs_recovered {
            out.push_str(&format!(
                "finished publishing run {run}, which a crash had interrupted\n"
            ));
        }
        let left: Vec<String> = [
            (self.inputs_already_converted, "already converted"),
            (self.inputs_other_shards, "in other shards"),
            (self.inputs_outside_window, "outside --since/--until"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, why)| format!("{n} {why}"))
        .collect();
        if !left.is_empty() {
            out.push_str(&format!("inputs left out: {}\n", left.join(", ")));
        }
        if self.dry_run {
            out.push_str(&format!(
                "dry run: {} input{} would be converted\n",
                self.would_convert.len(),
                plural(self.would_convert.len() as u64)
            ));
            return out;
        }
        if self.inputs_read == 0 && self.inputs_failed.is_empty() {
            out.push_str("nothing new to convert\n");
            self.describe_quarantine(&mut out);
            return out;
        }
        out.push_str(&format!(
            "{} rows read from {} input{}: {} written, {} rejected; {} file{} in {} partition{}, {} in, {} out, {:.2} s\n",
            self.rows_read,
            self.inputs_read,
            plural(self.inputs_read),
            self.rows_written,
            self.rows_rejected,
            self.files_written,
            plural(self.files_written),
            self.partitions().len(),
            plural(self.partitions().len() as u64),
            human_bytes(self.bytes_in),
            human_bytes(self.bytes_out),
            self.elapsed_s,
        ));
        if !self.committed && self.rows_read + self.rows_discarded > 0 {
            out.push_str(&format!(
                "nothing committed: {} converted rows discarded\n",
                self.rows_discarded
            ));
        }
        if let Some(path) = &self.rejects_file {
            out.push_str(&format!("rejected lines kept in {}/{path}\n", self.output));
        }
        for (field, n) in &self.out_of_enum {
            out.push_str(&format!(
                "{n} value{} of {field} outside its documented list (kept)\n",
                plural(*n)
            ));
        }
        for (field, n) in &self.values_coerced {
            out.push_str(&format!(
                "{n} value{} of {field} of another JSON type, kept by a lossless reading\n",
                plural(*n)
            ));
        }
        if !self.unknown_fields.is_empty() {
            const SHOWN: usize = 20;
            let names: Vec<&str> = (self.unknown_fields.keys())
                .take(SHOWN)
                .map(String::as_str)
                .collect();
            let more = self.unknown_fields.len().saturating_sub(SHOWN);
            let more = if more > 0 || self.unknown_fields_other > 0 {
                format!(" and more ({} names counted)", self.unknown_fields.len())
            } else {
                String::new()
            };
            let what = match self.unknown_fields_mode {
                "keep" => format!("unknown fields kept in {}", crate::schema::CATCH_ALL),
                _ => "unknown fields ignored".to_string(),
            };
            out.push_str(&format!("{what}: {}{more}\n", names.join(", ")));
        }
        for (near, n) in &self.near_misses {
            out.push_str(&format!(
                "{n} row{} with {near}: a key that differs from a field only by case, not mapped\n",
                plural(*n)
            ));
        }
        for s in &self.inputs_skipped {
            out.push_str(&format!("skipped {}: {}\n", s.input, s.reason));
        }
        for f in &self.inputs_failed {
            out.push_str(&format!(
                "failed {}: {} ({} lines discarded)\n",
                f.input, f.error, f.lines_discarded
            ));
        }
        for s in &self.inputs_salvaged {
            out.push_str(&format!(
                "salvaged {}: {} lines read before the failure converted ({})\n",
                s.input, s.lines_kept, s.error
            ));
        }
        self.describe_quarantine(&mut out);
        out
    }

    fn describe_quarantine(&self, out: &mut String) {
        for q in &self.inputs_quarantined {
            out.push_str(&format!(
                "quarantined {}: failed {} run{} in a row since {} ({}); left out, \
                 --salvage converts its readable lines\n",
                q.input,
                q.failures,
                plural(u64::from(q.failures)),
                q.since,
                q.error
            ));
        }
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `1.2 MB`-style sizes (powers of 1000, as throughput figures use).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A progress bar over input bytes, drawn only when stderr is a terminal.
pub struct Progress {
    bar: Option<indicatif::ProgressBar>,
    started: std::time::Instant,
    rows: AtomicU64,
    text_bytes: AtomicU64,
    /// The input named last, shown in the message.
    input: std::sync::Mutex<String>,
}

impl Progress {
    /// A bar over input bytes; hidden unless `enabled` and stderr is a terminal.
    pub fn new(enabled: bool) -> Self {
        let bar = (enabled && std::io::stderr().is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} read {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        Progress {
            bar,
            started: std::time::Instant::now(),
            rows: AtomicU64::new(0),
            text_bytes: AtomicU64::new(0),
            input: std::sync::Mutex::new(String::new()),
        }
    }

    /// Sets the total number of input bytes, once the inputs are listed.
    pub fn set_total(&self, total: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    /// Counts a decoded chunk: `rows` and `text_bytes` of uncompressed NDJSON, with `bytes`
    /// (compressed) read so far; the message names the input of the last [`Progress::update`].
    pub fn decoded(&self, rows: u64, text_bytes: u64, bytes: u64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
        self.text_bytes.fetch_add(text_bytes, Ordering::Relaxed);
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
            bar.set_message(self.message());
        }
    }

    /// Sets the position (compressed bytes read so far) and the current input's name; the
    /// message shows rows and uncompressed MB/s.
    pub fn update(&self, bytes: u64, input: &str) {
        if let Some(bar) = &self.bar {
            *self.input.lock().unwrap_or_else(|e| e.into_inner()) = input.to_string();
            bar.set_position(bytes);
            bar.set_message(self.message());
        }
    }

    fn message(&self) -> String {
        let seconds = self.started.elapsed().as_secs_f64().max(1e-3);
        let text = self.text_bytes.load(Ordering::Relaxed);
        format!(
            "| {} rows | {:.0} MB/s of NDJSON | {}",
            self.rows.load(Ordering::Relaxed),
            text as f64 / 1e6 / seconds,
            self.input.lock().unwrap_or_else(|e| e.into_inner())
        )
    }

    /// Removes the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
