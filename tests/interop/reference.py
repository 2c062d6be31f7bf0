"""An independent reading of Logpush NDJSON inputs: what every written row must hold.

This is deliberately plain Python, sharing no code with the converter, so that the interop
tests compare the readers' view of our Parquet with a second implementation of the rules in
README.md ("Decoding").
"""

import datetime as dt
import gzip
import json
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = tomllib.loads((ROOT / "schema" / "spectrum_events.toml").read_text())
FIELDS = SCHEMA["field"]
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})$"
)


def epoch_int_to_micros(n: int) -> int:
    """Unit by magnitude: <1e11 s, <1e14 ms, <1e17 us, else ns; floored to microseconds."""
    m = abs(n)
    if m < 10**11:
        return n * 1_000_000
    if m < 10**14:
        return n * 1_000
    if m < 10**17:
        return n
    return n // 1_000


def timestamp_to_micros(value) -> int:
    if isinstance(value, int):
        return epoch_int_to_micros(value)
    if re.fullmatch(r"-?\d+", value):
        return epoch_int_to_micros(int(value))
    m = RFC3339.match(value)
    assert m, f"unparseable timestamp {value!r} in an accepted row"
    y, mo, d, h, mi, s, frac, off = m.groups()
    base = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=dt.timezone.utc)
    if off not in ("Z", "z"):
        sign = 1 if off[0] == "+" else -1
        base -= sign * dt.timedelta(hours=int(off[1:3]), minutes=int(off[4:6]))
    micros = (base - EPOCH) // dt.timedelta(microseconds=1)
    return micros + int((frac or "").ljust(9, "0")[:6] or 0)


def expected_value(field: dict, raw):
    if raw is None:
        return None
    kind = field["type"]
    if kind == "string":
        return raw
    if kind == "int":
        return int(raw)
    if kind == "bool":
        return raw if isinstance(raw, bool) else raw == "true"
    micros = timestamp_to_micros(raw)
    if field.get("zero_is_null") and micros == 0:
        return None
    return micros


def read_lines(path: Path):
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    text = data.decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    return text.split("\n") if not text.endswith("\n") else text[:-1].split("\n")


def expected_rows(inputs, rejected):
    """Expected rows as dicts of field -> value (timestamps in microseconds), plus `date` and
    `hour` from Timestamp; `rejected` is a set of (source, line) pairs to leave out."""
    rows = []
    for path in inputs:
        for number, line in enumerate(read_lines(path), start=1):
            if not line.strip() or (str(path), number) in rejected:
                continue
            obj = json.loads(line)
            row = {f["name"]: expected_value(f, obj.get(f["name"])) for f in FIELDS}
            ts = row["Timestamp"]
            if ts is None:
                row["date"], row["hour"] = None, None
            else:
                moment = EPOCH + dt.timedelta(microseconds=ts)
                row["date"], row["hour"] = moment.date(), moment.hour
            rows.append(row)
    return rows


def input_files(*paths: Path):
    files = []
    for p in paths:
        if p.is_dir():
            files += sorted(f for f in p.rglob("*") if f.is_file() and not f.name.startswith("ownership-challenge"))
        else:
            files.append(p)
    return files


def canonical(rows, columns):
    """Rows as sorted tuples over `columns`, for order-free comparison."""
    return sorted((tuple(r[c] for c in columns) for r in rows), key=repr)
