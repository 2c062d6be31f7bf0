"""Moving between stores: S3 to S3 (across buckets), S3 to local, local to S3, globs over keys,
`file://` URLs, endpoint settings as flags, and an output object big enough to go up in several
multipart-upload parts."""

import collections
import gzip
import json
import math
import os
import re
import subprocess

import pytest

from conftest import (EXIT_OK, EXIT_USAGE, LAKE, LOGS, NAMES, Expected, LocalStore, assert_exactly_once, base_env,
                      check_visible_files, command, convert, data_inputs, make_store, put_tree, table_rows)

S3_KINDS = ["s3s-fs", "moto"]


@pytest.mark.parametrize("kind", S3_KINDS)
def test_s3_to_s3_across_buckets(kind, request, tmp_path, sample):
    logs = make_store(kind, request, tmp_path, bucket=LOGS)
    lake = make_store(kind, request, tmp_path, bucket=LAKE)
    src = put_tree(logs, "spectrum", sample)
    before = logs.keys("spectrum")
    convert(src, lake.url("events"), env=lake.env()).expect(EXIT_OK)
    assert_exactly_once(lake, "events", data_inputs(sample))
    assert logs.keys("spectrum") == before, "the inputs changed"
    assert lake.multipart_uploads() == []


@pytest.mark.parametrize("kind", S3_KINDS)
def test_s3_glob_to_local(kind, request, tmp_path, sample):
    logs = make_store(kind, request, tmp_path, bucket=LOGS)
    local = LocalStore(tmp_path / "lake")
    put_tree(logs, "spectrum", sample)
    # Only the 2026-11-24 objects; the glob also leaves out the ownership-challenge files.
    run = convert(logs.url("spectrum/20261124/*.gz"), local.url("events"), env=logs.env()).expect(EXIT_OK)
    wanted = {k: v for k, v in data_inputs(sample).items() if k.startswith("20261124/")}
    assert run.summary["rows_written"] == assert_exactly_once(local, "events", wanted)


@pytest.mark.parametrize("settings", ["env", "flags"])
@pytest.mark.parametrize("kind", S3_KINDS)
def test_local_file_url_to_s3(kind, settings, request, tmp_path, sample):
    lake = make_store(kind, request, tmp_path, bucket=LAKE)
    src = LocalStore(tmp_path / "archive")
    put_tree(src, "spectrum", sample)
    env, flags = lake.env(), []
    if settings == "flags":
        server = lake.server
        env = {"AWS_ACCESS_KEY_ID": server.access_key, "AWS_SECRET_ACCESS_KEY": server.secret_key}
        flags = ["--s3-endpoint", server.endpoint, "--s3-region", server.region, "--s3-allow-http"]
    url = "file://" + os.path.abspath(src.url("spectrum"))
    convert(url, lake.url("events"), *flags, env=env).expect(EXIT_OK)
    assert_exactly_once(lake, "events", data_inputs(sample))


@pytest.fixture(scope="session")
def wide_archive(tmp_path_factory):
    """One Logpush object whose rows carry 2 KB of random hex each: about 14 MB of Parquet
    uncompressed, from few rows (the debug build decodes a narrow row much more slowly)."""
    folder = tmp_path_factory.mktemp("wide")
    path = folder / "20261123" / "20261123T050000Z_20261123T060000Z_0123abcd.log.gz"
    path.parent.mkdir()
    start_ns = 1_795_410_000 * 10**9  # 2026-11-23T05:00:00Z
    with gzip.open(path, "wt", compresslevel=1) as out:
        for i in range(7_000):
            out.write(json.dumps({
                "Timestamp": start_ns + i * 500_000_000, "Event": "disconnect", "Application": f"app-{i % 7}",
                "ColoCode": ["FRA", "AMS", "SJC"][i % 3], "ClientBytes": i, "OriginBytes": 2 * i,
                "ConnectTimestamp": start_ns, "DisconnectTimestamp": start_ns + i * 500_000_000,
                "OriginTlsFingerprint": os.urandom(1000).hex()}) + "\n")
    return {path.relative_to(folder).as_posix(): path}


@pytest.mark.parametrize("kind", S3_KINDS)
def test_output_bigger_than_two_parts_goes_up_in_parts(kind, request, tmp_path, wide_archive):
    lake = make_store(kind, request, tmp_path, bucket=LAKE)
    part = 5 << 20
    run = convert(str(next(iter(wide_archive.values()))), lake.url("events"), "--compression", "none",
                  "--partition-by", "none", "--upload-part-size", "5MiB", env=lake.env()).expect(EXIT_OK)
    files = sorted(check_visible_files(lake, "events"))
    assert len(files) == 1, files
    size = lake.keys("events")[files[0]]
    assert size > 2 * part, f"the output ({size} bytes) is meant to take more than two parts"
    want = math.ceil(size / part)
    if kind == "moto":
        # moto gives a copied object a whole-content ETag, and the file is published by a copy
        # from staging: count the parts in its request log instead.
        parts = collections.defaultdict(set)
        pattern = rf'"PUT /{LAKE}/{re.escape(lake.key("events"))}/(\S+)\?partNumber=(\d+)&uploadId='
        for key, number in re.findall(pattern, lake.server.log_path.read_text()):
            parts[key].add(int(number))
        assert max(len(p) for p in parts.values()) == want, f"not {want} parts of 5 MiB: {dict(parts)}"
    else:
        etag = lake.head(f"events/{files[0]}")["ETag"].strip('"')
        assert etag.endswith(f"-{want}"), f"ETag {etag}: not {want} parts of 5 MiB"
    assert lake.multipart_uploads() == [], "an upload was left open"
    got = table_rows(lake.dataset("events", None).to_table(), NAMES)
    assert got == Expected.rows(wide_archive, NAMES)
    assert run.summary["rows_written"] == sum(got.values())


def test_upload_part_size_below_the_s3_minimum_is_a_usage_error(tmp_path, sample):
    run = convert(str(next(iter(data_inputs(sample).values()))), str(tmp_path / "out"),
                  "--upload-part-size", "4MiB", summary=False)
    assert run.code == EXIT_USAGE, run
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kind", S3_KINDS)
def test_standard_input_to_s3(kind, request, tmp_path, sample):
    lake = make_store(kind, request, tmp_path, bucket=LAKE)
    name, path = sorted(data_inputs(sample).items())[0]
    cmd = command("-", lake.url("events"))
    done = subprocess.run(cmd, input=gzip.decompress(path.read_bytes()), capture_output=True, env=base_env(lake.env()))
    assert done.returncode == EXIT_OK, done.stderr.decode()
    assert json.loads(done.stdout)["rows_written"] == assert_exactly_once(lake, "events", {name: path})
