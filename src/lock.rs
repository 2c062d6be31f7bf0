//! The output's lock: a lease per shard, so two runs never convert the same inputs at once,
//! while the N shards of a sharded job run side by side.
//!
//! A lease is an object `_ledger/locks/<i>-of-<n>/<generation>.json` holding its owner and when
//! it expires. Taking the lock creates the next generation with an atomic create-if-absent
//! (local disk and every S3-compatible store support it), so of two runs racing for it exactly
//! one wins. The holder rewrites its generation every third of the lease to push the expiry
//! back. A newer generation may only be created once the current one has expired, or when its
//! holder is a process of this host that no longer exists (a run killed a moment ago does not
//! block the next one for a whole lease).
//!
//! Safety rests on one rule: a holder that could not renew before its lease ran out treats the
//! lock as lost and commits nothing ([`Lease::check`] before the commit point). Shards of
//! different counts (`--shard 0/2` beside `--shard 0/3`) would split inputs differently, so a
//! run refuses to start beside a live lease of another count; two racing in such a way may both
//! refuse, never both proceed.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::storage::Location;

/// Where leases live.
pub const LOCKS_DIR: &str = "_ledger/locks";
/// The default of `--lock-lease`, in seconds.
pub const DEFAULT_LEASE_S: u64 = 60;

/// Which share of the inputs a run converts: those whose key hashes to `index` modulo `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 0-based.
    pub index: u32,
    /// At least 1.
    pub count: u32,
}

impl Default for Shard {
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-of-{}", self.index, self.count)
    }
}

impl Shard {
    /// Parses `I/N` (0-based index).
    pub fn parse(text: &str) -> std::result::Result<Shard, String> {
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| format!("expected INDEX/COUNT such as 0/4, got {text:?}"))?;
        let index: u32 = i
            .trim()
            .parse()
            .map_err(|_| format!("bad shard index {i:?}"))?;
        let count: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("bad shard count {n:?}"))?;
        Shard::new(index, count)
    }

    /// Shard `index` of `count`, checked.
    pub fn new(index: u32, count: u32) -> std::result::Result<Shard, String> {
        if count == 0 || index >= count {
            return Err(format!(
                "shard index must be below the count (0-based): got {index}/{count}"
            ));
        }
        Ok(Shard { index, count })
    }

    /// Whether the input with ledger key `key` belongs to this shard.
    pub fn owns(&self, key: &str) -> bool {
        if self.count == 1 {
            return true;
        }
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(key.as_bytes());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first) % u64::from(self.count) == u64::from(self.index)
    }
}

/// What a lease object holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct LeaseRecord {
    owner: String,
    host: String,
    pid: u32,
    /// The process's start time (clock ticks since boot), to tell a reused pid apart.
    pid_start: Option<u64>,
    /// The PID namespace (`/proc/self/ns/pid`): only a process of the same host *and* namespace
    /// can tell whether the holder still lives (containers may share a host name).
    #[serde(default)]
    pid_namespace: Option<String>,
    shard: String,
    expires_unix_ms: u64,
    released: bool,
}

impl LeaseRecord {
    fn live(&self, now_ms: u64, this_host: &str) -> bool {
        if self.released || now_ms >= self.expires_unix_ms {
            return false;
        }
        let here = pid_namespace();
        if self.host == this_host && here.is_some() && self.pid_namespace == here {
            return process_start(self.pid).is_some() && process_start(self.pid) == self.pid_start;
        }
        true
    }

