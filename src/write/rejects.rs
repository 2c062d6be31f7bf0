//! The rejects file: every line that could not be converted, as NDJSON, with where it came from
//! and why, so nothing a run reads is lost.
//!
//! One record per rejected line:
//! `{"source": "...", "line": 12, "field": "Status", "reason": "...", "raw": "..."}`.
//! `raw` is the line as text when it is valid UTF-8; otherwise `raw_base64` holds its bytes.
//! A line over the length limit keeps its first bytes, with `raw_truncated: true` and its
//! full length in `line_bytes`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Serialize;

use crate::error::{Error, Result};

/// Folder (under the output root) of rejects files.
pub const REJECTS_DIR: &str = "_rejects";

/// One rejected line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RejectRecord {
    /// The input it came from.
    pub source: String,
    /// Its 1-based line number in the (decompressed) input.
    pub line: u64,
    /// The field to blame, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Why it was rejected.
    pub reason: String,
    /// The line, when it is valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<String>,
    /// The line's bytes in base64, when it is not valid UTF-8.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_base64: Option<String>,
    /// Whether `raw`/`raw_base64` hold only the start of an over-long line.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub raw_truncated: bool,
    /// The full length of the line in bytes.
    pub line_bytes: u64,
}

impl RejectRecord {
    /// A record for `raw` (the whole line, or its head when `line_bytes` is larger).
    pub fn new(
        source: &str,
        line: u64,
        field: Option<String>,
        reason: String,
        raw: &[u8],
        line_bytes: u64,
    ) -> Self {
        let (text, base64) = match std::str::from_utf8(raw) {
            Ok(s) => (Some(s.to_string()), None),
            Err(_) => (
                None,
                Some(base64::engine::general_purpose::STANDARD.encode(raw)),
            ),
        };
        RejectRecord {
            source: source.to_string(),
            line,
            field,
            reason,
            raw: text,
            raw_base64: base64,
            raw_truncated: (raw.len() as u64) < line_bytes,
            line_bytes,
        }
    }
}

/// Writes reject records to a staged file, created on the first record.
pub struct RejectWriter {
    temp: PathBuf,
    out: Option<BufWriter<File>>,
    count: u64,
}

impl RejectWriter {
    /// A writer staging into `staging`.
    pub fn new(staging: &Path) -> Self {
        RejectWriter {
            temp: staging.join("rejects.ndjson.tmp"),
            out: None,
            count: 0,
        }
    }

    /// Appends records.
    pub fn write_all(&mut self, records: &[RejectRecord]) -> Result<()> {
        for record in records {
            if self.out.is_none() {
                let file = File::create(&self.temp).map_err(|e| Error::output(&self.temp, e))?;
                self.out = Some(BufWriter::new(file));
            }
            let out = self.out.as_mut().expect("created above");
            serde_json::to_writer(&mut *out, record)
                .map_err(|e| Error::output(&self.temp, e.into()))?;
            out.write_all(b"\n")
                .map_err(|e| Error::output(&self.temp, e))?;
            self.count += 1;
        }
        Ok(())
    }

    /// Records written so far.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// Closes the file (durably) and returns it with its record count, or `None` when there
    /// were no rejects. The job stages and publishes it as `_rejects/rejects-<run id>.ndjson`.
    pub fn finish(self) -> Result<Option<(PathBuf, u64)>> {
        let Some(out) = self.out else {
            return Ok(None);
        };
        let file = out
            .into_inner()
            .map_err(|e| Error::output(&self.temp, e.into_error()))?;
        file.sync_all().map_err(|e| Error::output(&self.temp, e))?;
        Ok(Some((self.temp, self.count)))
    }
}

/// Where a run's rejects are published, relative to the output root.
pub fn rejects_file_name(run_id: &str) -> String {
    format!("{REJECTS_DIR}/rejects-{run_id}.ndjson")
}
