#!/usr/bin/env python3
"""Convert Cloudflare's documented Logpush field lists (TSV) into the project's field-list TOML.

Input: a folder of `<list>.tsv` files, one per documented field list, plus `sources.tsv`
(dataset, scope, docs URL, stored copy). Each TSV starts with the line
`# source: <docs URL> — <stored copy>` followed by lines
`name<TAB>type<TAB>enum values ('|'-separated, may be empty)<TAB>description`, where `type` is
spelled as Cloudflare writes it (`string`, `int`, `float`, `bool`, `int or string`,
`array[string]`, `array[int]`, `array[object]`, `object`).

Output: one `schema/<name>.toml` per list, where `<name>` is the TSV stem with `__account`
turned into `_account` (the account-scoped variant of a dataset that also has a zone list).
`spectrum_events` is skipped: `schema/spectrum_events.toml` is curated by hand.

Field history: the input TSVs hold Cloudflare's newest field lists only, but older archives carry
fields that were documented once and later removed from the docs. `scripts/field_history/<stem>.tsv`
(next to this script; see its README.md) lists them, one per line:
`name<TAB>type<TAB>enum<TAB>description<TAB>source<TAB>kind`, where `kind` is `removed` (documented,
then dropped) or `newer` (in Cloudflare's newest docs but not yet in the input TSV). After a list's
current fields come its `newer` fields (ordinary fields), then its `removed` fields, each with
`deprecated = true`. Both get the same type mapping, encoding and enum rules as current fields,
and each gets a TOML comment line naming its source (field entries only take the keys in
FIELD_KEYS, so the source cannot be a key). A current field whose description starts with
"(deprecated)" also gets `deprecated = true`. A field name appears once per list: a history line
whose name is a current field is skipped (with a note). A `removed` line whose name differs from a
current field's only by letter case (network_analytics_logs' `IPTtl`, now `IPTTL`) is an older
spelling of that field: it becomes one of the field's `aliases`, not a field of its own, since
DuckDB, Spark, Delta and Iceberg compare column names without case. Lines starting with `#` are
comments.

Type mapping (Cloudflare -> field list):
    string -> string, int -> int, float -> float, bool -> bool,
    int or string -> timestamp (epoch integer or RFC 3339 string, per the job's timestamp_format),
    array[string] -> string_list, array[int] -> int_list,
    object -> string_map for the documented string-key/string-value maps (STRING_MAPS), else json,
    array[object] -> json,
    an empty type -> string (with a warning).
Plain `int` fields that the docs describe as an epoch time become `timestamp` with an
`epoch_unit` (EPOCH_INTS). `enum` is kept only on string fields.

After writing, every generated file is parsed back with `tomllib` and checked (allowed keys and
types, unique names, `event_time` names a timestamp field, field count equals the TSV's data
lines plus the history lines used, `deprecated` only as `true` and on exactly the expected
fields); a one-line summary per file is printed. The output is deterministic, so running the
script again rewrites identical files.

Run (from the repository root):

    python3 scripts/import_field_lists.py /work/shared/reference/logpush-datasets schema

Python 3.11+ (for `tomllib`); standard library only.
"""

from __future__ import annotations

import collections
import re
import sys
import tomllib
from pathlib import Path

# The hand-curated list; never regenerated.
SKIP = {"spectrum_events"}

# Fields documented once and since removed (or newer than the input TSVs): <stem>.tsv per list.
HISTORY_DIR = Path(__file__).resolve().parent / "field_history"
HISTORY_KINDS = ("newer", "removed")
DEPRECATED_PREFIX = "(deprecated)"

TYPE_MAP = {
    "string": "string",
    "int": "int",
    "float": "float",
    "bool": "bool",
    "int or string": "timestamp",
    "array[string]": "string_list",
    "array[int]": "int_list",
    "array[object]": "json",
    "object": "json",  # string_map for the names in STRING_MAPS
    "": "string",  # the docs generator sometimes leaves the type empty
}

