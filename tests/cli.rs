//! The real binary on fixture archives: summaries, partitions, values, rejects, re-runs,

#![allow(clippy::unwrap_used, reason = "test code: a panic is a test failure")]
//! failures and exit codes.

mod common;

use common::*;
use std::path::Path;

fn convert(inputs: &[&Path], out: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<String> = vec!["convert".into()];
    args.extend(inputs.iter().map(|p| p.display().to_string()));
    args.extend([
        "-o".into(),
        out.display().to_string(),
        "--summary-json".into(),
        "-".into(),
    ]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&refs, None)
}

/// `convert -` fed `input` on standard input, into `out`, with the JSON summary on stdout.
fn convert_stdin(input: &[u8], out: &Path, extra: &[&str]) -> Run {
    let out = out.display().to_string();
    let mut args = vec!["convert", "-", "-o", &out, "--summary-json", "-"];
    args.extend_from_slice(extra);
    run(&args, Some(input))
}

#[test]
fn mixed_fixture_converts_with_every_row_accounted_for() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let r = convert(
        &[&fixture("mixed.ndjson"), &fixture("second.ndjson.zst")],
        &out,
        &["--max-reject-ratio", "0.5"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.summary();
    assert_eq!(s["status"], "ok");
    assert_eq!(s["rows_read"], 9);
    assert_eq!(s["rows_written"], 7);
    assert_eq!(s["rows_rejected"], 2);
    assert_eq!(s["blank_lines"], 1);
    assert_eq!(s["inputs_read"], 2);
    assert_eq!(s["out_of_enum"]["ClientProto"], 1);
    assert_eq!(s["out_of_enum"]["ClientTlsProtocol"], 1);
    assert_eq!(s["unknown_fields"]["NewField"], 1);
    assert_eq!(s["files_written"], 3);
    for key in [
        "bytes_in",
        "bytes_out",
        "elapsed_s",
        "inputs_skipped",
        "files",
    ] {
        assert!(s.get(key).is_some(), "summary lacks {key}");
    }
    let run_id = s["run_id"].as_str().unwrap();
    assert_eq!(
        parquet_files(&out),
        [
            format!("date=2026-11-23/hour=23/part-{run_id}-00000.parquet"),
            format!("date=2026-11-24/hour=0/part-{run_id}-00000.parquet"),
            format!(
                "date=__HIVE_DEFAULT_PARTITION__/hour=__HIVE_DEFAULT_PARTITION__/part-{run_id}-00000.parquet"
            ),
        ]
    );
    assert!(!out.join("_staging").exists(), "staging is cleaned up");

    let rows = rows(&out);
    assert_eq!(rows.len(), 7);
    let by_app = |app: &str| {
        rows.iter()
            .find(|(_, r)| r["Application"] == app)
            .unwrap_or_else(|| panic!("no row for {app}"))
    };
    let (partition, first) = by_app("app-a");
    assert_eq!(partition, "date=2026-11-23/hour=23");
    assert_eq!(first["Timestamp"], "2026-11-23T23:00:00Z");
    assert_eq!(
        first["DisconnectTimestamp"], "NULL",
        "a connect event's zero disconnect time is NULL"
    );
    assert_eq!(first["ClientAsn"], "13335");
    assert_eq!(first["IpFirewall"], "false");
    let (_, b) = by_app("app/b");
    assert_eq!(b["Timestamp"], "2026-11-24T00:00:00.500Z");
    assert_eq!(b["ConnectTimestamp"], "NULL");
    assert_eq!(b["DisconnectTimestamp"], "NULL");
    let (partition, none) = by_app("no-time");
    assert!(partition.starts_with("date=__HIVE_DEFAULT_PARTITION__"));
    assert_eq!(none["Timestamp"], "NULL");
    let second = rows
        .iter()
        .find(|(_, r)| r["Event"] == "disconnect" && r["Status"] == "200")
        .unwrap();
    assert_eq!(second.1["ClientBytes"], "5120");
    assert_eq!(second.1["IpFirewall"], "true");
    assert_eq!(
        second.1["DisconnectTimestamp"],
        "2026-11-23T23:59:59.999999Z"
    );
    let quic = rows
        .iter()
        .find(|(_, r)| r["ClientProto"] == "quic")
        .unwrap();
    assert_eq!(quic.1["DisconnectTimestamp"], "2026-11-24T00:00:00Z");
    assert!(rows.iter().any(|(_, r)| r["Application"] == "second-file"));
}

#[test]
fn rejected_lines_are_kept_with_source_line_field_and_reason() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let r = convert(
        &[&fixture("mixed.ndjson")],
        &out,
        &["--max-reject-ratio", "0.5"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rejects_file = r.summary()["rejects_file"].as_str().unwrap().to_string();
    assert!(rejects_file.starts_with("_rejects/rejects-"));
    let text = std::fs::read_to_string(out.join(&rejects_file)).unwrap();
    let records: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["line"], 8);
    assert_eq!(records[0]["field"], "Status");
    assert!(records[0]["reason"].as_str().unwrap().contains("\"200.0\""));
    assert!(
        records[0]["source"]
            .as_str()
            .unwrap()
            .ends_with("mixed.ndjson")
    );
    assert_eq!(
        records[0]["raw"],
        r#"{"Timestamp":"2026-11-24T00:00:00Z","Status":"200.0","Application":"bad-int"}"#
    );
    assert_eq!(records[1]["line"], 9);
    assert!(
        records[1]["reason"]
            .as_str()
            .unwrap()
            .starts_with("invalid JSON")
    );
    assert_eq!(records[1]["raw"], "not json at all");
    assert!(r.stderr.contains("2 rejected"), "{}", r.stderr);
}

#[test]
fn running_the_same_command_twice_converts_nothing_new_and_reprocess_replaces_the_rows() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let data = examples_data();
    let first = convert(&[&data], &out, &[]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert_eq!(first.summary()["inputs_converted"], 4);
    let files = parquet_files(&out);
    let rows = total_rows(&out);
    let second = convert(&[&data], &out, &[]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    let s = second.summary();
    assert_eq!(s["inputs_converted"], 0);
    assert_eq!(s["inputs_already_converted"], 4);
    assert_eq!(s["rows_read"], 0);
    assert_eq!(parquet_files(&out), files);
    // Even with options that would shape rows differently: the ledger says they are done.
    let third = convert(&[&data], &out, &["--timestamp-unit", "ms"]);
    assert_eq!(third.summary()["inputs_converted"], 0);
    assert_eq!(total_rows(&out), rows);
    // --reprocess converts them again, under a new run id, and removes the old files.
    let fourth = convert(&[&data], &out, &["--reprocess"]);
    assert_eq!(fourth.code, 0, "{}", fourth.stderr);
    assert_eq!(fourth.summary()["inputs_converted"], 4);
    assert_ne!(first.summary()["run_id"], fourth.summary()["run_id"]);
    assert_eq!(total_rows(&out), rows);
    let new_files = parquet_files(&out);
    assert_eq!(new_files.len(), files.len());
    assert!(
        new_files.iter().all(|f| !files.contains(f)),
        "{new_files:?}"
    );
    let rejects: Vec<String> = tree(&out)
        .into_iter()
        .filter(|f| f.starts_with("_rejects/"))
        .collect();
    assert_eq!(
        rejects.len(),
        1,
        "the replaced run's rejects go too: {rejects:?}"
    );
}

#[test]
fn a_new_input_is_converted_alone_and_reprocessing_one_input_takes_its_whole_run() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let event = |i: u64| format!("{{\"Timestamp\":{},\"Status\":{i}}}\n", 1_795_474_800 + i);
    std::fs::write(input.join("a.log"), event(1) + &event(2)).unwrap();
    std::fs::write(input.join("b.log"), event(3)).unwrap();
    let out = dir.path().join("out");
    let first = convert(&[&input], &out, &[]);
    assert_eq!(first.summary()["inputs_converted"], 2);
    std::fs::write(input.join("c.log"), event(4)).unwrap();
    let second = convert(&[&input], &out, &[]);
    assert_eq!(second.code, 0, "{}", second.stderr);
    assert_eq!(second.summary()["inputs_converted"], 1);
    assert_eq!(second.summary()["rows_written"], 1);
    assert_eq!(total_rows(&out), 4);
    // Reprocessing a.log alone must also take b.log, whose rows share a.log's run's files.
    let third = convert(&[&input.join("a.log")], &out, &["--reprocess"]);
    assert_eq!(third.code, 0, "{}", third.stderr);
    assert_eq!(third.summary()["inputs_converted"], 2);
    assert_eq!(total_rows(&out), 4);
    // --dry-run lists what would be converted, on stdout, and writes nothing.
    std::fs::write(input.join("d.log"), event(5)).unwrap();
    let before = tree(&out);
    let dry = run(
        &[
            "convert",
            input.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--dry-run",
        ],
        None,
    );
    assert_eq!(dry.code, 0, "{}", dry.stderr);
    assert!(dry.stdout.trim_end().ends_with("d.log"), "{}", dry.stdout);
    assert_eq!(dry.stdout.lines().count(), 1);
    assert_eq!(tree(&out), before);
}

#[test]
fn a_reprocess_that_splits_partitions_into_fewer_files_leaves_no_stale_files() {
    // Regression: files 00001.. of the first run stayed beside the second run's single file.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let data = examples_data();
    let many = convert(
        &[&data],
        &out,
        &["--max-file-size", "1KiB", "--batch-size", "50"],
    );
    assert_eq!(many.code, 0, "{}", many.stderr);
    assert!(parquet_files(&out).len() > 8);
    let few = convert(&[&data], &out, &["--reprocess"]);
    assert_eq!(few.code, 0, "{}", few.stderr);
    assert_eq!(parquet_files(&out).len(), 4);
    assert_eq!(total_rows(&out), 1300);
}

#[test]
fn the_sample_archive_converts_and_skips_ownership_challenges() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let r = convert(&[&examples_data()], &out, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.summary();
    assert_eq!(s["rows_read"], 1302);
    assert_eq!(s["rows_written"], 1300);
    assert_eq!(s["rows_rejected"], 2);
    assert_eq!(s["inputs_read"], 4);
    assert_eq!(s["inputs_skipped"].as_array().unwrap().len(), 2);
    assert_eq!(total_rows(&out), 1300);
    let partitions: Vec<String> = parquet_files(&out)
        .iter()
        .map(|f| Path::new(f).parent().unwrap().display().to_string())
        .collect();
    assert_eq!(
        partitions,
        [
            "date=2026-11-23/hour=22",
            "date=2026-11-23/hour=23",
            "date=2026-11-24/hour=0",
            "date=2026-11-24/hour=1"
        ]
    );
}

#[test]
fn batch_sizes_give_byte_identical_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut reference: Option<Vec<(String, Vec<u8>)>> = None;
    for size in ["1", "3", "100", "8192"] {
        let out = dir.path().join(format!("out-{size}"));
        let r = convert(&[&examples_data()], &out, &["--batch-size", size]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let files: Vec<(String, Vec<u8>)> = parquet_files(&out)
            .into_iter()
            .map(|f| {
                let bytes = std::fs::read(out.join(&f)).unwrap();
                (f, bytes)
            })
            .collect();
        match &reference {
            None => reference = Some(files),
            Some(r) => assert!(r == &files, "batch size {size} changed the output"),
        }
    }
}

#[test]
fn too_many_rejects_fail_the_run_and_commit_no_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let r = convert(&[&fixture("mixed.ndjson")], &out, &[]);
    assert_eq!(r.code, 4, "{}", r.stderr);
    let s = r.summary();
    assert_eq!(s["status"], "reject_threshold_exceeded");
    assert_eq!(s["committed"], false);
    assert_eq!(s["rows_read"], 8);
    assert_eq!(s["rows_rejected"], 2);
    assert_eq!(
        s["rows_written"], 0,
        "no row is counted as written when nothing is committed"
    );
    assert_eq!(s["rows_discarded"], 6);
    assert!(parquet_files(&out).is_empty());
    let left: Vec<String> = tree(&out)
        .into_iter()
        .filter(|f| !f.starts_with("_ledger/locks/"))
        .collect();
    assert_eq!(left.len(), 1, "only the rejects file is left: {left:?}");
    assert!(left[0].starts_with("_rejects/"));
    assert!(r.stderr.contains("nothing committed"));
    // Nothing was recorded: the next run (with a looser threshold) converts the input.
    let again = convert(
        &[&fixture("mixed.ndjson")],
        &out,
        &["--max-reject-ratio", "0.5"],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(again.summary()["rows_written"], 6);
}

/// The sample of `metric` in a metrics file: its labels and value (the Python storage suite
/// reads the files with Prometheus's own parser; this is the quick tier's look).
fn metric_sample(text: &str, metric: &str) -> (String, String) {
    let line = text
        .lines()
        .find(|l| {
            l.strip_prefix(metric)
                .is_some_and(|rest| rest.starts_with('{'))
        })
        .unwrap_or_else(|| panic!("no {metric} in\n{text}"));
    let (series, value) = line.rsplit_once(' ').unwrap();
    (series[metric.len()..].to_string(), value.to_string())
}

#[test]
fn the_metrics_file_reports_a_rejected_run_then_replaces_it_with_a_good_one() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let metrics = dir.path().join("run.prom");
    let flag = metrics.display().to_string();
    let r = convert(
        &[&fixture("mixed.ndjson")],
        &out,
        &["--metrics-file", &flag],
    );
    assert_eq!(r.code, 4, "{}", r.stderr);
    let text = std::fs::read_to_string(&metrics).unwrap();
    let labels = format!(
        "{{dataset=\"spectrum_events\",shard=\"0-of-1\",output=\"{}\"}}",
        out.display()
    );
    for (metric, value) in [
        ("logpush_parquet_exit_code", "4"),
        ("logpush_parquet_committed", "0"),
        ("logpush_parquet_rows_read", "8"),
        ("logpush_parquet_rows_rejected", "2"),
    ] {
        assert_eq!(metric_sample(&text, metric), (labels.clone(), value.into()));
        assert!(text.contains(&format!("# TYPE {metric} gauge\n")), "{text}");
    }
    let again = convert(
        &[&fixture("mixed.ndjson")],
        &out,
        &["--max-reject-ratio", "0.5", "--metrics-file", &flag],
    );
    assert_eq!(again.code, 0, "{}", again.stderr);
    let text = std::fs::read_to_string(&metrics).unwrap();
    assert_eq!(metric_sample(&text, "logpush_parquet_exit_code").1, "0");
    assert_eq!(metric_sample(&text, "logpush_parquet_rows_written").1, "6");
    assert_eq!(
        tree(dir.path())
            .iter()
            .filter(|f| !f.starts_with("out/"))
            .collect::<Vec<_>>(),
        ["run.prom"],
        "a temporary file left beside the metrics"
    );
}

