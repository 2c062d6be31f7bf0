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

pub mod decode;
pub mod error;
pub mod schema;

pub use error::{Error, Result};

/// Hex SHA-256 of `bytes`: used for stable names (run ids, schema fingerprints).
pub(crate) fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}
