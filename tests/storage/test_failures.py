"""Runs that fail: a server stopped mid-run, an unreachable endpoint, a missing bucket, wrong
credentials, an unreadable input (partial failure), too many rejects. Each fails clearly with its
exit code, and the same command run again afterwards converts every row exactly once."""

import gzip
import re
import time

import pytest

from conftest import (EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, EXIT_REJECTS, LAKE, LOGS, MIXED, Background,
                      Expected, S3Store, assert_exactly_once, check_visible_files, command, convert,
                      data_inputs, free_port, make_store, put_tree, wait_until)

QUICK_RETRIES = ["--retries", "1", "--retry-timeout", "5"]


def names_an_object(text: str, bucket: str) -> bool:
    """The message names the bucket and a key in it (`s3://bucket/key`, or bucket and key apart)."""
    return re.search(rf"s3://{bucket}/\S+", text) is not None or (f"bucket {bucket}" in text and "key" in text)


def test_server_stopped_mid_run_fails_clearly_and_a_rerun_completes(s3s_fs_up, tmp_path, archive):
    server = s3s_fs_up
    logs, lake = S3Store(server, LOGS, "stopped"), S3Store(server, LAKE, "stopped")
    src = put_tree(logs, "in", archive["files"])
    cmd = command(src, lake.url("out"), *QUICK_RETRIES)
    run = Background(cmd, server.env(), tmp_path / "logs")
    # Once the run has written to the output (its lock comes first), stop the server under it.
    out_dir = server.data / LAKE / "stopped" / "out"
    wait_until(lambda: run.proc.poll() is not None or (out_dir.exists() and any(out_dir.rglob("*"))),
               120, "the run to touch the output")
    assert run.proc.poll() is None, "the run ended before the server could be stopped: make the input larger"
    server.stop()
    failed = run.wait(300)
    assert failed.code == EXIT_ERROR, failed
    assert names_an_object(failed.stderr, LAKE) or names_an_object(failed.stderr, LOGS), failed

    server.start()
    again = Background(cmd, server.env(), tmp_path / "logs").wait(600)
    assert again.code == EXIT_OK, again
    assert_exactly_once(lake, "out", archive["files"])
    assert lake.multipart_uploads("out/date=") == [], "an upload into the data folders was left open"


def test_outage_mid_run_is_ridden_out_by_retries(s3s_fs_up, tmp_path, archive):
    """An outage the run sees (its connections reset, then the server back) is a transient
    error: retried, and the run completes."""
    server = s3s_fs_up
    logs, lake = S3Store(server, LOGS, "outage"), S3Store(server, LAKE, "outage")
    src = put_tree(logs, "in", archive["files"])
    run = Background(command(src, lake.url("out")), server.env(), tmp_path / "logs")
    out_dir = server.data / LAKE / "outage" / "out"
    wait_until(lambda: run.proc.poll() is not None or (out_dir.exists() and any(out_dir.rglob("*"))),
               120, "the run to touch the output")
    assert run.proc.poll() is None, "the run ended before the outage: make the input larger"
    server.outage(attempts=3, alive=lambda: run.proc.poll() is None)
    done = run.wait(600)
    assert done.code == EXIT_OK, done
    assert_exactly_once(lake, "out", archive["files"])


def test_unreachable_endpoint_fails_naming_the_bucket(tmp_path, sample):
    env = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": "us-east-1",
           "AWS_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}", "AWS_ALLOW_HTTP": "true"}
    src = str(next(iter(data_inputs(sample).values())))
    run = convert(src, f"s3://{LAKE}/nowhere/out", *QUICK_RETRIES, env=env, summary=False, timeout=120)
    assert run.code == EXIT_ERROR, run
    assert names_an_object(run.stderr, LAKE), run
    run = convert(f"s3://{LOGS}/nowhere/", str(tmp_path / "out"), *QUICK_RETRIES, env=env, summary=False, timeout=120)
    assert run.code == EXIT_ERROR, run
    assert LOGS in run.stderr, run


def test_missing_bucket_fails_naming_it(moto, tmp_path, sample):
    src = str(next(iter(data_inputs(sample).values())))
    run = convert(src, "s3://no-such-bucket-4f1a/out", *QUICK_RETRIES, env=moto.env(), summary=False, timeout=120)
    assert run.code == EXIT_ERROR, run
    assert "no-such-bucket-4f1a" in run.stderr, run


def test_wrong_credentials_fail_fast_without_retrying(s3s_fs_up, sample):
    env = {**s3s_fs_up.env(), "AWS_SECRET_ACCESS_KEY": "not-the-secret"}
    src = str(next(iter(data_inputs(sample).values())))
    started = time.monotonic()
    run = convert(src, f"s3://{LAKE}/denied/out", env=env, summary=False, timeout=120)
    assert run.code == EXIT_ERROR, run
    assert names_an_object(run.stderr, LAKE), run
    assert time.monotonic() - started < 20, "a permanent error (403) was retried as if transient"


@pytest.fixture(params=["local", "s3s-fs", "moto"])
def store(request, tmp_path):
    return make_store(request.param, request, tmp_path)


def test_unreadable_input_is_a_partial_failure_and_is_converted_once_mended(store, sample):
    inputs = data_inputs(sample)
    # An input without bad lines, so that converting it alone stays under the reject threshold.
    broken_name, broken_path = next((k, v) for k, v in sorted(inputs.items()) if not Expected.rejects({k: v}))
    whole = broken_path.read_bytes()
    good = {k: v for k, v in inputs.items() if k != broken_name}
    src = put_tree(store, "in", good)
    store.put(f"in/{broken_name}", whole[: len(whole) // 2])  # a truncated gzip member

    run = convert(src, store.url("out"), env=store.env())
    assert run.code == EXIT_PARTIAL, run
    assert run.summary is not None, run
    assert len(run.summary["inputs_failed"]) == 1 and broken_name.split("/")[-1] in str(run.summary["inputs_failed"])
    assert_exactly_once(store, "out", good)

    store.put(f"in/{broken_name}", whole)
    again = convert(src, store.url("out"), env=store.env()).expect(EXIT_OK)
    assert again.summary["rows_written"] == sum(Expected.rows({broken_name: broken_path}).values())
    assert_exactly_once(store, "out", inputs)


def test_too_many_rejects_commit_nothing_and_record_nothing(store, sample):
    files = {**data_inputs(sample), "extra/mixed.ndjson": MIXED}
    src = put_tree(store, "in", files)
    run = convert(src, store.url("out"), "--max-reject-ratio", "0", env=store.env())
    assert run.code == EXIT_REJECTS, run
    assert check_visible_files(store, "out") == set(), "data committed despite the reject threshold"
    assert any(k.startswith("_rejects/") for k in store.keys("out")), "the rejects were not kept"
    # Nothing was recorded as converted, so a run with a looser threshold converts all of it.
    again = convert(src, store.url("out"), "--max-reject-ratio", "0.5", env=store.env()).expect(EXIT_OK)
    assert again.summary["rows_written"] == assert_exactly_once(store, "out", files)


def test_gzip_fixture_is_really_truncated(sample):
    """Guards the partial-failure test: half of a gzip object must not decompress."""
    path = sorted(data_inputs(sample).values())[-1]
    data = path.read_bytes()
    with pytest.raises(EOFError):
        gzip.decompress(data[: len(data) // 2])
