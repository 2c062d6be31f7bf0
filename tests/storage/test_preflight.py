"""`logpush-parquet check`: the preflight against local disk, s3s-fs and moto, and each failure
mode (no credentials, wrong keys, a missing bucket, no atomic create) with its verdict."""

import json

import pytest

from conftest import LAKE, S3Store, data_inputs, make_store, put_tree, run_raw


def check(inputs: str, output: str, env: dict):
    done = run_raw(["check", inputs, "--output", output, "--summary-json", "-"], env=env)
    report = json.loads(done.stdout) if done.stdout.strip() else None
    return done, report


def verdicts(report: dict) -> dict:
    return {s["step"]: s["ok"] for s in report["steps"]}


def details(report: dict) -> dict:
    return {s["step"]: s["detail"] for s in report["steps"]}


@pytest.mark.parametrize("kind", ["local", "moto"])
def test_a_store_that_does_everything_passes_every_step(kind, request, tmp_path, sample):
    store = make_store(kind, request, tmp_path)
    url = put_tree(store, "in", sample)
    done, report = check(url, store.url("out"), store.env())
    assert done.code == 0, done
    assert verdicts(report) == {"list inputs": True, "read inputs": True, "write output": True,
                                "atomic create": True}
    assert report["ok"] is True
    data = len(data_inputs(sample))
    assert f"{data} inputs" in details(report)["list inputs"]
    assert f"{len(sample) - data} skipped" in details(report)["list inputs"]
    assert " rows, " in details(report)["read inputs"], report
    assert "ready" in done.stderr
    # The probe leaves nothing behind.
    assert not [k for k in store.keys("out") if "probe" in k]


def test_a_store_that_ignores_if_none_match_fails_the_atomic_create_step_only(no_conditions, moto, sample):
    # The inputs are put into moto directly; the check reaches it through the proxy, which lets
    # every racing creator win (s3s-fs, whose creates race only sometimes, made this test flaky).
    store = S3Store(moto, LAKE, "preflight-no-conditions")
    url = put_tree(store, "in", sample)
    done, report = check(url, store.url("out"), no_conditions.env())
    assert done.code == 1, done
    assert verdicts(report) == {"list inputs": True, "read inputs": True, "write output": True,
                                "atomic create": False}
    assert "If-None-Match is not enforced" in details(report)["atomic create"]
    assert "not ready" in done.stderr


def test_no_credentials_for_a_custom_endpoint_is_named_without_instance_metadata(request, tmp_path, sample):
    moto = request.getfixturevalue("moto")
    store = S3Store(moto, LAKE, "preflight-nocreds")
    url = put_tree(store, "in", sample)
    env = {k: v for k, v in moto.env().items() if not k.startswith("AWS_ACCESS_KEY_ID") and k != "AWS_SECRET_ACCESS_KEY"}
    done, report = check(url, store.url("out"), env)
    assert done.code == 1, done
    text = " ".join(details(report).values())
    assert "no S3 credentials for the endpoint http://" in text and "AWS_ACCESS_KEY_ID" in text, text
    assert "169.254.169.254" not in done.stdout + done.stderr


def test_wrong_keys_and_a_missing_bucket_fail_with_the_store_named(request, tmp_path, sample):
    server = request.getfixturevalue("s3s_fs_up")
    store = S3Store(server, LAKE, "preflight-keys")
    url = put_tree(store, "in", sample)
    wrong = dict(server.env(), AWS_SECRET_ACCESS_KEY="not-the-secret")
    done, report = check(url, store.url("out"), wrong)
    assert done.code == 1, done
    assert verdicts(report)["list inputs"] is False and verdicts(report)["write output"] is False, report
    assert f"s3://{LAKE}/" in details(report)["list inputs"], report

    # moto, unlike s3s-fs, refuses writes to a bucket that does not exist.
    moto = request.getfixturevalue("moto")
    done, report = check(str(next(iter(data_inputs(sample).values()))), "s3://no-such-bucket-here/out", moto.env())
    assert done.code == 1, done
    assert verdicts(report)["list inputs"] is True
    assert verdicts(report)["write output"] is False, report
    assert "no-such-bucket-here" in details(report)["write output"], report


def test_unreadable_inputs_and_undecodable_lines_fail_the_read_step(tmp_path):
    bad = tmp_path / "in" / "x.log"
    bad.parent.mkdir()
    bad.write_text('{"EdgeStartTimestamp":1,"ClientRequestHost":"h","RayID":"r","ClientIP":"a"}\n' * 3)
    done, report = check(str(bad.parent), str(tmp_path / "out"), {})
    assert done.code == 1, done
    assert verdicts(report)["read inputs"] is False
    assert "3 rejected" in details(report)["read inputs"]
    assert "a line of another dataset" in details(report)["read inputs"]
    done, report = check(str(tmp_path / "nothing-here"), str(tmp_path / "out"), {})
    assert done.code == 1 and verdicts(report)["list inputs"] is False
