"""Side-by-side benchmark: ``logpush-parquet convert`` against DuckDB and Polars, same archive.

What ``make bench`` runs. Steps:

1. Find or generate the input archive: ``examples/generate.rs`` (deterministic) writes it once into
   ``.cache/bench-<rows>r-<files>f-<apps>a-<format>-<hours>h-s<seed>/``, later runs reuse it
   (``--archive DIR`` uses any existing archive instead). Its uncompressed NDJSON size and line
   count are measured once and cached in ``.cache/bench-meta/``.
2. Read the archive once to warm the page cache, then run the tools on it (``--tools``, default
   ours, DuckDB and Polars), alternating (``--rounds``, default 3; the order flips every round:
   A B C, C B A, A B C, ...). Every run is its own child process writing into an empty folder; its
   CPU time and peak resident memory come from ``os.wait4`` (the rusage of that one child, nothing
   else). Linux counts the peak of the process a child was spawned from in the child's peak, so
   this process never loads DuckDB or Polars and flags any run whose peak was not above its own.
3. After each run: ``sync`` (untimed, so the next run does not pay for this one's writeback),
   sum the sizes of the files written, read the Parquet output back with DuckDB in a child
   (``read_back.py``: ``read_parquet('<out>/**/*.parquet')``) and fail unless it holds as many
   rows as the archive has lines and the same aggregates (``CONTENT_CHECK``) as every other run.
   The folder is then deleted. The CPU used meanwhile by other processes is recorded; a busy
   machine is flagged.
4. Print every run, the medians, and the ratios of ours against each peer (ours / DuckDB,
   ours / Polars); with ``--markdown FILE`` write the same as Markdown, with the machine and date,
   ready to paste into BENCHMARKS.md.

``--extra`` adds scenarios: ``threads`` (our tool with ``--one-thread-args``, default
``--threads 1``, DuckDB with ``SET threads = 1``, Polars with ``POLARS_MAX_THREADS=1``, against the
all-cores figures) and ``partitions`` (``--partition-by date,hour,Application`` over an archive
generated with ``--apps 10000`` and one hour, so about 10,000 partitions).

``--cores 1,2,4,...`` adds a core sweep: every run pinned to the first N CPUs
(``os.sched_setaffinity`` in the child before ``exec``) and told to use N threads (ours
``--threads N``, DuckDB ``SET threads = N``, Polars ``POLARS_MAX_THREADS=N``), with a table of
throughput, cores busy, ratios and our scaling efficiency per core count.

Run it with the project's virtualenv (``.venv/bin/python``): this process uses the standard library
only; the children need ``duckdb`` (read-back and the DuckDB runs) and ``polars`` (Polars runs, from
``bench/requirements.txt``). MB means 10^6 bytes throughout (input MB/s, resident memory and
output).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import hashlib
import json
import os
import platform
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True  # no __pycache__ in bench/
import duckdb_convert  # noqa: E402  (stdlib-only at import time)

MB = 1_000_000
OTHER_LOAD_WARN = 0.15  # cores busy with other processes during a run before we warn

# The tools, in the order they run in odd rounds: ours first, then its peers.
TOOLS = {"ours": "logpush-parquet", "duckdb": "DuckDB", "polars": "Polars"}
# The peers' own time for the conversion alone, without starting Python and importing the
# package: (key in the JSON line the script prints, what it times).
ENGINE_TIME = {"duckdb": ("copy_seconds", "COPY"), "polars": ("sink_seconds", "sink_parquet")}


class BenchError(RuntimeError):
    """A failure that stops the benchmark (printed without a traceback)."""


def log(msg: str = "") -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------------------------
# Input archives


@dataclass
class Archive:
    path: Path
    files: int
    gz_bytes: int
    ndjson_bytes: int
    rows: int
    fmt: str
    description: str

    @property
    def label(self) -> str:
        try:
            return str(self.path.relative_to(ROOT))
        except ValueError:
            return str(self.path)


def archive_files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*.gz") if p.is_file())


def sniff_format(first_file: Path) -> str:
    """The timestamp format of an archive, from the ``Timestamp`` of its first line."""
    with gzip.open(first_file, "rt", encoding="utf-8") as f:
        line = f.readline()
    value = json.loads(line).get("Timestamp")
    if isinstance(value, int):
        return "unixnano" if abs(value) > 10**14 else "unix"
    if isinstance(value, str):
        frac = value.rstrip("Z").partition(".")[2]
        return {0: "rfc3339", 3: "rfc3339ms"}.get(len(frac), "rfc3339ns")
    raise BenchError(f"{first_file}: cannot tell the timestamp format from {value!r}")


def measure_archive(path: Path, cache_dir: Path, description: str) -> Archive:
    """Uncompressed size and line count of every ``*.gz`` under ``path``, cached by file stats."""
    files = archive_files(path)
    if not files:
        raise BenchError(f"{path}: no .gz files")
    stats = [[str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    meta_file = cache_dir / "bench-meta" / f"{path.name}-{key}.json"
    meta = None
    if meta_file.exists():
        try:
            meta = json.loads(meta_file.read_text())
            if meta.get("files") != stats:
                meta = None
        except (OSError, ValueError):
            meta = None
    if meta is None:
        log(f"measuring {path} (uncompressed bytes and lines, once) ...")
        ndjson = rows = 0
        for p in files:
            last = b"\n"
            with gzip.open(p, "rb") as f:
                while chunk := f.read(1 << 22):
                    ndjson += len(chunk)
                    rows += chunk.count(b"\n")
                    last = chunk[-1:]
            if last != b"\n":
                rows += 1
        meta = {"files": stats, "ndjson_bytes": ndjson, "rows": rows,
                "format": sniff_format(files[0])}
        meta_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = meta_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(meta))
        tmp.replace(meta_file)
    return Archive(path=path.resolve(), files=len(files), gz_bytes=sum(s[1] for s in stats),
                   ndjson_bytes=meta["ndjson_bytes"], rows=meta["rows"], fmt=meta["format"],
                   description=description)


def ensure_archive(a: argparse.Namespace, *, rows: int, apps: int, hours: int) -> Archive:
    """The generated archive for these options, generating it when it is not cached yet."""
    cache_dir = Path(a.cache_dir)
    name = f"bench-{rows}r-{a.files}f-{apps}a-{a.format}-{hours}h-s{a.seed}"
    path = cache_dir / name
    gen_args = ["--rows", str(rows), "--files", str(a.files), "--apps", str(apps),
                "--format", a.format, "--hours", str(hours), "--seed", str(a.seed)]
    if not path.is_dir():
        partial = cache_dir / (name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        if a.generate_bin:
            cmd = [a.generate_bin, "--out", str(partial)] + gen_args
        else:
            cmd = shlex.split(a.cargo) + ["run", "--release", "--quiet", "--example", "generate",
                                          "--", "--out", str(partial)] + gen_args
        log(f"generating {path} (cached for later runs):\n  {shlex.join(cmd)}")
        t = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, check=False)
        if proc.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            raise BenchError(f"the generator failed (exit {proc.returncode})")
        partial.rename(path)
        log(f"  generated in {time.perf_counter() - t:.1f} s")
    desc = f"generated: `generate {shlex.join(gen_args)}`"
    return measure_archive(path, cache_dir, desc)


def warm(archive: Archive) -> None:
    """Read every input file once so that no run pays for a cold disk."""
    for p in archive_files(archive.path):
        with open(p, "rb") as f:
            while f.read(1 << 22):
                pass


# --------------------------------------------------------------------------------------------
# Runs


@dataclass
class Variant:
    """One command to measure: a tool on an archive with some options."""

    key: str  # "ours", "duckdb" or "polars" (a key of TOOLS)
    label: str
    archive: Archive
    argv_for: object  # callable(out_dir: Path) -> list[str]
    partition_by: str = "date,hour"
    env: dict = field(default_factory=dict)  # set in the child's environment
    cpus: list[int] | None = None  # pin the child to these CPUs (None: no pinning)

    def shell(self, argv: list[str]) -> str:
        """``argv`` as a shell command line, with the pinning and environment it runs with."""
        prefix = []
        if self.cpus is not None:
            prefix += ["taskset", "-c", cpu_list(self.cpus)]
        if self.env:
            prefix += ["env"] if prefix else []
            prefix += [f"{k}={v}" for k, v in self.env.items()]
        return shlex.join(prefix + argv)


def cpu_list(cpus: list[int]) -> str:
    """``[0, 1, 2, 5]`` as ``0-2,5`` (taskset's syntax)."""
    parts = []
    for c in sorted(cpus):
        if parts and parts[-1][1] == c - 1:
            parts[-1][1] = c
        else:
            parts.append([c, c])
    return ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in parts)


