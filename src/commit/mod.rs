//! The commit: how a run's files become visible to readers and its inputs count as converted,
//! exactly once whatever crashes. One seam, one implementation per output layout:
//!
//! - [`plain`]: Hive-partitioned Parquet files, published by the ledger's commit protocol
//!   ([`crate::ledger`]);
//! - [`delta`]: a Delta Lake table (`--table-format delta`), whose log is the commit point.
//!
//! The job stages a run's files through [`Table::staging_key`], builds its [`Manifest`] and
//! hands it to [`Table::commit`]; nothing else in it knows which layout it writes.

pub mod delta;
pub mod plain;

/// The layout of an output root (`--table-format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TableFormat {
    /// Hive-partitioned Parquet files and the tool's own ledger (`_ledger/`).
    #[default]
    Plain,
    /// A Delta Lake table: the same files, made visible by commits to `_delta_log/`.
    Delta,
}

use std::collections::HashSet;
use std::path::Path;

use crate::error::Result;
use crate::ledger::{Ledger, Manifest};
use crate::lock::Lease;
use crate::stage::Staging;
use crate::storage::Location;
use crate::write::StagedFile;

/// What an output root holds and how runs commit to it.
pub trait Table {
    /// The ledger: which inputs were converted, by which run, into which files.
    fn ledger(&self) -> &Ledger;

    /// Finishes or undoes what crashed runs of shards no live run holds (`busy`) left half-done;
    /// returns the run ids it finished.
    fn recover(&mut self, root: &Location, busy: &HashSet<String>) -> Result<Vec<String>>;

    /// The key, under the output root, where the run's closed local file `file`, to be
    /// committed as `final_path`, waits for the commit.
    fn staging_key(&self, staging: &Staging, file: &Path, final_path: &str) -> String;

    /// The commit point and what follows it: from here the run's inputs count as converted and
    /// its files are (or, after a crash, will be made) visible. The lease, when there is one,
    /// is checked just before the commit point.
    /// `staged` are the run's data files, in the order of `run.files`. The layout may complete
    /// the manifest (its format, a Delta `txn` version) before recording it.
    fn commit(
        &mut self,
        root: &Location,
        run: &mut Manifest,
        staged: &[StagedFile],
        lease: Option<&Lease>,
    ) -> Result<()>;
}
