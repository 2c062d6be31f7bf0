//! Decoding: NDJSON lines into Arrow record batches, driven by an [`EventSchema`].
//!
//! Each line is parsed straight from its bytes into one typed slot per field; no
//! `serde_json::Value` tree is built. Two parsers share that job: `scan`, a fast scanner for
//! the objects Logpush writes (lists, string maps and JSON values included), which gives up on
//! anything unusual, and `general`, a serde visitor over `serde_json`, which handles every line
//! the scanner gives up on and owns every reject reason. CSV records (`csv`) become JSON objects first.
//! Only when the whole line has parsed are its slots appended to the column builders, so a
//! rejected line leaves no trace in a batch.
//!
//! What a line may hold (everything else rejects the line with a [`LineReject`]):
//! - keys in any order; an absent key or `null` is NULL; a key given twice is rejected, since
//!   one value would be lost;
//! - keys the field list does not know: kept in the catch-all column as the exact JSON text of
//!   an object of those keys and values, left out, or rejected, as the schema's
//!   [`UnknownFields`] says; counted by name either way (a line with more unknown keys than
//!   known ones is rejected as another dataset's);
//! - `int`: a JSON integer in the `i64` range; fractions, exponents and out-of-range numbers
//!   are rejected;
//! - `bool`: `true`/`false`;
//! - `float`: any JSON number;
//! - `string`: a JSON string (enum values outside the documented list are kept and counted);
//! - `timestamp`: see [`crate::time`]; with `zero_is_null`, the epoch becomes NULL; with an
//!   `epoch_unit`, epoch integers are read in that unit instead of by their magnitude;
//! - `string_list`, `int_list`: a JSON array whose items follow the `string` or `int` rules
//!   (`null` items are kept as NULL);
//! - `string_map`: a JSON object of string (or `null`) values, each key once;
//! - `json`: any JSON value, kept as its exact text (`null` is NULL).
//!
//! Lossless readings: a value of another JSON type than the declared one is kept when it has an
//! exact reading, and counted per field ([`DecodeStats::values_coerced`]); `strict` refuses
//! them. A number or boolean in a `string` field becomes its exact JSON text; an integral string
//! in an `int` field (or `int_list` item) the integer; `"true"`/`"false"` in a `bool` field the
//! boolean; a finite decimal string in a `float` field the number; `""` in an `int`, `float`,
//! `bool` or `timestamp` field NULL; a date-time without an offset in a `timestamp` field the
//! UTC instant; a string where a `string_list`, or an integer where an `int_list`, is declared
//! a one-item list.
//!
//! A value of another shape (an object where a list is declared, an array inside a map) rejects
//! the line, naming the field and, inside a list or map, the item or key.
//!
//! The decoder never learns where its lines came from: the caller frames lines
//! ([`lines::LineReader`]) and attaches file names and line numbers to rejects.

pub mod columns;
pub mod csv;
mod general;
pub mod lines;
mod scan;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_array::types::ArrowPrimitiveType;
use arrow_schema::{SchemaRef, TimeUnit};

use crate::error::{Error, Result};
use crate::hive::{MAX_FOLDER_NAME_BYTES, folder_name_len};
use crate::schema::{EnumKey, EventSchema, FieldSpec, UnknownFields};
use crate::time::{self, Instant};
use columns::{ColumnBuilder, RowData, Slot};

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

/// Distinct unknown key names counted by name in one run; occurrences of further names are
/// counted together ([`DecodeStats::unknown_fields_other`]), so that a run whose lines each
/// bring new keys keeps a bounded summary.
pub const MAX_UNKNOWN_NAMES: usize = 10_000;

/// Counts kept while decoding, merged into the run's summary.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodeStats {
    /// Rows accepted.
    pub rows: u64,
    /// Unknown keys, by name: how many accepted rows carried each (at most
    /// [`MAX_UNKNOWN_NAMES`] names).
    pub unknown_fields: BTreeMap<String, u64>,
    /// Occurrences of unknown keys beyond the first [`MAX_UNKNOWN_NAMES`] names.
    pub unknown_fields_other: u64,
    /// Values outside an enum's documented list, by field.
    pub out_of_enum: BTreeMap<String, u64>,
    /// Values kept by a lossless reading of another JSON type, by field.
    pub values_coerced: BTreeMap<String, u64>,
}