# `object` fields that are maps of string keys to string values (SUMMARY.md, "Kinds of object").
STRING_MAPS = {
    "http_requests": {"RequestHeaders", "ResponseHeaders", "Cookies"},
    "dlp_forensic_copies": {"Headers"},
    "zaraz_events": {"RequestHeaders"},
}

# Plain `int` fields whose description says they are a point in time since the Unix epoch.
# list stem -> field name -> epoch unit.
EPOCH_INTS = {
    # "The timestamp of when the event was received, in milliseconds."
    "workers_trace_events": {"EventTimestampMs": "ms"},
    # "The date and time the WebSocket connection started/ended, expressed in Unix nanoseconds."
    "websocket_analytics__account": {"timestampStartNanos": "ns", "timestampEndNanos": "ns"},
}

# The event time of lists with more than one timestamp field (list stem -> field name).
# A list with exactly one timestamp field uses that one.
EVENT_TIME = {
    "http_requests": "EdgeStartTimestamp",  # edge received the request (EdgeEndTimestamp: response sent)
    "dex_application_tests": "Timestamp",  # "Test start time." (TracerouteTimeEnd: traceroute end)
    "email_security_post_delivery_events": "RequestedAt",  # the action was requested (CompletedAt, MessageTimestamp)
    "mnm_flow_logs": "Timestamp",  # "The date and time of the event." (FlowTimestamp: "of the flow")
    "ssh_logs": "Datetime",  # when this message is sent (Program/Session Start/Finish Datetime)
    "websocket_analytics": "EdgeStartTimestamp",  # connection established (EdgeEndTimestamp: closed)
    "websocket_analytics__account": "timestampStartNanos",  # connection started (timestampEndNanos: ended)
    "zero_trust_network_sessions": "SessionStartTime",  # session start (SessionEndTime: end)
}

ALLOWED_TYPES = {
    "string", "int", "float", "bool", "timestamp",
    "string_list", "int_list", "string_map", "json",
}
TOP_KEYS = {"dataset", "source", "event_time", "field"}
# The keys the Rust FieldSpec accepts, in the order they are written.
FIELD_KEYS = ["name", "type", "enum", "zero_is_null", "epoch_unit", "encoding", "deprecated", "aliases", "description"]
# Parquet encodings, as spectrum_events.toml sets them by hand: timestamps arrive nearly sorted
# (delta); addresses, ray ids, byte counts, source ports and microsecond times are mostly distinct
# (plain: a dictionary would only cost time and space). Every other column keeps the default
# (a dictionary in each row group whose first values repeat enough, falling back to plain).
PLAIN_NAME = re.compile(r"(IP|RayID|Bytes|SrcPort|SourcePort|ClientPort|TimeUs)$")
EPOCH_UNITS = {"s", "ms", "us", "ns"}

# Duration-like names that never hold an epoch time, whatever the description says.
DURATION_NAME = re.compile(r"(Duration|Latency|RTT|CPUTime|WallTime)", re.I)
EPOCH_WORDS = re.compile(r"\b(unix|epoch)\b", re.I)