#[test]
fn a_metrics_file_that_cannot_be_written_fails_a_good_run_but_not_its_commit() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    // A folder where the file should be: the rename over it fails.
    let metrics = dir.path().join("run.prom");
    std::fs::create_dir(&metrics).unwrap();
    let flag = metrics.display().to_string();
    let r = convert(
        &[&fixture("mixed.ndjson")],
        &out,
        &["--max-reject-ratio", "0.5", "--metrics-file", &flag],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("write metrics"), "{}", r.stderr);
    assert_eq!(r.summary()["committed"], true);
    assert_eq!(
        tree(dir.path())
            .iter()
            .filter(|f| !f.starts_with("out/"))
            .count(),
        0
    );
    // A missing folder is refused before any work.
    let missing = dir
        .path()
        .join("no/such/folder/run.prom")
        .display()
        .to_string();
    let r = convert(
        &[&fixture("mixed.ndjson")],
        &dir.path().join("other"),
        &["--metrics-file", &missing],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--metrics-file"), "{}", r.stderr);
    assert!(!dir.path().join("other").exists());
}

#[test]
fn an_unreadable_input_is_left_out_the_others_committed_and_a_retry_converts_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let lines: String = (0..2000)
        .map(|i| format!("{{\"Timestamp\":{},\"Status\":{i}}}\n", 1_795_474_800 + i))
        .collect();
    let whole = gzip(lines.as_bytes());
    std::fs::write(input.join("a-truncated.log.gz"), &whole[..whole.len() - 10]).unwrap();
    std::fs::write(
        input.join("b-good.log.gz"),
        gzip(b"{\"Timestamp\":1795474800,\"Status\":7}\n"),
    )
    .unwrap();
    let out = dir.path().join("out");
    let r = convert(&[&input], &out, &[]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let s = r.summary();
    assert_eq!(s["status"], "input_failed");
    assert_eq!(s["committed"], true, "the good input is committed");
    assert_eq!(
        s["rows_read"], 1,
        "lines of the failed input are not counted as read"
    );
    assert_eq!(s["rows_written"], 1);
    assert_eq!(s["inputs_converted"], 1);
    let failed = &s["inputs_failed"][0];
    assert!(
        failed["input"]
            .as_str()
            .unwrap()
            .ends_with("a-truncated.log.gz")
    );
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.contains("a-truncated.log.gz") && error.contains("after line"),
        "{error}"
    );
    assert_eq!(
        total_rows(&out),
        1,
        "none of the failed input's rows are visible"
    );
    assert!(r.stderr.contains("failed"), "{}", r.stderr);

    // Mended, it is converted by the next run, alone: every row once.
    std::fs::write(input.join("a-truncated.log.gz"), &whole).unwrap();
    let r = convert(&[&input], &out, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.summary()["inputs_converted"], 1);
    assert_eq!(total_rows(&out), 2001);
}

