//! Decoding: NDJSON lines into Arrow record batches, driven by an [`EventSchema`].
//!
//! Each line is parsed straight from its bytes into one typed slot per field; no
//! `serde_json::Value` tree is built. Two parsers share that job: `scan`, a fast scanner for
//! the flat objects Logpush writes, which gives up on anything unusual, and a serde visitor over
//! `serde_json`, which handles every line the scanner gives up on and owns every reject reason.
//! Only when the whole line has parsed are its slots appended to the column builders, so a
//! rejected line leaves no trace in a batch.
//!
//! What a line may hold (everything else rejects the line with a [`LineReject`]):
//! - keys in any order; an absent key or `null` is NULL; unknown keys are skipped and counted
//!   (rejected under `strict`); a key given twice is rejected, since one value would be lost;
//! - `int`: a JSON integer in the `i64` range, or a string of such an integer (`"443"`);
//!   fractions, exponents and out-of-range numbers are rejected;
//! - `bool`: `true`/`false`, or the strings `"true"`/`"false"`;
//! - `float`: any JSON number, or a string of a finite decimal number (`"0.25"`);
//! - `string`: a JSON string (enum values outside the documented list are kept and counted);
//! - `timestamp`: see [`timestamp`]; with `zero_is_null`, the epoch becomes NULL; with an
//!   `epoch_unit`, epoch integers are read in that unit instead of by their magnitude;
//! - `string_list`, `int_list`: a JSON array whose items follow the `string` or `int` rules
//!   (`null` items are kept as NULL);
//! - `string_map`: a JSON object of string (or `null`) values, each key once;
//! - `json`: any JSON value, kept as its exact text (`null` is NULL).
//!
//! A value of another shape (an object where a list is declared, an array inside a map) rejects
//! the line, naming the field and, inside a list or map, the item or key.
//!
//! The decoder never learns where its lines came from: the caller frames lines
//! ([`lines::LineReader`]) and attaches file names and line numbers to rejects.

pub mod columns;
pub mod csv;
pub mod lines;
mod scan;
pub mod timestamp;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_array::types::ArrowPrimitiveType;
use arrow_schema::{SchemaRef, TimeUnit};
use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};

use crate::error::{Error, Result};
use crate::partition::{MAX_FOLDER_NAME_BYTES, folder_name_len};
use crate::schema::{EnumKey, EventSchema, FieldSpec, FieldType};
use columns::{ColumnBuilder, RowData, Slot};
use timestamp::Instant;

/// Rows per batch unless the caller says otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 8192;
/// The largest batch size: enum dictionaries of one batch must fit their 16-bit keys.
pub const MAX_BATCH_SIZE: usize = <EnumKey as ArrowPrimitiveType>::Native::MAX as usize;

/// Why a line was not converted. `Display` is the reason written to the rejects file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineReject {
    /// The field whose value was refused, when one field is to blame.
    pub field: Option<String>,
    /// What was wrong.
    pub reason: String,
}

impl fmt::Display for LineReject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.field {
            Some(field) => write!(f, "field {field}: {}", self.reason),
            None => f.write_str(&self.reason),
        }
    }
}

/// Counts kept while decoding, merged into the run's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Rows accepted.
    pub rows: u64,
    /// Unknown keys, by name: how many accepted rows carried each.
    pub unknown_fields: BTreeMap<String, u64>,
    /// Values outside an enum's documented list, by field.
    pub out_of_enum: BTreeMap<String, u64>,
}

impl DecodeStats {
    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: DecodeStats) {
        self.rows += other.rows;
        for (k, v) in other.unknown_fields {
            *self.unknown_fields.entry(k).or_default() += v;
        }
        for (k, v) in other.out_of_enum {
            *self.out_of_enum.entry(k).or_default() += v;
        }
    }
}

/// Options of a [`Decoder`].
#[derive(Debug, Clone, Copy)]
pub struct DecodeOptions {
    /// The unit of timestamp columns.
    pub timestamp_unit: TimeUnit,
    /// Reject lines with keys that are not in the field list.
    pub strict: bool,
    /// Rows per batch, 1 to [`MAX_BATCH_SIZE`].
    pub batch_size: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            timestamp_unit: TimeUnit::Microsecond,
            strict: false,
            batch_size: DEFAULT_BATCH_SIZE,
        }
    }
}

