//! The general path of line decoding: a serde visitor over `serde_json` that fills the row's
//! slots straight from the parser, for every line the fast scanner (`scan`) gives up on. It
//! owns every reject reason: a wrong type, a key given twice, a wrong shape inside a list or a
//! map (naming the item or key), JSON nested too deep.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::columns::Slot;
use super::{
    DecodeOptions, LineReject, RowScratch, UnknownKey, epoch_instant, parse_float_text,
    parse_int_text, parse_timestamp_text,
};
use crate::schema::{EventSchema, FieldSpec, FieldType, UnknownFields};
use crate::time::{self, Instant};

/// Parses `line` into `row`'s slots, or says why the line is rejected.
pub(super) fn parse_row(
    schema: &EventSchema,
    options: DecodeOptions,
    row: &mut RowScratch,
    line: &[u8],
) -> Result<(), LineReject> {
    let mut parse = RowParse {
        schema,
        options,
        row,
        current_field: None,
        current_unknown: None,
        reject: None,
    };
    let mut de = serde_json::Deserializer::from_slice(line);
    let parsed = RowSeed(&mut parse)
        .deserialize(&mut de)
        .and_then(|()| de.end());
    match parsed {
        // serde_json checks UTF-8 only in strings it decodes: bytes inside the value of an
        // unknown key, which it skips, are not checked. The line is still not JSON.
        Ok(()) => match std::str::from_utf8(line) {
            Ok(_) => Ok(()),
            Err(e) => Err(LineReject {
                field: None,
                reason: format!(
                    "invalid UTF-8 at byte {} (in the value of an unknown key)",
                    e.valid_up_to() + 1
                ),
            }),
        },
        Err(e) => Err(parse.reject.take().unwrap_or_else(|| LineReject {
            field: (parse.current_field.map(|i| schema.fields()[i].name.clone()))
                .or_else(|| parse.current_unknown.take()),
            reason: json_error_reason(&e),
        })),
    }
}

/// serde_json's message without its "at line 1 column N" tail, plus the column (the line number
/// is always 1 here: the caller knows the real one).
fn json_error_reason(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let message = text
        .rsplit_once(" at line ")
        .map_or(text.as_str(), |(m, _)| m);
    let kind = match e.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "invalid JSON: ",
        _ => "",
    };
    format!("{kind}{message} (column {})", e.column())
}

/// The state of one line's parse.
struct RowParse<'a> {
    schema: &'a EventSchema,
    options: DecodeOptions,
    row: &'a mut RowScratch,
    /// The field whose value is being parsed, for errors raised inside it.
    current_field: Option<usize>,
    /// The unknown key whose value is being kept, for errors raised inside it.
    current_unknown: Option<String>,
    /// A reject raised by our own checks (as opposed to a JSON syntax error).
    reject: Option<LineReject>,
}

impl RowParse<'_> {
    fn fail<E: de::Error>(&mut self, field: Option<usize>, reason: impl Into<String>) -> E {
        self.reject = Some(LineReject {
            field: field.map(|i| self.schema.fields()[i].name.clone()),
            reason: reason.into(),
        });
        E::custom("rejected")
    }

    fn push_text(&mut self, s: &str) -> Slot {
        let start = self.row.text.len() as u32;
        self.row.text.push_str(s);
        Slot::Str(start, self.row.text.len() as u32)
    }

    /// Keeps the value of the unknown key last recorded: its exact JSON text, nested no deeper
    /// than a `json` field may be.
    fn keep_unknown_value<E: de::Error>(&mut self, raw: &RawValue) -> Result<(), E> {
        let key = *self
            .row
            .unknown
            .last()
            .expect("an unknown key was recorded");
        if json_depth(raw.get()) > MAX_JSON_DEPTH {
            self.reject = Some(LineReject {
                field: Some(self.row.unknown_name(&key).to_string()),
                reason: format!(
                    "expected a JSON value nested at most {MAX_JSON_DEPTH} levels, found one \
                     nested deeper"
                ),
            });
            return Err(E::custom("rejected"));
        }
        let value = self.push_text(raw.get());
        self.row.unknown.last_mut().expect("recorded").value = value;
        Ok(())
    }

    /// Records that field `i` was kept by a lossless reading.
    fn coerced(&mut self, i: usize) {
        self.row.coerced.push(i as u32);
    }
}

