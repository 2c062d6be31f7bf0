//! The plain layout: data files under Hive partition folders, staged under `_staging/` and
//! published by the ledger's commit protocol (the manifest is the commit point, then each file
//! is moved to its final name: see [`crate::ledger`]).

use std::collections::HashSet;
use std::path::Path;

use super::Table;
use crate::error::Result;
use crate::ledger::{Ledger, Manifest};
use crate::lock::Lease;
use crate::stage::Staging;
use crate::storage::Location;
use crate::write::StagedFile;

/// A plain output root and its ledger.
pub struct PlainTable {
    ledger: Ledger,
}

impl PlainTable {
    /// The output at `root`, its ledger loaded.
    pub fn open(root: &Location) -> Result<Self> {
        Ok(PlainTable {
            ledger: Ledger::load(root)?,
        })
    }
}

impl Table for PlainTable {
    fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn recover(&mut self, root: &Location, busy: &HashSet<String>) -> Result<Vec<String>> {
        self.ledger.recover(root, busy)
    }

    fn staging_key(&self, staging: &Staging, file: &Path, _final_path: &str) -> String {
        staging.key_of(file)
    }

    fn commit(
        &mut self,
        root: &Location,
        run: &mut Manifest,
        _staged: &[StagedFile],
        lease: Option<&Lease>,
    ) -> Result<()> {
        if let Some(lease) = lease {
            lease.check()?;
        }
        self.ledger.commit(root, run)?;
        self.ledger.publish(root, run)
    }
}