def toml_str(s: str) -> str:
    """A TOML basic string: escapes backslash, quote and every control character."""
    out = ['"']
    for ch in s:
        o = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\f":
            out.append("\\f")
        elif o < 0x20 or o == 0x7F:
            out.append(f"\\u{o:04X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def out_name(stem: str) -> str:
    return stem.replace("__account", "_account")


def dataset_id(stem: str) -> str:
    return stem.split("__", 1)[0]


def read_sources(in_dir: Path) -> dict[str, tuple[str, str]]:
    """list stem -> (scope, docs URL), from sources.tsv."""
    res = {}
    path = in_dir / "sources.tsv"
    if not path.exists():
        return res
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line or line.startswith("#"):
            continue
        parts = line.split("\t")
        res[parts[0]] = (parts[1], parts[2])
    return res


class Report:
    def __init__(self) -> None:
        self.notes: list[str] = []
        self.errors: list[str] = []

    def note(self, msg: str) -> None:
        self.notes.append(msg)

    def error(self, msg: str) -> None:
        self.errors.append(msg)


def read_tsv(path: Path, rep: Report) -> tuple[str, list[tuple[str, str, list[str], str]]]:
    text = path.read_text(encoding="utf-8-sig")
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# source: "):
        rep.error(f"{path.name}: line 1 is not '# source: ...'")
        return "", []
    source = lines[0][len("# source: "):].strip()
    rows = []
    for lineno, line in enumerate(lines[1:], start=2):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) < 4:
            parts += [""] * (4 - len(parts))
        elif len(parts) > 4:
            # a tab inside the description: keep it as part of the text
            parts = parts[:3] + ["\t".join(parts[3:])]
            rep.note(f"{path.name}:{lineno}: more than 4 columns; extra tabs kept in the description")
        name, typ, enum, desc = (p.strip() for p in parts)
        enum_values = [e.strip() for e in enum.split("|")] if enum else []
        rows.append((name, typ, [e for e in enum_values if e], desc))
    return source, rows


def data_line_count(path: Path) -> int:
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    return sum(1 for l in lines[1:] if l.strip() and not l.startswith("#"))


def read_history(stem: str, rep: Report) -> list[tuple[str, str, list[str], str, str, str]]:
    """The field-history lines of a list: (name, type, enum, description, source, kind).

    Missing file: no history. The file starts with a `# ` comment line; `#` lines are comments.
    """
    path = HISTORY_DIR / f"{stem}.tsv"
    if not path.exists():
        return []
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    if not lines or not lines[0].startswith("# "):
        rep.error(f"field_history/{path.name}: line 1 is not a '# ' comment")
    rows = []
    seen = set()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = [p.strip() for p in line.split("\t")]
        if len(parts) != 6:
            rep.error(f"field_history/{path.name}:{lineno}: {len(parts)} columns, expected 6")
            continue
        name, typ, enum, desc, source, kind = parts
        if not name or not source:
            rep.error(f"field_history/{path.name}:{lineno}: empty name or source")
            continue
        if kind not in HISTORY_KINDS:
            rep.error(f"field_history/{path.name}:{lineno}: kind {kind!r} is not one of {HISTORY_KINDS}")
            continue
        if name in seen:
            rep.error(f"field_history/{path.name}:{lineno}: {name} listed twice")
            continue
        seen.add(name)
        enum_values = [e.strip() for e in enum.split("|") if e.strip()] if enum else []
        rows.append((name, typ, enum_values, desc, source, kind))
    return rows


def to_field(stem: str, name: str, cf_type: str, enum: list[str], desc: str, rep: Report) -> dict | None:
    """One field entry (the FIELD_KEYS it needs) from a documented field, or None on an error."""
    if cf_type not in TYPE_MAP:
        rep.error(f"{stem}.{name}: unknown Cloudflare type {cf_type!r}")
        return None
    if cf_type == "":
        rep.note(f"{stem}.{name}: empty type -> string")
    f = {"name": name, "type": TYPE_MAP[cf_type]}
    if name in STRING_MAPS.get(stem, set()):
        if cf_type != "object":
            rep.error(f"{stem}.{name}: listed as a string map but typed {cf_type!r}")
        f["type"] = "string_map"
    epoch = EPOCH_INTS.get(stem, {})
    if name in epoch:
        if cf_type != "int":
            rep.error(f"{stem}.{name}: listed as an epoch int but typed {cf_type!r}")
        f["type"] = "timestamp"
        f["epoch_unit"] = epoch[name]
    elif cf_type == "int" and EPOCH_WORDS.search(desc) and not DURATION_NAME.search(name):
        rep.note(f"{stem}.{name}: int whose description mentions unix/epoch, left as int: {desc!r}")
    if enum:
        if f["type"] == "string":
            dedup = list(dict.fromkeys(enum))
            if len(dedup) != len(enum):
                rep.note(f"{stem}.{name}: duplicate enum values removed")
            f["enum"] = dedup
        else:
            rep.note(f"{stem}.{name}: enum values on a {cf_type!r} field dropped ({len(enum)} values)")
    if f["type"] == "timestamp":
        f["encoding"] = "delta"
    elif f["type"] in ("string", "int") and "enum" not in f and PLAIN_NAME.search(name):
        f["encoding"] = "plain"
    if desc.startswith(DEPRECATED_PREFIX):
        f["deprecated"] = True
    if desc:
        f["description"] = desc
    return f


