"""An independent reading of Logpush NDJSON inputs: what every written row must hold.

This is deliberately plain Python, sharing no code with the converter, so that the interop
tests compare the readers' view of our Parquet with a second implementation of the rules in
docs/decoding.md ("Decoding rules").
"""

import datetime as dt
import gzip
import json
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_schema(dataset: str) -> dict:
    """A bundled field list (`schema/<dataset>.toml`)."""
    return tomllib.loads((ROOT / "schema" / f"{dataset}.toml").read_text())


SCHEMA = load_schema("spectrum_events")
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
    return micros + int((frac or "").ljust(9, "0")[:6])


I64_MIN, I64_MAX = -(2**63), 2**63 - 1
MIN_MICROS, END_MICROS = -62_135_596_800 * 10**6, 253_402_300_800 * 10**6  # 0001-01-01, 10000-01-01


class Reject(Exception):
    """The line must be rejected."""


class Float(float):
    """A JSON number written with a fraction or exponent."""


class Obj(dict):
    """A JSON object, knowing whether a key was given twice (the dict keeps the last value)."""

    duplicates = False


def object_pairs(pairs):
    obj = Obj(pairs)
    obj.duplicates = len(obj) != len(pairs)
    obj.keys_in_order = [k for k, _ in pairs]
    return obj


def json_int(text: str):
    if text == "-0":  # read as the float -0.0 by serde_json: refused for ints
        return Float(0.0)
    return int(text)


FLOAT_TEXT = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
MAX_JSON_DEPTH = 128
PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def is_json_int(raw) -> bool:
    return isinstance(raw, int) and not isinstance(raw, (bool, Float))


def item_value(kind: str, name: str, raw):
    """An item of a list or a value of a map: `string` or `int` rules, null kept."""
    if raw is None:
        return None
    return expected_value({"name": name, "type": kind}, raw)


def json_depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max((json_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((json_depth(v) for v in value), default=0)
    return 0


def plain_json(value):
    """A parsed JSON value as plain Python (ints, floats, lists, dicts) for comparison."""
    if isinstance(value, dict):
        return {k: plain_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_json(v) for v in value]
    if isinstance(value, Float):
        return float(value)
    return value


def expected_value(field: dict, raw):
    """The value a field must hold, or Reject."""
    if raw is None:
        return None
    kind = field["type"]
    is_int = is_json_int(raw)
    if kind == "json":
        if json_depth(raw) > MAX_JSON_DEPTH:
            raise Reject(field["name"])
        return canonical_json(plain_json(raw))
    if kind == "float":
        if is_int or isinstance(raw, Float):
            value = float(raw)
        elif isinstance(raw, str) and FLOAT_TEXT.match(raw):
            value = float(raw)
        else:
            raise Reject(field["name"])
        if value != value or value in (float("inf"), float("-inf")):
            raise Reject(field["name"])
        return value
    if kind in ("string_list", "int_list"):
        if not isinstance(raw, list):
            raise Reject(field["name"])
        item = kind.removesuffix("_list")
        return tuple(item_value(item, field["name"], v) for v in raw)
    if kind == "string_map":
        if not isinstance(raw, dict) or raw.duplicates:
            raise Reject(field["name"])
        return tuple(sorted((k, item_value("string", field["name"], raw[k])) for k in raw))
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
        unit = field.get("epoch_unit")
        micros = n * 1_000_000 // PER_SECOND[unit] if unit else epoch_int_to_micros(n)
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


def canonical_json(value) -> str:
    """A JSON value as comparable text: keys sorted, floats as Python writes them."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def expected_row(line: bytes, fields=None):
    """The row a line must become, or Reject."""
    fields = FIELDS if fields is None else fields
    try:
        obj = json.loads(line.decode("utf-8"), object_pairs_hook=object_pairs,
                         parse_float=Float, parse_int=json_int,
                         parse_constant=lambda c: (_ for _ in ()).throw(Reject(c)))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise Reject("json")
    if not isinstance(obj, dict):
        raise Reject("object")
    names = {f["name"] for f in fields}
    known = [k for k in obj.keys_in_order if k in names]
    if len(known) != len(set(known)):
        raise Reject("duplicate key")
    unknown = len({k for k in obj.keys_in_order if k not in names})
    if unknown > len(known):
        raise Reject("a line of another dataset")
    return {f["name"]: expected_value(f, obj.get(f["name"])) for f in fields}


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


def expected(inputs, schema=None):
    """(rows, rejected): the rows the inputs must become (dicts of field -> value, timestamps in
    microseconds, lists as tuples, maps as sorted pairs, JSON as canonical text, plus `date`
    and `hour`), and the (source, line) pairs that must be rejected."""
    schema = SCHEMA if schema is None else schema
    fields = schema["field"]
    rows, rejected = [], set()
    for path in inputs:
        for number, line in enumerate(read_lines(path), start=1):
            if not line.strip():
                continue
            try:
                row = expected_row(line, fields)
            except Reject:
                rejected.add((str(path), number))
                continue
            ts = row[schema["event_time"]]
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
