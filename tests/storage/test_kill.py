"""Exactly once after SIGKILL at random moments, on local disk and on s3s-fs (issue 5).

Chains of steps on one output: a first full conversion, then steps that either add a later
Logpush object (incremental) or run `--reprocess`. Each step starts the step's command, kills it
with SIGKILL after a random delay (twice in a row in about a quarter of the steps), then runs the
same command to completion and compares what a reader sees with the inputs: every row exactly
once, and no visible `.parquet` file that no run's manifest lists.

The delays come from the measured run times of un-killed runs of the same kind of step: half
spread over the whole run, half over its last quarter, where the commit happens. The seed is
fixed (KILL_TEST_SEED overrides it) and printed with the figures, so a failure can be replayed;
KILL_TEST_KILLS_LOCAL / KILL_TEST_KILLS_S3 change how many kills each store gets.
"""

import os
import random
import subprocess

import pytest

from conftest import (EXIT_OK, LOGS, LAKE, Background, Expected, LocalStore, S3Store, check_visible_files,
                      command, differences, output_rows, put_tree, report)

SEED = int(os.environ.get("KILL_TEST_SEED", "20261124"))
TARGET_KILLS = {"local": int(os.environ.get("KILL_TEST_KILLS_LOCAL", "30")),
                "s3s-fs": int(os.environ.get("KILL_TEST_KILLS_S3", "15"))}
STEPS_PER_CHAIN = 4


class Chain:
    """One input location and one output, growing together."""

    def __init__(self, stores, tmp_path, archive, n):
        self.src_store, self.out_store = stores(n)
        self.inputs = dict(archive["files"])
        self.later = sorted(archive["later"].items())
        self.src = put_tree(self.src_store, "spectrum", self.inputs)
        self.logdir = tmp_path / f"chain{n}" / "logs"
        self.steps = 0

    def add_later_input(self) -> bool:
        if not self.later:
            return False
        name, path = self.later.pop(0)
        self.inputs[f"later/{name}"] = path
        put_tree(self.src_store, "spectrum", {f"later/{name}": path})
        return True

    def command(self, reprocess: bool) -> list:
        return command(self.src, self.out_store.url("out"), "-q", *(["--reprocess"] if reprocess else []),
                       summary=False)

    def start(self, reprocess: bool) -> Background:
        # The settings of both stores: inputs and output may be on different ones (test_gcs.py
        # reads from GCS and writes to local disk).
        return Background(self.command(reprocess), {**self.src_store.env(), **self.out_store.env()}, self.logdir)

    def check(self):
        """(rows compared, duplicates, losses, orphan message or None)."""
        expected = Expected.rows(self.inputs)
        duplicates, losses = differences(output_rows(self.out_store, "out"), expected)
        try:
            check_visible_files(self.out_store, "out")
            orphans = None
        except AssertionError as e:
            orphans = str(e)
        return sum(expected.values()), duplicates, losses, orphans


def stores_of(kind, request, tmp_path):
    """n -> (input store, output store) of chain n, in local folders or on s3s-fs."""
    if kind == "local":
        return lambda n: (LocalStore(tmp_path / f"chain{n}" / "in"), LocalStore(tmp_path / f"chain{n}" / "lake"))
    server = request.getfixturevalue("s3s_fs_up")
    return lambda n: (S3Store(server, LOGS, f"kill-{SEED}-{n}"), S3Store(server, LAKE, f"kill-{SEED}-{n}"))


@pytest.mark.parametrize("kind", ["local", "s3s-fs"])
def test_sigkill_at_random_moments_never_loses_or_duplicates_a_row(kind, request, tmp_path, archive):
    kill_chains(kind, stores_of(kind, request, tmp_path), tmp_path, archive, TARGET_KILLS[kind])


def kill_chains(kind: str, stores, tmp_path, archive, target: int):
    """Kill `target` runs in chains of steps on the (input, output) stores `stores(n)`, completing
    each step and checking every row once after it (test_gcs.py runs it with inputs in GCS)."""
    rng = random.Random(f"{SEED}/{kind}")

    # Un-killed runs of each kind of step, timed; they must be right too.
    durations = {}
    chain = Chain(stores, tmp_path, archive, 0)
    for step in ("fresh", "grow", "reprocess"):
        if step == "grow":
            chain.add_later_input()
        run = chain.start(step == "reprocess").wait()
        assert run.code == EXIT_OK, run
        durations[step] = [run.elapsed]
        _, duplicates, losses, orphans = chain.check()
        assert (duplicates, losses, orphans) == (0, 0, None), f"un-killed {step} run: {duplicates} duplicates, {losses} losses, {orphans}"

    kills = double = steps = rows_compared = duplicates_found = losses_found = 0
    failures = []
    n = 0
    while kills < target and steps < 4 * target:
        n += 1
        chain = Chain(stores, tmp_path, archive, n)
        for position in range(STEPS_PER_CHAIN):
            if kills >= target and position > 0:
                break
            if position == 0:
                step = "fresh"
            else:
                step = rng.choice(["grow", "reprocess"])
                if step == "grow" and not chain.add_later_input():
                    step = "reprocess"
            reprocess = step == "reprocess"
            attempts = 2 if rng.random() < 0.25 else 1
            delays, killed_here = [], 0
            for attempt in range(attempts):
                measured = rng.choice(durations[step])
                fraction = rng.uniform(0, 1) if rng.random() < 0.5 else rng.uniform(0.75, 1.0)
                delay = fraction * measured
                run = chain.start(reprocess)
                try:
                    run.proc.wait(timeout=delay)  # the random moment to kill at, not a race to win
                    finished = run.wait()
                    delays.append(f"{delay:.2f}s (ended first, exit {finished.code})")
                    if finished.code == EXIT_OK and attempt == 0:
                        # A whole un-killed run of this kind of step (a later attempt may only
                        # finish what a killed one began): it joins the delay distribution.
                        durations[step].append(finished.elapsed)
                except subprocess.TimeoutExpired:
                    if run.kill():
                        kills += 1
                        killed_here += 1
                        delays.append(f"{delay:.2f}s")
            double += killed_here == 2
            steps += 1
            completed = chain.start(reprocess).wait()
            rows, duplicates, losses, orphans = chain.check()
            rows_compared += rows
            duplicates_found += duplicates
            losses_found += losses
            if completed.code != EXIT_OK or duplicates or losses or orphans:
                failures.append(f"chain {n} step {position} ({step}), killed after {', '.join(delays)}: "
                                f"completing run exit {completed.code}, {duplicates} duplicates, {losses} losses, "
                                f"{orphans or 'no orphans'}\n{completed!r}")
                break  # this output is spoiled; start a new chain
        else:
            # A chain's last word: the same command once more has nothing new to convert.
            again = chain.start(False).wait()
            if again.code != EXIT_OK:
                failures.append(f"chain {n}: a run with nothing new exited {again.code}\n{again!r}")

    report(f"kill test [{kind}]: seed {SEED}, {kills} kills ({double} steps killed twice) in {steps} steps, "
           f"{rows_compared} rows compared, {duplicates_found} duplicates, {losses_found} losses, "
           f"{len(failures)} failed steps; un-killed run {min(durations['fresh']):.2f}-{max(durations['fresh']):.2f} s")
    assert not failures, "\n\n".join(failures[:5])
    assert kills >= target, f"only {kills} of {target} kills landed while the run was alive"