@dataclass
class Run:
    variant: str
    tool: str
    round: int
    wall: float
    user: float
    sys: float
    maxrss_bytes: int
    out_bytes: int
    out_files: int
    partitions: int
    rows: int
    ndjson_bytes: int
    other_load: float  # cores kept busy by other (user-space) processes during the run
    kernel_cpu: float  # CPU seconds of kernel threads during the run (writeback, reclaim)
    sync_seconds: float  # the untimed sync after the run (writing back its output)
    check: dict  # row count and aggregates of the output (read_back.CONTENT_CHECK)
    harness_peak_bytes: int = 0  # the child's peak RSS is not known when at most this
    cores: int = 0  # CPUs the run was pinned to (0: not pinned)
    extra: dict = field(default_factory=dict)

    @property
    def rss_unknown(self) -> bool:
        """Whether the child's own peak RSS was hidden by the harness's (see ``run_child``)."""
        return self.maxrss_bytes <= self.harness_peak_bytes

    @property
    def cpu(self) -> float:
        return self.user + self.sys

    @property
    def mb_per_s(self) -> float:
        return self.ndjson_bytes / MB / self.wall

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.wall


def tree_size(path: Path) -> tuple[int, int, int]:
    """(bytes of all files, number of .parquet files, folders holding .parquet files)."""
    total = files = 0
    dirs = set()
    for root, _, names in os.walk(path):
        for n in names:
            p = os.path.join(root, n)
            if os.path.isfile(p) and not os.path.islink(p):
                total += os.path.getsize(p)
                if n.endswith(".parquet"):
                    files += 1
                    dirs.add(root)
    return total, files, len(dirs)


def check_output(out: Path, content: bool) -> dict:
    """Row count (and with ``content``, a few aggregates) of the Parquet files under ``out``,
    read back with DuckDB by ``read_back.py`` in a child process: loaded here, DuckDB would
    raise this process's peak memory, which Linux then reports as part of every later child's
    peak (see ``run_child``)."""
    argv = [sys.executable, str(HERE / "read_back.py"), str(out)] + (["--content"] if content
                                                                      else [])
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BenchError(f"{proc.stderr.strip()}; --no-content-check checks the row count only")
    return json.loads(proc.stdout)


CLK_TCK = os.sysconf("SC_CLK_TCK")