/// Parses the top-level object of a line.
struct RowSeed<'p, 'a>(&'p mut RowParse<'a>);

impl<'de> DeserializeSeed<'de> for RowSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        // `any`, not `map`: so a line that is not an object is refused by our visitor, naming
        // what it found, before serde_json parses any of it (a deeply nested array included).
        d.deserialize_any(self)
    }
}

impl RowSeed<'_, '_> {
    fn not_an_object<E: de::Error>(self, what: &str) -> E {
        self.0
            .fail(None, format!("expected a JSON object, found {what}"))
    }
}

impl<'de> Visitor<'de> for RowSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Err(self.not_an_object("null"))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Err(self.not_an_object("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        Err(self.not_an_object("a number"))
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        Err(self.not_an_object("a number"))
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        Err(self.not_an_object("a number"))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<(), E> {
        Err(self.not_an_object("a string"))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<(), A::Error> {
        Err(self.not_an_object("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let parse = self.0;
        while let Some(key) = map.next_key_seed(KeySeed(parse))? {
            match key {
                Some(i) => {
                    if parse.row.slots[i] != Slot::Absent {
                        return Err(parse.fail(Some(i), "key appears twice in the object"));
                    }
                    parse.current_field = Some(i);
                    let slot = map.next_value_seed(ValueSeed {
                        parse: &mut *parse,
                        field: i,
                    })?;
                    parse.row.slots[i] = slot;
                    parse.current_field = None;
                }
                None if parse.schema.unknown_fields() == UnknownFields::Keep => {
                    let key = parse
                        .row
                        .unknown
                        .last()
                        .expect("an unknown key was recorded");
                    parse.current_unknown = Some(parse.row.unknown_name(key).to_string());
                    let raw = map.next_value::<&RawValue>()?;
                    parse.keep_unknown_value(raw)?;
                    parse.current_unknown = None;
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// Resolves a key to its field index (`None` for unknown keys, which are recorded).
struct KeySeed<'p, 'a>(&'p mut RowParse<'a>);

impl<'de> DeserializeSeed<'de> for KeySeed<'_, '_> {
    type Value = Option<usize>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<usize>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_, '_> {
    type Value = Option<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Option<usize>, E> {
        let parse = self.0;
        if let Some(i) = parse.schema.index_of(key) {
            return Ok(Some(i));
        }
        if parse.schema.unknown_fields() == UnknownFields::Reject {
            return Err(parse.fail(
                None,
                format!("unknown field {key:?} (--unknown-fields reject)"),
            ));
        }
        if let Slot::Str(s, e) = parse.push_text(key) {
            parse.row.unknown.push(UnknownKey {
                name: (s, e),
                value: Slot::Absent,
            });
        }
        Ok(None)
    }
}

/// Parses one field's value into a [`Slot`] according to its declared type.
struct ValueSeed<'p, 'a> {
    parse: &'p mut RowParse<'a>,
    field: usize,
}

impl ValueSeed<'_, '_> {
    fn spec(&self) -> &FieldSpec {
        &self.parse.schema.fields()[self.field]
    }

    fn field_type(&self) -> FieldType {
        self.spec().field_type
    }

    fn refuse<E: de::Error>(self, what: &str) -> E {
        let expected = self.field_type().expected();
        let field = self.field;
        self.parse
            .fail(Some(field), format!("expected {expected}, found {what}"))
    }

    /// A lossless reading of a value of another JSON type (`what`) as `slot`: counted, or
    /// refused under `--strict`.
    fn read_as<E: de::Error>(self, slot: Slot, what: impl FnOnce() -> String) -> Result<Slot, E> {
        if self.parse.options.strict {
            return Err(self.refuse(&format!("{} (--strict)", what())));
        }
        self.parse.coerced(self.field);
        Ok(slot)
    }

    /// A list of one item (`item`), read from a scalar where a list is declared.
    fn one_item<E: de::Error>(self, item: Slot, what: impl FnOnce() -> String) -> Result<Slot, E> {
        let start = self.parse.row.items.len() as u32;
        if !self.parse.options.strict {
            self.parse.row.items.push(item);
        }
        let slot = Slot::Items(start, start + 1);
        self.read_as(slot, what)
    }

    /// A `string` field's value, from its raw JSON text: a string, or a number or boolean kept
    /// as its exact text.
    fn string_from_raw<E: de::Error>(self, raw: &str) -> Result<Slot, E> {
        match raw.as_bytes().first() {
            Some(b'"') => {
                let body = &raw[1..raw.len() - 1];
                if !body.contains('\\') {
                    return Ok(self.parse.push_text(body));
                }
                let text: String = serde_json::from_str(raw).map_err(E::custom)?;
                Ok(self.parse.push_text(&text))
            }
            Some(b'n') => Ok(Slot::Null),
            Some(b't' | b'f') => {
                let slot = self.parse.push_text(raw);
                self.read_as(slot, || "a boolean".into())
            }
            Some(b'[') => Err(self.refuse("an array")),
            Some(b'{') => Err(self.refuse("an object")),
            _ => {
                let slot = self.parse.push_text(raw);
                self.read_as(slot, || "a number".into())
            }
        }
    }

    fn timestamp<E: de::Error>(self, instant: Instant) -> Result<Slot, E> {
        if self.spec().zero_is_null && instant == Instant::EPOCH {
            return Ok(Slot::Null);
        }
        match instant.to_unit(self.parse.options.timestamp_unit) {
            Some(v) => Ok(Slot::Int(v)),
            None => {
                let field = self.field;
                Err(self
                    .parse
                    .fail(Some(field), time::TimestampError::Range.to_string()))
            }
        }
    }

    /// The items of a list value, each parsed by `kind`'s rules, into the row's item slots.
    fn list<'de, A: de::SeqAccess<'de>>(
        self,
        mut seq: A,
        kind: ItemKind,
    ) -> Result<Slot, A::Error> {
        let start = self.parse.row.items.len();
        let mut index = 0;
        while let Some(item) = seq.next_element_seed(ItemSeed {
            parse: &mut *self.parse,
            field: self.field,
            kind,
            at: Place::Item(index),
        })? {
            self.parse.row.items.push(item);
            index += 1;
        }
        Ok(Slot::Items(start as u32, self.parse.row.items.len() as u32))
    }

    /// The keys and values of a string map, alternating, into the row's item slots; a key
    /// given twice rejects the line (readers such as DuckDB refuse duplicate map keys).
    fn string_map<'de, A: MapAccess<'de>>(self, mut map: A) -> Result<Slot, A::Error> {
        let start = self.parse.row.items.len();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let key_slot = self.parse.push_text(&key);
            let value = map.next_value_seed(ItemSeed {
                parse: &mut *self.parse,
                field: self.field,
                kind: ItemKind::String,
                at: Place::Key(&key),
            })?;
            self.parse.row.items.extend([key_slot, value]);
        }
        let row = &self.parse.row;
        let mut keys: Vec<&str> = row.items[start..]
            .iter()
            .step_by(2)
            .filter_map(|&k| k.text(&row.text, ""))
            .collect();
        keys.sort_unstable();
        if let Some(pair) = keys.windows(2).find(|pair| pair[0] == pair[1]) {
            let reason = format!("key {:?} appears twice in the object", pair[0]);
            let field = self.field;
            return Err(self.parse.fail(Some(field), reason));
        }
        Ok(Slot::Items(start as u32, self.parse.row.items.len() as u32))
    }
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_, '_> {
    type Value = Slot;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Slot, D::Error> {
        if self.field_type() == FieldType::String {
            // The raw text, so that a number keeps its exact text (`1.50`, `1e3`).
            let raw = <&RawValue>::deserialize(d)?;
            return self.string_from_raw(raw.get());
        }
        if self.field_type() == FieldType::Json {
            // The value's exact text, checked as JSON by serde_json on the way.
            let raw = <&serde_json::value::RawValue>::deserialize(d)?;
            if json_depth(raw.get()) > MAX_JSON_DEPTH {
                return Err(
                    self.refuse(&format!("JSON nested deeper than {MAX_JSON_DEPTH} levels"))
                );
            }
            return Ok(match raw.get() {
                "null" => Slot::Null,
                text => self.parse.push_text(text),
            });
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_, '_> {
    type Value = Slot;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a field value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Slot, E> {
        Ok(Slot::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Slot, E> {
        match self.field_type() {
            FieldType::Bool => Ok(Slot::Bool(v)),
            _ => Err(self.refuse("a boolean")),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Slot, E> {
        match self.field_type() {
            FieldType::Int => Ok(Slot::Int(v)),
            // JSON has one number type: an integer is a float's exact value, not a reading.
            FieldType::Float => Ok(Slot::Float((v as f64).to_bits())),
            FieldType::Timestamp => {
                let instant = epoch_instant(self.spec(), v);
                self.timestamp(instant)
            }
            FieldType::IntList => self.one_item(Slot::Int(v), || "an integer".into()),
            _ => Err(self.refuse("a number")),
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Slot, E> {
        match i64::try_from(v) {
            Ok(v) => self.visit_i64(v),
            Err(_) if self.field_type() == FieldType::Float => {
                Ok(Slot::Float((v as f64).to_bits()))
            }
            Err(_) if matches!(self.field_type(), FieldType::Int | FieldType::Timestamp) => {
                Err(self.refuse("an integer beyond the int64 range"))
            }
            Err(_) => Err(self.refuse("a number")),
        }
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Slot, E> {
        // serde_json also lands here for integers beyond u64.
        match self.field_type() {
            FieldType::Float => Ok(Slot::Float(v.to_bits())),
            FieldType::Int | FieldType::Timestamp => {
                Err(self
                    .refuse("a number with a fraction or exponent, -0, or beyond the int64 range"))
            }
            _ => Err(self.refuse("a number")),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Slot, E> {
        let what = || format!("the string {v:?}");
        match self.field_type() {
            FieldType::String => Ok(self.parse.push_text(v)),
            FieldType::Int | FieldType::Float | FieldType::Bool | FieldType::Timestamp
                if v.is_empty() =>
            {
                self.read_as(Slot::Null, what)
            }
            FieldType::Int => match parse_int_text(v) {
                Some(n) => self.read_as(Slot::Int(n), what),
                None => Err(self.refuse(&what())),
            },
            FieldType::Float => match parse_float_text(v) {
                Some(x) => self.read_as(Slot::Float(x.to_bits()), what),
                None => Err(self.refuse(&what())),
            },
            FieldType::Bool => match v {
                "true" => self.read_as(Slot::Bool(true), what),
                "false" => self.read_as(Slot::Bool(false), what),
                _ => Err(self.refuse(&what())),
            },
            FieldType::Timestamp => match parse_timestamp_text(self.spec(), v) {
                Ok((instant, false)) => self.timestamp(instant),
                Ok((instant, true)) if !self.parse.options.strict => {
                    self.parse.coerced(self.field);
                    self.timestamp(instant)
                }
                Ok((_, true)) => {
                    let field = self.field;
                    let reason = format!("{v:?}: a date-time without an offset (--strict)");
                    Err(self.parse.fail(Some(field), reason))
                }
                Err(e) => {
                    let field = self.field;
                    Err(self.parse.fail(Some(field), format!("{v:?}: {e}")))
                }
            },
            FieldType::StringList => {
                let item = self.parse.push_text(v);
                self.one_item(item, what)
            }
            _ => Err(self.refuse(&what())),
        }
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Slot, A::Error> {
        match self.field_type() {
            FieldType::StringList => self.list(seq, ItemKind::String),
            FieldType::IntList => self.list(seq, ItemKind::Int),
            _ => Err(self.refuse("an array")),
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Slot, A::Error> {
        match self.field_type() {
            FieldType::StringMap => self.string_map(map),
            _ => Err(self.refuse("an object")),
        }
    }
}

/// The rules an item of a list or a value of a map follows.
#[derive(Clone, Copy)]
enum ItemKind {
    String,
    Int,
}

/// Where an item is, for reject reasons.
#[derive(Clone, Copy)]
enum Place<'k> {
    /// The item at this index of a list.
    Item(usize),
    /// The value of this key of a map.
    Key(&'k str),
}

impl fmt::Display for Place<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Place::Item(i) => write!(f, "item {i}"),
            Place::Key(k) => write!(f, "key {k:?}"),
        }
    }
}

/// Parses one item of a list or one value of a map (`null` is kept as NULL).
struct ItemSeed<'p, 'a, 'k> {
    parse: &'p mut RowParse<'a>,
    field: usize,
    kind: ItemKind,
    at: Place<'k>,
}

impl ItemSeed<'_, '_, '_> {
    fn refuse<E: de::Error>(self, what: &str) -> E {
        let expected = match self.kind {
            ItemKind::String => "a string",
            ItemKind::Int => "an integer",
        };
        let reason = format!("{}: expected {expected}, found {what}", self.at);
        self.parse.fail(Some(self.field), reason)
    }
}

impl<'de> DeserializeSeed<'de> for ItemSeed<'_, '_, '_> {
    type Value = Slot;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Slot, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ItemSeed<'_, '_, '_> {
    type Value = Slot;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an item")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Slot, E> {
        Ok(Slot::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Slot, E> {
        Err(self.refuse("a boolean"))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Slot, E> {
        match self.kind {
            ItemKind::Int => Ok(Slot::Int(v)),
            ItemKind::String => Err(self.refuse("a number")),
        }
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Slot, E> {
        match (self.kind, i64::try_from(v)) {
            (ItemKind::Int, Ok(v)) => Ok(Slot::Int(v)),
            (ItemKind::Int, Err(_)) => Err(self.refuse("an integer beyond the int64 range")),
            (ItemKind::String, _) => Err(self.refuse("a number")),
        }
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Slot, E> {
        Err(self.refuse("a number with a fraction or exponent, or beyond the int64 range"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Slot, E> {
        match self.kind {
            ItemKind::String => Ok(self.parse.push_text(v)),
            ItemKind::Int => match parse_int_text(v) {
                Some(n) if !self.parse.options.strict => {
                    self.parse.coerced(self.field);
                    Ok(Slot::Int(n))
                }
                Some(_) => Err(self.refuse(&format!("the string {v:?} (--strict)"))),
                None => Err(self.refuse(&format!("the string {v:?}"))),
            },
        }
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Slot, A::Error> {
        Err(self.refuse("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Slot, A::Error> {
        Err(self.refuse("an object"))
    }
}

/// The deepest nesting a `json` value may have: serde_json's own limit elsewhere, and well
/// within what DuckDB and Spark (Jackson) read.
pub(super) const MAX_JSON_DEPTH: usize = 128;

/// How deeply arrays and objects nest in the JSON text `text` (valid JSON).
fn json_depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0, false, false);
    for &b in text.as_bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth -= 1,
            _ => {}
        }
    }
    deepest
}
