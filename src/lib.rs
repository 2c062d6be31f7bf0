//! `logpush-parquet`: converts Cloudflare Logpush event archives (gzip NDJSON) into typed,
//! Hive-partitioned Parquet.
//!
//! Data flows through the modules in this order:
//!
//! ```text
//! field list (schema/*.toml) --schema--> Arrow schema
//! inputs (paths, globs, -) --input--> lines --decode--> RecordBatch
//! RecordBatch --partition--> (key, batch) pieces --write--> Parquet files --commit--> summary
//! ```
//!
//! [`job::convert`] runs the whole flow; the stages are usable on their own.

pub mod cli;
pub mod commit;
pub mod ddl;
pub mod decode;
pub mod error;
pub mod exit_code;
pub mod hive;
pub mod input;
pub mod job;
pub mod ledger;
pub mod lock;
pub mod maintain;
pub mod metrics;
pub mod partition;
pub mod pipeline;
pub mod plan;
pub mod preflight;
pub mod quarantine;
pub mod report;
pub mod schema;
pub mod stage;
pub mod storage;
pub mod suggest;
pub mod time;
pub mod write;

pub use error::{Error, Result};

/// Hex SHA-256 of `bytes`: used for stable names (run ids, schema fingerprints).
pub(crate) fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(bytes))
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