/// Turns NDJSON lines into record batches of the schema's Arrow type.
///
/// ```
/// use std::sync::Arc;
/// use logpush_parquet::decode::{DecodeOptions, Decoder};
/// use logpush_parquet::schema::EventSchema;
///
/// let schema = Arc::new(EventSchema::spectrum_events());
/// let mut decoder = Decoder::try_new(schema, DecodeOptions::default())?;
/// decoder.decode_line(br#"{"Event":"connect","Status":0,"Timestamp":1795474800}"#).unwrap();
/// let reject = decoder.decode_line(br#"{"Status":"n/a"}"#).unwrap_err();
/// assert_eq!(reject.to_string(), r#"field Status: expected an integer, found the string "n/a""#);
/// let batch = decoder.flush()?.expect("one row");
/// assert_eq!((batch.num_rows(), batch.num_columns()), (1, 31));
/// # Ok::<(), logpush_parquet::Error>(())
/// ```
pub struct Decoder {
    schema: Arc<EventSchema>,
    arrow_schema: SchemaRef,
    options: DecodeOptions,
    columns: Vec<ColumnBuilder>,
    rows: usize,
    row: RowScratch,
    stats: DecodeStats,
    scanner: scan::Scanner,
    /// Whether to try the fast scanner first (tests turn it off to compare the two parsers).
    fast_path: bool,
    /// Fields whose values become partition folder names, which have a length limit.
    folder_fields: Vec<usize>,
    /// The columns of CSV input (`None`: NDJSON), and the JSON object of the current record.
    csv: Option<csv::CsvColumns>,
    csv_json: Vec<u8>,
}

/// Per-line scratch space, reused from line to line.
#[derive(Default)]
pub(crate) struct RowScratch {
    slots: Vec<Slot>,
    text: String,
    /// Items of list and map values ([`Slot::Items`]).
    items: Vec<Slot>,
    unknown: Vec<(u32, u32)>,
}

impl Decoder {
    /// A decoder for `schema`; fails if the options are out of range.
    pub fn try_new(schema: Arc<EventSchema>, options: DecodeOptions) -> Result<Self> {
        if !(1..=MAX_BATCH_SIZE).contains(&options.batch_size) {
            return Err(Error::InvalidOption {
                option: "--batch-size",
                message: format!("must be between 1 and {MAX_BATCH_SIZE}"),
            });
        }
        let capacity = options.batch_size.min(DEFAULT_BATCH_SIZE);
        let columns = schema
            .fields()
            .iter()
            .map(|f| ColumnBuilder::new(f, options.timestamp_unit, capacity))
            .collect();
        Ok(Decoder {
            arrow_schema: schema.arrow_schema(options.timestamp_unit),
            row: RowScratch {
                slots: vec![Slot::Absent; schema.fields().len()],
                ..RowScratch::default()
            },
            schema,
            options,
            columns,
            rows: 0,
            stats: DecodeStats::default(),
            scanner: scan::Scanner::new(),
            fast_path: true,
            folder_fields: Vec::new(),
            csv: None,
            csv_json: Vec::new(),
        })
    }

    /// Rejects lines whose value of one of `fields` is too long to be a partition folder name
    /// ([`crate::partition::MAX_FOLDER_NAME_BYTES`]).
    pub fn with_partition_fields(mut self, fields: Vec<usize>) -> Self {
        self.folder_fields = fields;
        self
    }

    /// Reads lines as CSV records of `columns` (Logpush's `output_type: csv`) instead of JSON
    /// objects.
    pub fn with_csv_columns(mut self, columns: Option<csv::CsvColumns>) -> Self {
        self.csv = columns;
        self
    }

    /// Turns the fast scanner off (`false`) so every line takes the serde path. For tests and
    /// fuzz targets that hold the two parsers to the same results; the output is the same
    /// either way, only slower.
    #[doc(hidden)]
    pub fn with_fast_path(mut self, on: bool) -> Self {
        self.fast_path = on;
        self
    }

    /// The Arrow schema of the batches this decoder yields.
    pub fn arrow_schema(&self) -> &SchemaRef {
        &self.arrow_schema
    }

    /// Rows buffered since the last flush.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether no rows are buffered.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// Whether a batch is full and should be flushed before the next line.
    pub fn is_full(&self) -> bool {
        self.rows >= self.options.batch_size
    }