    fn describe(&self) -> String {
        format!(
            "process {} on {}, shard {}",
            self.pid, self.host, self.shard
        )
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A Unix time in milliseconds as RFC 3339 UTC, to the second.
pub(crate) fn rfc3339_ms(ms: u64) -> String {
    let secs = (ms / 1000) as i64;
    let (y, m, d) = crate::time::civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Now, as RFC 3339 UTC.
pub(crate) fn now_rfc3339() -> String {
    rfc3339_ms(now_ms())
}

/// Start time of a process of this host, from `/proc/<pid>/stat` (`None` if it is gone).
fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: fields count from the last ')'.
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(19)?.parse().ok()
}

/// This process's PID namespace, as `/proc/self/ns/pid` names it (`None` without `/proc`).
fn pid_namespace() -> Option<String> {
    std::fs::read_link("/proc/self/ns/pid")
        .ok()
        .map(|p| p.display().to_string())
}

/// A number no other lease attempt of this process had: with host, pid and time, it makes a
/// lease's owner unique, so a lease read back is known to be this attempt's own.
fn next_attempt() -> u64 {
    static ATTEMPTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    ATTEMPTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "unknown-host".into())
}

struct State {
    stop: bool,
    /// When the lease runs out, as far as the holder knows.
    expires_ms: u64,
    /// The lease's length.
    lease_ms: u64,
    lost: Option<String>,
}

/// A held lease; renewed in the background until dropped.
pub struct Lease {
    root: Location,
    key: String,
    record: LeaseRecord,
    state: Arc<(Mutex<State>, Condvar)>,
    renewer: Option<std::thread::JoinHandle<()>>,
}

/// The newest generation of each lease folder: (folder, generation, key).
fn newest_generations(root: &Location) -> Result<Vec<(String, u64, String)>> {
    let mut newest: std::collections::BTreeMap<String, (u64, String)> = Default::default();
    for listed in root.list(LOCKS_DIR)? {
        let rest = listed
            .key
            .strip_prefix(LOCKS_DIR)
            .unwrap_or(&listed.key)
            .trim_start_matches('/');
        let Some((folder, file)) = rest.split_once('/') else {
            continue;
        };
        let Some(generation) = file
            .strip_suffix(".json")
            .and_then(|g| g.parse::<u64>().ok())
        else {
            continue;
        };
        let entry = newest
            .entry(folder.to_string())
            .or_insert((0, String::new()));
        if generation >= entry.0 {
            *entry = (generation, listed.key.clone());
        }
    }
    Ok(newest
        .into_iter()
        .map(|(folder, (generation, key))| (folder, generation, key))
        .collect())
}

fn read_record(root: &Location, key: &str) -> Result<Option<LeaseRecord>> {
    let Some(bytes) = root.get_bytes(key)? else {
        return Ok(None);
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::Ledger {
            location: root.display_key(key),
            message: format!("unreadable lease: {e}"),
        })
}

/// The shards (`i-of-n`) whose lease is held by a live run, other than `own`.
pub fn live_shards(root: &Location, own: Shard) -> Result<std::collections::HashSet<String>> {
    let host = host_name();
    let mut live = std::collections::HashSet::new();
    for (folder, _, key) in newest_generations(root)? {
        if folder == own.to_string() {
            continue;
        }
        if let Some(record) = read_record(root, &key)?
            && record.live(now_ms(), &host)
        {
            live.insert(folder);
        }
    }
    Ok(live)
}

/// The live lease in the way of `shard`, if any, other than `own_owner`'s.
fn blocker(
    root: &Location,
    listing: &[(String, u64, String)],
    shard: Shard,
    host: &str,
    own_owner: Option<&str>,
) -> Result<Option<LeaseRecord>> {
    let own_folder = shard.to_string();
    for (folder, _, key) in listing {
        let same_shard = *folder == own_folder;
        let other_count = folder
            .rsplit_once("-of-")
            .and_then(|(_, n)| n.parse::<u32>().ok())
            .is_some_and(|n| n != shard.count);
        if !(same_shard || other_count) {
            continue;
        }
        if let Some(record) = read_record(root, key)?
            && record.live(now_ms(), host)
            && Some(record.owner.as_str()) != own_owner
        {
            return Ok(Some(record));
        }
    }
    Ok(None)
}

/// Creates the lease object `key` if absent; whether `record` now holds it.
///
/// A create whose reply was lost (a dropped connection) is retried, and the retry finds the
/// object the first attempt made: the owner it names tells our own create from a rival's.
fn create_lease(root: &Location, key: &str, record: &LeaseRecord) -> Result<bool> {
    let bytes = serde_json::to_vec(record).expect("a lease serialises");
    if root.put_bytes(key, bytes, true)? {
        return Ok(true);
    }
    Ok(read_record(root, key)?.is_some_and(|found| found.owner == record.owner))
}

impl Lease {
    /// Takes the lease of `shard` on `root`, or fails with [`Error::Locked`].
    pub fn acquire(root: &Location, shard: Shard, lease: Duration) -> Result<Lease> {
        let host = host_name();
        let pid = std::process::id();
        let folder = format!("{LOCKS_DIR}/{shard}");
        for _attempt in 0..5 {
            // The check and the next generation come from one listing: two runs that both saw
            // the shard free pick the same generation, and only one can create it.
            let listing = newest_generations(root)?;
            if let Some(holder) = blocker(root, &listing, shard, &host, None)? {
                return Err(Error::Locked {
                    holder: holder.describe(),
                    expires: rfc3339_ms(holder.expires_unix_ms),
                });
            }
            let generation = listing
                .iter()
                .find(|(f, _, _)| *f == shard.to_string())
                .map_or(1, |(_, g, _)| g + 1);
            let key = format!("{folder}/{generation:012}.json");
            let expires_ms = now_ms() + lease.as_millis() as u64;
            let record = LeaseRecord {
                owner: format!("{host}-{pid}-{}-{}", now_ms(), next_attempt()),
                host: host.clone(),
                pid,
                pid_start: process_start(pid),
                pid_namespace: pid_namespace(),
                shard: shard.to_string(),
                expires_unix_ms: expires_ms,
                released: false,
            };
            if !create_lease(root, &key, &record)? {
                continue; // another run took this generation first: look again
            }
            let mut held = Lease {
                root: root.clone(),
                key,
                record,
                state: Arc::new((
                    Mutex::new(State {
                        stop: false,
                        expires_ms,
                        lease_ms: lease.as_millis() as u64,
                        lost: None,
                    }),
                    Condvar::new(),
                )),
                renewer: None,
            };
            // A run of another shard count may have started meanwhile: then neither proceeds.
            let listing = newest_generations(root)?;
            if let Some(holder) = blocker(root, &listing, shard, &host, Some(&held.record.owner))? {
                held.release();
                return Err(Error::Locked {
                    holder: holder.describe(),
                    expires: rfc3339_ms(holder.expires_unix_ms),
                });
            }
            held.remove_older_generations(generation);
            held.start_renewing(lease);
            return Ok(held);
        }
        Err(Error::Locked {
            holder: "several runs racing for the lock".into(),
            expires: "soon".into(),
        })
    }