def busy_cpu_seconds() -> float:
    """CPU seconds the whole machine has spent busy (all processes), from /proc/stat."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return float("nan")
    # cpu user nice system idle iowait irq softirq steal ...
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / CLK_TCK


PF_KTHREAD = 0x00200000


def kernel_thread_cpu_seconds() -> float:
    """CPU seconds spent so far by kernel threads (writeback, reclaim, ...), from /proc/*/stat."""
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                rest = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        # rest[0] is field 3 (state): flags is field 9, utime 14, stime 15
        if int(rest[6]) & PF_KTHREAD:
            total += int(rest[11]) + int(rest[12])
    return total / CLK_TCK


@dataclass
class ChildResult:
    code: int
    wall: float
    usage: object  # resource.struct_rusage of the child alone
    busy: float  # CPU seconds the whole machine was busy meanwhile
    kernel: float  # ... of which kernel threads
    harness_peak: int  # this process's own peak RSS in bytes when it spawned the child


def run_child(argv: list[str], log_path: Path, timeout: float, env: dict | None = None,
              cpus: list[int] | None = None) -> ChildResult:
    """Run ``argv`` as a child, measuring wall time and its own rusage (``wait4``).

    A child's peak RSS (``ru_maxrss``) is at least the peak of the process it was spawned from:
    Linux carries it across ``exec``. So this process stays small (DuckDB and Polars are only ever
    loaded in children), and ``harness_peak`` records its own peak, below which a child's is not
    known. ``env`` is added to the child's environment; with ``cpus``, the child pins itself to
    those CPUs before ``exec`` (so every thread the tool starts inherits the mask).
    """
    harness_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    child_env = dict(os.environ, **env) if env else None
    pin = (lambda: os.sched_setaffinity(0, cpus)) if cpus is not None else None
    with open(log_path, "wb") as logf:
        kernel0 = kernel_thread_cpu_seconds()
        busy0 = busy_cpu_seconds()
        t0 = time.perf_counter()
        # preexec_fn runs between fork and exec: safe here, as no other thread of this process
        # is alive at this point (the previous run's timer thread has been joined).
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                cwd=ROOT, env=child_env, preexec_fn=pin)
        timer = None
        if timeout > 0:
            timer = threading.Timer(timeout, proc.kill)
            timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:  # Ctrl-C: do not leave the child running
            proc.kill()
            proc.wait()
            raise
        finally:
            if timer:
                timer.cancel()
        wall = time.perf_counter() - t0
        if timer:
            timer.join()
        busy = busy_cpu_seconds() - busy0
        kernel = kernel_thread_cpu_seconds() - kernel0
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code  # already reaped: keep Popen from waiting again
    return ChildResult(code, wall, usage, busy, kernel, harness_peak)


def tail(path: Path, n: int = 30) -> str:
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join("    " + line for line in lines[-n:])


def measure(v: Variant, rnd: int, work: Path, a: argparse.Namespace, keep: bool) -> Run:
    out = work / f"out-{v.key}"
    shutil.rmtree(out, ignore_errors=True)
    if out.exists():
        raise BenchError(f"cannot empty {out}")
    argv = v.argv_for(out)
    log_path = work / f"{v.key}.log"
    res = run_child(argv, log_path, a.timeout, env=v.env, cpus=v.cpus)
    code, wall, ru = res.code, res.wall, res.usage
    # Write back what the run left dirty now, untimed, so that the next run does not pay for it.
    t = time.perf_counter()
    os.sync()
    sync_s = time.perf_counter() - t
    if code != 0:
        why = f"exit {code}" if code > 0 else f"killed by signal {-code}"
        if a.timeout > 0 and code == -9 and wall >= a.timeout:
            why = f"killed after the --timeout of {a.timeout:g} s"
        raise BenchError(f"{v.label} failed ({why}) in round {rnd}:\n  {shlex.join(argv)}\n"
                         f"  last lines of its output ({log_path}):\n{tail(log_path)}")
    extra = {}
    if v.key in ENGINE_TIME:
        try:
            extra = json.loads(log_path.read_text().strip().splitlines()[-1])
        except (OSError, ValueError, IndexError):
            raise BenchError(f"{v.label}: no result line in {log_path}:\n{tail(log_path)}")
    out_bytes, out_files, partitions = tree_size(out)
    check = check_output(out, a.content_check) if out_files else {"rows": 0}
    rows = check["rows"]
    if rows != v.archive.rows:
        raise BenchError(
            f"{v.label} wrote {rows:,} rows in round {rnd}, the archive has {v.archive.rows:,} "
            f"lines: the tools do not agree (output kept in {out})")
    if extra.get("rows") not in (None, rows):
        raise BenchError(f"{v.label} reported {extra['rows']:,} rows, its Parquet holds {rows:,}")
    if not keep:
        shutil.rmtree(out, ignore_errors=True)
    return Run(variant=v.label, tool=v.key, round=rnd, wall=wall, user=ru.ru_utime,
               sys=ru.ru_stime, maxrss_bytes=ru.ru_maxrss * 1024, out_bytes=out_bytes,
               out_files=out_files, partitions=partitions, rows=rows,
               ndjson_bytes=v.archive.ndjson_bytes,
               other_load=max(0.0, res.busy - res.kernel - ru.ru_utime - ru.ru_stime) / wall,
               kernel_cpu=res.kernel, sync_seconds=sync_s, check=check,
               harness_peak_bytes=res.harness_peak,
               cores=len(v.cpus) if v.cpus is not None else 0, extra=extra)


def fmt_run(r: Run) -> str:
    s = (f"{r.wall:7.2f} s wall {r.mb_per_s:7.1f} MB/s {r.rows_per_s / 1e3:8.0f}k rows/s "
         f"cpu {r.cpu:6.2f} s  rss {r.maxrss_bytes / MB:7.1f} MB  out {r.out_bytes / MB:7.1f} MB "
         f"({r.out_files} files)")
    if (engine := engine_seconds(r)) is not None:
        s += f"  [{ENGINE_TIME[r.tool][1]} {engine:.2f} s]"
    if r.other_load > OTHER_LOAD_WARN:
        s += f"  (other processes kept {r.other_load:.2f} cores busy: figures disturbed)"
    if r.rss_unknown:
        s += (f"  (peak RSS not measurable: at most the harness's own "
              f"{r.harness_peak_bytes / MB:.0f} MB)")
    return s


def run_scenario(variants: list[Variant], a: argparse.Namespace, work: Path) -> list[Run]:
    runs: list[Run] = []
    width = max(len(v.label) for v in variants)
    for rnd in range(1, a.rounds + 1):
        order = variants if rnd % 2 == 1 else list(reversed(variants))
        for v in order:
            keep = a.keep_output and rnd == a.rounds
            r = measure(v, rnd, work, a, keep)
            log(f"  round {rnd}/{a.rounds}  {v.label:<{width}} {fmt_run(r)}")
            if runs and r.check != runs[0].check:
                first = runs[0]
                diff = "\n".join(f"    {k}: {first.check.get(k)} vs {r.check.get(k)}"
                                 for k in r.check if r.check.get(k) != first.check.get(k))
                raise BenchError(f"the outputs differ: {first.variant} (round {first.round}) "
                                 f"vs {r.variant} (round {r.round}):\n{diff}")
            runs.append(r)
    return runs


# --------------------------------------------------------------------------------------------
# Summaries


METRICS = [
    # key, header, format, function
    ("wall", "wall s", "{:.2f}", lambda r: r.wall),
    ("mbps", "NDJSON MB/s", "{:.0f}", lambda r: r.mb_per_s),
    ("rowsps", "rows/s", "{:,.0f}", lambda r: r.rows_per_s),
    ("cpu", "CPU s (user+sys)", "{:.2f}", lambda r: r.cpu),
    ("cores", "cores busy", "{:.2f}", lambda r: r.cpu / r.wall),
    ("rss", "peak RSS MB", "{:.0f}", lambda r: r.maxrss_bytes / MB),
    ("out", "output MB", "{:.1f}", lambda r: r.out_bytes / MB),
    ("files", "files", "{:.0f}", lambda r: r.out_files),
]


def engine_seconds(r: Run) -> float | None:
    """A peer's own time for the conversion alone (DuckDB's COPY, Polars' sink_parquet)."""
    key = ENGINE_TIME.get(r.tool, ("",))[0]
    return r.extra.get(key)


def medians(runs: list[Run], label: str) -> dict:
    mine = [r for r in runs if r.variant == label]
    m = {key: statistics.median(fn(r) for r in mine) for key, _, _, fn in METRICS}
    m["out_bytes"] = statistics.median(r.out_bytes for r in mine)
    m["partitions"] = statistics.median(r.partitions for r in mine)
    engine = [e for r in mine if (e := engine_seconds(r)) is not None]
    if engine:
        m["engine_seconds"] = statistics.median(engine)
        m["engine_mbps"] = mine[0].ndjson_bytes / MB / m["engine_seconds"]
    return m


def table(headers: list[str], rows: list[list[str]], markdown: bool, left: int = 1) -> str:
    """A table; the first ``left`` columns are text, the others numbers (right-aligned)."""
    if markdown:
        out = ["| " + " | ".join(headers) + " |",
               "|" + "|".join("---" if i < left else "---:" for i in range(len(headers))) + "|"]
        out += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(out)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(  # noqa: E731
        c.ljust(w) if i < left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in rows])


def median_rows(runs: list[Run], labels: list[str]) -> list[list[str]]:
    rows = []
    for label in labels:
        m = medians(runs, label)
        rows.append([label] + [f.format(m[k]) for k, _, f, _ in METRICS])
    return rows


def median_table(runs: list[Run], labels: list[str], markdown: bool) -> str:
    headers = ["tool (median)"] + [h for _, h, _, _ in METRICS]
    return table(headers, median_rows(runs, labels), markdown)


def runs_table(runs: list[Run], markdown: bool, cores: bool = False) -> str:
    headers = ((["cores"] if cores else []) + ["round", "tool"] + [h for _, h, _, _ in METRICS]
               + ["COPY / sink s", "other load (cores)", "kernel threads CPU s",
                  "sync after s"])
    rows = []
    for r in runs:
        engine = engine_seconds(r)
        rows.append(([str(r.cores)] if cores else [])
                    + [str(r.round), r.variant] + [f.format(fn(r)) for _, _, f, fn in METRICS]
                    + [f"{engine:.2f}" if engine is not None else "",
                       f"{r.other_load:.2f}", f"{r.kernel_cpu:.2f}", f"{r.sync_seconds:.2f}"])
    return table(headers, rows, markdown, left=3 if cores else 2)


def ratios(ours: dict, peer: dict) -> dict:
    """Ours / a peer, from the medians of both."""
    r = {"throughput": ours["mbps"] / peer["mbps"], "memory": ours["rss"] / peer["rss"],
         "output_size": ours["out_bytes"] / peer["out_bytes"], "cpu": ours["cpu"] / peer["cpu"]}
    if "engine_mbps" in peer:
        r["throughput_vs_engine"] = ours["mbps"] / peer["engine_mbps"]
    return r


def fmt_memory_ratio(mem: float) -> str:
    return f"{mem:.3f} (1/{1 / mem:.1f})" if mem < 1 else f"{mem:.2f}x"


def ratio_table(ours: dict, peers: dict[str, dict], with_targets: bool,
                markdown: bool) -> str:
    """Ours against every peer (``{tool key: medians}``), one column each; with
    ``with_targets``, issue 3's targets, which are set against DuckDB."""
    def mark(ok: bool) -> str:
        return "met" if ok else "NOT met"

    rs = {k: ratios(ours, m) for k, m in peers.items()}
    targets = with_targets and "duckdb" in rs
    duck = rs.get("duckdb", {})
    engine_names = " / ".join(f"{TOOLS[k]} {ENGINE_TIME[k][1]}" for k in rs if k in ENGINE_TIME)
    lines = [
        ("throughput (wall)", "throughput", "{:.2f}x",
         lambda x: f">= 3x: {mark(x >= 3)}"),
        (f"throughput vs the peer's conversion alone ({engine_names}: no Python start, no "
         "import)", "throughput_vs_engine", "{:.2f}x", lambda x: f">= 3x: {mark(x >= 3)}"),
        ("peak resident memory", "memory", None, lambda x: f"<= 1/8: {mark(x <= 1 / 8)}"),
        ("output size", "output_size", "{:.3f}", lambda x: f"<= 1: {mark(x <= 1)}"),
        ("CPU time", "cpu", "{:.3f}", None),
    ]
    rows = []
    for title, key, f, target in lines:
        if not any(key in r for r in rs.values()):
            continue
        cells = [title]
        for r in rs.values():
            if key not in r:
                cells.append("")
            else:
                cells.append(fmt_memory_ratio(r[key]) if f is None else f.format(r[key]))
        if targets:
            cells.append(target(duck[key]) if target and key in duck else "")
        rows.append(cells)
    headers = (["ratio, ours / peer"] + [f"ours / {TOOLS[k]}" for k in rs]
               + (["issue 3 target (against DuckDB)"] if targets else []))
    return table(headers, rows, markdown)


# --------------------------------------------------------------------------------------------
# Machine and versions


def machine() -> dict:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = 0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        nproc = str(len(os.sched_getaffinity(0)))
    return {"nproc": nproc, "cpu_model": model, "memory_bytes": mem,
            "kernel": f"{platform.system()} {platform.release()}",
            "python": platform.python_version()}


def git_commit() -> str:
    env = dict(os.environ, GIT_OPTIONAL_LOCKS="0")  # read-only: never refresh the index
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, env=env,
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, env=env, capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" + uncommitted changes" if dirty else "")


def tool_version(binary: Path) -> str:
    try:
        return subprocess.run([str(binary), "--version"], capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def package_version(python: str, package: str, hint: str) -> str:
    try:
        return subprocess.run([python, "-c", f"import {package}; print({package}.__version__)"],
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError) as e:
        raise BenchError(f"{python} cannot import {package} ({hint}): {e}")


def duckdb_version(python: str) -> str:
    return package_version(python, "duckdb", "run `make venv`?")


def polars_version(python: str) -> str:
    return package_version(python, "polars", "`make bench` installs bench/requirements.txt; "
                           "or leave Polars out with --tools")


def check_flags(binary: Path, args: list[str]) -> None:
    """Fail before any run when our tool's ``convert --help`` does not list a flag we will pass."""
    flags = {t.split("=", 1)[0] for t in args if t.startswith("--")}
    if not flags:
        return
    help_text = subprocess.run([str(binary), "convert", "--help"], capture_output=True,
                               text=True, check=False).stdout
    known = set(re.findall(r"--[A-Za-z0-9][A-Za-z0-9-]*", help_text))
    missing = sorted(flags - known)
    if missing:
        raise BenchError(
            f"`logpush-parquet convert` has no {', '.join(missing)} option (see `convert "
            f"--help`): change --ours-args / --one-thread-args, or leave out that scenario")


def stale_binary_warning(binary: Path) -> str | None:
    try:
        built = binary.stat().st_mtime
    except OSError:
        return None
    newer = [p for d in ("src",) for p in (ROOT / d).rglob("*.rs") if p.stat().st_mtime > built]
    newer += [p for p in (ROOT / "Cargo.toml", ROOT / "Cargo.lock")
              if p.exists() and p.stat().st_mtime > built]
    if newer:
        return (f"warning: {binary} is older than {len(newer)} source file(s) "
                f"(e.g. {newer[0].relative_to(ROOT)}): run `cargo build --release` first")
    return None


# --------------------------------------------------------------------------------------------
# Main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="Benchmark logpush-parquet convert against DuckDB and Polars "
        "(see bench/README.md).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = ap.add_argument_group("input (generated with examples/generate.rs, cached)")
    g.add_argument("--rows", type=int, default=1_200_000, help="rows (~835 bytes of NDJSON each)")
    g.add_argument("--files", type=int, default=20, help="gzip files")
    g.add_argument("--apps", type=int, default=40, help="applications")
    g.add_argument("--format", default="unixnano", choices=duckdb_convert.FORMATS,
                   help="timestamp format")
    g.add_argument("--hours", type=int, default=4, help="hours the archive spans")
    g.add_argument("--seed", type=int, default=1, help="generator seed")
    g.add_argument("--archive", help="use this existing archive folder instead of generating "
                   "(its timestamp format is sniffed)")
    g.add_argument("--cache-dir", default=str(ROOT / ".cache"), help="where archives are cached")
    g.add_argument("--cargo", default=os.environ.get("CARGO", "cargo"),
                   help="cargo command (runs the generator)")
    g.add_argument("--generate-bin", default=None,
                   help="a built generator (target/release/examples/generate) to run instead of "
                        "cargo, where there is no toolchain")

    g = ap.add_argument_group("runs")
    g.add_argument("--tools", default=",".join(TOOLS),
                   help="comma list of the tools to run: ours, duckdb, polars (they always run "
                   "in that order in odd rounds, reversed in even ones)")
    g.add_argument("--rounds", type=int, default=3, help="runs of each tool, alternating")
    g.add_argument("--bin", default=str(ROOT / "target/release/logpush-parquet"),
                   help="our binary (copied once, so a rebuild during the run changes nothing)")
    g.add_argument("--ours-args", default="",
                   help="extra arguments for every `logpush-parquet convert` run, e.g. "
                   "\"--memory-limit 256MiB\"")
    g.add_argument("--python", default=sys.executable,
                   help="Python with duckdb and polars for the DuckDB and Polars runs (the "
                   "project's .venv)")
    g.add_argument("--work-dir", default=str(ROOT / ".cache/bench-work"),
                   help="where outputs are written (emptied before every run)")
    g.add_argument("--keep-output", action="store_true",
                   help="keep the outputs of the last round in --work-dir")
    g.add_argument("--no-content-check", dest="content_check", action="store_false",
                   help="compare only row counts, not the aggregates of a few columns")
    g.add_argument("--timeout", type=float, default=0,
                   help="kill a run after this many seconds (0: never)")

    g = ap.add_argument_group("extra scenarios")
    g.add_argument("--extra", nargs="?", const="all", default="",
                   help="also run scenarios: comma list of threads, partitions; or all")
    g.add_argument("--one-thread-args", default="--threads 1",
                   help="arguments that make our tool use one thread (threads scenario)")
    g.add_argument("--partitions-apps", type=int, default=10_000,
                   help="applications in the partitions scenario's archive")
    g.add_argument("--partitions-hours", type=int, default=1,
                   help="hours in the partitions scenario's archive")
    g.add_argument("--partitions-rows", type=int, default=0,
                   help="rows in the partitions scenario's archive (0: same as --rows)")
    g.add_argument("--cores", default="",
                   help="core sweep: comma list of core counts, e.g. 1,2,4,8,16; each run is "
                   "pinned to the first N CPUs and given N threads (ours --threads N, DuckDB "
                   "SET threads = N, Polars POLARS_MAX_THREADS=N); counts above the CPUs this "
                   "process may use are skipped")

    g = ap.add_argument_group("reports")
    g.add_argument("--markdown", help="write the report as Markdown to this file")
    g.add_argument("--json", help="write every measurement as JSON to this file")
    a = ap.parse_args(argv)
    extra = {s.strip() for s in a.extra.split(",") if s.strip()}
    if "all" in extra:
        extra = {"threads", "partitions"}
    unknown = extra - {"threads", "partitions"}
    if unknown:
        ap.error(f"--extra: unknown scenario(s) {', '.join(sorted(unknown))}")
    a.extra_set = extra
    tools = {t.strip().lower() for t in a.tools.split(",") if t.strip()}
    if not tools or tools - set(TOOLS):
        ap.error(f"--tools: a comma list of {', '.join(TOOLS)} (got {a.tools!r})")
    a.tool_keys = [k for k in TOOLS if k in tools]
    try:
        a.core_counts = sorted({int(c) for c in a.cores.split(",") if c.strip()})
    except ValueError:
        ap.error(f"--cores: a comma list of core counts (got {a.cores!r})")
    if any(n < 1 for n in a.core_counts):
        ap.error("--cores: every count must be at least 1")
    if a.rounds < 1:
        ap.error("--rounds must be at least 1")
    return a


def ours_variant(label: str, archive: Archive, binary: Path, args: list[str],
                 partition_by: str = "date,hour", cpus: list[int] | None = None) -> Variant:
    pb = [] if partition_by == "date,hour" else ["--partition-by", partition_by]

    def argv_for(out: Path) -> list[str]:
        return [str(binary), "convert", str(archive.path), "--output", str(out)] + pb + args

    return Variant("ours", label, archive, argv_for, partition_by, cpus=cpus)


def duck_variant(label: str, archive: Archive, python: str, threads: int = 0,
                 partition_by: str = "date,hour", cpus: list[int] | None = None) -> Variant:
    def argv_for(out: Path) -> list[str]:
        return [python, str(HERE / "duckdb_convert.py"), str(archive.path), str(out),
                "--format", archive.fmt, "--threads", str(threads),
                "--partition-by", partition_by]

    return Variant("duckdb", label, archive, argv_for, partition_by, cpus=cpus)


def polars_variant(label: str, archive: Archive, python: str, threads: int = 0,
                   partition_by: str = "date,hour", cpus: list[int] | None = None) -> Variant:
    """Polars' threads are set with POLARS_MAX_THREADS (0: Polars' default, one per CPU)."""
    def argv_for(out: Path) -> list[str]:
        return [python, str(HERE / "polars_convert.py"), str(archive.path), str(out),
                "--format", archive.fmt, "--partition-by", partition_by]

    env = {"POLARS_MAX_THREADS": str(threads)} if threads > 0 else {}
    return Variant("polars", label, archive, argv_for, partition_by, env=env, cpus=cpus)


def tool_variants(a: argparse.Namespace, archive: Archive, binary: Path | None,
                  ours_args: list[str], labels: dict[str, str], *, threads: int = 0,
                  partition_by: str = "date,hour",
                  cpus: list[int] | None = None) -> list[Variant]:
    """The variants of the tools chosen with --tools, in TOOLS' order. ``threads`` (0: each
    tool's default) goes to DuckDB and Polars; ours gets its threads through ``ours_args``."""
    made = {
        "ours": lambda: ours_variant(labels["ours"], archive, binary, ours_args, partition_by,
                                     cpus),
        "duckdb": lambda: duck_variant(labels["duckdb"], archive, a.python, threads,
                                       partition_by, cpus),
        "polars": lambda: polars_variant(labels["polars"], archive, a.python, threads,
                                         partition_by, cpus),
    }
    return [made[k]() for k in a.tool_keys]


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    # The outputs are read back by children of this interpreter (read_back.py), never here.
    duckdb_version(sys.executable)
    work = Path(a.work_dir).resolve()
    binary = None
    if "ours" in a.tool_keys:
        src_bin = Path(a.bin)
        if not src_bin.is_file():
            raise BenchError(f"{src_bin} not found: run `cargo build --release` first")
        if warning := stale_binary_warning(src_bin):
            log(warning)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    if "ours" in a.tool_keys:
        binary = work / "logpush-parquet"
        shutil.copy2(src_bin, binary)

    info = machine()
    started = dt.datetime.now(dt.timezone.utc)
    versions = {"commit": git_commit()}
    if binary:
        versions["ours"] = tool_version(binary)
    if "duckdb" in a.tool_keys:
        versions["duckdb"] = duckdb_version(a.python)
    if "polars" in a.tool_keys:
        versions["polars"] = polars_version(a.python)
    ours_args = shlex.split(a.ours_args)
    if binary:
        if a.core_counts and any(t.split("=", 1)[0] == "--threads" for t in ours_args):
            raise BenchError("--cores gives our tool --threads N: leave --threads out of "
                             "--ours-args")
        check_flags(binary, ours_args
                    + (shlex.split(a.one_thread_args) if "threads" in a.extra_set else [])
                    + (["--threads"] if a.core_counts else []))

    # The core sweep pins runs to the first N of the CPUs this process may run on.
    allowed = sorted(os.sched_getaffinity(0))
    sweep = [n for n in a.core_counts if n <= len(allowed)]
    skipped = [n for n in a.core_counts if n > len(allowed)]

    if a.archive:
        archive = measure_archive(Path(a.archive), Path(a.cache_dir), "given with --archive")
    else:
        archive = ensure_archive(a, rows=a.rows, apps=a.apps, hours=a.hours)
    parts_archive = None
    if "partitions" in a.extra_set:
        parts_archive = ensure_archive(a, rows=a.partitions_rows or a.rows,
                                       apps=a.partitions_apps, hours=a.partitions_hours)

    log(f"\nmachine: {info['nproc']} CPUs ({info['cpu_model']}), "
        f"{info['memory_bytes'] / 2**30:.1f} GiB RAM, {info['kernel']}")
    if binary:
        log(f"ours:    {versions['ours']} (commit {versions['commit']}) "
            f"{shlex.join(ours_args)}")
    for k in ("duckdb", "polars"):
        if k in versions:
            log(f"{k + ':':<8} {versions[k]} via {a.python}")
    if skipped:
        log(f"core sweep: skipping {', '.join(map(str, skipped))} core(s): this process may "
            f"run on {len(allowed)} CPUs ({cpu_list(allowed)})")

    # (key, title, archive, variants)
    scenarios = []
    ours_all = f"logpush-parquet{' ' + shlex.join(ours_args) if ours_args else ''}"
    scenarios.append(("main", "Partitioned by date, hour (all cores)", archive,
                      tool_variants(a, archive, binary, ours_args,
                                    {"ours": ours_all, "duckdb": "DuckDB", "polars": "Polars"})))
    if "threads" in a.extra_set:
        one = shlex.split(a.one_thread_args)
        scenarios.append(("threads", "One thread", archive, tool_variants(
            a, archive, binary, ours_args + one,
            {"ours": f"logpush-parquet {shlex.join(ours_args + one)}",
             "duckdb": "DuckDB SET threads = 1", "polars": "Polars POLARS_MAX_THREADS=1"},
            threads=1)))
    if parts_archive is not None:
        pb = "date,hour,Application"
        scenarios.append(("partitions", f"Many partitions: `--partition-by {pb}`",
                          parts_archive, tool_variants(
                              a, parts_archive, binary, ours_args,
                              {"ours": f"logpush-parquet --partition-by {pb}",
                               "duckdb": f"DuckDB PARTITION_BY ({pb.replace(',', ', ')})",
                               "polars": f"Polars PartitionBy(key=[{pb.replace(',', ', ')}])"},
                              partition_by=pb)))
    for n in sweep:
        cpus = allowed[:n]
        threads = ["--threads", str(n)]
        scenarios.append((f"cores-{n}", f"Pinned to {n} core{'s' if n > 1 else ''} (CPUs "
                          f"{cpu_list(cpus)})", archive, tool_variants(
                              a, archive, binary, ours_args + threads,
                              {"ours": f"logpush-parquet {shlex.join(ours_args + threads)}",
                               "duckdb": f"DuckDB SET threads = {n}",
                               "polars": f"Polars POLARS_MAX_THREADS={n}"},
                              threads=n, cpus=cpus)))

    results = {}
    for key, title, arch, variants in scenarios:
        log(f"\n== {title}: {arch.label}: {arch.rows:,} rows, {arch.files} files, "
            f"{arch.ndjson_bytes / MB:,.1f} MB NDJSON ({arch.gz_bytes / MB:,.1f} MB gzip), "
            f"{arch.fmt} timestamps")
        warm(arch)
        os.sync()
        runs = run_scenario(variants, a, work)
        results[key] = (title, arch, variants, runs)

    if not a.keep_output:
        shutil.rmtree(work, ignore_errors=True)

    sweep_info = {"requested": a.core_counts, "run": sweep, "skipped": skipped,
                  "allowed_cpus": cpu_list(allowed), "allowed_count": len(allowed)}
    text = report(results, a, info, started, versions, sweep_info, markdown=False)
    log("\n" + text)
    if a.markdown:
        md = report(results, a, info, started, versions, sweep_info, markdown=True)
        Path(a.markdown).parent.mkdir(parents=True, exist_ok=True)
        Path(a.markdown).write_text(md + "\n")
        log(f"\nMarkdown written to {a.markdown}")
    if a.json:
        dump = {"date": started.isoformat(timespec="seconds"), "machine": info,
                "versions": versions, "tools": a.tool_keys, "ours_args": ours_args,
                "rounds": a.rounds,
                "scenarios": {k: scenario_json(t, ar, vs, rs)
                              for k, (t, ar, vs, rs) in results.items()}}
        if a.core_counts:
            dump["core_sweep"] = {**sweep_info, "rows": sweep_rows(results)}
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(dump, indent=2) + "\n")
        log(f"JSON written to {a.json}")
    return 0


def scenario_json(title: str, arch: Archive, variants: list[Variant], runs: list[Run]) -> dict:
    meds = {v.key: medians(runs, v.label) for v in variants}
    out = {"title": title, "archive": {**vars(arch), "path": str(arch.path)},
           "commands": {v.label: v.shell(display_argv(v, arch)) for v in variants},
           "runs": [{**vars(r), "cpu": r.cpu, "mb_per_s": r.mb_per_s,
                     "rows_per_s": r.rows_per_s} for r in runs],
           "medians": {v.label: meds[v.key] for v in variants}}
    if "ours" in meds:
        out["ratios_ours_over"] = {TOOLS[k]: ratios(meds["ours"], m)
                                   for k, m in meds.items() if k != "ours"}
    return out


def sweep_rows(results: dict) -> list[dict]:
    """One row per core count of the sweep: the medians of every tool, the ratios of ours
    against each peer, and each tool's scaling efficiency against its own one-core figure
    (MB/s at N / (N x MB/s at 1); None when 1 was not in the sweep)."""
    rows = []
    for key, (_, _, variants, runs) in results.items():
        if not key.startswith("cores-"):
            continue
        n = len(variants[0].cpus)
        rows.append({"cores": n, "cpus": cpu_list(variants[0].cpus),
                     "medians": {v.key: medians(runs, v.label) for v in variants}})
    one = next((r for r in rows if r["cores"] == 1), None)
    for r in rows:
        meds = r["medians"]
        r["efficiency"] = {k: (m["mbps"] / (r["cores"] * one["medians"][k]["mbps"])
                               if one else None) for k, m in meds.items()}
        if "ours" in meds:
            r["ratios_ours_over"] = {k: ratios(meds["ours"], m)
                                     for k, m in meds.items() if k != "ours"}
    return rows


def sweep_table(rows: list[dict], markdown: bool) -> str:
    keys = list(rows[0]["medians"])
    ours = "ours" in keys
    headers = ["cores"]
    if ours:
        headers += ["ours MB/s", "ours cores busy", "ours efficiency"]
    for k in keys:
        if k != "ours":
            headers += [f"{TOOLS[k]} MB/s", f"{TOOLS[k]} cores busy"]
            headers += [f"ours / {TOOLS[k]}"] if ours else []
    out = []
    for r in rows:
        meds = r["medians"]
        cells = [str(r["cores"])]
        if ours:
            eff = r["efficiency"]["ours"]
            cells += [f"{meds['ours']['mbps']:.0f}", f"{meds['ours']['cores']:.2f}",
                      f"{eff:.0%}" if eff is not None else "n/a"]
        for k in keys:
            if k != "ours":
                cells += [f"{meds[k]['mbps']:.0f}", f"{meds[k]['cores']:.2f}"]
                cells += [f"{r['ratios_ours_over'][k]['throughput']:.2f}x"] if ours else []
        out.append(cells)
    return table(headers, out, markdown)


def display_argv(v: Variant, arch: Archive) -> list[str]:
    """The command of a variant as a reader would type it (`OUT` is an empty folder)."""
    argv = v.argv_for(Path("OUT"))
    if v.key == "ours":
        argv[0] = "target/release/logpush-parquet"
        argv[2] = arch.label
    else:
        argv[0] = "python"
        argv[1] = f"bench/{Path(argv[1]).name}"
        argv[2] = arch.label
    return argv


def polars_plan(python: str, arch: Archive, partition_by: str) -> str:
    """Polars' streaming plan for this archive (``polars_convert.py --explain``, in a child)."""
    argv = [python, str(HERE / "polars_convert.py"), arch.label, "OUT", "--format", arch.fmt,
            "--partition-by", partition_by, "--explain"]
    proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, check=False)
    return proc.stdout.rstrip() if proc.returncode == 0 else f"(--explain failed: {proc.stderr})"


def report(results: dict, a: argparse.Namespace, info: dict, started: dt.datetime,
           versions: dict, sweep_info: dict, markdown: bool) -> str:
    h2 = "## " if markdown else ""
    h3 = "### " if markdown else "== "
    bullet = "- " if markdown else "  "
    names = [TOOLS[k] for k in a.tool_keys]
    out = []
    if a.tool_keys[0] == "ours" and len(names) > 1:
        out.append(f"{h2}logpush-parquet vs {' and '.join(names[1:])}")
    else:
        out.append(f"{h2}Benchmark: {', '.join(names)}")
    out.append("")
    out.append(f"{bullet}Date: {started.strftime('%Y-%m-%d %H:%M UTC')}")
    out.append(f"{bullet}Machine: {info['nproc']} CPUs (nproc), {info['cpu_model']}, "
               f"{info['memory_bytes'] / 2**30:.1f} GiB RAM, {info['kernel']}")
    tools = []
    if "ours" in versions:
        tools.append(f"{versions['ours']} (commit {versions['commit']})")
    if "duckdb" in versions:
        tools.append(f"DuckDB {versions['duckdb']} (Python package, Python {info['python']})")
    if "polars" in versions:
        tools.append(f"Polars {versions['polars']} (Python package, streaming engine)")
    out.append(f"{bullet}Tools: {'; '.join(tools)}")
    rounds = f"{a.rounds} round{'s' if a.rounds != 1 else ''} per tool"
    agree = (" and agree on sums of the numeric and timestamp columns" if a.content_check
             else "")
    peers = [k for k in a.tool_keys if k in ENGINE_TIME]
    engine = ""
    if peers:
        engine = (f" The wall time of {' and '.join(TOOLS[k] for k in peers)} includes starting "
                  f"Python and importing the package; the time of the conversion alone "
                  f"({', '.join(ENGINE_TIME[k][1] for k in peers)}) is shown too.")
    out.append(
        f"{bullet}Method: {rounds}, alternating (order reversed every round), each run a fresh "
        "child process into an empty folder, after the input was read once into the page "
        "cache. Wall time from start to exit of the child; CPU time (user+sys) and peak RSS "
        "from the child's own rusage (`wait4`). MB = 10^6 bytes; MB/s counts uncompressed "
        f"NDJSON. Every output is read back with DuckDB: they must hold every input line{agree}. "
        "After each run the harness calls sync (untimed) so that no run pays for the previous "
        "one's writeback. 'Other load' is the CPU other user-space processes used during a run "
        f"(/proc/stat minus the child and kernel threads). Figures are medians.{engine}")
    out.append(f"{bullet}Reproduce: `make bench` (`bench/compare.py`, see bench/README.md)")
    main = results.get("main")
    main_meds = {v.key: medians(main[3], v.label) for v in main[2]} if main else {}
    for key, (title, arch, variants, runs) in results.items():
        if key.startswith("cores-"):
            continue
        out.append("")
        out.append(f"{h3}{title}")
        out.append("")
        out.append(f"Input: `{arch.label}`: {arch.rows:,} rows, {arch.files} gzip files, "
                   f"{arch.ndjson_bytes / MB:,.1f} MB of NDJSON ({arch.gz_bytes / MB:,.1f} MB "
                   f"gzip), {arch.fmt} timestamps; {arch.description}.")
        out.append("")
        out.append(median_table(runs, [v.label for v in variants], markdown))
        meds = {v.key: medians(runs, v.label) for v in variants}
        if "ours" in meds and len(meds) > 1:
            out.append("")
            out.append(ratio_table(meds["ours"], {k: m for k, m in meds.items() if k != "ours"},
                                   key == "main", markdown))
        extra_lines = []
        for k, m in meds.items():
            if "engine_seconds" in m:
                extra_lines.append(f"{possessive(TOOLS[k])} {ENGINE_TIME[k][1]} alone (median): "
                                   f"{m['engine_seconds']:.2f} s, {m['engine_mbps']:.0f} MB/s.")
        extra_lines.append("Partition folders written (median): " + ", ".join(
            f"{'ours' if k == 'ours' else TOOLS[k]} {m['partitions']:.0f}"
            for k, m in meds.items()) + ".")
        extra_lines += run_warnings(runs)
        if key == "threads" and main:
            extra_lines.append(
                f"Scaling from one thread to all {info['nproc']} CPUs: " + ", ".join(
                    f"{'ours' if k == 'ours' else TOOLS[k]} {m['mbps']:.0f} -> "
                    f"{main_meds[k]['mbps']:.0f} MB/s ({main_meds[k]['mbps'] / m['mbps']:.2f}x)"
                    for k, m in meds.items() if k in main_meds) + ".")
            if "ours" in meds and "ours" in main_meds:
                extra_lines[-1] += (f" Peak RSS: ours {meds['ours']['rss']:.0f} MB at one "
                                    f"thread, {main_meds['ours']['rss']:.0f} MB at all.")
        if key == "partitions" and main:
            extra_lines.append("Against date,hour partitions: " + "; ".join(
                f"{'ours' if k == 'ours' else TOOLS[k]} {main_meds[k]['mbps']:.0f} -> "
                f"{m['mbps']:.0f} MB/s, peak RSS {main_meds[k]['rss']:.0f} -> {m['rss']:.0f} MB"
                for k, m in meds.items() if k in main_meds) + ".")
        out.append("")
        out.extend(extra_lines if markdown else ["  " + line for line in extra_lines])
        out.append("")
        if markdown:
            out.append("<details><summary>Every run</summary>")
            out.append("")
        else:
            out.append("every run:")
        out.append(runs_table(runs, markdown))
        if markdown:
            out.extend(commands_section(variants, arch, a))
            out.append("</details>")

    if sweep_info["requested"]:
        out.extend(sweep_section(results, sweep_info, h3, markdown, a))
    return "\n".join(out)


def possessive(name: str) -> str:
    return name + ("'" if name.endswith("s") else "'s")


def run_warnings(runs: list[Run]) -> list[str]:
    lines = []
    disturbed = [r for r in runs if r.other_load > OTHER_LOAD_WARN]
    if disturbed:
        lines.append(
            f"**Warning**: other processes kept up to "
            f"{max(r.other_load for r in disturbed):.2f} cores busy during "
            f"{len(disturbed)} of {len(runs)} runs (see 'other load'): these figures are "
            f"disturbed; rerun on an idle machine.")
    hidden = [r for r in runs if r.rss_unknown]
    if hidden:
        lines.append(
            f"**Warning**: in {len(hidden)} of {len(runs)} runs the child's peak RSS was no "
            f"more than the harness's own ({max(r.harness_peak_bytes for r in hidden) / MB:.0f}"
            f" MB), which Linux reports in its place: those peak RSS figures are upper "
            f"bounds only.")
    return lines


def commands_section(variants: list[Variant], arch: Archive, a: argparse.Namespace) -> list[str]:
    """Markdown: the exact commands, DuckDB's statement and Polars' plan."""
    out = ["", "Commands (`OUT` is an empty folder):", "", "```sh"]
    out += [v.shell(display_argv(v, arch)) for v in variants]
    out += ["```", ""]
    for v in variants:
        if v.key == "duckdb":
            out += ["DuckDB statement:", "", "```sql", "SET TimeZone = 'UTC';",
                    duckdb_convert.copy_sql(f"{arch.label}/*/*.log.gz", "OUT", arch.fmt,
                                            v.partition_by.split(",")) + ";", "```", ""]
        if v.key == "polars":
            keys = ", ".join({"date": 'pl.col("Timestamp").dt.date().alias("date")',
                              "hour": 'pl.col("Timestamp").dt.hour().alias("hour")'}
                             .get(p, f'pl.col("{p}")') for p in v.partition_by.split(","))
            out += ["Polars plan (`bench/polars_convert.py ... --explain`), then "
                    f"`sink_parquet(pl.PartitionBy(\"OUT\", key=[{keys}], include_key=False), "
                    "compression=\"zstd\")`:", "", "```text",
                    polars_plan(a.python, arch, v.partition_by), "```", ""]
    return out


