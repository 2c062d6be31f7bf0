//! `logpush-parquet check`: what an operator runs before the first scheduled run. Each step
//! reports a verdict and what it saw, and a failed step does not stop the others:
//!
//! 1. the inputs can be listed (how many, how large, what is skipped);
//! 2. a sample of them can be read and decoded with the dataset's field list (lines, rows,
//!    rejects, and the first reject's reason);
//! 3. the output can be written, read back and deleted (a probe object under `_ledger/probe/`);
//! 4. the output's store creates objects atomically (create-if-absent: the lock and Delta
//!    commits rely on it), checked by racing writers.
//!
//! With `--table-format iceberg`, the catalog steps come before the output's: the catalog is
//! reached, the credentials are accepted, the namespace is loaded or created, and the table is
//! loaded or created (and checked against the dataset and `--partition-by`, as a run would);
//! the output steps then probe the table's location.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use serde::Serialize;

use crate::commit::iceberg::catalog::{CLIENT_ID_ENV, Catalog, CatalogOptions, TOKEN_ENV};
use crate::commit::iceberg::{self, IcebergTable, TableShape};
use crate::decode::csv::CsvColumns;
use crate::decode::lines::{Line, LineReader};
use crate::decode::{DecodeOptions, Decoder};
use crate::input;
use crate::partition::PartitionSpec;
use crate::report::human_bytes;
use crate::schema::EventSchema;
use crate::storage::{Location, Storage, StorageOptions};

/// Inputs read whole by the sample step, and lines read from each at most.
const SAMPLE_INPUTS: usize = 3;
const SAMPLE_LINES: u64 = 10_000;
/// Writers racing to create one object in the atomicity step.
const PROBE_WRITERS: usize = 16;

/// What `check` looks at.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// Input arguments, as `convert` takes them.
    pub inputs: Vec<String>,
    /// The output root (unused for an Iceberg table).
    pub output: String,
    /// The Iceberg table and its partitioning, for `--table-format iceberg`.
    pub iceberg: Option<(CatalogOptions, PartitionSpec)>,
    /// The field list the inputs are decoded with.
    pub schema: Arc<EventSchema>,
    /// The columns of CSV inputs, if they are CSV.
    pub csv_columns: Option<CsvColumns>,
    /// Longest line accepted.
    pub max_line_bytes: usize,
    /// Object store settings.
    pub storage: StorageOptions,
}

/// One step's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// What was checked.
    pub step: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What was seen, or why it failed.
    pub detail: String,
}

/// Every step's verdict.
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Whether every step passed.
    pub ok: bool,
}

impl CheckReport {
    /// One line per step, then the verdict.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for s in &self.steps {
            let mark = if s.ok { "ok  " } else { "FAIL" };
            out.push_str(&format!("{mark} {:<15} {}\n", s.step, s.detail));
        }
        out.push_str(if self.ok {
            "ready: a run can read these inputs and write this output\n"
        } else {
            "not ready: fix the failed steps above\n"
        });
        out
    }
}

/// Runs every step.
pub fn check(options: &CheckOptions) -> CheckReport {
    let mut steps = Vec::new();
    let storage = match Storage::new(options.storage.clone()) {
        Ok(storage) => storage,
        Err(e) => {
            steps.push(failed("storage", &e));
            return report(steps);
        }
    };
    match input::expand(&options.inputs, &storage) {
        Ok(listed) => {
            let bytes: u64 = listed.inputs.iter().map(|i| i.size).sum();
            let ok = !listed.inputs.is_empty();
            steps.push(Step {
                step: "list inputs",
                ok,
                detail: format!(
                    "{} input{} ({}), {} skipped{}",
                    listed.inputs.len(),
                    if listed.inputs.len() == 1 { "" } else { "s" },
                    human_bytes(bytes),
                    listed.skipped.len(),
                    if ok { "" } else { ": nothing to convert" }
                ),
            });
            steps.push(sample(options, &listed.inputs));
        }
        Err(e) => steps.push(failed("list inputs", &e)),
    }
    let output = match &options.iceberg {
        None => storage.open(&options.output),
        Some((catalog, partition)) => match catalog_steps(options, catalog, partition, &storage) {
            (catalog_steps, Some(root)) => {
                steps.extend(catalog_steps);
                Ok(root)
            }
            (catalog_steps, None) => {
                steps.extend(catalog_steps);
                return report(steps);
            }
        },
    };
    match &output {
        Ok(root) => {
            let key = format!(
                "_ledger/probe/check-{}-{}",
                std::process::id(),
                crate::stage::unix_nanos()
            );
            let body = b"logpush-parquet check".to_vec();
            let written = root
                .put_bytes(&key, body.clone(), false)
                .and_then(|_| root.get_bytes(&key))
                .and_then(|read| {
                    root.delete(&key)?;
                    Ok(read)
                });
            steps.push(match written {
                Ok(Some(read)) if read.as_ref() == body.as_slice() => Step {
                    step: "write output",
                    ok: true,
                    detail: format!("wrote, read back and deleted {}", root.display_key(&key)),
                },
                Ok(_) => Step {
                    step: "write output",
                    ok: false,
                    detail: format!("{} did not read back as written", root.display_key(&key)),
                },
                Err(e) => failed("write output", &e),
            });
            steps.push(match root.creates_atomically(PROBE_WRITERS) {
                Ok(true) => Step {
                    step: "atomic create",
                    ok: true,
                    detail: format!(
                        "{PROBE_WRITERS} writers raced to create one object, four times: one won \
                         each time"
                    ),
                },
                Ok(false) => Step {
                    step: "atomic create",
                    ok: false,
                    detail: "several writers created the same object (If-None-Match is not \
                             enforced): two runs of one shard could both take its lock, and \
                             Delta tables are refused; use a store that enforces it"
                        .into(),
                },
                Err(e) => failed("atomic create", &e),
            });
        }
        Err(e) => steps.push(failed("write output", e)),
    }
    report(steps)
}

