//! Run metrics for schedulers: how one `convert` run went, in the Prometheus text exposition
//! format (version 0.0.4), for a monitoring system that cannot see a cron job's exit code.
//!
//! `--metrics-file` writes it atomically (a temporary file in the same folder, then a rename),
//! so node_exporter's textfile collector never reads half a file; `--metrics-push` sends the
//! same text to a Prometheus Pushgateway. Each text describes one run, so every metric is a
//! gauge and none is named `_total`: the next run replaces it. The metric names and labels
//! are listed in `docs/scheduled-runs.md` (Metrics), which is their documentation.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::error::{Error, Result};
use crate::job::ConvertOptions;
use crate::report::Summary;

/// The prefix of every metric name.
pub const PREFIX: &str = "logpush_parquet_";
/// The Pushgateway's `job` label: every run pushes under it, told apart by its grouping labels.
pub const PUSH_JOB: &str = "logpush_parquet";
/// The `Content-Type` of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// How long a push may take before it is given up (a warning).
const PUSH_TIMEOUT: Duration = Duration::from_secs(10);
/// The labels every metric carries; `--metrics-label` may not reuse them, nor `job`, which the
/// Pushgateway sets.
const RESERVED_LABELS: [&str; 4] = ["dataset", "shard", "output", "job"];

/// The labels that tell one scheduled job apart from another on the same node or Pushgateway:
/// the dataset, the shard and the output (the same output and shard cannot have two live
/// runs, since they share a lock), then any `--metrics-label` pairs. None of them changes from
/// run to run, so a job keeps one series.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunLabels {
    pairs: Vec<(String, String)>,
}

impl RunLabels {
    /// The labels of a run with `options`, then `extra` (already checked by
    /// [`RunLabels::parse_extra`]). The output is the output root as given, or for an Iceberg
    /// table `NAMESPACE.TABLE`.
    pub fn new(options: &ConvertOptions, extra: &[(String, String)]) -> Self {
        let output = match &options.iceberg {
            Some(catalog) => catalog.table_name(),
            None => options.output.clone(),
        };
        let mut pairs = vec![
            ("dataset".to_string(), options.schema.dataset().to_string()),
            ("shard".to_string(), options.shard.to_string()),
            ("output".to_string(), output),
        ];
        pairs.extend(extra.iter().cloned());
        RunLabels { pairs }
    }

    /// Labels from name and value pairs, as given (for tests and other callers).
    pub fn from_pairs(pairs: Vec<(String, String)>) -> Self {
        RunLabels { pairs }
    }

    /// The name and value pairs, in the order they are rendered.
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// Parses `--metrics-label NAME=VALUE` arguments: Prometheus label names, none reserved
    /// (`__` prefix, the built-in labels, `job`) or given twice; sorted by name.
    pub fn parse_extra(args: &[String]) -> Result<Vec<(String, String)>> {
        let invalid = |message: String| Error::InvalidOption {
            option: "--metrics-label",
            message,
        };
        let mut pairs: Vec<(String, String)> = Vec::new();
        for arg in args {
            let Some((name, value)) = arg.split_once('=') else {
                return Err(invalid(format!("{arg:?} is not NAME=VALUE")));
            };
            if !is_label_name(name) {
                return Err(invalid(format!(
                    "{name:?} is not a label name (a letter or _, then letters, digits or _)"
                )));
            }
            if name.starts_with("__") || RESERVED_LABELS.contains(&name) {
                return Err(invalid(format!("{name:?} is a label the tool sets itself")));
            }
            if pairs.iter().any(|(n, _)| n == name) {
                return Err(invalid(format!("{name:?} is given twice")));
            }
            pairs.push((name.to_string(), value.to_string()));
        }
        pairs.sort();
        Ok(pairs)
    }

