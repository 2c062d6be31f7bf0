"""An independent reading of Logpush NDJSON inputs: what every written row must hold.

This is deliberately plain Python, sharing no code with the converter, so that the interop
tests compare the readers' view of our Parquet with a second implementation of the rules in
docs/decoding.md ("Decoding rules" and "Lossless readings"):

- keys are mapped to fields by name or by one of the field's `aliases`; a field given twice
  (also once by name and once by an alias) rejects the line;
- keys the field list does not know go, with `--unknown-fields keep` (the default), into the
  catch-all column `_extra`, expected here as the pairs (key, exact JSON text of the value) in
  line order (`None` when a line has none; see `extra_members` for the converter's side); an
  unknown key given twice, or a value nested deeper than 128 levels, rejects the line; `drop`
  leaves them out, `reject` rejects their lines; a line with more unknown keys than known ones
  is another dataset's and rejected in every mode;
- a value of another JSON type with an exact reading (the doc's table) is kept and counted per
  field (`Reading.values_coerced`), or rejects its line under `--strict`.
"""

import collections
import datetime as dt
import gzip
import json
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CATCH_ALL = "_extra"
UNKNOWN_FIELDS_MODES = ("keep", "drop", "reject")


def load_schema(dataset: str) -> dict:
    """A bundled field list (`schema/<dataset>.toml`)."""
    return tomllib.loads((ROOT / "schema" / f"{dataset}.toml").read_text())


SCHEMA = load_schema("spectrum_events")
FIELDS = SCHEMA["field"]
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
# RFC 3339 with an offset (the documented form), or without one (a lossless reading as UTC).
DATE_TIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?([Zz]|[+-]\d{2}:\d{2})?$"
)
RFC3339 = DATE_TIME  # the name earlier callers used


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


def date_time_to_micros(value: str):
    """(microseconds, whether it took a reading): a date-time without an offset is UTC, a reading."""
    m = DATE_TIME.match(value)
    assert m, f"not a date-time: {value!r}"
    y, mo, d, h, mi, s, frac, off = m.groups()
    base = dt.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), tzinfo=dt.timezone.utc)
    if off is not None and off not in ("Z", "z"):
        sign = 1 if off[0] == "+" else -1
        base -= sign * dt.timedelta(hours=int(off[1:3]), minutes=int(off[4:6]))
    micros = (base - EPOCH) // dt.timedelta(microseconds=1)
    return micros + int((frac or "").ljust(9, "0")[:6]), off is None


def timestamp_to_micros(value) -> int:
    if isinstance(value, int):
        return epoch_int_to_micros(value)
    if re.fullmatch(r"-?\d+", value):
        return epoch_int_to_micros(int(value))
    return date_time_to_micros(value)[0]


I64_MIN, I64_MAX = -(2**63), 2**63 - 1
MIN_MICROS, END_MICROS = -62_135_596_800 * 10**6, 253_402_300_800 * 10**6  # 0001-01-01, 10000-01-01


class Reject(Exception):
    """The line must be rejected."""


class Int(int):
    """A JSON integer, with its text as written (`text`)."""

    text = None


class Float(float):
    """A JSON number written with a fraction or exponent (or `-0`), with its text (`text`)."""

    text = None


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
        value = Float(-0.0)
    else:
        value = Int(text)
    value.text = text
    return value


def json_float(text: str):
    value = Float(text)
    value.text = text
    return value


FLOAT_TEXT = re.compile(r"^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$")  # a JSON number's text
INT_TEXT = re.compile(r"^-?[0-9]+$")
MAX_JSON_DEPTH = 128
PER_SECOND = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}


def is_json_int(raw) -> bool:
    return isinstance(raw, int) and not isinstance(raw, (bool, Float))


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
    if is_json_int(value):
        return int(value)
    return value


class Line:
    """One line being read: its options, and the readings it took (field names, in order)."""

    def __init__(self, strict: bool = False):
        self.strict = strict
        self.readings = []

    def reading(self, name: str, value):
        """A lossless reading of field `name`'s value as `value`: counted, or refused if strict."""
        if self.strict:
            raise Reject(f"{name} (--strict)")
        self.readings.append(name)
        return value


