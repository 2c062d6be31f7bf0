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
        /// What kind of failure it is: the advice in `message`, and whether a retry can help.
        kind: StorageErrorKind,
        /// What went wrong (with advice for the kinds that have one).
        message: String,
        /// The object store's own error, when it came from one (kept out of the printed chain:
        /// `message` already says it).
        store_error: Option<std::sync::Arc<object_store::Error>>,
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

    /// The Iceberg catalog or table could not be reached, read or committed to (the command's
    /// context names the table).
    #[error("{message}")]
    Iceberg {
        /// The table, `namespace.name`.
        table: String,
        /// What went wrong, and what to do.
        message: String,
    },

    /// The table at the output root is not the table this run's options describe (another
    /// dataset, partitioning or column type): nothing was written.
    #[error("write into the table at {location}: {message}")]
    TableMismatch {
        /// The table's root.
        location: String,
        /// What differs, naming the option and what the table has.
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

/// What kind of failure a storage error is, from the object store's error variant and, for
/// requests that got no answer, the HTTP client's error kind: no text is matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageErrorKind {
    /// No such object, prefix or bucket.
    NotFound,
    /// The store refused the credentials or their permissions (401, 403).
    Refused,
    /// A conditional request lost (the object exists, or changed).
    Conflict,
    /// Nothing answered at the endpoint (connection refused, no route, DNS).
    Unreachable,
    /// A request failed in transit (reset, timeout, interrupted body).
    Transport,
    /// Anything else: a configuration error, a 5xx after retries, a local file system error.
    Other,
}

impl StorageErrorKind {
    /// The kind of `error`.
    pub fn of(error: &object_store::Error) -> Self {
        use object_store::client::{HttpError, HttpErrorKind};
        match error {
            object_store::Error::NotFound { .. } => return StorageErrorKind::NotFound,
            object_store::Error::Unauthenticated { .. }
            | object_store::Error::PermissionDenied { .. } => return StorageErrorKind::Refused,
            object_store::Error::AlreadyExists { .. }
            | object_store::Error::Precondition { .. }
            | object_store::Error::NotModified { .. } => return StorageErrorKind::Conflict,
            _ => {}
        }
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(c) = cause {
            if let Some(http) = c.downcast_ref::<HttpError>() {
                return match http.kind() {
                    HttpErrorKind::Connect => StorageErrorKind::Unreachable,
                    _ => StorageErrorKind::Transport,
                };
            }
            cause = c.source();
        }
        StorageErrorKind::Other
    }

    /// Whether the request may not have reached the store: the kinds worth a retry.
    pub fn is_transport(self) -> bool {
        matches!(
            self,
            StorageErrorKind::Unreachable | StorageErrorKind::Transport
        )
    }

    /// What the user can do about it, for the kinds where that is clear.
    fn advice(self) -> Option<&'static str> {
        match self {
            StorageErrorKind::Refused => Some(
                "the store refused the request: check the credentials (AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY, or the Azure and GCS ones), the region (--s3-region) and \
                 their permissions on this bucket",
            ),
            StorageErrorKind::Unreachable => Some(
                "nothing answered at the store's endpoint: check --s3-endpoint (AWS_ENDPOINT_URL) \
                 and the network",
            ),
            StorageErrorKind::NotFound => Some("not found: check the bucket (or container) name"),
            _ => None,
        }
    }
}

impl Error {
    /// A storage error from the object store's `error` at `location`: its kind, advice and the
    /// error itself kept.
    pub fn from_store(location: String, error: object_store::Error) -> Self {
        let kind = StorageErrorKind::of(&error);
        let said = error_chain(&error);
        let message = match kind.advice() {
            Some(advice) => format!("{advice} ({said})"),
            None => said,
        };
        Error::Storage {
            location,
            kind,
            message,
            store_error: Some(std::sync::Arc::new(error)),
        }
    }

    /// A storage error that did not come from an object store request.
    pub fn storage(location: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Storage {
            location: location.into(),
            kind: StorageErrorKind::Other,
            message: message.into(),
            store_error: None,
        }
    }
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
