"""--metrics-file and --metrics-push: each run's outcome in the Prometheus text format, read back
with prometheus_client's own parser (never compared as strings), its figures equal to the run's
summary JSON: a good run, a partial failure (3), a rejected run (4), an error (1), a locked
output (5), a missing input (2); none for flags that do not validate or a dry run; a push to a
local stand-in for the Pushgateway, and a push that fails without failing the run.

Here rather than in tests/interop: the runs need this suite's harness (stores, the binary, the
truncated-input and reject-threshold set-ups of test_failures.py), and the parser is pinned with
the suite's other tools in tests/storage/requirements.txt."""

import base64
import http.server
import json
import threading
import time
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import (EXIT_ERROR, EXIT_LOCKED, EXIT_OK, EXIT_PARTIAL, EXIT_REJECTS, EXIT_USAGE, MIXED,
                      Expected, LocalStore, convert, data_inputs, free_port, put_tree)

PREFIX = "logpush_parquet_"
ALWAYS = {"exit_code", "start_time_seconds", "end_time_seconds", "duration_seconds"}
# Metric -> how the summary JSON says it.
FROM_SUMMARY = {
    "committed": lambda s: int(s["committed"]),
    "rows_read": lambda s: s["rows_read"],
    "rows_written": lambda s: s["rows_written"],
    "rows_rejected": lambda s: s["rows_rejected"],
    "inputs_converted": lambda s: s["inputs_converted"],
    "inputs_failed": lambda s: len(s["inputs_failed"]),
    "inputs_quarantined": lambda s: len(s["inputs_quarantined"]),
    "input_bytes": lambda s: s["bytes_in"],
    "output_bytes": lambda s: s["bytes_out"],
    "files_written": lambda s: s["files_written"],
    "duration_seconds": lambda s: s["elapsed_s"],
}


def parse(text: str) -> tuple[dict, dict]:
    """The metrics of one run: short name -> value, and the labels all samples share."""
    values, labels = {}, None
    for family in text_string_to_metric_families(text):
        assert family.name.startswith(PREFIX), family.name
        assert family.type == "gauge", family
        assert family.documentation, f"{family.name} has no HELP"
        [sample] = family.samples
        assert sample.name == family.name and sample.timestamp is None, sample
        labels = sample.labels if labels is None else labels
        assert sample.labels == labels, "every metric carries the same labels"
        short = family.name[len(PREFIX):]
        assert short not in values, f"{family.name} twice"
        values[short] = sample.value
    assert labels is not None, "no metrics"
    return values, labels


def read_metrics(path: Path) -> tuple[dict, dict]:
    assert path.exists(), f"no metrics file at {path}"
    return parse(path.read_text())


def check_run(values: dict, labels: dict, code: int, summary: dict | None, started: float, ended: float,
              output: str, dataset: str = "spectrum_events", shard: str = "0-of-1"):
    """The metrics say what the exit code and the summary say, at the right time, with the labels."""
    assert labels == {"dataset": dataset, "shard": shard, "output": output}
    assert values["exit_code"] == code
    # Millisecond precision, within the test's own clock readings around the process.
    assert started - 0.001 <= values["start_time_seconds"] <= values["end_time_seconds"] <= ended + 0.001
    assert values["duration_seconds"] <= values["end_time_seconds"] - values["start_time_seconds"] + 0.002
    if summary is None:
        assert set(values) == ALWAYS, values
        return
    assert set(values) == ALWAYS | set(FROM_SUMMARY), values
    for name, of in FROM_SUMMARY.items():
        assert values[name] == pytest.approx(of(summary), rel=1e-12), name


def timed_convert(*args, **kwargs):
    started = time.time()
    run = convert(*args, **kwargs)
    return run, started, time.time()


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path / "store")


def test_a_good_run_writes_its_summary_as_metrics(store, tmp_path, sample):
    src = put_tree(store, "in", data_inputs(sample))
    metrics = tmp_path / "textfile" / "logpush.prom"
    metrics.parent.mkdir()
    run, started, ended = timed_convert(src, store.url("out"), "--metrics-file", metrics)
    run.expect(EXIT_OK)
    values, labels = read_metrics(metrics)
    check_run(values, labels, EXIT_OK, run.summary, started, ended, store.url("out"))
    assert values["rows_written"] == sum(Expected.rows(data_inputs(sample)).values()) > 0
    assert values["committed"] == 1 and values["inputs_converted"] == 4
    assert [p.name for p in metrics.parent.iterdir()] == ["logpush.prom"], "a temporary file left behind"

    # The next run, with nothing new, replaces the file with its own figures.
    again, started, ended = timed_convert(src, store.url("out"), "--metrics-file", metrics)
    again.expect(EXIT_OK)
    values, labels = read_metrics(metrics)
    check_run(values, labels, EXIT_OK, again.summary, started, ended, store.url("out"))
    assert values["rows_read"] == values["inputs_converted"] == 0