#[test]
fn partitions_beyond_the_open_file_cap_overflow_and_still_get_one_file_each() {
    // 16 MiB allows 2 open files: 60 applications go through the spill-and-merge path.
    let input: String = (0..3000)
        .map(|i| {
            format!(
                "{{\"Application\":\"app{:02}\",\"Status\":{i},\"Timestamp\":1795474800}}\n",
                (i * 7) % 60
            )
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut per_partition = Vec::new();
    for limit in ["16MiB", "64MiB"] {
        let out = dir.path().join(limit);
        let r = convert_stdin(
            input.as_bytes(),
            &out,
            &[
                "--partition-by",
                "Application",
                "--memory-limit",
                limit,
                "--batch-size",
                "7",
            ],
        );
        assert_eq!(r.code, 0, "{}", r.stderr);
        let files = parquet_files(&out);
        assert_eq!(
            files.len(),
            60,
            "one file per partition with a {limit} budget"
        );
        let rows = rows(&out);
        assert_eq!(rows.len(), 3000);
        let mut statuses: Vec<(String, Vec<i64>)> = Vec::new();
        for (partition, row) in rows {
            let status: i64 = row["Status"].parse().unwrap();
            match statuses.last_mut() {
                Some((p, v)) if *p == partition => v.push(status),
                _ => statuses.push((partition, vec![status])),
            }
        }
        for (partition, v) in &statuses {
            assert!(
                v.windows(2).all(|w| w[0] < w[1]),
                "{partition}: rows out of input order"
            );
        }
        per_partition.push(statuses);
    }
    assert_eq!(
        per_partition[0], per_partition[1],
        "the budget changes no row's place"
    );
}

#[test]
fn one_file_named_twice_is_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let mixed = fixture("mixed.ndjson");
    let alias = fixture("../fixtures/./mixed.ndjson");
    let r = convert(&[&mixed, &alias], &out, &["--max-reject-ratio", "1"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.summary()["inputs_read"], 1);
    assert_eq!(total_rows(&out), 6);
}

#[test]
fn a_value_too_long_for_a_folder_name_rejects_its_line_only() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let long = "/".repeat(100); // 300 bytes once escaped
    let input = format!(
        "{{\"Application\":\"short\",\"Timestamp\":1795474800}}\n{{\"Application\":\"{long}\",\"Timestamp\":1795474800}}\n"
    );
    let r = convert_stdin(
        input.as_bytes(),
        &out,
        &["--partition-by", "Application", "--max-reject-ratio", "1"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.summary();
    assert_eq!(
        (s["rows_written"].as_u64(), s["rows_rejected"].as_u64()),
        (Some(1), Some(1))
    );
    let rejects = std::fs::read_to_string(out.join(s["rejects_file"].as_str().unwrap())).unwrap();
    assert!(
        rejects.contains("\"field\":\"Application\"")
            && rejects.contains("too long for a partition folder"),
        "{rejects}"
    );
    assert_eq!(parquet_files(&out).len(), 1);
}

#[test]
fn standard_input_and_compressed_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let body = b"{\"Timestamp\":1795474800,\"Application\":\"piped\"}\n";
    for bytes in [
        body.to_vec(),
        gzip(body),
        zstd::encode_all(&body[..], 3).unwrap(),
    ] {
        let r = convert_stdin(&bytes, &out, &[]);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert_eq!(r.summary()["rows_written"], 1);
    }
    // Identical content on stdin names the same file: three runs, one row.
    assert_eq!(total_rows(&out), 1);
    let r = convert_stdin(b"{\"Timestamp\":1795474801}\n", &out, &[]);
    assert_eq!(r.code, 0);
    assert_eq!(total_rows(&out), 2, "other content on stdin is another run");
}

#[test]
fn strict_rejects_unknown_keys_and_lossless_readings() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let r = convert(
        &[&fixture("mixed.ndjson")],
        &out,
        &["--max-reject-ratio", "1"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // `"ClientBytes":"5120","IpFirewall":"true"` on line 2: two readings, kept and counted.
    assert_eq!(r.summary()["rows_rejected"], 2);
    assert_eq!(
        r.summary()["values_coerced"],
        serde_json::json!({"ClientBytes": 1, "IpFirewall": 1})
    );
    assert_eq!(
        r.summary()["unknown_fields"],
        serde_json::json!({"NewField": 1})
    );
    assert_eq!(r.summary()["unknown_fields_mode"], "keep");

    let out = dir.path().join("strict");
    let r = convert(
        &[&fixture("mixed.ndjson")],
        &out,
        &["--strict", "--max-reject-ratio", "1"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // Line 2 (readings) and line 5 (an unknown key) rejected besides the two bad lines.
    assert_eq!(r.summary()["rows_rejected"], 4);
    assert_eq!(r.summary()["unknown_fields"], serde_json::json!({}));
    assert_eq!(r.summary()["values_coerced"], serde_json::json!({}));
    let rejects =
        std::fs::read_to_string(out.join(r.summary()["rejects_file"].as_str().unwrap())).unwrap();
    assert!(rejects.contains("(--strict)"), "{rejects}");
    assert!(rejects.contains("(--unknown-fields reject)"), "{rejects}");

    // --unknown-fields says otherwise: strict types, unknown keys dropped.
    let out = dir.path().join("strict-drop");
    let r = convert(
        &[&fixture("mixed.ndjson")],
        &out,
        &[
            "--strict",
            "--unknown-fields",
            "drop",
            "--max-reject-ratio",
            "1",
        ],
    );
    assert_eq!(r.summary()["rows_rejected"], 3);
    assert_eq!(
        r.summary()["unknown_fields"],
        serde_json::json!({"NewField": 1})
    );
}

#[test]
fn partition_by_fields_and_none() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("by-app");
    let r = convert(
        &[&fixture("mixed.ndjson")],
        &out,
        &["--partition-by", "Application", "--max-reject-ratio", "1"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let files = parquet_files(&out);
    let folders: Vec<&str> = files.iter().map(|f| f.split('/').next().unwrap()).collect();
    assert_eq!(
        folders,
        [
            "Application=__HIVE_DEFAULT_PARTITION__",
            "Application=app%2Fb",
            "Application=app-a",
            "Application=app-b",
            "Application=no-time"
        ]
    );
    assert!(files.iter().all(|f| f.matches('/').count() == 1));
    let batches = read_parquet(&out.join(&files[2]));
    assert!(
        batches[0]
            .schema()
            .column_with_name("Application")
            .is_none()
    );

    let flat = dir.path().join("flat");
    let r = convert(
        &[&fixture("mixed.ndjson")],
        &flat,
        &["--partition-by", "none", "--max-reject-ratio", "1"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let files = parquet_files(&flat);
    assert_eq!(files.len(), 1);
    assert!(!files[0].contains('/'));
}

#[test]
fn codecs_units_and_metadata() {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let dir = tempfile::tempdir().unwrap();
    for (codec, expected) in [
        ("zstd", "ZSTD"),
        ("snappy", "SNAPPY"),
        ("lz4", "LZ4_RAW"),
        ("gzip", "GZIP"),
        ("none", "UNCOMPRESSED"),
    ] {
        let out = dir.path().join(codec);
        let r = convert(
            &[&examples_data()],
            &out,
            &["--compression", codec, "--timestamp-unit", "ms"],
        );
        assert_eq!(r.code, 0, "{codec}: {}", r.stderr);
        let file = out.join(&parquet_files(&out)[0]);
        let reader = SerializedFileReader::new(std::fs::File::open(&file).unwrap()).unwrap();
        let meta = reader.metadata();
        let column = meta.row_group(0).column(0);
        assert!(
            column.compression().to_string().starts_with(expected),
            "{codec}: {}",
            column.compression()
        );
        assert!(
            column.statistics().is_some(),
            "column statistics are written"
        );
        let kv = meta.file_metadata().key_value_metadata().unwrap();
        let get = |k: &str| kv.iter().find(|e| e.key == k).and_then(|e| e.value.clone());
        assert_eq!(
            get("logpush_parquet.dataset").as_deref(),
            Some("spectrum_events")
        );
        assert_eq!(
            get("logpush_parquet.version").as_deref(),
            Some(env!("CARGO_PKG_VERSION"))
        );
        assert!(
            meta.file_metadata()
                .created_by()
                .unwrap()
                .starts_with("logpush-parquet")
        );
        let batch = &read_parquet(&file)[0];
        let ts = batch
            .schema()
            .field_with_name("Timestamp")
            .unwrap()
            .data_type()
            .to_string();
        assert!(ts.contains("ms") || ts.contains("Millisecond"), "{ts}");
    }
    let r = convert(
        &[&examples_data()],
        &dir.path().join("x"),
        &["--compression", "snappy", "--compression-level", "3"],
    );
    assert_eq!(
        r.code, 2,
        "a level for a codec without levels is a usage error"
    );
}

#[test]
fn files_roll_at_the_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let r = convert(
        &[&examples_data()],
        &out,
        &[
            "--max-file-size",
            "1KiB",
            "--batch-size",
            "50",
            "--partition-by",
            "none",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let files = parquet_files(&out);
    assert!(files.len() > 5, "{files:?}");
    assert_eq!(total_rows(&out), 1300);
    let run_id = r.summary()["run_id"].as_str().unwrap().to_string();
    for (n, f) in files.iter().enumerate() {
        assert_eq!(f, &format!("part-{run_id}-{n:05}.parquet"));
    }
}

#[test]
fn usage_errors_exit_2_with_a_message_naming_the_problem() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (&["convert", "/no/such/input", "-o", out], "/no/such/input"),
        (
            &["convert", "-o", out, "--partition-by", "date,Nope", "-"],
            "Nope",
        ),
        (
            &["convert", "-o", out, "--max-reject-ratio", "2", "-"],
            "--max-reject-ratio",
        ),
        (
            &["convert", "-o", out, "--batch-size", "0", "-"],
            "--batch-size",
        ),
        (
            &[
                "convert",
                "-o",
                out,
                "--max-line-bytes",
                "18446744073709551615",
                "-",
            ],
            "--max-line-bytes",
        ),
        (
            &["convert", "-o", out, "--max-line-bytes", "2GiB", "-"],
            "--max-line-bytes",
        ),
        (&["convert", "-o", out, "--threads", "0", "-"], "--threads"),
        (
            &[
                "convert",
                "-o",
                out,
                "--table-format",
                "delta",
                "--timestamp-unit",
                "ns",
                "-",
            ],
            "microseconds",
        ),
        (
            &[
                "convert",
                "-o",
                out,
                "--table-format",
                "delta",
                "--reprocess",
                "-",
            ],
            "--reprocess",
        ),
        (
            &["convert", "-o", out, "--schema", "/no/such.toml", "-"],
            "/no/such.toml",
        ),
        (
            &["convert", "-o", out, "--max-file-size", "big", "-"],
            "big",
        ),
        (&["convert", "-o", out], "INPUT"),
        (&["frobnicate"], "frobnicate"),
        (
            &["convert", "-o", out, "--dataset", "http_request", "-"],
            "schema --list",
        ),
        (
            &[
                "convert",
                "-o",
                out,
                "--dataset",
                "dns_logs",
                "--schema",
                "f.toml",
                "-",
            ],
            "--schema",
        ),
        (
            &["convert", "-o", out, "--input-format", "csv", "-"],
            "--csv-fields",
        ),
        (
            &["convert", "-o", out, "--csv-fields", "Status", "-"],
            "--input-format csv",
        ),
        (
            &[
                "convert",
                "-o",
                out,
                "--input-format",
                "csv",
                "--csv-fields",
                "Status,Nope",
                "-",
            ],
            "\"Nope\" is not a field of spectrum_events",
        ),
        (
            &[
                "convert",
                "-o",
                out,
                "--dataset",
                "http_requests",
                "--partition-by",
                "RequestHeaders",
                "-",
            ],
            "partition by string, int or bool",
        ),
    ];
    for (args, expected) in cases {
        let r = run(args, Some(b""));
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(expected),
            "{args:?} should mention {expected}: {}",
            r.stderr
        );
    }
}

#[test]
fn a_plain_run_into_a_delta_table_is_refused_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let first = convert(&[&examples_data()], &out, &["--table-format", "delta"]);
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(out.join("_delta_log/00000000000000000001.json").is_file());
    let before = tree(&out);
    let plain = convert(&[&fixture("second.ndjson.zst")], &out, &[]);
    assert_ne!(plain.code, 0);
    assert!(
        plain.stderr.contains("is a Delta table"),
        "{}",
        plain.stderr
    );
    assert_eq!(tree(&out), before);
}

#[test]
fn another_field_list_can_be_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("tiny.toml");
    std::fs::write(
        &schema,
        "dataset = \"tiny\"\nevent_time = \"When\"\n[[field]]\nname = \"When\"\ntype = \"timestamp\"\n\n[[field]]\nname = \"Kind\"\ntype = \"string\"\nenum = [\"a\", \"b\"]\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let r = convert_stdin(
        b"{\"When\":\"2026-11-23T05:00:00Z\",\"Kind\":\"c\"}\n",
        &out,
        &["--schema", schema.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.summary()["out_of_enum"]["Kind"], 1);
    assert_eq!(parquet_files(&out).len(), 1);
    assert!(parquet_files(&out)[0].starts_with("date=2026-11-23/hour=5/"));
    let r = run(&["schema", "--schema", schema.to_str().unwrap()], None);
    assert_eq!(
        r.stdout,
        "When: Timestamp(µs, \"UTC\")\nKind: Dictionary(Int16, Utf8)\n_extra: Utf8\ndate: Date32 (partition)\nhour: Int32 (partition)\n"
    );
    let r = run(
        &[
            "schema",
            "--schema",
            schema.to_str().unwrap(),
            "--unknown-fields",
            "drop",
        ],
        None,
    );
    assert!(!r.stdout.contains("_extra"), "{}", r.stdout);
}

/// `--help` texts are part of the interface: a change must be deliberate. Set
/// `UPDATE_SNAPSHOTS=1` to rewrite them.
#[test]
fn help_texts_match_their_snapshots() {
    for (name, args) in [
        ("help.txt", &["--help"][..]),
        ("help-convert.txt", &["convert", "--help"]),
        ("help-schema.txt", &["schema", "--help"]),
        ("help-compact.txt", &["compact", "--help"]),
        ("help-vacuum.txt", &["vacuum", "--help"]),
        ("help-check.txt", &["check", "--help"]),
    ] {
        let r = run(args, None);
        assert_eq!(r.code, 0);
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/snapshots")
            .join(name);
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &r.stdout).unwrap();
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            r.stdout, expected,
            "{name} changed: rerun with UPDATE_SNAPSHOTS=1 if intended"
        );
    }
}

#[test]
fn schema_ddl_formats() {
    let r = run(
        &[
            "schema",
            "--format",
            "duckdb",
            "--location",
            "/lake/spectrum",
        ],
        None,
    );
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("read_parquet('/lake/spectrum/**/*.parquet', union_by_name = true, hive_partitioning = true, hive_types = {'date': DATE, 'hour': INTEGER})"), "{}", r.stdout);
    let r = run(&["schema", "--format", "spark", "--table", "events"], None);
    assert!(
        r.stdout.starts_with("CREATE TABLE `events` ("),
        "{}",
        r.stdout
    );
    let r = run(
        &["schema", "--format", "hive", "--timestamp-unit", "ns"],
        None,
    );
    assert!(
        r.stdout
            .starts_with("-- Spark, Hive and Athena cannot read nanosecond"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_failed_standard_input_commits_nothing_and_accounts_for_every_line_read() {
    // Standard input cannot be read twice, so the good file is not converted again without it.
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.log");
    std::fs::write(&good, "{\"Timestamp\":1795474800,\"Status\":7}\n").unwrap();
    let lines: String = (0..2000)
        .map(|i| format!("{{\"Timestamp\":{},\"Status\":{i}}}\n", 1_795_474_800 + i))
        .collect();
    let whole = gzip(lines.as_bytes());
    let out = dir.path().join("out");
    let r = run(
        &[
            "convert",
            good.to_str().unwrap(),
            "-",
            "-o",
            out.to_str().unwrap(),
            "--summary-json",
            "-",
        ],
        Some(&whole[..whole.len() - 10]),
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    let s = r.summary();
    assert_eq!(s["committed"], false);
    assert_eq!(s["rows_read"], 1);
    assert_eq!(s["rows_written"], 0);
    assert_eq!(s["rows_discarded"], 1);
    assert!(parquet_files(&out).is_empty());
}

#[test]
fn reprocessing_keeps_the_old_run_when_one_of_its_inputs_cannot_be_read() {
    // Regression: the replaced run's files were deleted though one of its inputs was left out.
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let lines: String = (0..2000)
        .map(|i| format!("{{\"Timestamp\":{},\"Status\":{i}}}\n", 1_795_474_800 + i))
        .collect();
    let whole = gzip(lines.as_bytes());
    std::fs::write(
        input.join("a.log"),
        "{\"Timestamp\":1795474800,\"Status\":1}\n",
    )
    .unwrap();
    std::fs::write(input.join("b.log.gz"), &whole).unwrap();
    let out = dir.path().join("out");
    assert_eq!(convert(&[&input], &out, &[]).code, 0);
    assert_eq!(total_rows(&out), 2001);
    std::fs::write(input.join("b.log.gz"), &whole[..whole.len() - 10]).unwrap();
    let r = convert(&[&input.join("a.log")], &out, &["--reprocess"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_eq!(r.summary()["committed"], false);
    assert_eq!(total_rows(&out), 2001, "the old run's rows stay");
}

#[test]
fn standard_input_converted_before_with_other_inputs_is_refused_not_replaced() {
    // Regression: replacing the earlier run deleted the other input's rows.
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other.log");
    std::fs::write(&other, "{\"Timestamp\":1795474800,\"Status\":1}\n").unwrap();
    let piped = b"{\"Timestamp\":1795474801,\"Status\":2}\n";
    let out = dir.path().join("out");
    let args = |with_other: bool| {
        let mut a = vec![
            "convert",
            "-o",
            out.to_str().unwrap(),
            "--summary-json",
            "-",
            "-",
        ];
        if with_other {
            a.push(other.to_str().unwrap());
        }
        a.iter().map(|s| s.to_string()).collect::<Vec<String>>()
    };
    let first = args(true);
    let first: Vec<&str> = first.iter().map(String::as_str).collect();
    assert_eq!(run(&first, Some(piped)).code, 0);
    assert_eq!(total_rows(&out), 2);
    let again = args(false);
    let again: Vec<&str> = again.iter().map(String::as_str).collect();
    let r = run(&again, Some(piped));
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr.contains("together with other inputs"),
        "{}",
        r.stderr
    );
    assert_eq!(total_rows(&out), 2, "both rows stay, once each");
    // Alone, the same standard input replaces its own earlier run.
    let alone = dir.path().join("alone");
    let solo = ["convert", "-o", alone.to_str().unwrap(), "-"];
    assert_eq!(run(&solo, Some(piped)).code, 0);
    assert_eq!(run(&solo, Some(piped)).code, 0);
    assert_eq!(total_rows(&alone), 1);
}

#[test]
fn datasets_are_listed_and_csv_records_convert_like_their_json_objects() {
    let list = run(&["schema", "--list"], None);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let names: Vec<&str> = list
        .stdout
        .lines()
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert!(names.len() >= 39, "{names:?}");
    for name in [
        "http_requests",
        "firewall_events",
        "spectrum_events",
        "audit_logs",
    ] {
        assert!(names.contains(&name), "{name} in {names:?}");
    }

    // The same two events as NDJSON and as CSV give the same rows.
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("events.ndjson");
    std::fs::write(
        &json,
        concat!(
            r#"{"EdgeStartTimestamp":"2026-11-23T05:00:00Z","ClientIP":"192.0.2.1","EdgeResponseStatus":200,"BotDetectionIDs":[1,2],"RequestHeaders":{"user-agent":"curl \"8\""}}"#,
            "\n",
            r#"{"EdgeStartTimestamp":"2026-11-23T05:00:01Z","ClientIP":"192.0.2.2","EdgeResponseStatus":404}"#,
            "\n"
        ),
    )
    .unwrap();
    let csv = dir.path().join("events.csv");
    std::fs::write(
        &csv,
        concat!(
            r#""2026-11-23T05:00:00Z","192.0.2.1",200,"[1,2]","{""user-agent"":""curl \""8\""""}""#,
            "\n",
            r#""2026-11-23T05:00:01Z","192.0.2.2",404,,"#,
            "\n",
            r#""2026-11-23T05:00:02Z","192.0.2.3""#,
            "\n"
        ),
    )
    .unwrap();
    let dataset = ["--dataset", "http_requests", "--max-reject-ratio", "1"];
    let from_json = convert(&[&json], &dir.path().join("json"), &dataset);
    let mut csv_args = dataset.to_vec();
    csv_args.extend([
        "--input-format",
        "csv",
        "--csv-fields",
        "EdgeStartTimestamp,ClientIP,EdgeResponseStatus,BotDetectionIDs,RequestHeaders",
    ]);
    let from_csv = convert(&[&csv], &dir.path().join("csv"), &csv_args);
    assert_eq!(from_json.code, 0, "{}", from_json.stderr);
    assert_eq!(from_csv.code, 0, "{}", from_csv.stderr);
    let (a, b) = (from_json.summary(), from_csv.summary());
    assert_eq!(
        (a["rows_written"].as_u64(), a["rows_rejected"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(
        (b["rows_written"].as_u64(), b["rows_rejected"].as_u64()),
        (Some(2), Some(1))
    );
    let rows = |root: &Path| {
        let mut rows = Vec::new();
        for file in parquet_files(root) {
            for batch in read_parquet(&root.join(file)) {
                rows.extend(
                    arrow_cast::pretty::pretty_format_batches(&[batch])
                        .unwrap()
                        .to_string()
                        .lines()
                        .skip(3)
                        .filter(|l| !l.starts_with('+'))
                        .map(String::from),
                );
            }
        }
        rows.sort();
        rows
    };
    let json_rows = rows(&dir.path().join("json"));
    assert_eq!(json_rows.len(), 2);
    assert_eq!(json_rows, rows(&dir.path().join("csv")));
    assert!(
        json_rows
            .iter()
            .any(|r| r.contains("{user-agent: curl \"8\"}") && r.contains("[1, 2]")),
        "{json_rows:?}"
    );
}

#[test]
fn a_damaged_input_is_quarantined_after_three_failing_runs_and_salvage_keeps_its_readable_lines() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let lines: String = (0..20_000)
        .map(|i| format!("{{\"Timestamp\":{},\"Status\":{i}}}\n", 1_795_474_800 + i))
        .collect();
    let whole = gzip(lines.as_bytes());
    let damaged = &whole[..whole.len() / 2];
    std::fs::write(input.join("a-damaged.log.gz"), damaged).unwrap();
    std::fs::write(
        input.join("b-good.log.gz"),
        gzip(b"{\"Timestamp\":1795474800,\"Status\":7}\n"),
    )
    .unwrap();
    // What an independent reader gets out of the damaged file: its whole lines before the cut.
    let readable = {
        use std::io::Read;
        let mut text = Vec::new();
        let _ = flate2::read::GzDecoder::new(damaged).read_to_end(&mut text);
        text.iter().filter(|&&b| b == b'\n').count() as u64
    };
    assert!(readable > 0 && readable < 20_000, "{readable}");
    let out = dir.path().join("out");

    // Runs 1 to 3 fail on it (exit 3); the good input is converted by the first.
    for run in 1..=3 {
        let r = convert(&[&input], &out, &[]);
        assert_eq!(r.code, 3, "run {run}: {}", r.stderr);
        let s = r.summary();
        assert_eq!(s["inputs_failed"].as_array().unwrap().len(), 1, "run {run}");
        let quarantined = s["inputs_quarantined"].as_array().unwrap();
        assert_eq!(quarantined.len(), usize::from(run == 3), "run {run}: {s}");
    }
    assert_eq!(total_rows(&out), 1);
    let records: Vec<_> = std::fs::read_dir(out.join("_ledger/failures"))
        .unwrap()
        .collect();
    assert_eq!(records.len(), 1);

    // Run 4 leaves it out and succeeds, listing it with its error and failures.
    let r = convert(&[&input], &out, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.summary();
    assert_eq!(s["status"], "ok");
    assert!(s["inputs_failed"].as_array().unwrap().is_empty());
    let q = &s["inputs_quarantined"][0];
    assert!(
        q["input"].as_str().unwrap().ends_with("a-damaged.log.gz"),
        "{q}"
    );
    assert_eq!(q["failures"], 3);
    assert!(q["error"].as_str().unwrap().contains("after line"), "{q}");
    assert!(r.stderr.contains("quarantined"), "{}", r.stderr);
    assert_eq!(total_rows(&out), 1);

    // --salvage converts its readable lines once and records it as salvaged.
    let r = convert(&[&input], &out, &["--salvage"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let s = r.summary();
    assert_eq!(s["rows_written"].as_u64(), Some(readable));
    assert_eq!(s["rows_read"].as_u64(), Some(readable));
    assert_eq!(
        s["inputs_salvaged"][0]["lines_kept"].as_u64(),
        Some(readable)
    );
    assert_eq!(total_rows(&out) as u64, 1 + readable);
    let manifest = std::fs::read_dir(out.join("_ledger/runs"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .find(|text| text.contains("\"salvaged\""))
        .expect("a manifest records the salvage");
    assert!(manifest.contains("a-damaged.log.gz"));
    assert!(
        !out.join("_ledger/failures").exists()
            || std::fs::read_dir(out.join("_ledger/failures"))
                .unwrap()
                .next()
                .is_none()
    );

    // From now on it is converted: nothing new, nothing quarantined, every row once.
    for extra in [&[][..], &["--salvage"][..]] {
        let r = convert(&[&input], &out, extra);
        assert_eq!(r.code, 0, "{}", r.stderr);
        let s = r.summary();
        assert_eq!(s["inputs_converted"], 0);
        assert!(s["inputs_quarantined"].as_array().unwrap().is_empty());
    }
    assert_eq!(total_rows(&out) as u64, 1 + readable);
}

/// `text` with durations (`103.3ms`, `2.1s`) and ports replaced, for snapshots of error texts.
fn without_timings(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            let core = word.trim_end_matches([',', ')']);
            let number = core.trim_end_matches(|c: char| c.is_ascii_alphabetic() || c == 'µ');
            let unit = &core[number.len()..];
            if !number.is_empty()
                && number.chars().all(|c| c.is_ascii_digit() || c == '.')
                && ["ms", "µs", "ns", "s"].contains(&unit)
            {
                word.replace(core, "<time>")
            } else {
                word.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A metadata service on loopback that refuses every request with 403 (what a cloud's instance
/// metadata address gives a machine outside that cloud, through many proxies); its address.
fn refusing_metadata_service() -> String {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                line.clear();
            }
            let _ = stream.write_all(
                b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    address
}

/// Runs `convert` of the sample into `output` with only `env` for the stores' settings (every
/// AWS, Azure and Google variable of this process removed, and a home folder of its own).
fn convert_to_store(output: &str, env: &[(&str, &str)], extra: &[&str]) -> std::process::Output {
    let home = tempfile::tempdir().unwrap();
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_logpush-parquet"));
    command
        .args([
            "convert",
            examples_data().to_str().unwrap(),
            "-o",
            output,
            "-q",
        ])
        .args(extra);
    for (key, _) in std::env::vars_os() {
        let key_text = key.to_string_lossy();
        if ["AWS_", "AZURE_", "GOOGLE_", "GCE_"]
            .iter()
            .any(|p| key_text.starts_with(p))
        {
            command.env_remove(key);
        }
    }
    command
        .env("HOME", home.path())
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn object_store_errors_name_the_store_and_what_to_set() {
    let metadata = refusing_metadata_service();
    let metadata_url = format!("http://{metadata}");
    let s3 = "s3://lake/out";
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a [&'a str]);
    let cases: Vec<Case> = vec![
        // An S3-compatible endpoint and no credentials: no instance-metadata requests.
        (
            "error-no-credentials.txt",
            s3,
            vec![("AWS_ENDPOINT_URL", "http://127.0.0.1:9")],
            &[],
        ),
        // Credentials, and nothing listening at the endpoint.
        (
            "error-unreachable-endpoint.txt",
            s3,
            vec![
                ("AWS_ENDPOINT_URL", "http://127.0.0.1:9"),
                ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE"),
                ("AWS_SECRET_ACCESS_KEY", "secret"),
                ("AWS_ALLOW_HTTP", "true"),
                ("AWS_REGION", "us-east-1"),
            ],
            &["--retries", "0"],
        ),
        // AWS itself and nothing in the environment: the instance metadata service refuses.
        (
            "error-no-aws-credentials.txt",
            s3,
            vec![("AWS_METADATA_ENDPOINT", &metadata_url)],
            &[],
        ),
        // ... and nothing listens there.
        (
            "error-no-aws-credentials-silence.txt",
            s3,
            vec![("AWS_METADATA_ENDPOINT", "http://127.0.0.1:9")],
            &[],
        ),
        // A profile named, which object_store does not read.
        (
            "error-aws-profile.txt",
            s3,
            vec![
                ("AWS_METADATA_ENDPOINT", &metadata_url),
                ("AWS_PROFILE", "lake-writer"),
            ],
            &[],
        ),
        ("error-no-azure-account.txt", "az://lake/out", vec![], &[]),
        (
            "error-no-azure-credentials.txt",
            "az://lake/out",
            vec![
                ("AZURE_STORAGE_ACCOUNT_NAME", "logs"),
                ("AZURE_MSI_ENDPOINT", &metadata_url),
            ],
            &[],
        ),
        (
            "error-no-gcs-credentials.txt",
            "gs://lake/out",
            vec![
                ("GCE_METADATA_HOST", &metadata),
                ("GCE_METADATA_IP", &metadata),
            ],
            &[],
        ),
    ];
    for (name, output, env, extra) in cases {
        let started = std::time::Instant::now();
        let done = convert_to_store(output, &env, extra);
        // One request or two to a loopback service: generous for a loaded machine, far below
        // the minutes object_store's retries against a metadata address could take.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{name}"
        );
        assert_eq!(done.status.code(), Some(1), "{name}");
        let stderr = without_timings(&String::from_utf8(done.stderr).unwrap())
            .replace(&metadata, "<metadata>");
        assert!(!stderr.contains("169.254.169.254"), "{name}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{name}: {stderr}");
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/snapshots")
            .join(name);
        if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
            std::fs::write(&path, &stderr).unwrap();
        }
        let expected = std::fs::read_to_string(&path).unwrap_or_default();
        assert_eq!(
            stderr, expected,
            "{name} changed: rerun with UPDATE_SNAPSHOTS=1 if intended"
        );
    }
}

/// The issue's case: a machine with no AWS credentials, no custom endpoint, and whatever answers
/// (or not) at the real instance metadata address. One sentence, in under five seconds.
#[test]
fn no_aws_credentials_on_the_default_chain_is_said_at_once() {
    let started = std::time::Instant::now();
    let done = convert_to_store("s3://lake/out", &[], &[]);
    let took = started.elapsed();
    let stderr = String::from_utf8(done.stderr).unwrap();
    assert_eq!(done.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with(
            "error: convert into s3://lake/out: access s3://lake/out: no AWS credentials found: \
             set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or run where an instance role is \
             available (tried the environment, web identity and container credentials, then the \
             instance metadata service at http://169.254.169.254, which "
        ),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        took < std::time::Duration::from_secs(5),
        "{took:?}: {stderr}"
    );
}

#[test]
fn schema_suggest_prints_a_field_list_that_types_the_unknown_keys() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("drift.ndjson");
    std::fs::write(
        &input,
        concat!(
            r#"{"Timestamp":1795474800,"Status":1,"p_event_time":"2026-11-23T05:00:00Z","WAFScore":7,"ClientASN":13335}"#,
            "\n",
            r#"{"Timestamp":1795474801,"Status":2,"p_event_time":"2026-11-23 05:00:01","WAFScore":9}"#,
            "\n",
        ),
    )
    .unwrap();
    let r = run(&["schema", "--suggest", input.to_str().unwrap()], None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("2 lines of 1 input read: 3 keys not in spectrum_events"),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout
            .starts_with(include_str!("../schema/spectrum_events.toml").trim_end())
    );
    assert!(
        r.stdout.contains("name = \"WAFScore\"\ntype = \"int\""),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("name = \"p_event_time\"\ntype = \"timestamp\""),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout
            .contains("\"ClientASN\" differs from the field ClientAsn only by case")
    );
    // The suggestion is a field list: the keys become typed columns, `_extra` keeps the rest.
    let list = dir.path().join("suggested.toml");
    std::fs::write(&list, &r.stdout).unwrap();
    let out = dir.path().join("out");
    let r = convert(&[&input], &out, &["--schema", list.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.summary()["unknown_fields"],
        serde_json::json!({"ClientASN": 1})
    );
    let batches: Vec<_> = parquet_files(&out)
        .iter()
        .flat_map(|f| common::read_parquet(&out.join(f)))
        .collect();
    let rows: usize = batches.iter().map(|b| b.num_rows()).sum();
    assert_eq!(rows, 2);
    for batch in &batches {
        let schema = batch.schema();
        assert_eq!(
            schema.field_with_name("WAFScore").unwrap().data_type(),
            &arrow_schema::DataType::Int64
        );
        assert!(matches!(
            schema.field_with_name("p_event_time").unwrap().data_type(),
            arrow_schema::DataType::Timestamp(..)
        ));
    }
}
