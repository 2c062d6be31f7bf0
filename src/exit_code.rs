//! The process exit codes, in one place. `README.md` lists them too.

/// Every input converted and committed.
pub const SUCCESS: u8 = 0;
/// The run stopped on an error (writing the output, a bug). It commits nothing, unless the
/// error struck while its files were being renamed into place: then some may be visible.
pub const FAILURE: u8 = 1;
/// The command line or the field list is unusable: no work was started.
pub const USAGE: u8 = 2;
/// Some inputs could not be read to their end: nothing was committed, the summary names them.
pub const INPUT_FAILED: u8 = 3;
/// More lines were rejected than `--max-reject-ratio` allows: no data file was committed,
/// the rejects file was.
pub const REJECT_THRESHOLD_EXCEEDED: u8 = 4;