def test_a_partial_failure_has_its_failed_input_and_exit_code_3(store, tmp_path, sample):
    inputs = data_inputs(sample)
    broken_name, broken_path = next((k, v) for k, v in sorted(inputs.items()) if not Expected.rejects({k: v}))
    src = put_tree(store, "in", {k: v for k, v in inputs.items() if k != broken_name})
    whole = broken_path.read_bytes()
    store.put(f"in/{broken_name}", whole[: len(whole) // 2])  # a truncated gzip member
    metrics = tmp_path / "partial.prom"
    run, started, ended = timed_convert(src, store.url("out"), "--metrics-file", metrics)
    assert run.code == EXIT_PARTIAL and run.summary is not None, run
    values, labels = read_metrics(metrics)
    check_run(values, labels, EXIT_PARTIAL, run.summary, started, ended, store.url("out"))
    assert values["inputs_failed"] == 1 and values["committed"] == 1 and values["rows_written"] > 0


def test_a_rejected_run_has_exit_code_4_and_nothing_committed(store, tmp_path, sample):
    src = put_tree(store, "in", {**data_inputs(sample), "extra/mixed.ndjson": MIXED})
    metrics = tmp_path / "rejected.prom"
    run, started, ended = timed_convert(src, store.url("out"), "--max-reject-ratio", "0", "--metrics-file", metrics)
    assert run.code == EXIT_REJECTS and run.summary is not None, run
    values, labels = read_metrics(metrics)
    check_run(values, labels, EXIT_REJECTS, run.summary, started, ended, store.url("out"))
    assert values["committed"] == 0 and values["rows_rejected"] > 0


def test_a_run_that_stops_on_an_error_has_its_code_and_times(tmp_path, sample):
    src = put_tree(LocalStore(tmp_path / "logs"), "in", data_inputs(sample))
    metrics = tmp_path / "error.prom"
    unreachable = f"http://127.0.0.1:{free_port()}"
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1"}
    run, started, ended = timed_convert(src, "s3://lake/out", "--s3-endpoint", unreachable, "--s3-allow-http",
                                        "--retries", "0", "--retry-timeout", "2", "--metrics-file", metrics, env=env)
    assert run.code == EXIT_ERROR, run
    values, labels = read_metrics(metrics)
    check_run(values, labels, EXIT_ERROR, None, started, ended, "s3://lake/out")


def test_a_locked_output_has_exit_code_5(store, tmp_path, sample):
    src = put_tree(store, "in", data_inputs(sample))
    # A live lease held by a run on another host.
    lease = {"owner": "elsewhere", "host": "another-host", "pid": 1, "pid_start": None, "shard": "0-of-1",
             "expires_unix_ms": int((time.time() + 3600) * 1000), "released": False}
    store.put("out/_ledger/locks/0-of-1/000000000001.json", json.dumps(lease).encode())
    metrics = tmp_path / "locked.prom"
    run, started, ended = timed_convert(src, store.url("out"), "--metrics-file", metrics, "--shard", "0/1")
    assert run.code == EXIT_LOCKED, run
    values, labels = read_metrics(metrics)
    check_run(values, labels, EXIT_LOCKED, None, started, ended, store.url("out"))


def test_a_missing_input_is_reported_but_bad_flags_and_dry_runs_write_nothing(store, tmp_path, sample):
    metrics = tmp_path / "usage.prom"
    run, started, ended = timed_convert(str(tmp_path / "no-such-input"), store.url("out"), "--metrics-file", metrics)
    assert run.code == EXIT_USAGE, run
    values, labels = read_metrics(metrics)
    check_run(values, labels, EXIT_USAGE, None, started, ended, store.url("out"))

    src = put_tree(store, "in", data_inputs(sample))
    for args in (["--max-reject-ratio", "2"], ["--metrics-label", "job=x"], ["--dry-run"]):
        other = tmp_path / "never.prom"
        run = convert(src, store.url("out"), "--metrics-file", other, *args)
        assert run.code == (EXIT_OK if args == ["--dry-run"] else EXIT_USAGE), run
        assert not other.exists(), args
    # A metrics folder that does not exist is a usage error before any work.
    run = convert(src, store.url("fresh"), "--metrics-file", tmp_path / "missing" / "x.prom")
    assert run.code == EXIT_USAGE and "--metrics-file" in run.stderr, run
    assert not store.keys("fresh"), "work started"


def test_label_values_with_quotes_and_backslashes_read_back(tmp_path, sample):
    store = LocalStore(tmp_path / 'a "quoted" \\ lake')
    src = put_tree(store, "in", data_inputs(sample))
    metrics = tmp_path / "escaped.prom"
    run, started, ended = timed_convert(src, store.url("out"), "--metrics-file", metrics,
                                        "--metrics-label", 'team=data "ops" \\ x')
    run.expect(EXIT_OK)
    values, labels = parse(metrics.read_text())
    assert labels.pop("team") == 'data "ops" \\ x'
    check_run(values, labels, EXIT_OK, run.summary, started, ended, store.url("out"))


# --- the Pushgateway ------------------------------------------------------------------------


class Gateway:
    """A stand-in for the Pushgateway on loopback: records each request, answers `status`."""

    def __init__(self, status: int = 200):
        self.requests, self.status = [], status
        gateway = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                headers = {k.lower(): v for k, v in self.headers.items()}
                gateway.requests.append((self.command, self.path, headers, body.decode()))
                self.send_response(gateway.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_POST = do_PUT

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def gateway():
    gw = Gateway()
    yield gw
    gw.close()


def grouping_key(path: str) -> dict:
    """The labels of a Pushgateway push path, `@base64` values decoded as the gateway does."""
    parts = path.strip("/").split("/")
    assert parts[:2] == ["metrics", "job"] and len(parts) % 2 == 1, path
    key = {}
    for name, value in zip(parts[1::2], parts[2::2]):
        if name.endswith("@base64"):
            name, value = name[: -len("@base64")], base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).decode()
        key[name] = value
    return key


def test_push_puts_the_same_metrics_into_the_runs_group(store, tmp_path, sample, gateway):
    src = put_tree(store, "in", data_inputs(sample))
    metrics = tmp_path / "pushed.prom"
    run, started, ended = timed_convert(src, store.url("out"), "--shard", "0/1", "--metrics-push", gateway.url + "/",
                                        "--metrics-file", metrics, "--metrics-label", "env=test")
    run.expect(EXIT_OK)
    [(method, path, headers, body)] = gateway.requests
    assert method == "PUT"
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    assert grouping_key(path) == {"job": "logpush_parquet", "dataset": "spectrum_events", "shard": "0-of-1",
                                  "output": store.url("out"), "env": "test"}
    assert body == metrics.read_text(), "the push and the file differ"
    values, labels = parse(body)
    assert labels.pop("env") == "test"
    check_run(values, labels, EXIT_OK, run.summary, started, ended, store.url("out"))


def test_push_of_a_failed_run_and_a_failed_push(store, tmp_path, sample):
    inputs = data_inputs(sample)
    src = put_tree(store, "in", {**inputs, "extra/mixed.ndjson": MIXED})
    refusing = Gateway(status=500)
    try:
        run = convert(src, store.url("out"), "--max-reject-ratio", "0", "--metrics-push", refusing.url)
    finally:
        refusing.close()
    # The push was made with the run's figures, refused, and the run kept its own exit code.
    assert run.code == EXIT_REJECTS, run
    [(_, _, _, body)] = refusing.requests
    assert parse(body)[0]["exit_code"] == EXIT_REJECTS
    assert "metrics not pushed" in run.stderr and "500" in run.stderr, run

    # Nothing listening: a warning, and the run (which now converts everything) exits 0.
    metrics = tmp_path / "unpushed.prom"
    run = convert(src, store.url("out"), "--max-reject-ratio", "1", "--metrics-push", f"http://127.0.0.1:{free_port()}",
                  "--metrics-file", metrics)
    run.expect(EXIT_OK)
    assert "metrics not pushed" in run.stderr, run
    assert parse(metrics.read_text())[0]["exit_code"] == EXIT_OK