/// The catalog steps, up to the first that fails; the table's location when all pass.
fn catalog_steps(
    options: &CheckOptions,
    catalog: &CatalogOptions,
    partition: &PartitionSpec,
    storage: &Arc<Storage>,
) -> (Vec<Step>, Option<Location>) {
    let mut steps = Vec::new();
    match Catalog::reach(catalog, storage.clone()) {
        Ok(status) => steps.push(Step {
            step: "reach catalog",
            ok: true,
            detail: format!("{} answered ({status} to GET /v1/config)", catalog.uri),
        }),
        Err(e) => {
            steps.push(failed("reach catalog", &e));
            return (steps, None);
        }
    }
    let connected = Catalog::connect(catalog, storage.clone())
        .and_then(|c| c.count_namespaces().map(|n| (c, n)));
    let connected = match connected {
        Ok((connected, namespaces)) => {
            let how = if std::env::var_os(TOKEN_ENV).is_some() {
                format!("the token in {TOKEN_ENV}")
            } else if std::env::var_os(CLIENT_ID_ENV).is_some() {
                format!("the token granted for {CLIENT_ID_ENV}")
            } else {
                "no credentials".to_string()
            };
            steps.push(Step {
                step: "authenticate",
                ok: true,
                detail: format!(
                    "{how} accepted: warehouse {} lists {namespaces} namespaces",
                    catalog.warehouse
                ),
            });
            connected
        }
        Err(e) => {
            steps.push(failed("authenticate", &e));
            return (steps, None);
        }
    };
    let namespace = catalog.namespace.join(".");
    match connected.ensure_namespace() {
        Ok(()) => steps.push(Step {
            step: "namespace",
            ok: true,
            detail: format!("{namespace} exists (created if it did not)"),
        }),
        Err(e) => {
            steps.push(failed("namespace", &e));
            return (steps, None);
        }
    }
    let shape = TableShape {
        schema: options.schema.clone(),
        partition: partition.clone(),
        columns: (options.schema).arrow_schema(arrow_schema::TimeUnit::Microsecond),
    };
    let opened =
        iceberg::connect(catalog, Some(&shape), &options.storage).and_then(|(root, connection)| {
            IcebergTable::open(&root, connection, Some(shape)).map(|_| root)
        });
    match opened {
        Ok(root) => {
            steps.push(Step {
                step: "table",
                ok: true,
                detail: format!(
                    "{} at {}, of {} partitioned by --partition-by {} (created if it did not \
                     exist)",
                    catalog.table_name(),
                    root.display_key(""),
                    options.schema.dataset(),
                    partition.to_option_text()
                ),
            });
            (steps, Some(root))
        }
        Err(e) => {
            steps.push(failed("table", &e));
            (steps, None)
        }
    }
}

/// Reads the first lines of the first inputs and decodes them.
fn sample(options: &CheckOptions, inputs: &[input::Input]) -> Step {
    let decoder = Decoder::try_new(options.schema.clone(), DecodeOptions::default())
        .map(|d| d.with_csv_columns(options.csv_columns.clone()));
    let mut decoder = match decoder {
        Ok(d) => d,
        Err(e) => return failed("read inputs", &e),
    };
    let (mut lines, mut rows, mut rejected) = (0u64, 0u64, 0u64);
    let mut first_reject: Option<String> = None;
    let taken = inputs.iter().take(SAMPLE_INPUTS);
    for input in taken.clone() {
        let name = input.source.display_name();
        let reader = match input::open(input, Arc::new(AtomicU64::new(0))) {
            Ok(reader) => reader,
            Err(e) => {
                return Step {
                    step: "read inputs",
                    ok: false,
                    detail: format!("{name}: {e}"),
                };
            }
        };
        let mut reader = LineReader::new(reader, options.max_line_bytes);
        loop {
            let (number, line) = match reader.next_line() {
                Ok(Some(next)) => next,
                Ok(None) => break,
                Err(e) => {
                    return Step {
                        step: "read inputs",
                        ok: false,
                        detail: format!("{name}: after line {}: {e}", reader.line_no()),
                    };
                }
            };
            if number > SAMPLE_LINES {
                break;
            }
            let result = match line {
                Line::Complete(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => continue,
                Line::Complete(bytes) => decoder.decode_line(bytes).map_err(|r| r.to_string()),
                Line::TooLong { len, .. } => Err(format!("a line of {len} bytes, over the limit")),
            };
            lines += 1;
            match result {
                Ok(()) => rows += 1,
                Err(reason) => {
                    rejected += 1;
                    first_reject.get_or_insert_with(|| format!("{name} line {number}: {reason}"));
                }
            }
            if decoder.is_full() {
                let _ = decoder.flush();
            }
        }
    }
    let ok = lines == 0 || rejected * 100 <= lines;
    let mut detail = format!(
        "{lines} lines of the first {} input{} as {}: {rows} rows, {rejected} rejected",
        taken.len(),
        if taken.len() == 1 { "" } else { "s" },
        options.schema.dataset()
    );
    if let Some(reject) = first_reject {
        detail.push_str(&format!(" (first: {reject})"));
    }
    Step {
        step: "read inputs",
        ok,
        detail,
    }
}

fn failed(step: &'static str, error: &dyn std::fmt::Display) -> Step {
    Step {
        step,
        ok: false,
        detail: error.to_string(),
    }
}

fn report(steps: Vec<Step>) -> CheckReport {
    let ok = steps.iter().all(|s| s.ok);
    CheckReport { steps, ok }
}
