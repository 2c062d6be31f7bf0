"""SIGKILL at random moments while runs convert into a catalog table: whole runs only, then every
row exactly once.

Chains of steps on one table: a first run over eight generated objects, then steps that each add
one later object to the input folder. Each step starts the run, kills it with SIGKILL after a
random delay (twice in a row in about a quarter of the steps), and after every kill reads the
table with pyiceberg: it must hold exactly the rows of the runs that committed, the rows before
the step or the rows after it, never part of a run (every object's rows all there or none). The
same command then runs to completion: every input row exactly once, one `append` snapshot per
committed run (distinct run ids, added records adding up to the table's rows).

The delays come from the measured times of un-killed runs of the same kind of step: half spread
over the whole run, half over its last quarter, where the data files are uploaded and the
snapshot committed. The seed is fixed (KILL_TEST_SEED overrides it) and printed with the figures,
so a failure can be replayed; ICEBERG_KILLS changes how many kills land (default 16).
"""

import os
import random
import subprocess

from conftest import (EXIT_OK, RUN_ID, Table, copy_inputs, expected_rows, report, summary_of)

SEED = int(os.environ.get("KILL_TEST_SEED", "20261124"))
TARGET_KILLS = int(os.environ.get("ICEBERG_KILLS", "16"))
STEPS_PER_CHAIN = 4


class Chain:
    """One input folder and one catalog table, growing together."""

    def __init__(self, seaweed, tmp_path, archive, n):
        self.table = Table(seaweed)
        self.folder = tmp_path / f"chain{n}" / "in"
        self.inputs = dict(archive["files"])
        copy_inputs(self.inputs, self.folder)
        self.later = sorted(archive["later"].items())
        self.logdir = tmp_path / f"chain{n}" / "logs"

    def grow(self) -> bool:
        if not self.later:
            return False
        name, path = self.later.pop(0)
        self.inputs[f"later/{name}"] = path
        copy_inputs({f"later/{name}": path}, self.folder)
        return True

    def start(self):
        return self.table.start(self.folder, "-q", logdir=self.logdir)

    def seen(self):
        return self.table.rows()

    def unlisted_files(self) -> int:
        """Data files under the table's location that no snapshot lists (left by killed runs,
        invisible to readers; `vacuum` deletes them)."""
        loaded = self.table.load()
        location = loaded.metadata.location.rstrip("/") + "/"
        listed = {task.file.file_path.removeprefix(location) for task in loaded.scan().plan_files()}
        return len(self.table.data_objects() - listed)

    def snapshot_problems(self) -> list:
        """Snapshots that are not one append per committed run."""
        problems = []
        summaries = [summary_of(s) for s in self.table.snapshots()]
        ids = [s.get(RUN_ID) for s in summaries]
        if len(set(ids)) != len(ids) or None in ids:
            problems.append(f"run ids of the snapshots: {ids}")
        if any(s["operation"] != "append" for s in summaries):
            problems.append(f"operations: {[s['operation'] for s in summaries]}")
        added = sum(int(s["added-records"]) for s in summaries)
        rows = sum(self.seen().values())
        if added != rows:
            problems.append(f"the snapshots add {added} records, the table holds {rows} rows")
        return problems


def test_sigkill_at_random_moments_leaves_whole_runs_visible_and_then_every_row_once(seaweed, tmp_path, archive):
    rng = random.Random(f"{SEED}/iceberg")
    expected_rows({**archive["files"], **archive["later"]})  # the reference's reading, before any clock runs

    # Un-killed runs of each kind of step, timed; they must be right too.
    durations = {}
    timing = Chain(seaweed, tmp_path, archive, 0)
    for step in ("fresh", "grow"):
        if step == "grow":
            timing.grow()
        run = timing.start().wait()
        assert run.code == EXIT_OK, run
        durations[step] = [run.elapsed]
        assert timing.seen() == expected_rows(timing.inputs), f"un-killed {step} run"

    kills = double = steps = rows_compared = partial_views = duplicates = losses = unlisted = 0
    failures = []
    n = 0
    while kills < TARGET_KILLS and steps < 4 * TARGET_KILLS:
        n += 1
        chain = Chain(seaweed, tmp_path, archive, n)
        for position in range(STEPS_PER_CHAIN):
            if position > 0 and (kills >= TARGET_KILLS or not chain.grow()):
                break
            step = "fresh" if position == 0 else "grow"
            before = chain.seen()
            after = expected_rows(chain.inputs)
            killed_here, delays = 0, []
            for attempt in range(2 if rng.random() < 0.25 else 1):
                fraction = rng.uniform(0, 1) if rng.random() < 0.5 else rng.uniform(0.75, 1.0)
                delay = fraction * rng.choice(durations[step])
                run = chain.start()
                try:
                    run.proc.wait(timeout=delay)  # the random moment to kill at, not a race to win
                    finished = run.wait()
                    delays.append(f"{delay:.2f}s (ended first, exit {finished.code})")
                    if finished.code == EXIT_OK and attempt == 0:
                        durations[step].append(finished.elapsed)
                except subprocess.TimeoutExpired:
                    if run.kill():
                        kills += 1
                        killed_here += 1
                        delays.append(f"{delay:.2f}s")
                # What pyiceberg sees now: all of this step's run, or none of it.
                seen = chain.seen()
                rows_compared += sum(seen.values())
                if seen not in (before, after):
                    partial_views += 1
                    failures.append(f"chain {n} step {position} ({step}), killed after {', '.join(delays)}: "
                                    f"pyiceberg read {sum(seen.values())} rows, neither {sum(before.values())} "
                                    f"(before the run) nor {sum(after.values())} (after it)")
            double += killed_here == 2
            steps += 1
            completed = chain.start().wait()
            seen = chain.seen()
            rows_compared += sum(seen.values())
            extra, missing = sum((seen - after).values()), sum((after - seen).values())
            duplicates += extra
            losses += missing
            problems = chain.snapshot_problems()
            if completed.code != EXIT_OK or extra or missing or problems:
                failures.append(f"chain {n} step {position} ({step}), killed after {', '.join(delays) or '-'}: "
                                f"completing run exit {completed.code}, {extra} duplicates, {missing} losses, "
                                f"{'; '.join(problems) or 'snapshots fine'}\n{completed!r}")
                break  # this table is spoiled; start a new chain
        unlisted += chain.unlisted_files()

    report(f"iceberg kill test: seed {SEED}, {kills} kills ({double} steps killed twice) in {steps} steps, "
           f"{rows_compared} rows compared, {duplicates} duplicates, {losses} losses, {partial_views} partial runs "
           f"seen, {unlisted} data files no snapshot lists; "
           f"un-killed first run {min(durations['fresh']):.2f}-{max(durations['fresh']):.2f} s")
    assert not failures, "\n\n".join(failures[:5])
    assert kills >= TARGET_KILLS, f"only {kills} of {TARGET_KILLS} kills landed while the run was alive"