def convert(stem: str, source: str, rows, history, scope: str, rep: Report) -> str:
    """The TOML text of a list: its current fields, then its `newer` and `removed` history."""
    ds = dataset_id(stem)
    fields = []
    for name, cf_type, enum, desc in rows:
        f = to_field(stem, name, cf_type, enum, desc, rep)
        if f is not None:
            fields.append(f)
    current = {f["name"] for f in fields}
    for table, what in ((EPOCH_INTS, "EPOCH_INTS"), (STRING_MAPS, "STRING_MAPS")):
        for missing in sorted(set(table.get(stem, ())) - current):
            rep.error(f"{stem}.{missing}: in {what} but not in the list")

    # event_time is chosen among the current fields only.
    ts = [f["name"] for f in fields if f["type"] == "timestamp"]
    event_time = None
    if stem in EVENT_TIME:
        event_time = EVENT_TIME[stem]
        if event_time not in ts:
            rep.error(f"{stem}: EVENT_TIME {event_time!r} is not a timestamp field of the list")
    elif len(ts) == 1:
        event_time = ts[0]
    elif len(ts) > 1:
        rep.error(f"{stem}: several timestamp fields {ts}; choose one in EVENT_TIME")
    else:
        rep.note(f"{stem}: no timestamp field; event_time left out")

    # Field history: `newer` fields first (ordinary fields), then `removed` ones (deprecated).
    added = {kind: [] for kind in HISTORY_KINDS}
    by_lower = {f["name"].lower(): f for f in fields}
    for name, cf_type, enum, desc, hsource, kind in history:
        if name in current:
            rep.note(f"{stem}.{name}: in field_history as {kind} but a current field; skipped")
            continue
        if name.lower() in by_lower:
            field = by_lower[name.lower()]
            if kind != "removed":
                rep.error(f"{stem}.{name}: a {kind} field that differs from {field['name']} only by case")
                continue
            field.setdefault("aliases", []).append(name)
            if TYPE_MAP.get(cf_type) != field["type"]:
                rep.note(f"{stem}.{name}: older spelling of {field['name']}, documented {cf_type!r} "
                         f"(now {field['type']!r}); its values follow the current type")
            continue
        f = to_field(stem, name, cf_type, enum, desc, rep)
        if f is None:
            continue
        if kind == "removed":
            f["deprecated"] = True
            f["#"] = f"removed from the docs after {hsource}"
        else:
            f["#"] = f"added from {hsource}"
        added[kind].append(f)

    out = [
        f"# Field list of the Cloudflare Logpush dataset `{ds}` ({scope} scope).",
        "# Generated by scripts/import_field_lists.py from Cloudflare's documentation; edit the script, not this file.",
        "# Types: Cloudflare's `int or string` is `timestamp` (epoch integer or RFC 3339 string, per the job's",
        "# timestamp_format; an `epoch_unit` marks a plain epoch integer), array[string]/array[int] are",
        "# string_list/int_list, string-valued maps are string_map, other objects and arrays of objects are json.",
        "",
        f"dataset = {toml_str(ds)}",
        f"source = {toml_str(source)}",
    ]
    if event_time is not None:
        out += [
            "# The event time: `--partition-by date,hour` derives the UTC date and hour from this field.",
            f"event_time = {toml_str(event_time)}",
        ]
    blocks = [
        (fields, []),
        (added["newer"], [
            "",
            "# Newer fields: in Cloudflare's newest documentation but not yet in the reference field list",
            f"# (scripts/field_history/{stem}.tsv).",
        ]),
        (added["removed"], [
            "",
            "# Deprecated fields: documented by Cloudflare earlier and since removed from the field list.",
            "# Kept so that older archives that still carry them convert typed",
            f"# (scripts/field_history/{stem}.tsv).",
        ]),
    ]
    for block, heading in blocks:
        if not block:
            continue
        out += heading
        for f in block:
            out.append("")
            if "#" in f:
                out.append(f"# {f['#']}")
            out.append("[[field]]")
            for key in FIELD_KEYS:
                if key not in f:
                    continue
                val = f[key]
                if isinstance(val, bool):
                    out.append(f"{key} = {'true' if val else 'false'}")
                elif isinstance(val, list):
                    out.append(f"{key} = [" + ", ".join(toml_str(v) for v in val) + "]")
                else:
                    out.append(f"{key} = {toml_str(val)}")
    return "\n".join(out) + "\n"