SURROGATE = re.compile("[\ud800-\udfff]")


def text(value: str, name: str) -> str:
    """A decoded JSON string, which must be Unicode: a lone surrogate escape (`"\\ud800"`)
    rejects a string that is decoded (a key, a string value); the exact text of a `json` value
    or of an unknown key's value keeps it as written."""
    if SURROGATE.search(value):
        raise Reject(name)
    return value


def item_value(kind: str, name: str, raw, line: Line | None = None):
    """An item of a list or a value of a map: `string` or `int` rules, null kept; the one
    reading items have is an integral string for an `int` item."""
    line = Line() if line is None else line
    if raw is None:
        return None
    if kind == "string":
        if not isinstance(raw, str):
            raise Reject(name)
        return text(raw, name)
    if is_json_int(raw):
        value = int(raw)
    elif isinstance(raw, str) and INT_TEXT.match(raw):
        value = line.reading(name, int(raw))
    else:
        raise Reject(name)
    if not I64_MIN <= value <= I64_MAX:
        raise Reject(name)
    return value


def number_text(raw) -> str:
    """A JSON number's text as written."""
    return raw.text if raw.text is not None else repr(raw)


def expected_value(field: dict, raw, line: Line | None = None):
    """The value a field must hold, or Reject. Readings taken are noted on `line`."""
    line = Line() if line is None else line
    if raw is None:
        return None
    kind, name = field["type"], field["name"]
    is_int = is_json_int(raw)
    if kind == "json":
        if json_depth(raw) > MAX_JSON_DEPTH:
            raise Reject(name)
        return canonical_json(plain_json(raw))
    if raw == "" and kind in ("int", "float", "bool", "timestamp"):
        return line.reading(name, None)
    if kind == "float":
        if is_int or isinstance(raw, Float):
            value = float(raw)  # an integer is a float's exact value: no reading
        elif isinstance(raw, str) and FLOAT_TEXT.match(raw):
            value = line.reading(name, float(raw))
        else:
            raise Reject(name)
        if value != value or value in (float("inf"), float("-inf")):
            raise Reject(name)
        return value
    if kind in ("string_list", "int_list"):
        item = kind.removesuffix("_list")
        if isinstance(raw, list):
            return tuple(item_value(item, name, v, line) for v in raw)
        if kind == "string_list" and isinstance(raw, str):
            return line.reading(name, (raw,))
        if kind == "int_list" and is_int:
            if not I64_MIN <= raw <= I64_MAX:
                raise Reject(name)
            return line.reading(name, (int(raw),))
        raise Reject(name)
    if kind == "string_map":
        if not isinstance(raw, dict) or raw.duplicates:
            raise Reject(name)
        return tuple(sorted((text(k, name), item_value("string", name, raw[k], line)) for k in raw))
    if kind == "string":
        if isinstance(raw, str):
            return text(raw, name)
        if isinstance(raw, bool):
            return line.reading(name, "true" if raw else "false")
        if isinstance(raw, (Int, Float)):
            return line.reading(name, number_text(raw))
        raise Reject(name)
    if kind == "int":
        if is_int:
            value = int(raw)
        elif isinstance(raw, str) and INT_TEXT.match(raw):
            value = line.reading(name, int(raw))
        else:
            raise Reject(name)
        if not I64_MIN <= value <= I64_MAX:
            raise Reject(name)
        return value
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        if raw in ("true", "false"):
            return line.reading(name, raw == "true")
        raise Reject(name)
    assert kind == "timestamp", kind
    if is_int or (isinstance(raw, str) and INT_TEXT.match(raw)):
        n = int(raw)  # epoch integers, also as strings: the documented forms, no reading
        if not I64_MIN <= n <= I64_MAX:
            raise Reject(name)
        unit = field.get("epoch_unit")
        micros = n * 1_000_000 // PER_SECOND[unit] if unit else epoch_int_to_micros(n)
    elif isinstance(raw, str) and DATE_TIME.match(raw):
        try:
            micros, without_offset = date_time_to_micros(raw)
        except ValueError:  # day 31 of a 30-day month, hour 24 ...
            raise Reject(name)
        if without_offset:
            micros = line.reading(name, micros)
    else:
        raise Reject(name)
    if not MIN_MICROS <= micros < END_MICROS:
        raise Reject(name)
    if field.get("zero_is_null") and micros == 0:
        return None
    return micros