impl DecodeStats {
    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: DecodeStats) {
        self.rows += other.rows;
        for (k, v) in other.unknown_fields {
            self.count_unknown(k, v);
        }
        self.unknown_fields_other += other.unknown_fields_other;
        for (k, v) in other.out_of_enum {
            *self.out_of_enum.entry(k).or_default() += v;
        }
        for (k, v) in other.values_coerced {
            *self.values_coerced.entry(k).or_default() += v;
        }
    }

    /// Counts the unknown keys of an accepted row, each once (a key given twice is kept only
    /// when unknown keys are dropped). Out of line: most rows have none.
    #[inline(never)]
    fn count_unknown_keys(&mut self, row: &RowScratch) {
        for (n, key) in row.unknown.iter().enumerate() {
            let name = row.unknown_name(key);
            if !row.unknown[..n].iter().any(|k| row.unknown_name(k) == name) {
                self.count_unknown(name, 1);
            }
        }
    }

    /// Counts `n` occurrences of the unknown key `name`.
    fn count_unknown(&mut self, name: impl AsRef<str> + Into<String>, n: u64) {
        let full = self.unknown_fields.len() >= MAX_UNKNOWN_NAMES;
        match self.unknown_fields.get_mut(name.as_ref()) {
            Some(count) => *count += n,
            None if full => self.unknown_fields_other += n,
            None => {
                self.unknown_fields.insert(name.into(), n);
            }
        }
    }
}

/// Options of a [`Decoder`].
#[derive(Debug, Clone, Copy)]
pub struct DecodeOptions {
    /// The unit of timestamp columns.
    pub timestamp_unit: TimeUnit,
    /// Documented types only: no lossless readings of values of another JSON type.
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
/// assert_eq!((batch.num_rows(), batch.num_columns()), (1, 32)); // 31 fields and `_extra`
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
    /// Values kept by a lossless reading since the last [`Decoder::take_stats`], by field.
    coerced: Vec<u64>,
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
    /// The line's unknown keys, in order.
    unknown: Vec<UnknownKey>,
    /// Fields whose value was kept by a lossless reading.
    coerced: Vec<u32>,
    /// The catch-all object being assembled.
    extra: String,
}

/// An unknown key of a line: its name (unescaped, a range of the row's text) and, when unknown
/// keys are kept, its value's exact JSON text ([`Slot::Line`] or [`Slot::Str`]; otherwise
/// [`Slot::Absent`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct UnknownKey {
    pub(crate) name: (u32, u32),
    pub(crate) value: Slot,
}

