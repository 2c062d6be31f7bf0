//! Test harness: runs the real binary in a temporary folder and reads its output back.

#![allow(
    dead_code,
    reason = "each test file uses a different subset of the helpers"
)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use arrow_array::{Array, RecordBatch};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

pub const BIN: &str = env!("CARGO_BIN_EXE_logpush-parquet");

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn examples_data() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/data")
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn summary(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not a JSON summary ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Runs the binary with `args`, optionally feeding `stdin`.
pub fn run(args: &[&str], stdin: Option<&[u8]>) -> Run {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn the binary");
    if let Some(bytes) = stdin {
        use std::io::Write;
        let mut pipe = child.stdin.take().expect("stdin pipe");
        pipe.write_all(bytes).expect("feed stdin");
    }
    let Output {
        status,
        stdout,
        stderr,
    } = child.wait_with_output().expect("wait for the binary");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Every file under `root`, relative, sorted (staging and everything else included).
pub fn tree(root: &Path) -> Vec<String> {
    let mut out: Vec<String> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.path().strip_prefix(root).unwrap().display().to_string())
        .collect();
    out.sort();
    out
}

/// The committed Parquet files under `root`, relative, sorted.
pub fn parquet_files(root: &Path) -> Vec<String> {
    tree(root)
        .into_iter()
        .filter(|p| p.ends_with(".parquet"))
        .collect()
}

pub fn read_parquet(path: &Path) -> Vec<RecordBatch> {
    let file = std::fs::File::open(path).unwrap();
    ParquetRecordBatchReaderBuilder::try_new(file)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// Every row of every data file as `column -> display string`, with the partition folder.
pub fn rows(root: &Path) -> Vec<(String, BTreeMap<String, String>)> {
    let mut out = Vec::new();
    for relative in parquet_files(root) {
        let partition = Path::new(&relative).parent().unwrap().display().to_string();
        for batch in read_parquet(&root.join(&relative)) {
            let options = arrow_cast::display::FormatOptions::default().with_null("NULL");
            // Timestamps print as naive UTC plus `Z` (naming the "UTC" zone needs chrono-tz).
            let columns: Vec<(arrow_array::ArrayRef, bool)> = batch
                .columns()
                .iter()
                .map(|c| match c.data_type() {
                    DataType::Timestamp(unit, Some(_)) => (
                        arrow_cast::cast(c, &DataType::Timestamp(*unit, None)).unwrap(),
                        true,
                    ),
                    _ => (c.clone(), false),
                })
                .collect();
            let formatters: Vec<_> = columns
                .iter()
                .map(|(c, _)| {
                    arrow_cast::display::ArrayFormatter::try_new(c.as_ref(), &options).unwrap()
                })
                .collect();
            for row in 0..batch.num_rows() {
                let mut map = BTreeMap::new();
                for ((field, f), (c, utc)) in batch
                    .schema()
                    .fields()
                    .iter()
                    .zip(&formatters)
                    .zip(&columns)
                {
                    let mut text = f.value(row).to_string();
                    if *utc && c.is_valid(row) {
                        text.push('Z');
                    }
                    map.insert(field.name().clone(), text);
                }
                out.push((partition.clone(), map));
            }
        }
    }
    out
}

pub fn total_rows(root: &Path) -> usize {
    parquet_files(root)
        .iter()
        .flat_map(|f| read_parquet(&root.join(f)))
        .map(|b| b.num_rows())
        .sum()
}

/// gzip of `data`.
pub fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}