    /// `{name="value",...}`, values escaped as the text format requires.
    fn render(&self) -> String {
        let mut out = String::from("{");
        for (i, (name, value)) in self.pairs.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            let _ = write!(out, "{name}=\"{}\"", escape_label_value(value));
        }
        out.push('}');
        out
    }
}

/// Where a run's metrics go (`--metrics-file`, `--metrics-push`), checked before any work.
#[derive(Debug, Clone, Default)]
pub struct MetricsSinks {
    /// The file to replace with each run's metrics.
    pub file: Option<PathBuf>,
    /// The Pushgateway's base URL (`http://pushgateway:9091`).
    pub push: Option<url::Url>,
    /// `--metrics-label` pairs, sorted by name.
    pub extra_labels: Vec<(String, String)>,
}

impl MetricsSinks {
    /// Checks the flags: the file's folder must exist (a misspelt textfile-collector folder is
    /// a usage error, not a run that succeeds unseen), the push URL must be `http(s)://`.
    pub fn try_new(
        file: Option<&Path>,
        push: Option<&str>,
        labels: &[String],
    ) -> Result<Option<MetricsSinks>> {
        let extra_labels = RunLabels::parse_extra(labels)?;
        if file.is_none() && push.is_none() {
            if !labels.is_empty() {
                return Err(Error::InvalidOption {
                    option: "--metrics-label",
                    message: "is for --metrics-file or --metrics-push".into(),
                });
            }
            return Ok(None);
        }
        if let Some(path) = file {
            let folder = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            if path.file_name().is_none() || !folder.is_dir() {
                return Err(Error::InvalidOption {
                    option: "--metrics-file",
                    message: format!("{} is not a file in an existing folder", path.display()),
                });
            }
        }
        let push = match push {
            None => None,
            Some(text) => {
                let url = url::Url::parse(text).map_err(|e| Error::InvalidOption {
                    option: "--metrics-push",
                    message: format!("{text:?} is not a URL ({e})"),
                })?;
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    return Err(Error::InvalidOption {
                        option: "--metrics-push",
                        message: format!(
                            "{text:?} is not a Pushgateway's http:// or https:// address"
                        ),
                    });
                }
                Some(url)
            }
        };
        Ok(Some(MetricsSinks {
            file: file.map(Path::to_path_buf),
            push,
            extra_labels,
        }))
    }
}

impl MetricsSinks {
    /// Writes `text` to the file, then pushes it. A failed push is logged as a warning and
    /// forgotten (the run's data is committed or not either way); the file's error is returned,
    /// naming the file.
    pub fn deliver(&self, labels: &RunLabels, text: &str) -> std::io::Result<()> {
        let written = match &self.file {
            Some(path) => write_file(path, text).map_err(|e| {
                std::io::Error::new(e.kind(), format!("write metrics {}: {e}", path.display()))
            }),
            None => Ok(()),
        };
        if let Some(url) = &self.push
            && let Err(why) = push(url, labels, text)
        {
            tracing::warn!("metrics not pushed to the Pushgateway: {why}");
        }
        written
    }
}

/// One run's outcome: its exit code and times always, its figures when it got far enough to
/// have a summary (a run that stopped on an error or found the output locked has none).
#[derive(Debug, Clone)]
pub struct RunMetrics<'a> {
    /// The labels every metric carries.
    pub labels: &'a RunLabels,
    /// The process exit code (`crate::exit_code`).
    pub exit_code: u8,
    /// When the run started.
    pub started: SystemTime,
    /// When the run ended.
    pub ended: SystemTime,
    /// The run's summary, when it has one.
    pub summary: Option<&'a Summary>,
}

