//! The process exit codes, in one place. `README.md` lists them too.

/// Every input converted and committed.
pub const SUCCESS: u8 = 0;
/// The run failed: nothing was committed (an output error, a bug).
pub const FAILURE: u8 = 1;
/// The command line or the field list is unusable: no work was started.
pub const USAGE: u8 = 2;
/// Some inputs could not be read and contributed no rows; the rest was committed.
pub const PARTIAL_FAILURE: u8 = 3;
/// More lines were rejected than `--max-reject-ratio` allows: no data file was committed,
/// the rejects file was.
pub const REJECT_THRESHOLD_EXCEEDED: u8 = 4;