def sweep_section(results: dict, sweep_info: dict, h3: str, markdown: bool,
                  a: argparse.Namespace) -> list[str]:
    out = ["", f"{h3}Core sweep", ""]
    notes = []
    if sweep_info["skipped"]:
        notes.append(f"Skipped {', '.join(map(str, sweep_info['skipped']))} core(s): more than "
                     f"the {sweep_info['allowed_count']} CPUs the harness may run on "
                     f"({sweep_info['allowed_cpus']}).")
    rows = sweep_rows(results)
    if not rows:
        out.extend(notes or ["No core count was run."])
        return out
    arch = results[f"cores-{rows[0]['cores']}"][1]
    notes.insert(0, (
        f"Input: `{arch.label}` ({arch.ndjson_bytes / MB:,.1f} MB of NDJSON). Every run is "
        "pinned to the first N CPUs (`sched_setaffinity` in the child before `exec`, as "
        "`taskset -c` does) and told to use N threads: ours `--threads N`, DuckDB "
        "`SET threads = N`, Polars `POLARS_MAX_THREADS=N`. 'Cores busy' is CPU time / wall "
        "time; efficiency is MB/s at N / (N x MB/s at 1 core)"
        + ("." if any(r["cores"] == 1 for r in rows)
           else " (n/a: 1 was not in --cores).")))
    out.append(sweep_table(rows, markdown))
    out.append("")
    out.extend(notes if markdown else ["  " + n for n in notes])
    all_runs = [r for key, res in results.items() if key.startswith("cores-") for r in res[3]]
    extra_lines = run_warnings(all_runs)
    if extra_lines:
        out.append("")
        out.extend(extra_lines if markdown else ["  " + n for n in extra_lines])
    out.append("")
    med_rows = []
    for r in rows:
        _, _, variants, runs = results[f"cores-{r['cores']}"]
        med_rows += [[str(r["cores"])] + row
                     for row in median_rows(runs, [v.label for v in variants])]
    headers = ["cores", "tool (median)"] + [h for _, h, _, _ in METRICS]
    out.append(table(headers, med_rows, markdown, left=2))
    out.append("")
    if markdown:
        out.append("<details><summary>Every run</summary>")
        out.append("")
    else:
        out.append("every run:")
    out.append(runs_table(all_runs, markdown, cores=True))
    if markdown:
        for r in rows:
            _, arch, variants, _ = results[f"cores-{r['cores']}"]
            out.append("")
            out.append(f"Commands at {r['cores']} core{'s' if r['cores'] > 1 else ''}:")
            out.append("")
            out.append("```sh")
            out += [v.shell(display_argv(v, arch)) for v in variants]
            out.append("```")
        out.append("")
        out.append("</details>")
    return out


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as e:
        print(f"\nbench: error: {e}", file=sys.stderr, flush=True)
        sys.exit(1)
    except KeyboardInterrupt:
        print("\nbench: interrupted", file=sys.stderr)
        sys.exit(130)