impl RunMetrics<'_> {
    /// The text exposition format (0.0.4): a `# HELP` and a `# TYPE ... gauge` line and one
    /// sample for each metric, in a fixed order.
    pub fn render(&self) -> String {
        let labels = self.labels.render();
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, value: String| {
            let _ = writeln!(out, "# HELP {PREFIX}{name} {}", escape_help(help));
            let _ = writeln!(out, "# TYPE {PREFIX}{name} gauge");
            let _ = writeln!(out, "{PREFIX}{name}{labels} {value}");
        };
        gauge(
            "exit_code",
            "The run's process exit code: 0 success, 1 error, 2 usage error, 3 some inputs \
             could not be read (the others were committed), 4 reject threshold exceeded, 5 the \
             output was locked by another run.",
            self.exit_code.to_string(),
        );
        gauge(
            "start_time_seconds",
            "When the run started, in Unix seconds.",
            unix_seconds(self.started),
        );
        gauge(
            "end_time_seconds",
            "When the run ended, in Unix seconds.",
            unix_seconds(self.ended),
        );
        let seconds = match self.summary {
            Some(s) => s.elapsed_s,
            None => (self.ended.duration_since(self.started))
                .unwrap_or_default()
                .as_secs_f64(),
        };
        gauge(
            "duration_seconds",
            "How long the run took, in seconds.",
            seconds.to_string(),
        );
        let Some(s) = self.summary else {
            return out;
        };
        let count = |n: usize| (n as u64).to_string();
        let figures: [(&str, &str, String); 10] = [
            (
                "committed",
                "1 if the run committed its data files, else 0.",
                u8::from(s.committed).to_string(),
            ),
            (
                "rows_read",
                "Non-blank lines read from inputs read to their end.",
                s.rows_read.to_string(),
            ),
            (
                "rows_written",
                "Rows in the data files the run committed.",
                s.rows_written.to_string(),
            ),
            (
                "rows_rejected",
                "Lines kept in the rejects file instead of the data files.",
                s.rows_rejected.to_string(),
            ),
            (
                "inputs_converted",
                "Inputs converted and committed by the run.",
                s.inputs_converted.to_string(),
            ),
            (
                "inputs_failed",
                "Inputs that could not be read to their end (tried again by the next run).",
                count(s.inputs_failed.len()),
            ),
            (
                "inputs_quarantined",
                "Inputs left out because they failed --quarantine-after runs in a row.",
                count(s.inputs_quarantined.len()),
            ),
            (
                "input_bytes",
                "Bytes read from inputs, as stored (compressed).",
                s.bytes_in.to_string(),
            ),
            (
                "output_bytes",
                "Bytes of the data files written.",
                s.bytes_out.to_string(),
            ),
            (
                "files_written",
                "Data files written.",
                s.files_written.to_string(),
            ),
        ];
        for (name, help, value) in figures {
            gauge(name, help, value);
        }
        out
    }
}

/// Unix seconds with millisecond precision (`1795392000.25`).
fn unix_seconds(time: SystemTime) -> String {
    let millis = time
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis();
    (millis as f64 / 1000.0).to_string()
}