    fn remove_older_generations(&self, generation: u64) {
        let folder = format!("{LOCKS_DIR}/{}", self.record.shard);
        if let Ok(listed) = self.root.list(&folder) {
            for l in listed {
                let older = l
                    .key
                    .rsplit('/')
                    .next()
                    .and_then(|f| f.strip_suffix(".json"))
                    .and_then(|g| g.parse::<u64>().ok())
                    .is_some_and(|g| g < generation);
                if older {
                    let _ = self.root.delete(&l.key);
                }
            }
        }
    }

    fn start_renewing(&mut self, lease: Duration) {
        let root = self.root.clone();
        let key = self.key.clone();
        let mut record = self.record.clone();
        let state = self.state.clone();
        let every = lease / 3;
        self.renewer = Some(std::thread::spawn(move || {
            let (lock, wake) = &*state;
            let mut guard = lock.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                guard = wake
                    .wait_timeout_while(guard, every, |s| !s.stop)
                    .unwrap_or_else(|p| p.into_inner())
                    .0;
                if guard.stop || guard.lost.is_some() {
                    return;
                }
                drop(guard);
                record.expires_unix_ms = now_ms() + lease.as_millis() as u64;
                let bytes = serde_json::to_vec(&record).expect("a lease serialises");
                let renewed = root.put_bytes(&key, bytes, false);
                guard = lock.lock().unwrap_or_else(|p| p.into_inner());
                match renewed {
                    // Renewed too late: someone may have taken the lock meanwhile.
                    Ok(_) if now_ms() >= guard.expires_ms => {
                        guard.lost = Some("the lease ran out before it could be renewed".into())
                    }
                    Ok(_) => guard.expires_ms = record.expires_unix_ms,
                    Err(e) => tracing::warn!("could not renew the lease: {e}"),
                }
            }
        }));
    }