def check(path: Path, expected_dataset: str, expected_count: int, expected_deprecated: int) -> tuple[list[str], str]:
    """Parse a generated file back and verify it; returns (problems, one-line summary)."""
    problems = []
    with path.open("rb") as fh:
        doc = tomllib.load(fh)
    for k in doc:
        if k not in TOP_KEYS:
            problems.append(f"unknown top-level key {k!r}")
    if doc.get("dataset") != expected_dataset:
        problems.append(f"dataset {doc.get('dataset')!r} != {expected_dataset!r}")
    if not isinstance(doc.get("source"), str) or not doc["source"]:
        problems.append("source missing")
    fields = doc.get("field", [])
    names = collections.Counter()
    types = collections.Counter()
    for i, f in enumerate(fields):
        for k in f:
            if k not in FIELD_KEYS:
                problems.append(f"field #{i}: unknown key {k!r}")
        if [k for k in FIELD_KEYS if k in f] != list(f):
            problems.append(f"field #{i}: keys out of order")
        if not isinstance(f.get("name"), str) or not f["name"]:
            problems.append(f"field #{i}: no name")
        names[f.get("name")] += 1
        t = f.get("type")
        types[t] += 1
        if t not in ALLOWED_TYPES:
            problems.append(f"{f.get('name')}: type {t!r} not allowed")
        if "enum" in f:
            e = f["enum"]
            if t != "string":
                problems.append(f"{f['name']}: enum on a {t} field")
            if not e or not all(isinstance(v, str) for v in e) or len(set(e)) != len(e):
                problems.append(f"{f['name']}: enum empty, not strings or not distinct")
        if "epoch_unit" in f and (t != "timestamp" or f["epoch_unit"] not in EPOCH_UNITS):
            problems.append(f"{f['name']}: bad epoch_unit")
        if "description" in f and not isinstance(f["description"], str):
            problems.append(f"{f['name']}: description not a string")
        if "deprecated" in f and f["deprecated"] is not True:
            problems.append(f"{f['name']}: deprecated is not the boolean true")
        if "zero_is_null" in f and (f["zero_is_null"] is not True or t != "timestamp"):
            problems.append(f"{f['name']}: bad zero_is_null")
    dups = [n for n, c in names.items() if c > 1]
    if dups:
        problems.append(f"duplicate names {dups}")
    # Readers compare column names without case; aliases are keys, so they may differ by case
    # from their field's name, but never equal another key.
    folded = collections.Counter(str(n).lower() for n in names)
    if [n for n, c in folded.items() if c > 1]:
        problems.append(f"names equal but for case: {[n for n, c in folded.items() if c > 1]}")
    keys = collections.Counter(names)
    for f in fields:
        for alias in f.get("aliases", []):
            keys[alias] += 1
            if not isinstance(alias, str) or alias.lower() != str(f.get("name")).lower():
                problems.append(f"{f.get('name')}: alias {alias!r} is not a spelling of its name")
    if [k for k, c in keys.items() if c > 1]:
        problems.append(f"keys listed twice (names and aliases): {[k for k, c in keys.items() if c > 1]}")
    if len(fields) != expected_count:
        problems.append(f"{len(fields)} fields, expected {expected_count} (TSV data lines plus field history)")
    deprecated = sum(1 for f in fields if f.get("deprecated") is True)
    if deprecated != expected_deprecated:
        problems.append(f"{deprecated} deprecated fields, expected {expected_deprecated}")
    et = doc.get("event_time")
    if et is not None:
        match = [f for f in fields if f.get("name") == et]
        if len(match) != 1 or match[0].get("type") != "timestamp":
            problems.append(f"event_time {et!r} is not a timestamp field")
    order = ["string", "int", "float", "bool", "timestamp", "string_list", "int_list", "string_map", "json"]
    counts = " ".join(f"{t}={types[t]}" for t in order if types[t])
    summary = f"{path.name:45} fields={len(fields):3d} deprecated={deprecated:2d} event_time={et or '-':20} {counts}"
    return problems, summary


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {argv[0]} INPUT_DIR OUTPUT_DIR", file=sys.stderr)
        return 2
    in_dir, out_dir = Path(argv[1]), Path(argv[2])
    out_dir.mkdir(parents=True, exist_ok=True)
    rep = Report()
    sources = read_sources(in_dir)
    tsvs = sorted(p for p in in_dir.glob("*.tsv") if p.name != "sources.tsv")
    if not tsvs:
        print(f"no field-list TSVs in {in_dir}", file=sys.stderr)
        return 1
    for name, table in (("EPOCH_INTS", EPOCH_INTS), ("EVENT_TIME", EVENT_TIME), ("STRING_MAPS", STRING_MAPS)):
        for stem in sorted(set(table) - {p.stem for p in tsvs}):
            rep.error(f"{name} names {stem!r}, which has no TSV")
    if HISTORY_DIR.is_dir():
        for hist in sorted(HISTORY_DIR.glob("*.tsv")):
            if hist.stem not in {p.stem for p in tsvs}:
                rep.error(f"field_history/{hist.name}: no list {hist.stem!r} in {in_dir}")
            elif hist.stem in SKIP:
                rep.note(f"field_history/{hist.name}: not applied, {hist.stem} is curated by hand")

    written = []
    for path in tsvs:
        stem = path.stem
        if stem in SKIP:
            continue
        source, rows = read_tsv(path, rep)
        if stem in sources:
            scope, url = sources[stem]
            if not source.startswith(url):
                rep.error(f"{stem}: line 1 URL differs from sources.tsv ({url})")
        else:
            m = re.search(r"/datasets/(zone|account)/", source)
            scope = m.group(1) if m else "unknown"
            rep.note(f"{stem}: not in sources.tsv; scope {scope!r} taken from the URL")
        history = read_history(stem, rep)
        text = convert(stem, source, rows, history, scope, rep)
        target = out_dir / f"{out_name(stem)}.toml"
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8", newline="\n")
        # What the file must hold, counted from the inputs: every TSV data line, plus the
        # history lines whose name is not a current field; deprecated: the current fields
        # whose description says so, every `removed` line used, and `newer` ones that say so.
        current = {r[0] for r in rows}
        current_lower = {name.lower() for name in current}
        used = [h for h in history if h[0].lower() not in current_lower]
        count = data_line_count(path) + len(used)
        deprecated = sum(1 for r in rows if r[3].startswith(DEPRECATED_PREFIX)) + sum(
            1 for h in used if h[5] == "removed" or h[3].startswith(DEPRECATED_PREFIX)
        )
        written.append((target, dataset_id(stem), count, deprecated))

    for target, ds, count, deprecated in written:
        problems, summary = check(target, ds, count, deprecated)
        print(summary)
        for p in problems:
            rep.error(f"{target.name}: {p}")

    for n in rep.notes:
        print(f"note: {n}")
    for e in rep.errors:
        print(f"ERROR: {e}", file=sys.stderr)
    print(f"{len(written)} files written to {out_dir}; {len(rep.errors)} errors")
    return 1 if rep.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