/// Whether `name` is a Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A label value as the text format writes it between quotes: `\`, `"` and newline escaped.
pub fn escape_label_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A `# HELP` text: `\` and newline escaped (quotes are not, in a help line).
fn escape_help(text: &str) -> String {
    text.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Replaces `path` with `text` atomically: writes a hidden temporary file in the same folder
/// (a name the textfile collector, which reads only `*.prom`, never reads), syncs it, then
/// renames it over `path`. A reader sees the old file or the new one, never part of one.
pub fn write_file(path: &Path, text: &str) -> std::io::Result<()> {
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the path has no file name",
        )
    })?;
    let temp = folder.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(text.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written
}

/// The Pushgateway URL of a run's group: `{base}/metrics/job/logpush_parquet/{name}/{value}...`
/// for each label, a value that is not plain URL-safe text (a `/` in an output URL, an empty
/// value) as `{name}@base64/{base64url}` (the Pushgateway's own encoding for such values).
pub fn push_url(base: &url::Url, labels: &RunLabels) -> String {
    use base64::Engine as _;
    let mut url = format!(
        "{}/metrics/job/{PUSH_JOB}",
        base.as_str().trim_end_matches('/')
    );
    for (name, value) in labels.pairs() {
        let plain = !value.is_empty()
            && value
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
        if plain {
            let _ = write!(url, "/{name}/{value}");
        } else if value.is_empty() {
            // An empty value needs one `=` so the path keeps its segment.
            let _ = write!(url, "/{name}@base64/=");
        } else {
            let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value);
            let _ = write!(url, "/{name}@base64/{encoded}");
        }
    }
    url
}

/// PUTs `text` to the Pushgateway at `base`, replacing the group of `labels` (the previous
/// run's metrics of the same job). Returns why it failed, for a warning.
pub fn push(base: &url::Url, labels: &RunLabels, text: &str) -> std::result::Result<(), String> {
    let url = push_url(base, labels);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("no runtime for the push: {e}"))?;
    let client = reqwest::Client::builder()
        .timeout(PUSH_TIMEOUT)
        .build()
        .map_err(|e| format!("no HTTP client for the push: {e}"))?;
    runtime.block_on(async {
        let response = client
            .put(&url)
            .header(reqwest::header::CONTENT_TYPE, CONTENT_TYPE)
            .body(text.to_string())
            .send()
            .await
            .map_err(|e| format!("PUT {url}: {e}"))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let body = response.text().await.unwrap_or_default();
        let body: String = body.trim().chars().take(300).collect();
        Err(format!("PUT {url}: {status} {body}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(output: &str) -> RunLabels {
        RunLabels::from_pairs(vec![
            ("dataset".into(), "http_requests".into()),
            ("shard".into(), "0-of-1".into()),
            ("output".into(), output.into()),
        ])
    }

    fn at(seconds: u64, millis: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(seconds * 1000 + millis)
    }

    #[test]
    fn label_values_escape_backslash_quote_and_newline() {
        assert_eq!(escape_label_value(r"C:\lake"), r"C:\\lake");
        assert_eq!(escape_label_value(r#"a "b""#), r#"a \"b\""#);
        assert_eq!(escape_label_value("one\ntwo"), r"one\ntwo");
        assert_eq!(escape_label_value("s3://lake/x é"), "s3://lake/x é");
        let text = labels("a\\b\"c\nd").render();
        assert_eq!(
            text,
            r#"{dataset="http_requests",shard="0-of-1",output="a\\b\"c\nd"}"#
        );
    }

    #[test]
    fn help_escapes_backslash_and_newline_only() {
        assert_eq!(escape_help("a \"b\" \\ c\nd"), "a \"b\" \\\\ c\\nd");
    }

    #[test]
    fn a_failed_run_without_summary_has_its_code_and_times_only() {
        let labels = labels("/lake");
        let text = RunMetrics {
            labels: &labels,
            exit_code: 5,
            started: at(1_795_392_000, 250),
            ended: at(1_795_392_002, 0),
            summary: None,
        }
        .render();
        let samples: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        let l = r#"{dataset="http_requests",shard="0-of-1",output="/lake"}"#;
        assert_eq!(
            samples,
            [
                format!("logpush_parquet_exit_code{l} 5"),
                format!("logpush_parquet_start_time_seconds{l} 1795392000.25"),
                format!("logpush_parquet_end_time_seconds{l} 1795392002"),
                format!("logpush_parquet_duration_seconds{l} 1.75"),
            ]
        );
    }

    #[test]
    fn every_metric_has_help_and_gauge_type_before_its_sample() {
        let labels = labels("s3://lake/spectrum");
        let summary = Summary {
            rows_read: 10,
            rows_written: 9,
            rows_rejected: 1,
            committed: true,
            elapsed_s: 0.5,
            ..Summary::default()
        };
        let text = RunMetrics {
            labels: &labels,
            exit_code: 0,
            started: at(1, 0),
            ended: at(2, 0),
            summary: Some(&summary),
        }
        .render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len() % 3, 0);
        let mut names = Vec::new();
        for chunk in lines.chunks(3) {
            let name = chunk[0]
                .split(' ')
                .nth(2)
                .expect("a HELP line names its metric");
            assert!(chunk[0].starts_with("# HELP logpush_parquet_"), "{chunk:?}");
            assert_eq!(chunk[1], format!("# TYPE {name} gauge"));
            assert!(chunk[2].starts_with(&format!("{name}{{")), "{chunk:?}");
            assert!(!name.ends_with("_total"), "{name}: gauges are not _total");
            names.push(name);
        }
        assert_eq!(names.len(), 14);
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "a metric twice");
        assert!(text.contains("logpush_parquet_rows_written{"));
        assert!(text.contains("} 9\n"));
        assert!(text.contains("logpush_parquet_duration_seconds{dataset=\"http_requests\",shard=\"0-of-1\",output=\"s3://lake/spectrum\"} 0.5\n"));
    }

    #[test]
    fn push_url_encodes_values_that_are_not_plain() {
        let base = url::Url::parse("http://gw:9091/").expect("a URL");
        assert_eq!(
            push_url(&base, &labels("s3://lake/x")),
            "http://gw:9091/metrics/job/logpush_parquet/dataset/http_requests/shard/0-of-1/\
             output@base64/czM6Ly9sYWtlL3g"
        );
        let empty = RunLabels::from_pairs(vec![("team".into(), String::new())]);
        assert_eq!(
            push_url(&base, &empty),
            "http://gw:9091/metrics/job/logpush_parquet/team@base64/="
        );
        let prefixed = url::Url::parse("https://proxy/pushgateway").expect("a URL");
        assert!(push_url(&prefixed, &empty).starts_with("https://proxy/pushgateway/metrics/job/"));
    }

    #[test]
    fn extra_labels_are_checked_and_sorted() {
        let parsed =
            RunLabels::parse_extra(&["team=data".into(), "env=prod".into()]).expect("valid labels");
        assert_eq!(
            parsed,
            [
                ("env".to_string(), "prod".to_string()),
                ("team".to_string(), "data".to_string())
            ]
        );
        for bad in [
            "noequals",
            "1x=a",
            "__name__=a",
            "job=a",
            "output=a",
            "a-b=c",
        ] {
            assert!(RunLabels::parse_extra(&[bad.into()]).is_err(), "{bad}");
        }
        assert!(RunLabels::parse_extra(&["a=1".into(), "a=2".into()]).is_err());
        assert_eq!(
            RunLabels::parse_extra(&["a=x=y".into()]).expect("valid")[0].1,
            "x=y"
        );
    }

    #[test]
    fn write_file_replaces_the_file_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let path = dir.path().join("logpush.prom");
        std::fs::write(&path, "old\n").expect("an old file");
        write_file(&path, "new\n").expect("written");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "new\n");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("listed")
            .map(|e| e.expect("an entry").file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from("logpush.prom")]);
    }

    #[test]
    fn sinks_refuse_a_missing_folder_and_a_non_http_push() {
        let missing = Path::new("/no/such/folder/x.prom");
        assert!(MetricsSinks::try_new(Some(missing), None, &[]).is_err());
        assert!(MetricsSinks::try_new(None, Some("ftp://gw"), &[]).is_err());
        assert!(MetricsSinks::try_new(None, Some("gw:9091"), &[]).is_err());
        assert!(MetricsSinks::try_new(None, None, &["a=b".into()]).is_err());
        assert!(
            MetricsSinks::try_new(None, None, &[])
                .expect("fine")
                .is_none()
        );
        let sinks = MetricsSinks::try_new(None, Some("http://gw:9091"), &["a=b".into()])
            .expect("valid")
            .expect("some");
        assert_eq!(sinks.extra_labels, [("a".to_string(), "b".to_string())]);
    }
}