def canonical_json(value) -> str:
    """A JSON value as comparable text: keys sorted, floats as Python writes them."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


# ---------------------------------------------------------------------------------------------
# The exact text of an object's members (the catch-all column keeps values as written)

_WS = " \t\n\r"


def _skip_ws(s: str, i: int) -> int:
    while i < len(s) and s[i] in _WS:
        i += 1
    return i


def _string_end(s: str, i: int) -> int:
    """The index after the JSON string starting at `s[i]` (a quote)."""
    i += 1
    while s[i] != '"':
        i += 2 if s[i] == "\\" else 1
    return i + 1


def _value_end(s: str, i: int) -> int:
    """The index after the JSON value starting at `s[i]`."""
    if s[i] == '"':
        return _string_end(s, i)
    if s[i] in "[{":
        depth = 0
        while True:
            c = s[i]
            if c == '"':
                i = _string_end(s, i)
                continue
            if c in "[{":
                depth += 1
            elif c in "]}":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
    j = i
    while j < len(s) and s[j] not in ",:]}" + _WS:
        j += 1
    return j


def members(text: str) -> list:
    """(key, exact text of the value) for each member of the JSON object `text`, in order.
    Keys are unescaped; values are their text as written. `text` must be valid JSON."""
    i = _skip_ws(text, 0)
    assert text[i] == "{", text
    i = _skip_ws(text, i + 1)
    out = []
    if text[i] == "}":
        return out
    while True:
        end = _string_end(text, i)
        key = json.loads(text[i:end])
        i = _skip_ws(text, end)
        assert text[i] == ":", text
        i = _skip_ws(text, i + 1)
        end = _value_end(text, i)
        out.append((key, text[i:end]))
        i = _skip_ws(text, end)
        if text[i] == "}":
            return out
        assert text[i] == ",", text
        i = _skip_ws(text, i + 1)


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def spelled(text: str):
    """JSON text parsed with numbers kept as their spelling and objects as lists of pairs."""
    return json.loads(text, object_pairs_hook=list, parse_int=str, parse_float=str,
                      parse_constant=_refuse_constant)


def extra_members(text):
    """A reader's `_extra` value in the reference's form: the pairs (key, exact value text) in
    the order the text holds them; `None` for NULL. Checks the text is one JSON object whose
    parse (numbers as spelled, keys in order) is that of its members."""
    if text is None:
        return None
    pairs = members(text)
    assert spelled(text) == [(k, spelled(v)) for k, v in pairs], text
    return tuple(pairs)


def extra_value(pairs, key: str):
    """The value of `key` in an expected `_extra` (pairs), parsed; `KeyError` if absent."""
    for k, v in pairs or ():
        if k == key:
            return json.loads(v)
    raise KeyError(key)


# ---------------------------------------------------------------------------------------------
# Lines and inputs


def parse_line(line: bytes):
    try:
        obj = json.loads(line.decode("utf-8"), object_pairs_hook=object_pairs,
                         parse_float=json_float, parse_int=json_int,
                         parse_constant=lambda c: (_ for _ in ()).throw(Reject(c)))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise Reject("json")
    if not isinstance(obj, dict):
        raise Reject("object")
    for key in obj.keys_in_order:
        text(key, "key")
    return obj


class Read:
    """What one accepted line becomes: the row, the fields it took readings of (one name per
    value read, an `int_list` item being a value), its unknown keys (distinct, in order)."""

    def __init__(self, row: dict, readings: list, unknown: list):
        self.row, self.readings, self.unknown = row, readings, unknown


def key_map(fields) -> dict:
    """Each key a line may use for a field (its name, its aliases) -> the field."""
    keys = {}
    for f in fields:
        for key in [f["name"], *f.get("aliases", [])]:
            assert key not in keys, key
            keys[key] = f
    return keys


def read_line(line: bytes, fields=None, unknown_fields: str = "keep", strict: bool = False) -> Read:
    """What a line must become (`Read`), or Reject."""
    assert unknown_fields in UNKNOWN_FIELDS_MODES, unknown_fields
    fields = FIELDS if fields is None else fields
    obj = parse_line(line)
    keys = key_map(fields)
    known = [keys[k]["name"] for k in obj.keys_in_order if k in keys]
    if len(known) != len(set(known)):
        raise Reject("duplicate key")  # also a field given by its name and by an alias
    unknown = [k for k in obj.keys_in_order if k not in keys]
    distinct = list(dict.fromkeys(unknown))
    if len(distinct) > len(known):
        raise Reject("a line of another dataset")
    if unknown and unknown_fields == "reject":
        raise Reject(f"unknown field {unknown[0]}")
    reading = Line(strict)
    given = {keys[k]["name"]: obj[k] for k in obj.keys_in_order if k in keys}
    row = {f["name"]: expected_value(f, given.get(f["name"]), reading) for f in fields}
    if unknown_fields == "keep":
        if len(distinct) != len(unknown):
            raise Reject("unknown key given twice")
        if any(json_depth(obj[k]) > MAX_JSON_DEPTH for k in unknown):
            raise Reject("nested deeper than 128 levels")
        pairs = [(k, v) for k, v in members(line.decode("utf-8")) if k not in keys]
        assert [k for k, _ in pairs] == unknown
        row[CATCH_ALL] = tuple(pairs) if pairs else None
    return Read(row, reading.readings, distinct)


def expected_row(line: bytes, fields=None, unknown_fields: str = "keep", strict: bool = False):
    """The row a line must become, or Reject."""
    return read_line(line, fields, unknown_fields, strict).row


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


class Reading:
    """What a conversion of some inputs must give.

    rows: dicts of field -> value (timestamps in microseconds, lists as tuples, maps as sorted
    pairs, JSON as canonical text, `_extra` as (key, exact value text) pairs when unknown keys
    are kept), plus `date` and `hour`; rejected: the (source, line) pairs to reject; lines:
    (source, line) -> row, for accepted lines; readings: (source, line) -> the fields whose
    values took a lossless reading, for accepted lines; values_coerced, unknown_fields,
    near_misses: the summary's counts."""

    def __init__(self):
        self.rows, self.rejected, self.lines, self.readings = [], set(), {}, {}
        self.values_coerced = collections.Counter()
        self.unknown_fields = collections.Counter()
        self.near_misses = collections.Counter()
        self.rows_read = 0