    /// Fails unless the lease is still held with time to spare: called before the commit point.
    pub fn check(&self) -> Result<()> {
        let (lock, _) = &*self.state;
        let guard = lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lost) = &guard.lost {
            return Err(Error::LockLost(lost.clone()));
        }
        // A third of the lease to spare (a renewal is due every third): the commit that follows
        // must land well before another run could judge the lease expired.
        if now_ms() + guard.lease_ms / 3 >= guard.expires_ms {
            return Err(Error::LockLost(
                "the lease is about to run out (renewals failed)".into(),
            ));
        }
        Ok(())
    }

    fn release(&mut self) {
        {
            let (lock, wake) = &*self.state;
            lock.lock().unwrap_or_else(|p| p.into_inner()).stop = true;
            wake.notify_all();
        }
        if let Some(renewer) = self.renewer.take() {
            let _ = renewer.join();
        }
        let mut record = self.record.clone();
        record.released = true;
        let bytes = serde_json::to_vec(&record).expect("a lease serialises");
        if let Err(e) = self.root.put_bytes(&self.key, bytes, false) {
            tracing::warn!("could not release the lease (it expires by itself): {e}");
        }
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Location {
        Location::with_store(
            crate::storage::tests::storage(),
            Arc::new(object_store::memory::InMemory::new()),
            "memory://out",
        )
    }

    #[test]
    fn a_lease_whose_create_reply_was_lost_is_still_ours_and_no_one_elses() {
        let root = Location::with_store(
            crate::storage::tests::storage(),
            Arc::new(crate::storage::tests::RepliesLost::landing()),
            "memory://out",
        );
        let lease = Duration::from_secs(60);
        let held = Lease::acquire(&root, Shard::default(), lease).expect("our own lease");
        assert!(held.key.ends_with("000000000001.json"), "{}", held.key);
        held.check().unwrap();
        let err = Lease::acquire(&root, Shard::default(), lease)
            .err()
            .expect("a second run is still refused");
        assert!(err.to_string().contains("locked"), "{err}");
    }

    #[test]
    fn a_second_run_is_refused_while_the_first_holds_the_lease() {
        let root = root();
        let held = Lease::acquire(&root, Shard::default(), Duration::from_secs(60)).unwrap();
        let err = Lease::acquire(&root, Shard::default(), Duration::from_secs(60))
            .err()
            .expect("refused");
        assert!(err.to_string().contains("locked"), "{err}");
        held.check().unwrap();
        drop(held);
        let again = Lease::acquire(&root, Shard::default(), Duration::from_secs(60)).unwrap();
        assert!(again.key.ends_with("000000000002.json"), "{}", again.key);
    }

    #[test]
    fn shards_of_one_count_run_side_by_side_but_not_beside_another_count() {
        let root = root();
        let lease = Duration::from_secs(60);
        let a = Lease::acquire(&root, Shard::new(0, 2).unwrap(), lease).unwrap();
        let b = Lease::acquire(&root, Shard::new(1, 2).unwrap(), lease).unwrap();
        assert!(Lease::acquire(&root, Shard::new(0, 3).unwrap(), lease).is_err());
        assert!(Lease::acquire(&root, Shard::default(), lease).is_err());
        drop((a, b));
        Lease::acquire(&root, Shard::default(), lease).unwrap();
    }

    #[test]
    fn an_expired_lease_or_a_dead_local_holder_does_not_block() {
        let root = root();
        let dead = LeaseRecord {
            owner: "x".into(),
            host: host_name(),
            pid: u32::MAX - 1, // no such process
            pid_start: Some(1),
            pid_namespace: pid_namespace(),
            shard: "0-of-1".into(),
            expires_unix_ms: now_ms() + 3_600_000,
            released: false,
        };
        let key = format!("{LOCKS_DIR}/0-of-1/000000000007.json");
        root.put_bytes(&key, serde_json::to_vec(&dead).unwrap(), true)
            .unwrap();
        let held = Lease::acquire(&root, Shard::default(), Duration::from_secs(60)).unwrap();
        assert!(held.key.ends_with("000000000008.json"));
        assert!(
            root.get_bytes(&key).unwrap().is_none(),
            "older generation removed"
        );
        drop(held);

        let remote_expired = LeaseRecord {
            host: "another-host".into(),
            expires_unix_ms: now_ms() - 1,
            ..dead.clone()
        };
        let key = format!("{LOCKS_DIR}/0-of-1/000000000009.json");
        root.put_bytes(&key, serde_json::to_vec(&remote_expired).unwrap(), true)
            .unwrap();
        Lease::acquire(&root, Shard::default(), Duration::from_secs(60)).unwrap();

        // Same host name, another PID namespace (a container): its pid says nothing here, so
        // only the expiry counts.
        let other_namespace = LeaseRecord {
            pid_namespace: Some("pid:[1]".into()),
            ..dead.clone()
        };
        assert!(other_namespace.live(now_ms(), &host_name()));

        let remote_live = LeaseRecord {
            host: "another-host".into(),
            ..dead
        };
        let key = format!("{LOCKS_DIR}/0-of-1/000000000020.json");
        root.put_bytes(&key, serde_json::to_vec(&remote_live).unwrap(), true)
            .unwrap();
        assert!(Lease::acquire(&root, Shard::default(), Duration::from_secs(60)).is_err());
    }

    #[test]
    fn shards_split_keys_deterministically_and_completely() {
        let shards: Vec<Shard> = (0..3).map(|i| Shard::new(i, 3).unwrap()).collect();
        let mut per_shard = [0; 3];
        for k in 0..300 {
            let key = format!("s3://logs/20261123/file-{k}.log.gz");
            let owners: Vec<usize> = (0..3).filter(|&i| shards[i].owns(&key)).collect();
            assert_eq!(owners.len(), 1, "{key} owned by {owners:?}");
            per_shard[owners[0]] += 1;
        }
        assert!(per_shard.iter().all(|&n| n > 60), "{per_shard:?}");
        assert_eq!(Shard::parse("2/3").unwrap(), shards[2]);
        assert!(Shard::parse("3/3").is_err());
        assert!(Shard::parse("1").is_err());
    }
}
