"""Runs at the same time on one output: a second unsharded run is refused while the first holds
the lock (exit 5, "locked"); shard runs (`--shard I/N`, or `--shards N` with Kubernetes'
JOB_COMPLETION_INDEX) run side by side and together equal one full run."""

import signal

import pytest

from conftest import (EXIT_LOCKED, EXIT_OK, EXIT_USAGE, Background, S3Store, assert_exactly_once, command,
                      convert, data_inputs, make_store, put_tree, wait_until)

BACKENDS = ["local", "s3s-fs", "moto"]
SHARDS = 3


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path):
    return make_store(request.param, request, tmp_path)


def count(value) -> int:
    return len(value) if isinstance(value, list) else int(value)


def test_second_run_is_refused_while_the_first_holds_the_lock(store, tmp_path, archive):
    src = put_tree(store, "in", archive["files"])
    cmd = command(src, store.url("out"))
    first = Background(cmd, store.env(), tmp_path / "logs")
    locked = wait_until(lambda: first.proc.poll() is not None or any(k.startswith("_ledger/locks/") for k in store.keys("out")),
                        120, "the first run to take the lock")
    assert first.proc.poll() is None, "the first run ended before its lock was seen under _ledger/locks/"
    assert locked
    second = convert(src, store.url("out"), env=store.env())
    first_still_running = first.proc.poll() is None
    done = first.wait()
    assert done.code == EXIT_OK, done
    if first_still_running:
        assert second.code == EXIT_LOCKED, second
        assert "locked" in second.stderr.lower(), second
    else:  # the first finished while the second was starting: it then found nothing new, or the lock
        assert second.code in (EXIT_OK, EXIT_LOCKED), second
    assert_exactly_once(store, "out", archive["files"])
    # With the lock released, the same command runs and finds nothing new.
    again = convert(src, store.url("out"), env=store.env()).expect(EXIT_OK)
    assert count(again.summary["inputs_converted"]) == 0


def test_moto_creates_atomically(moto):
    """The runs-at-once test below needs one S3 server whose create-if-absent is atomic."""
    assert moto.racing_creates() == [1] * 10


# s3s-fs 0.14.1 checks If-None-Match and then writes, so several racing creators can win: the
# lock rests on an atomic create, as on S3 and R2, so only stores that have one run this test.
@pytest.mark.parametrize("kind", ["local", "moto"])
def test_two_runs_started_at_once_convert_everything_once(kind, request, tmp_path, archive):
    store = make_store(kind, request, tmp_path)
    src = put_tree(store, "in", archive["files"])
    cmd = command(src, store.url("out"))
    runs = [Background(cmd, store.env(), tmp_path / "logs") for _ in range(2)]
    done = [r.wait() for r in runs]
    codes = sorted(r.code for r in done)
    assert codes in ([EXIT_OK, EXIT_OK], [EXIT_OK, EXIT_LOCKED]), "\n".join(map(repr, done))
    for run in done:
        if run.code == EXIT_LOCKED:
            assert "locked" in run.stderr.lower(), run
    converted = sum(count(r.summary["inputs_converted"]) for r in done if r.code == EXIT_OK)
    assert converted == len(archive["files"]), "an input was converted twice, or not at all"
    assert_exactly_once(store, "out", archive["files"])


@pytest.mark.parametrize("style", ["--shard I/N", "--shards N + JOB_COMPLETION_INDEX"])
def test_concurrent_shard_runs_equal_one_full_run(store, style, tmp_path, archive):
    src = put_tree(store, "in", archive["files"])
    runs = []
    for i in range(SHARDS):
        if style.startswith("--shard "):
            cmd, env = command(src, store.url("out"), "--shard", f"{i}/{SHARDS}"), store.env()
        else:
            cmd, env = command(src, store.url("out"), "--shards", SHARDS), {**store.env(), "JOB_COMPLETION_INDEX": str(i)}
        runs.append(Background(cmd, env, tmp_path / "logs"))
    done = [r.wait() for r in runs]
    for run in done:
        assert run.code == EXIT_OK, run
    per_shard = [count(r.summary["inputs_converted"]) for r in done]
    assert sum(per_shard) == len(archive["files"]), per_shard
    assert sum(r.summary["rows_written"] for r in done) == assert_exactly_once(store, "out", archive["files"])
    # Together they were one full run: an unsharded run finds nothing left.
    full = convert(src, store.url("out"), env=store.env()).expect(EXIT_OK)
    assert count(full.summary["inputs_converted"]) == 0


def test_shards_split_inputs_deterministically(tmp_path, archive):
    src = tmp_path / "in"
    src.mkdir()
    names = set()
    for name, path in archive["files"].items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_bytes(path.read_bytes())
        names.add(name.split("/")[-1])
    chosen = []
    for i in range(SHARDS):
        said = []
        for _ in range(2):
            run = convert(str(src), str(tmp_path / "out"), "--dry-run", "--shard", f"{i}/{SHARDS}", summary=False).expect(EXIT_OK)
            said.append({n for n in names if n in run.stdout + run.stderr})
        assert said[0] == said[1], f"shard {i} chose differently on two runs"
        chosen.append(said[0])
    assert sorted(n for shard in chosen for n in shard) == sorted(names), f"shards do not partition the inputs: {chosen}"


@pytest.mark.parametrize("args, env", [
    (["--shard", "3/3"], {}),
    (["--shard", "1/0"], {}),
    (["--shards", "3"], {}),
    (["--shards", "3"], {"JOB_COMPLETION_INDEX": "3"}),
])
def test_bad_shard_settings_are_usage_errors(args, env, tmp_path, sample):
    run = convert(str(next(iter(sample.values()))), str(tmp_path / "out"), *args, env=env, summary=False)
    assert run.code == EXIT_USAGE, run
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", ["local", "s3s-fs"])
def test_a_paused_holder_loses_its_lease_and_commits_nothing(kind, request, tmp_path, sample):
    """A holder that stops (SIGSTOP: a paused VM, a long stall) for longer than its lease: another
    run takes the lock once the lease has run out and converts everything, and the holder, once
    resumed, must not commit a second copy."""
    store = make_store(kind, request, tmp_path)
    inputs = data_inputs(sample)
    first_files = {k: v for k, v in inputs.items() if k.startswith("20261123/")}
    src = put_tree(store, "in", first_files)
    lease = ["--lock-lease", "3"]
    holder = Background(command(src, store.url("out"), *lease), store.env(), tmp_path / "logs")
    wait_until(lambda: holder.proc.poll() is not None or any(k.startswith("_ledger/locks/") for k in store.keys("out")),
               120, "the holder to take the lock")
    holder.proc.send_signal(signal.SIGSTOP)
    try:
        assert holder.proc.poll() is None, "the holder ended before it could be paused"
        put_tree(store, "in", inputs)  # more input: the next run's work differs from the holder's

        def after_the_lease():
            run = convert(src, store.url("out"), *lease, env=store.env())
            return run if run.code != EXIT_LOCKED else None

        taker = wait_until(after_the_lease, 60, "the paused holder's lease to run out", interval=0.2)
        assert taker.code == EXIT_OK, taker
        assert_exactly_once(store, "out", inputs)
    finally:
        holder.proc.send_signal(signal.SIGCONT)
    resumed = holder.wait()
    assert resumed.code != EXIT_OK or resumed.summary is None or resumed.summary.get("inputs_converted") == 0, resumed
    assert_exactly_once(store, "out", inputs)
    convert(src, store.url("out"), env=store.env()).expect(EXIT_OK)
    assert_exactly_once(store, "out", inputs)
