//! The line decoder on arbitrary bytes.
//!
//! The first byte picks the options (strict, timestamp unit, unknown-key mode) and the field
//! list (spectrum_events, flat, or a short list of every nested type: lists, a string map, JSON
//! text, a float); the rest is split into lines at `\n`, as the line reader would. Each line goes through two decoders, one with
//! the fast scanner and one serde-only, which must agree exactly (same reject, same field, same
//! reason, same rows). Every line is also judged by an independent oracle written here from the
//! decoding rules (docs/decoding.md) over `serde_json::Value`: it must accept exactly the lines the
//! decoder accepts, with the same values. Nothing may panic.

use std::sync::{Arc, OnceLock};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int16Type, Int64Type};
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use logpush_parquet::decode::{DecodeOptions, Decoder};
use logpush_parquet::schema::{EventSchema, FieldType, UnknownFields};
use logpush_parquet::time::{Instant, parse_timestamp_reading};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;

/// One cell, as the oracle and the decoded batch both express it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cell {
    Null,
    Str(String),
    Int(i64),
    Bool(bool),
    /// A float, as its bits.
    Float(u64),
    /// The items of a list.
    List(Vec<Cell>),
    /// The keys and values of a map, in order.
    Map(Vec<(String, Cell)>),
    /// Expected only: a number with a fraction or exponent kept as text in a string field
    /// (`Value` does not keep its spelling): any text that serde_json parses to the same float
    /// (its parse, as the expected bits are its: for a long mantissa it may differ from the
    /// correctly rounded one by the last bit).
    NumberText(u64),
    /// Expected only: the catch-all column, whose text must parse to this object.
    Object(serde_json::Map<String, Value>),
}

impl Cell {
    /// Whether a decoded cell `got` is what the oracle expects.
    fn matches(&self, got: &Cell) -> bool {
        match (self, got) {
            (Cell::NumberText(bits), Cell::Str(text)) => {
                serde_json::from_str::<f64>(text).is_ok_and(|x| x.to_bits() == *bits)
            }
            (Cell::Object(object), Cell::Str(text)) => {
                serde_json::from_str::<Value>(text).ok() == Some(Value::Object(object.clone()))
            }
            _ => self == got,
        }
    }
}

/// The oracle's verdict on one line.
#[derive(Debug)]
enum Verdict {
    Accept(Vec<Cell>),
    Reject,
    /// serde_json's `Value` cannot hold it (nesting past its recursion limit): no verdict.
    Unknown,
}

/// An object's entries in order, duplicates kept, each value as its raw JSON text.
struct Entries<'a>(Vec<(String, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Entries<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Entries<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries<'a>, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, &'a RawValue>()? {
                    out.push(entry);
                }
                Ok(Entries(out))
            }
        }
        d.deserialize_map(V(std::marker::PhantomData))
    }
}

/// The unit of an epoch integer by magnitude, computed in i128 (docs/decoding.md, "Decoding rules").
fn epoch_int(n: i64) -> Instant {
    let n = i128::from(n);
    let per_sec: i128 = match n.unsigned_abs() {
        m if m < 100_000_000_000 => 1,
        m if m < 100_000_000_000_000 => 1_000,
        m if m < 100_000_000_000_000_000 => 1_000_000,
        _ => 1_000_000_000,
    };
    let nanos_total = n * (1_000_000_000 / per_sec);
    Instant {
        secs: nanos_total.div_euclid(1_000_000_000) as i64,
        nanos: nanos_total.rem_euclid(1_000_000_000) as u32,
    }
}

/// An instant as ticks of `unit`, floored, or `None` outside 0001..=9999 or i64.
fn ticks(i: Instant, unit: TimeUnit) -> Option<i64> {
    const MIN_SECS: i64 = -62_135_596_800;
    const MAX_SECS: i64 = 253_402_300_799;
    if !(MIN_SECS..=MAX_SECS).contains(&i.secs) {
        return None;
    }
    let per_tick: i128 = match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    };
    let total = i128::from(i.secs) * 1_000_000_000 + i128::from(i.nanos);
    i64::try_from(total.div_euclid(per_tick))
        .ok()
        .filter(|&t| t != i64::MIN)
}