def read(inputs, schema=None, unknown_fields: str | None = None, strict: bool = False) -> Reading:
    """An independent reading of `inputs` converted with `schema`'s dataset, `--unknown-fields`
    (None: as the converter's default, `reject` under `--strict`, else `keep`) and `--strict`."""
    schema = SCHEMA if schema is None else schema
    mode = unknown_fields or ("reject" if strict else "keep")
    fields = schema["field"]
    folded = {f["name"].lower(): f["name"] for f in fields}
    result = Reading()
    for path in inputs:
        for number, line in enumerate(read_lines(path), start=1):
            if not line.strip():
                continue
            result.rows_read += 1
            try:
                one = read_line(line, fields, mode, strict)
            except Reject:
                result.rejected.add((str(path), number))
                continue
            row = one.row
            ts = row[schema["event_time"]]
            if ts is None:
                row["date"], row["hour"] = None, None
            else:
                moment = EPOCH + dt.timedelta(microseconds=ts)
                row["date"], row["hour"] = moment.date(), moment.hour
            result.rows.append(row)
            result.lines[(str(path), number)] = row
            result.readings[(str(path), number)] = one.readings
            result.values_coerced.update(one.readings)
            result.unknown_fields.update(one.unknown)
            for key in one.unknown:
                if key.lower() in folded:
                    result.near_misses[f"{key} (field {folded[key.lower()]})"] += 1
    return result


def expected(inputs, schema=None, unknown_fields: str | None = None, strict: bool = False):
    """(rows, rejected): the rows the inputs must become and the (source, line) pairs that must
    be rejected (see `Reading`)."""
    result = read(inputs, schema, unknown_fields, strict)
    return result.rows, result.rejected


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
