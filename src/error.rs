//! The library's error type: one enum whose variants carry what a user needs to act on a failure
//! (the file, the line, the field). Messages are lowercase fragments that read well after
//! "failed to ...".
//!
//! Line-level decoding problems are *not* errors: a line that cannot be converted is a
//! [`crate::decode::LineReject`], kept in the rejects file while the run goes on.

use std::path::PathBuf;

/// Everything that can stop a conversion or a schema load.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The field-list file could not be read or is not valid.
    #[error("load field list {origin}: {message}")]
    Schema {
        /// Where the field list came from (a path, or `built-in`).
        origin: String,
        /// What is wrong with it.
        message: String,
    },

    /// A command-line option has a value that cannot be used.
    #[error("use option {option}: {message}")]
    InvalidOption {
        /// The option, as spelled on the command line.
        option: &'static str,
        /// What is wrong with its value.
        message: String,
    },

    /// An input argument matched nothing.
    #[error("find input {input}: {message}")]
    InputNotFound {
        /// The argument as given.
        input: String,
        /// Why nothing was found.
        message: String,
    },

    /// Reading or decompressing an input failed part-way.
    #[error("read {path} (after line {line})")]
    InputRead {
        /// The input.
        path: String,
        /// The last complete line read before the failure.
        line: u64,
        /// The underlying I/O or decompression error.
        #[source]
        source: std::io::Error,
    },

    /// Writing to the output failed.
    #[error("write {path}")]
    Output {
        /// The file or folder being written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// An object store or output location refused a request (after retries, when transient).
    #[error("access {location}: {message}")]
    Storage {
        /// The object or prefix, as `scheme://bucket/key` or a local path.
        location: String,
        /// What went wrong.
        message: String,
    },

    /// Another run holds the output's lock for this shard.
    #[error(
        "start: the output is locked by another run ({holder}); it expires {expires} unless renewed"
    )]
    Locked {
        /// Who holds the lock: host, process and shard.
        holder: String,
        /// When the lease runs out.
        expires: String,
    },

    /// The run lost its lock (it could not renew the lease in time), so it commits nothing.
    #[error("keep the output's lock: {0}")]
    LockLost(String),

    /// The ledger under the output root could not be read.
    #[error("read ledger {location}: {message}")]
    Ledger {
        /// The ledger object.
        location: String,
        /// What is wrong with it.
        message: String,
    },

    /// The Delta table at the output root could not be read or committed to.
    #[error("commit to the Delta table {location}: {message}")]
    Delta {
        /// The table's root.
        location: String,
        /// What went wrong.
        message: String,
    },

    /// Encoding Parquet failed.
    #[error("encode parquet {path}")]
    Parquet {
        /// The file being written.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: parquet::errors::ParquetError,
    },

    /// The conversion pipeline broke down (a thread stopped unexpectedly).
    #[error("run the conversion pipeline: {0}")]
    Pipeline(String),

    /// Building Arrow arrays failed (a bug or a limit, never bad input).
    #[error("build arrow batch: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}

/// An error and its causes on one line, `outer: inner: innermost`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        // Many errors (object_store's among them) already print their source: say it once.
        let said = c.to_string();
        if !text.ends_with(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = c.source();
    }
    text
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn output(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Output {
            path: path.into(),
            source,
        }
    }
}