impl RowScratch {
    fn unknown_name(&self, key: &UnknownKey) -> &str {
        &self.text[key.name.0 as usize..key.name.1 as usize]
    }
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
            coerced: vec![0; schema.fields().len()],
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
    /// ([`crate::hive::MAX_FOLDER_NAME_BYTES`]).
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
        for (i, n) in self.coerced.iter_mut().enumerate() {
            if *n > 0 {
                let name = self.schema.fields()[i].name.clone();
                *self.stats.values_coerced.entry(name).or_default() += std::mem::take(n);
            }
        }
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
        self.check_unknown_keys()?;
        self.check_folder_names(line_text)?;
        if let Some(i) = self.schema.catch_all() {
            self.row.slots[i] = match self.row.unknown.is_empty() {
                true => Slot::Null,
                false => self.row.catch_all(line_text),
            };
        }
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
        if !row.unknown.is_empty() {
            self.stats.count_unknown_keys(row);
        }
        for &i in &row.coerced {
            self.coerced[i as usize] += 1;
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
            .map(|key| self.row.unknown_name(key))
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

    /// Refuses an unknown key given twice when unknown keys are kept: the catch-all object
    /// would hold it twice, and readers keep one of its values.
    #[inline(always)]
    fn check_unknown_keys(&self) -> Result<(), LineReject> {
        if self.row.unknown.len() < 2 || self.schema.unknown_fields() != UnknownFields::Keep {
            return Ok(());
        }
        self.check_unknown_keys_once()
    }

    #[inline(never)]
    fn check_unknown_keys_once(&self) -> Result<(), LineReject> {
        let mut names: Vec<&str> = (self.row.unknown.iter())
            .map(|key| self.row.unknown_name(key))
            .collect();
        names.sort_unstable();
        match names.windows(2).find(|pair| pair[0] == pair[1]) {
            Some(pair) => Err(LineReject {
                field: Some(pair[0].to_string()),
                reason: "key appears twice in the object".into(),
            }),
            None => Ok(()),
        }
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
        general::parse_row(&self.schema, self.options, &mut self.row, line)
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
        self.coerced.clear();
    }

    /// The catch-all value of a row with unknown keys: the JSON text of an object of those keys
    /// and their values, in line order. `line` is the line when the fast scanner parsed it (its
    /// slots may point into it). Out of line: most rows have no unknown key.
    #[inline(never)]
    fn catch_all(&mut self, line: &str) -> Slot {
        let extra = &mut self.extra;
        extra.clear();
        extra.push('{');
        for (n, key) in self.unknown.iter().enumerate() {
            if n > 0 {
                extra.push(',');
            }
            push_json_string(extra, &self.text[key.name.0 as usize..key.name.1 as usize]);
            extra.push(':');
            let value = key.value.text(&self.text, line);
            extra.push_str(value.expect("unknown values are kept as text"));
        }
        extra.push('}');
        let start = self.text.len() as u32;
        self.text.push_str(&self.extra);
        Slot::Str(start, self.text.len() as u32)
    }
}

/// Appends `s` as a JSON string: quoted, with `"`, `\` and control characters escaped.
pub(crate) fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    let mut rest = s;
    while let Some(i) = rest.find(|c: char| c == '"' || c == '\\' || c < ' ') {
        out.push_str(&rest[..i]);
        let c = rest.as_bytes()[i];
        match c {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            _ => {
                use std::fmt::Write as _;
                let _ = write!(out, "\\u{c:04x}");
            }
        }
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
    out.push('"');
}

fn increment(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            map.insert(key.to_string(), 1);
        }
    }
}

/// The instant of an epoch integer of field `spec`: in its declared unit, else by magnitude.
pub(crate) fn epoch_instant(spec: &FieldSpec, n: i64) -> Instant {
    match spec.epoch_unit {
        Some(unit) => Instant::from_epoch(n, unit.per_second()),
        None => Instant::from_epoch_int(n),
    }
}

/// The instant of a timestamp string of field `spec`: digits in its declared unit, when it has
/// one; otherwise as [`time::parse_timestamp_reading`] reads it. The flag says whether it
/// took a lossless reading (a date-time without an offset).
pub(crate) fn parse_timestamp_text(
    spec: &FieldSpec,
    v: &str,
) -> Result<(Instant, bool), time::TimestampError> {
    match (spec.epoch_unit, parse_int_text(v)) {
        (Some(_), Some(n)) => Ok((epoch_instant(spec, n), false)),
        _ => time::parse_timestamp_reading(v),
    }
}

/// A number written as text the way JSON writes numbers (`"0.25"`, `"-3"`, `"1e-3"`), finite:
/// not `.5`, `5.`, `+5`, `NaN` or `inf`, which no JSON number is either.
pub(crate) fn parse_float_text(v: &str) -> Option<f64> {
    if !is_json_number(v.as_bytes()) {
        return None;
    }
    v.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`: JSON's number grammar.
fn is_json_number(b: &[u8]) -> bool {
    let digits = |at: usize| {
        b[at.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    let mut at = usize::from(b.first() == Some(&b'-'));
    match digits(at) {
        0 => return false,
        n if n > 1 && b[at] == b'0' => return false,
        n => at += n,
    }
    if b.get(at) == Some(&b'.') {
        match digits(at + 1) {
            0 => return false,
            n => at += 1 + n,
        }
    }
    if matches!(b.get(at), Some(b'e' | b'E')) {
        at += 1;
        if matches!(b.get(at), Some(b'+' | b'-')) {
            at += 1;
        }
        match digits(at) {
            0 => return false,
            n => at += n,
        }
    }
    at == b.len()
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
