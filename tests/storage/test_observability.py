"""What a run tells: no secret ever (stdout, stderr, summary, `--help`, objects written), and with
`--log-format json` every stderr line is a JSON object."""

import json
import secrets

import pytest

from conftest import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, LAKE, S3Store, convert, data_inputs, free_port, run_raw

# Distinctive, and long enough that any 12-character piece of them found in the output is a leak.
SECRET = "Sk" + secrets.token_urlsafe(30)
TOKEN = "Tk" + secrets.token_urlsafe(90)
WINDOW = 12


def leaked(text: str) -> list:
    found = []
    for name, value in (("secret key", SECRET), ("session token", TOKEN)):
        if any(value[i:i + WINDOW] in text for i in range(len(value) - WINDOW + 1)):
            found.append(name)
    return found


@pytest.fixture
def secret_env(moto):
    return {**moto.env(), "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_SESSION_TOKEN": TOKEN}


def sample_file(sample):
    return str(sorted(data_inputs(sample).values())[0])


CASES = {
    "ok": ([], {}),
    "ok -v": (["-v"], {}),
    "ok -vv": (["-vv"], {}),
    "ok -vv json logs": (["-vv", "--log-format", "json"], {}),
    "ok -vv RUST_LOG=trace": (["-vv"], {"RUST_LOG": "trace"}),
    "missing output bucket": (["-vv", "--retries", "1"], {"bucket": "no-such-bucket-5e1f"}),
    "missing input bucket": (["-vv", "--retries", "1"], {"input": "s3://no-such-bucket-5e1f/spectrum/"}),
    "unreachable endpoint": (["-vv", "--retries", "1", "--retry-timeout", "3"], {"unreachable": True}),
}


@pytest.mark.parametrize("case", CASES)
def test_secrets_appear_nowhere(case, secret_env, moto, tmp_path, sample):
    args, how = CASES[case]
    env = dict(secret_env)
    if "RUST_LOG" in how:
        env["RUST_LOG"] = how["RUST_LOG"]
    if how.get("unreachable"):
        env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{free_port()}"
    prefix = f"secrets-{secrets.token_hex(4)}"
    output = f"s3://{how.get('bucket', LAKE)}/{prefix}/out"
    summary_path = tmp_path / "summary.json"
    run = convert(how.get("input", sample_file(sample)), output, "--summary-json", str(summary_path), *args,
                  env=env, summary=False, timeout=180)
    ok = not how.get("bucket") and not how.get("input") and not how.get("unreachable")
    assert run.code == (EXIT_OK if ok else EXIT_ERROR), run
    texts = {"stdout": run.stdout, "stderr": run.stderr}
    if summary_path.exists():
        texts["summary"] = summary_path.read_text()
    if ok:
        assert "summary" in texts
        store = S3Store(moto, LAKE, prefix)
        for key in store.keys("out"):
            texts[f"object {key}"] = store.get(f"out/{key}").decode("utf-8", "replace")
    for where, text in texts.items():
        assert not leaked(text), f"{leaked(text)} in {where}:\n{text[:3000]}"


@pytest.mark.parametrize("args", [["--help"], ["convert", "--help"], ["convert", "-h"], ["-V"], ["schema", "--help"]])
def test_help_shows_no_secret_from_the_environment(args, secret_env):
    run = run_raw(args, env=secret_env)
    assert run.code == EXIT_OK, run
    assert run.stdout, run
    assert not leaked(run.stdout + run.stderr), run


def test_help_lists_the_storage_settings():
    text = run_raw(["convert", "--help"]).stdout
    for flag in ("--s3-endpoint", "--s3-region", "--s3-allow-http", "--retries", "--retry-timeout",
                 "--upload-part-size", "--reprocess", "--since", "--until", "--dry-run", "--shard",
                 "--shards", "--log-format"):
        assert flag in text, flag


def json_lines(text: str) -> list:
    lines = [line for line in text.splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}\nstderr:\n{text[:3000]}")
        assert isinstance(record, dict), line
        records.append(record)
    return records


@pytest.mark.parametrize("verbosity", [[], ["-v"], ["-vv"]])
def test_json_logs_on_success_are_json_lines(verbosity, tmp_path, sample):
    run = convert(sample_file(sample), str(tmp_path / "out"), "--log-format", "json", *verbosity).expect(EXIT_OK)
    records = json_lines(run.stderr)
    if verbosity:
        assert records, "-v logged nothing"
    json.loads(run.stdout)  # the summary still goes to stdout, whole


def test_json_logs_of_a_failed_run_name_the_bucket(moto, tmp_path, sample):
    run = convert(sample_file(sample), "s3://no-such-bucket-77aa/out", "--log-format", "json", "--retries", "1",
                  env=moto.env(), summary=False)
    assert run.code == EXIT_ERROR, run
    records = json_lines(run.stderr)
    assert any("no-such-bucket-77aa" in json.dumps(r) for r in records), run


def test_json_logs_of_a_partial_failure(tmp_path, sample):
    inputs = data_inputs(sample)
    src = tmp_path / "in"
    for name, path in inputs.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(path.read_bytes())
    broken = src / sorted(inputs)[0]
    broken.write_bytes(broken.read_bytes()[:200])
    run = convert(str(src), str(tmp_path / "out"), "--log-format", "json", "-v")
    assert run.code == EXIT_PARTIAL, run
    records = json_lines(run.stderr)
    assert any(broken.name in json.dumps(r) for r in records), "the failed input is not named in the logs"