    /// Counts since the last call.
    pub fn take_stats(&mut self) -> DecodeStats {
        std::mem::take(&mut self.stats)
    }

    /// Decodes one line (without its line ending) into the current batch. Call
    /// [`Decoder::flush`] when [`Decoder::is_full`] says so; past [`MAX_BATCH_SIZE`] buffered
    /// rows every line is refused.
    pub fn decode_line(&mut self, line: &[u8]) -> Result<(), LineReject> {
        if self.rows >= MAX_BATCH_SIZE {
            return Err(LineReject {
                field: None,
                reason: "the decoder's batch is full: flush it before decoding more lines".into(),
            });
        }
        let Some(csv) = &self.csv else {
            return self.decode_json(line);
        };
        let mut json = std::mem::take(&mut self.csv_json);
        let decoded = csv
            .to_json(line, &self.schema, &mut json)
            .and_then(|()| self.decode_json(&json));
        self.csv_json = json;
        decoded
    }

    /// Decodes one JSON object into the current batch.
    fn decode_json(&mut self, line: &[u8]) -> Result<(), LineReject> {
        // Only the fast scanner makes slots that point into the line, and only into valid UTF-8.
        let line_text = self.parse_row(line)?;
        self.check_dataset()?;
        self.check_folder_names(line_text)?;
        let row = &self.row;
        let data = RowData {
            text: &row.text,
            line: line_text,
            items: &row.items,
        };
        for (i, (column, slot)) in self.columns.iter_mut().zip(&row.slots).enumerate() {
            if column.append(*slot, data) {
                let name = &self.schema.fields()[i].name;
                increment(&mut self.stats.out_of_enum, name);
            }
        }
        for &(s, e) in &row.unknown {
            increment(
                &mut self.stats.unknown_fields,
                &row.text[s as usize..e as usize],
            );
        }
        self.stats.rows += 1;
        self.rows += 1;
        Ok(())
    }

    /// Refuses a line most of whose keys are not fields of the dataset: a line of another
    /// dataset (jobs of several datasets writing side by side) would otherwise become a row of
    /// NULLs. A line of this dataset with a few fields newer than the field list is kept (the
    /// unknown keys are counted).
    fn check_dataset(&self) -> Result<(), LineReject> {
        let unknown = self.row.unknown.len();
        if unknown == 0 {
            return Ok(());
        }
        let known = self
            .row
            .slots
            .iter()
            .filter(|s| **s != Slot::Absent)
            .count();
        if unknown <= known {
            return Ok(());
        }
        // Keys, not occurrences: an unknown key given twice is one key.
        let mut names: Vec<&str> = (self.row.unknown.iter())
            .map(|&(s, e)| &self.row.text[s as usize..e as usize])
            .collect();
        names.sort_unstable();
        names.dedup();
        let unknown = names.len();
        if unknown <= known {
            return Ok(());
        }
        Err(LineReject {
            field: None,
            reason: format!(
                "{unknown} of its {} keys are not fields of {}: a line of another dataset? \
                 (convert each dataset's inputs with its own --dataset)",
                unknown + known,
                self.schema.dataset()
            ),
        })
    }