/// A string in JSON's number grammar (`-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`) that
/// reads as a finite float.
fn float_text(s: &str) -> Option<f64> {
    let b = s.as_bytes();
    let digits = |at: usize| {
        b[at.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let mut at = usize::from(b.first() == Some(&b'-'));
    let whole = digits(at);
    if whole == 0 || (whole > 1 && b[at] == b'0') {
        return None;
    }
    at += whole;
    if b.get(at) == Some(&b'.') {
        let fraction = digits(at + 1);
        if fraction == 0 {
            return None;
        }
        at += 1 + fraction;
    }
    if matches!(b.get(at), Some(b'e' | b'E')) {
        at += 1 + usize::from(matches!(b.get(at + 1), Some(b'+' | b'-')));
        let exponent = digits(at);
        if exponent == 0 {
            return None;
        }
        at += exponent;
    }
    if at != b.len() {
        return None;
    }
    s.parse::<f64>().ok().filter(|x| x.is_finite())
}

fn is_int_text(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A JSON integer that serde_json read as an integer (not `-0`, not a fraction or exponent).
fn json_i64(n: &serde_json::Number) -> Result<i64, ()> {
    if n.is_f64() {
        return Err(());
    }
    n.as_i64().ok_or(())
}

/// How deeply arrays and objects nest in `text` (valid JSON), counted here from the grammar.
fn nesting(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0, false, false);
    for c in text.chars() {
        match (in_string, c) {
            (true, _) if escaped => escaped = false,
            (true, '\\') => escaped = true,
            (true, '"') | (false, '"') => in_string = !in_string,
            (false, '[' | '{') => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            (false, ']' | '}') => depth -= 1,
            _ => {}
        }
    }
    deepest
}

/// The cell of a list or map field's value, or `None` where the line is refused (`reading`:
/// what a lossless reading gives, `None` under `strict`).
fn nested_cell(
    field_type: FieldType,
    raw: &RawValue,
    value: Value,
    reading: impl Fn(Cell) -> Option<Cell>,
) -> Option<Cell> {
    let string_item = |v: Value| match v {
        Value::Null => Some(Cell::Null),
        Value::String(s) => Some(Cell::Str(s)),
        _ => None,
    };
    let int_item = |v: Value| match v {
        Value::Null => Some(Cell::Null),
        Value::Number(n) => json_i64(&n).ok().map(Cell::Int),
        Value::String(s) if is_int_text(&s) => reading(Cell::Int(s.parse().ok()?)),
        _ => None,
    };
    match (field_type, value) {
        (FieldType::StringList, Value::Array(items)) => Some(Cell::List(
            items.into_iter().map(string_item).collect::<Option<_>>()?,
        )),
        (FieldType::StringList, Value::String(s)) => reading(Cell::List(vec![Cell::Str(s)])),
        (FieldType::IntList, Value::Array(items)) => Some(Cell::List(
            items.into_iter().map(int_item).collect::<Option<_>>()?,
        )),
        (FieldType::IntList, Value::Number(n)) => {
            reading(Cell::List(vec![Cell::Int(json_i64(&n).ok()?)]))
        }
        (FieldType::StringMap, Value::Object(_)) => {
            // `Value` keeps one value per key: the entries again, duplicates kept.
            let Entries(entries) = serde_json::from_str(raw.get()).ok()?;
            let mut seen = std::collections::HashSet::new();
            let mut out = Vec::new();
            for (key, value) in entries {
                let value = string_item(serde_json::from_str(value.get()).ok()?)?;
                if !seen.insert(key.clone()) {
                    return None; // a key given twice
                }
                out.push((key, value));
            }
            Some(Cell::Map(out))
        }
        _ => None,
    }
}

fn oracle(line: &[u8], schema: &EventSchema, unit: TimeUnit, strict: bool) -> Verdict {
    let mode = schema.unknown_fields();
    let Ok(Entries(raw_entries)) = serde_json::from_slice::<Entries>(line) else {
        return Verdict::Reject;
    };
    // Each value as a `Value`, but a `json` field's, which is kept as text.
    let mut entries = Vec::with_capacity(raw_entries.len());
    for (key, raw) in raw_entries {
        let json = schema
            .index_of(&key)
            .is_some_and(|i| schema.fields()[i].field_type == FieldType::Json);
        let value = match serde_json::from_str::<Value>(raw.get()) {
            _ if json => Value::Null,
            Ok(value) => value,
            // Limits of `Value`, not of the JSON grammar: nesting past 128 levels, numbers
            // beyond f64, `\u` escapes of lone surrogates. The decoder skips such values under
            // unknown keys without building them (and refuses them under known keys).
            Err(e)
                if [
                    "recursion limit exceeded",
                    "number out of range",
                    "surrogate",
                    "unexpected end of hex escape",
                ]
                .iter()
                .any(|m| e.to_string().contains(m)) =>
            {
                return Verdict::Unknown;
            }
            Err(_) => return Verdict::Reject,
        };
        entries.push((key, raw, value));
    }
    let mut cells: Vec<Option<Cell>> = vec![None; schema.fields().len()];
    // More distinct unknown keys than known ones: a line of another dataset.
    let unknown: std::collections::HashSet<&str> = entries
        .iter()
        .map(|(k, _, _)| k.as_str())
        .filter(|k| schema.index_of(k).is_none())
        .collect();
    let known: std::collections::HashSet<&str> = entries
        .iter()
        .map(|(k, _, _)| k.as_str())
        .filter(|k| schema.index_of(k).is_some())
        .collect();
    let another_dataset = unknown.len() > known.len();
    let mut extra = serde_json::Map::new();
    let mut extra_keys = 0;
    for (key, raw, value) in entries {
        let Some(i) = schema.index_of(&key) else {
            match mode {
                UnknownFields::Reject => return Verdict::Reject,
                UnknownFields::Drop => {}
                UnknownFields::Keep => {
                    extra_keys += 1;
                    extra.insert(key, value);
                }
            }
            continue;
        };
        if cells[i].is_some() {
            return Verdict::Reject; // a key given twice
        }
        let spec = &schema.fields()[i];
        // A lossless reading of a value of another JSON type: refused under `strict`.
        let reading = |cell: Cell| if strict { None } else { Some(cell) };
        let cell = match (spec.field_type, value) {
            // Any JSON value nested at most 128 levels, as its exact text.
            (FieldType::Json, _) => match raw.get() {
                "null" => Some(Cell::Null),
                text if nesting(text) <= 128 => Some(Cell::Str(text.to_string())),
                _ => return Verdict::Reject,
            },
            (_, Value::Null) => Some(Cell::Null),
            (
                field_type @ (FieldType::StringList | FieldType::IntList | FieldType::StringMap),
                value,
            ) => match nested_cell(field_type, raw, value, reading) {
                Some(cell) => Some(cell),
                None => return Verdict::Reject,
            },
            (FieldType::Float, Value::Number(n)) => n.as_f64().map(|x| Cell::Float(x.to_bits())),
            (FieldType::Float, Value::String(s)) if s.is_empty() => reading(Cell::Null),
            (FieldType::Float, Value::String(s)) => match float_text(&s) {
                Some(x) => reading(Cell::Float(x.to_bits())),
                None => return Verdict::Reject,
            },
            (FieldType::String, Value::String(s)) => Some(Cell::Str(s)),
            (FieldType::String, Value::Bool(b)) => reading(Cell::Str(b.to_string())),
            (FieldType::String, Value::Number(n)) => match json_i64(&n) {
                Ok(v) => reading(Cell::Str(v.to_string())),
                Err(()) if n.as_u64().is_some() && !n.is_f64() => reading(Cell::Str(n.to_string())),
                Err(()) => reading(Cell::NumberText(n.as_f64().unwrap_or(f64::NAN).to_bits())),
            },
            (FieldType::Int | FieldType::Bool | FieldType::Timestamp, Value::String(s))
                if s.is_empty() =>
            {
                reading(Cell::Null)
            }
            (FieldType::Int, Value::Number(n)) => match json_i64(&n) {
                Ok(v) => Some(Cell::Int(v)),
                Err(()) => return Verdict::Reject,
            },
            (FieldType::Int, Value::String(s)) if is_int_text(&s) => match s.parse() {
                Ok(v) => reading(Cell::Int(v)),
                Err(_) => return Verdict::Reject,
            },
            (FieldType::Bool, Value::Bool(b)) => Some(Cell::Bool(b)),
            (FieldType::Bool, Value::String(s)) if s == "true" || s == "false" => {
                reading(Cell::Bool(s == "true"))
            }
            (FieldType::Timestamp, v @ (Value::Number(_) | Value::String(_))) => {
                let instant = match v {
                    Value::Number(n) => match json_i64(&n) {
                        Ok(n) => epoch_int(n),
                        Err(()) => return Verdict::Reject,
                    },
                    Value::String(s) => match parse_timestamp_reading(&s) {
                        Ok((_, true)) if strict => return Verdict::Reject,
                        Ok((i, _)) => i,
                        Err(_) => return Verdict::Reject,
                    },
                    _ => unreachable!(),
                };
                if spec.zero_is_null && instant == Instant::EPOCH {
                    Some(Cell::Null)
                } else {
                    match ticks(instant, unit) {
                        Some(t) => Some(Cell::Int(t)),
                        None => return Verdict::Reject,
                    }
                }
            }
            _ => return Verdict::Reject,
        };
        let Some(cell) = cell else {
            return Verdict::Reject;
        };
        cells[i] = Some(cell);
    }
    // An unknown key given twice would be in the catch-all twice.
    if another_dataset || extra.len() != extra_keys {
        return Verdict::Reject;
    }
    if let Some(i) = schema.catch_all() {
        cells[i] = Some(if extra.is_empty() {
            Cell::Null
        } else {
            Cell::Object(extra)
        });
    }
    Verdict::Accept(cells.into_iter().map(|c| c.unwrap_or(Cell::Null)).collect())
}

/// Row `row` of `batch` as cells (timestamps as their raw ticks).
fn row_cells(batch: &RecordBatch, row: usize) -> Vec<Cell> {
    batch
        .columns()
        .iter()
        .map(|col| {
            if col.is_null(row) {
                return Cell::Null;
            }
            match col.data_type() {
                DataType::Utf8 => Cell::Str(col.as_string::<i32>().value(row).to_string()),
                DataType::Dictionary(_, _) => {
                    let dict = col.as_dictionary::<Int16Type>();
                    let key = dict.keys().value(row) as usize;
                    Cell::Str(dict.values().as_string::<i32>().value(key).to_string())
                }
                DataType::Int64 => Cell::Int(col.as_primitive::<Int64Type>().value(row)),
                DataType::Float64 => {
                    Cell::Float(col.as_primitive::<Float64Type>().value(row).to_bits())
                }
                DataType::Boolean => Cell::Bool(col.as_boolean().value(row)),
                DataType::List(_) => {
                    let items = col.as_list::<i32>().value(row);
                    Cell::List((0..items.len()).map(|i| item_cell(&items, i)).collect())
                }
                DataType::Map(_, _) => {
                    let entries = col.as_map().value(row);
                    let (keys, values) = (entries.column(0), entries.column(1));
                    let keys = keys.as_string::<i32>();
                    Cell::Map(
                        (0..entries.len())
                            .map(|i| (keys.value(i).to_string(), item_cell(values, i)))
                            .collect(),
                    )
                }
                DataType::Timestamp(_, _) => Cell::Int(timestamp_ticks(col.as_ref()).value(row)),
                other => panic!("unexpected column type {other}"),
            }
        })
        .collect()
}

/// Item `i` of a list's items or a map's values (strings or integers).
fn item_cell(items: &dyn Array, i: usize) -> Cell {
    if items.is_null(i) {
        return Cell::Null;
    }
    match items.data_type() {
        DataType::Utf8 => Cell::Str(items.as_string::<i32>().value(i).to_string()),
        DataType::Int64 => Cell::Int(items.as_primitive::<Int64Type>().value(i)),
        other => panic!("unexpected item type {other}"),
    }
}

/// A timestamp column's raw i64 ticks, whatever its unit.
fn timestamp_ticks(col: &dyn Array) -> arrow_array::Int64Array {
    let data = col.to_data().into_builder().data_type(DataType::Int64);
    arrow_array::Int64Array::from(data.build().expect("same layout"))
}

/// A short field list of every type the flat spectrum_events lacks, with short names the fuzzer
/// finds (`fuzz/decode_line.dict` lists them).
const NESTED: &str = r#"
dataset = "nested"
event_time = "When"

[[field]]
name = "When"
type = "timestamp"

[[field]]
name = "N"
type = "int"

[[field]]
name = "R"
type = "float"

[[field]]
name = "S"
type = "string"

[[field]]
name = "L"
type = "string_list"

[[field]]
name = "I"
type = "int_list"

[[field]]
name = "H"
type = "string_map"

[[field]]
name = "J"
type = "json"
"#;

/// spectrum_events (`nested` false) or the nested list, with each unknown-key mode.
fn schema(nested: bool, mode: UnknownFields) -> &'static Arc<EventSchema> {
    static SCHEMAS: OnceLock<[[Arc<EventSchema>; 3]; 2]> = OnceLock::new();
    let schemas = SCHEMAS.get_or_init(|| {
        [false, true].map(|nested| {
            [
                UnknownFields::Keep,
                UnknownFields::Drop,
                UnknownFields::Reject,
            ]
            .map(|m| {
                let schema = match nested {
                    false => EventSchema::spectrum_events(),
                    true => EventSchema::from_toml_str(NESTED, "nested.toml").expect("valid"),
                };
                Arc::new(schema.with_unknown_fields(m).expect("a valid list"))
            })
        })
    });
    &schemas[usize::from(nested)][mode as usize]
}

/// Checks one fuzz input; panics on any disagreement.
pub fn check(data: &[u8]) {
    let Some((&flags, body)) = data.split_first() else {
        return;
    };
    let mode = match flags >> 3 & 3 {
        1 => UnknownFields::Drop,
        2 => UnknownFields::Reject,
        _ => UnknownFields::Keep,
    };
    let schema = schema(flags >> 5 & 1 == 1, mode);
    let strict = flags & 1 != 0;
    let unit = [
        TimeUnit::Microsecond,
        TimeUnit::Millisecond,
        TimeUnit::Nanosecond,
        TimeUnit::Second,
    ][usize::from(flags >> 1 & 3)];
    let options = DecodeOptions {
        timestamp_unit: unit,
        strict,
        batch_size: 64,
    };
    let mut fast = Decoder::try_new(schema.clone(), options).expect("valid options");
    let mut general = Decoder::try_new(schema.clone(), options)
        .expect("valid options")
        .with_fast_path(false);
    let mut expected = Vec::new();
    for line in body.split(|&b| b == b'\n').take(64) {
        let a = fast.decode_line(line);
        let b = general.decode_line(line);
        assert_eq!(
            a,
            b,
            "fast and serde paths disagree on {:?}",
            String::from_utf8_lossy(line)
        );
        match (oracle(line, schema, unit, strict), &a) {
            (Verdict::Accept(cells), Ok(())) => expected.push(Some(cells)),
            (Verdict::Reject, Err(_)) => {}
            (Verdict::Unknown, Ok(())) => expected.push(None),
            (Verdict::Unknown, Err(_)) => {}
            (verdict, got) => panic!(
                "oracle says {verdict:?}, decoder says {got:?} for {:?}",
                String::from_utf8_lossy(line)
            ),
        }
    }
    assert_eq!(fast.take_stats(), general.take_stats());
    let a = fast.flush().expect("batch builds");
    let b = general.flush().expect("batch builds");
    let rows = a.as_ref().map_or(0, RecordBatch::num_rows);
    assert_eq!(rows, expected.len());
    assert_eq!(rows, b.as_ref().map_or(0, RecordBatch::num_rows));
    if let (Some(a), Some(b)) = (a, b) {
        for (row, cells) in expected.iter().enumerate() {
            let got = row_cells(&a, row);
            assert_eq!(got, row_cells(&b, row), "fast and serde rows differ");
            if let Some(cells) = cells {
                assert_eq!(got.len(), cells.len());
                for (want, have) in cells.iter().zip(&got) {
                    assert!(
                        want.matches(have),
                        "row {row} differs from the oracle: {want:?} expected, {have:?} decoded"
                    );
                }
            }
        }
    }
}
