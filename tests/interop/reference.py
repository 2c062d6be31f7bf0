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
FIELD_NAMES = {f["name"] for f in FIELDS}
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
    return micros + int((frac or "").ljust(9, "0")[:6])


I64_MIN, I64_MAX = -(2**63), 2**63 - 1
MIN_MICROS, END_MICROS = -62_135_596_800 * 10**6, 253_402_300_800 * 10**6  # 0001-01-01, 10000-01-01


class Reject(Exception):
    """The line must be rejected."""


class Float(float):
    """A JSON number written with a fraction or exponent."""


def no_duplicate_known_keys(pairs):
    names = [k for k, _ in pairs if k in FIELD_NAMES]
    if len(names) != len(set(names)):
        raise Reject("duplicate key")
    return dict(pairs)


def json_int(text: str):
    if text == "-0":  # read as the float -0.0 by serde_json: refused for ints
        return Float(0.0)
    return int(text)


def expected_value(field: dict, raw):
    """The value a field must hold, or Reject."""
    if raw is None:
        return None
    kind = field["type"]
    is_int = isinstance(raw, int) and not isinstance(raw, (bool, Float))
    if kind == "string":
        if not isinstance(raw, str):
            raise Reject(field["name"])
        return raw
    if kind == "int":
        if isinstance(raw, str) and re.fullmatch(r"-?[0-9]+", raw):
            raw = int(raw)
        elif not is_int:
            raise Reject(field["name"])
        if not I64_MIN <= raw <= I64_MAX:
            raise Reject(field["name"])
        return raw
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        if raw in ("true", "false"):
            return raw == "true"
        raise Reject(field["name"])
    if is_int or (isinstance(raw, str) and re.fullmatch(r"-?[0-9]+", raw)):
        n = int(raw)
        if not I64_MIN <= n <= I64_MAX:
            raise Reject(field["name"])
        micros = epoch_int_to_micros(n)
    elif isinstance(raw, str) and RFC3339.match(raw):
        try:
            micros = timestamp_to_micros(raw)
        except ValueError:  # day 31 of a 30-day month, hour 24 ...
            raise Reject(field["name"])
    else:
        raise Reject(field["name"])
    if not MIN_MICROS <= micros < END_MICROS:
        raise Reject(field["name"])
    if field.get("zero_is_null") and micros == 0:
        return None
    return micros


def expected_row(line: bytes):
    """The row a line must become, or Reject."""
    try:
        obj = json.loads(line.decode("utf-8"), object_pairs_hook=no_duplicate_known_keys,
                         parse_float=Float, parse_int=json_int,
                         parse_constant=lambda c: (_ for _ in ()).throw(Reject(c)))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise Reject("json")
    if not isinstance(obj, dict):
        raise Reject("object")
    return {f["name"]: expected_value(f, obj.get(f["name"])) for f in FIELDS}


def read_lines(path: Path):
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    return [l[:-1] if l.endswith(b"\r") else l for l in lines]


def expected(inputs):
    """(rows, rejected): the rows the inputs must become (dicts of field -> value, timestamps in
    microseconds, plus `date` and `hour`), and the (source, line) pairs that must be rejected."""
    rows, rejected = [], set()
    for path in inputs:
        for number, line in enumerate(read_lines(path), start=1):
            if not line.strip():
                continue
            try:
                row = expected_row(line)
            except Reject:
                rejected.add((str(path), number))
                continue
            ts = row["Timestamp"]
            if ts is None:
                row["date"], row["hour"] = None, None
            else:
                moment = EPOCH + dt.timedelta(microseconds=ts)
                row["date"], row["hour"] = moment.date(), moment.hour
            rows.append(row)
    return rows, rejected


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