    fn check_folder_names(&self, line: &str) -> Result<(), LineReject> {
        for &i in &self.folder_fields {
            if let Some(value) = self.row.slots[i].text(&self.row.text, line) {
                let name = &self.schema.fields()[i].name;
                let len = folder_name_len(name, value);
                if len > MAX_FOLDER_NAME_BYTES {
                    return Err(LineReject {
                        field: Some(name.clone()),
                        reason: format!(
                            "value too long for a partition folder name: {len} bytes once \
                             escaped, the limit is {MAX_FOLDER_NAME_BYTES}"
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// Parses a line into the row scratch slots without touching the column builders. Returns
    /// the line as text when the fast scanner parsed it (its slots may point into the line).
    fn parse_row<'l>(&mut self, line: &'l [u8]) -> Result<&'l str, LineReject> {
        self.row.clear();
        // One UTF-8 check for the whole line; the general path reports where it fails.
        if self.fast_path
            && let Ok(text) = simdutf8::basic::from_utf8(line)
        {
            let scanned = self.scanner.scan(
                text,
                &self.schema,
                self.options.timestamp_unit,
                self.options.strict,
                &mut self.row,
            );
            if scanned.is_ok() {
                return Ok(text);
            }
            self.row.clear();
        }
        self.parse_row_general(line).map(|()| "")
    }

    /// The general path: serde_json with a visitor that fills the slots.
    fn parse_row_general(&mut self, line: &[u8]) -> Result<(), LineReject> {
        let row = &mut self.row;
        let mut parse = RowParse {
            schema: &self.schema,
            options: self.options,
            row,
            current_field: None,
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
                field: parse
                    .current_field
                    .map(|i| self.schema.fields()[i].name.clone()),
                reason: json_error_reason(&e),
            })),
        }
    }

    /// The buffered rows as a batch, or `None` if there are none.
    pub fn flush(&mut self) -> Result<Option<RecordBatch>> {
        if self.rows == 0 {
            return Ok(None);
        }
        let arrays = self.columns.iter_mut().map(ColumnBuilder::finish).collect();
        self.rows = 0;
        Ok(Some(RecordBatch::try_new(
            self.arrow_schema.clone(),
            arrays,
        )?))
    }
}

impl RowScratch {
    fn clear(&mut self) {
        self.slots.fill(Slot::Absent);
        self.text.clear();
        self.items.clear();
        self.unknown.clear();
    }
}

fn increment(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_string(), 1);
        }
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
        if parse.options.strict {
            return Err(parse.fail(None, format!("unknown field {key:?} (--strict)")));
        }
        if let Slot::Str(s, e) = parse.push_text(key) {
            parse.row.unknown.push((s, e));
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
                    .fail(Some(field), timestamp::TimestampError::Range.to_string()))
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
            FieldType::Float => Ok(Slot::Float((v as f64).to_bits())),
            FieldType::Timestamp => {
                let instant = epoch_instant(self.spec(), v);
                self.timestamp(instant)
            }
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
        match self.field_type() {
            FieldType::String => Ok(self.parse.push_text(v)),
            FieldType::Int => match parse_int_text(v) {
                Some(n) => Ok(Slot::Int(n)),
                None => Err(self.refuse(&format!("the string {v:?}"))),
            },
            FieldType::Float => match parse_float_text(v) {
                Some(x) => Ok(Slot::Float(x.to_bits())),
                None => Err(self.refuse(&format!("the string {v:?}"))),
            },
            FieldType::Bool => match v {
                "true" => Ok(Slot::Bool(true)),
                "false" => Ok(Slot::Bool(false)),
                _ => Err(self.refuse(&format!("the string {v:?}"))),
            },
            FieldType::Timestamp => match parse_timestamp_text(self.spec(), v) {
                Ok(instant) => self.timestamp(instant),
                Err(e) => {
                    let field = self.field;
                    Err(self.parse.fail(Some(field), format!("{v:?}: {e}")))
                }
            },
            _ => Err(self.refuse(&format!("the string {v:?}"))),
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
                Some(n) => Ok(Slot::Int(n)),
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
const MAX_JSON_DEPTH: usize = 128;

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

/// The instant of an epoch integer of field `spec`: in its declared unit, else by magnitude.
pub(crate) fn epoch_instant(spec: &FieldSpec, n: i64) -> Instant {
    match spec.epoch_unit {
        Some(unit) => Instant::from_epoch(n, unit.per_second()),
        None => Instant::from_epoch_int(n),
    }
}

/// The instant of a timestamp string of field `spec`: digits in its declared unit, when it has
/// one; otherwise as [`timestamp::parse_timestamp_str`] reads it.
pub(crate) fn parse_timestamp_text(
    spec: &FieldSpec,
    v: &str,
) -> Result<Instant, timestamp::TimestampError> {
    match (spec.epoch_unit, parse_int_text(v)) {
        (Some(_), Some(n)) => Ok(epoch_instant(spec, n)),
        _ => timestamp::parse_timestamp_str(v),
    }
}

/// A finite decimal number written as text (`"0.25"`, `"-3"`, `"1e-3"`); not `NaN`, `inf` or
/// a leading `+`, which JSON numbers cannot be either.
pub(crate) fn parse_float_text(v: &str) -> Option<f64> {
    let first = v.bytes().next()?;
    if !(first.is_ascii_digit() || first == b'-') {
        return None;
    }
    v.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// A decimal `i64` written as text: optional `-`, ASCII digits, nothing else.
pub(crate) fn parse_int_text(v: &str) -> Option<i64> {
    let digits = v.strip_prefix('-').unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

#[cfg(test)]
mod tests;
