"""`make bench-iceberg`: what an Iceberg run costs over a plain run of the same inputs.

Starts SeaweedFS (`weed mini`, its S3 gateway and Iceberg REST catalog on loopback, as the test
suite does), then converts the same generated archive, alternately, with the release build:

- plain: `--output s3://bench/plain-<round>` (the plain layout, in a bucket of the same store);
- iceberg: `--table-format iceberg --table bench.t<round>` (a new table each round, created by
  the run, one snapshot).

Both write the same Parquet files to the same store; the Iceberg run also creates the table and
commits a snapshot (manifest, manifest list, catalog round trips). Prints the medians of wall time
and the ratio as a Markdown table.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "iceberg"))
import conftest  # noqa: E402  (the suite's SeaweedFS harness)


def timed(cmd, env) -> float:
    started = time.monotonic()
    done = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True)
    elapsed = time.monotonic() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} exited {done.returncode}:\n{done.stderr[-3000:]}")
    return elapsed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default=str(ROOT / "target" / "release" / "logpush-parquet"))
    parser.add_argument("--generate", default=str(ROOT / "target" / "release" / "examples" / "generate"))
    parser.add_argument("--rows", type=int, default=600_000, help="rows of the generated archive")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    archive = ROOT / ".cache" / f"iceberg-bench-{args.rows}r"
    if not archive.exists():
        subprocess.run([args.generate, "--out", archive, "--rows", str(args.rows), "--files", "8",
                        "--hours", "4", "--seed", "5"], check=True, capture_output=True)
    size = sum(p.stat().st_size for p in archive.rglob("*") if p.is_file())

    with tempfile.TemporaryDirectory() as work:
        server = conftest.Seaweed(Path(work))
        server.start()
        from pyarrow import fs

        fs.S3FileSystem(access_key=server.access_key, secret_key=server.secret_key, region="us-east-1",
                        scheme="http", endpoint_override=f"127.0.0.1:{server.s3_port}",
                        allow_bucket_creation=True).create_dir("bench")
        try:
            env = server.env(AWS_ENDPOINT_URL=server.s3_endpoint, AWS_ALLOW_HTTP="true")
            times = {"plain": [], "iceberg": []}
            for round in range(args.rounds):
                for layout in (["plain", "iceberg"] if round % 2 == 0 else ["iceberg", "plain"]):
                    if layout == "plain":
                        out = ["--output", f"s3://bench/plain-{round}"]
                    else:
                        out = ["--table-format", "iceberg", "--catalog-uri", server.catalog_uri,
                               "--warehouse", conftest.WAREHOUSE, "--table", f"bench.t{round}"]
                    times[layout].append(timed([args.bin, "convert", str(archive), "-q", *out], env))
        finally:
            server.stop()

    plain, iceberg = statistics.median(times["plain"]), statistics.median(times["iceberg"])
    print(f"{args.rows:,} spectrum_events rows, {size / 1e6:.0f} MB of gzip NDJSON, {args.rounds} rounds "
          f"alternating, {os.cpu_count()} cores, into SeaweedFS on loopback\n")
    print("| layout | median s | MB/s (gzip in) | runs |")
    print("|---|---:|---:|---|")
    for name, median in (("plain", plain), ("iceberg", iceberg)):
        runs = ", ".join(f"{t:.2f}" for t in times[name])
        print(f"| {name} | {median:.2f} | {size / 1e6 / median:.0f} | {runs} |")
    print(f"\niceberg / plain: {iceberg / plain:.3f} ({(iceberg / plain - 1) * 100:+.1f}%)")


if __name__ == "__main__":
    main()
