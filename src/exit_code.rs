//! The process exit codes, in one place. `README.md` lists them too.

/// Every input converted and committed.
pub const SUCCESS: u8 = 0;
/// The run stopped on an error (storage unreachable, a bug). It commits nothing, unless the
/// error struck after its commit point: then the next run finishes publishing it.
pub const FAILURE: u8 = 1;
/// The command line or the field list is unusable: no work was started.
pub const USAGE: u8 = 2;
/// Partial failure: some inputs could not be read to their end. The others were committed; the
/// failed ones were not, so the next run tries them again, until one has failed
/// `--quarantine-after` runs and is quarantined (`crate::quarantine`). The summary names them.
pub const INPUT_FAILED: u8 = 3;
/// More lines were rejected than `--max-reject-ratio` allows: no data file was committed,
/// the rejects file was.
pub const REJECT_THRESHOLD_EXCEEDED: u8 = 4;
/// Another run holds the output's lock for this shard: nothing was done.
pub const LOCKED: u8 = 5;
