//! Column builders: one per field, appending the typed values of accepted rows and finishing
//! them into Arrow arrays of the mapped type.
//!
//! arrow-json has no dictionary decoder, so enum columns use `EnumBuilder`, a dictionary
//! builder for columns of few distinct values (faster there than arrow's hashing
//! `StringDictionaryBuilder`), and count values outside the documented list here.

use std::sync::Arc;

use arrow_buffer::NullBufferBuilder;

use std::collections::HashMap;

use arrow_array::builder::{
    BooleanBuilder, Float64Builder, Int64Builder, ListBuilder, MapBuilder, MapFieldNames,
    StringBuilder,
};
use arrow_array::{
    Array, ArrayRef, DictionaryArray, PrimitiveArray, StringArray, TimestampMicrosecondArray,
    TimestampMillisecondArray, TimestampNanosecondArray, TimestampSecondArray,
};
use arrow_schema::TimeUnit;

use crate::schema::{EnumKey, FieldSpec, FieldType, TIMESTAMP_TZ, list_item, map_entries};

/// One row's value for one field, staged until the whole line has parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// The key was not in the line.
    Absent,
    /// JSON `null` (or a zero timestamp of a `zero_is_null` field).
    Null,
    /// An integer, or a timestamp already in the output unit.
    Int(i64),
    /// A float, as its bits (so that slots stay `Eq`).
    Float(u64),
    /// A boolean.
    Bool(bool),
    /// A string, as a byte range of the row's text buffer (unescaped strings).
    Str(u32, u32),
    /// A string, as a byte range of the line itself (strings without escapes, which the fast
    /// scanner does not copy).
    Line(u32, u32),
    /// The items of a list, or the keys and values (alternating) of a map: a range of the
    /// row's item slots.
    Items(u32, u32),
}

impl Slot {
    /// The text of a string slot: from the row's text buffer or from the line.
    pub(crate) fn text<'a>(self, text: &'a str, line: &'a str) -> Option<&'a str> {
        match self {
            Slot::Str(s, e) => Some(&text[s as usize..e as usize]),
            Slot::Line(s, e) => Some(&line[s as usize..e as usize]),
            _ => None,
        }
    }
}

/// Where a row's slots point: its text buffer, its line and its item slots.
#[derive(Clone, Copy)]
pub(crate) struct RowData<'a> {
    pub(crate) text: &'a str,
    pub(crate) line: &'a str,
    pub(crate) items: &'a [Slot],
}

impl<'a> RowData<'a> {
    fn text_of(&self, slot: Slot) -> Option<&'a str> {
        slot.text(self.text, self.line)
    }

    fn items_of(&self, slot: Slot) -> &'a [Slot] {
        match slot {
            Slot::Items(s, e) => &self.items[s as usize..e as usize],
            _ => &[],
        }
    }
}

/// Builds a dictionary column of enum values for one batch: a key per row, each distinct value
/// once, in order of first appearance. Enum columns hold a handful of distinct values, so a
/// value is looked up by comparing it with the last one seen and then with each, and only a
/// column with many goes through a hash map.
pub(crate) struct EnumBuilder {
    keys: Vec<i16>,
    nulls: NullBufferBuilder,
    /// The distinct values of the batch, by key.
    values: Vec<Box<str>>,
    /// Keys by value, once there are more than [`EnumBuilder::SCAN_LIMIT`] values.
    by_value: HashMap<Box<str>, i16>,
    last: Option<i16>,
}

impl EnumBuilder {
    /// Up to this many distinct values, a lookup compares with each in turn.
    const SCAN_LIMIT: usize = 16;

    fn with_capacity(capacity: usize) -> Self {
        EnumBuilder {
            keys: Vec::with_capacity(capacity),
            nulls: NullBufferBuilder::new(capacity),
            values: Vec::new(),
            by_value: HashMap::new(),
            last: None,
        }
    }

    /// Appends `value`; returns its key and whether it is new to the batch.
    fn append(&mut self, value: &str) -> (i16, bool) {
        let found = match self.last {
            Some(key) if *self.values[key as usize] == *value => Some(key),
            _ if self.values.len() <= Self::SCAN_LIMIT => self
                .values
                .iter()
                .position(|v| **v == *value)
                .map(|i| i as i16),
            _ => self.by_value.get(value).copied(),
        };
        let (key, new) = match found {
            Some(key) => (key, false),
            None => {
                let key = i16::try_from(self.values.len())
                    .expect("batch size is capped below the dictionary key range");
                self.values.push(value.into());
                if self.values.len() > Self::SCAN_LIMIT {
                    if self.by_value.is_empty() {
                        for (i, v) in self.values.iter().enumerate() {
                            self.by_value.insert(v.clone(), i as i16);
                        }
                    } else {
                        self.by_value.insert(value.into(), key);
                    }
                }
                (key, true)
            }
        };
        self.keys.push(key);
        self.nulls.append_non_null();
        self.last = Some(key);
        (key, new)
    }

    fn append_null(&mut self) {
        self.keys.push(0);
        self.nulls.append_null();
    }

    /// The batch's column, and a fresh start for the next batch, with room for as many rows.
    fn finish(&mut self) -> DictionaryArray<EnumKey> {
        let rows = self.keys.len();
        let keys = PrimitiveArray::<EnumKey>::new(
            std::mem::replace(&mut self.keys, Vec::with_capacity(rows)).into(),
            self.nulls.finish(),
        );
        let values: StringArray = self.values.iter().map(|v| Some(&**v)).collect();
        self.values.clear();
        self.by_value.clear();
        self.last = None;
        DictionaryArray::try_new(keys, Arc::new(values))
            .expect("every key indexes a value of the batch")
    }
}

/// Builds one column.
#[allow(
    clippy::large_enum_variant,
    reason = "one builder per column, 31 per decoder: the variants' sizes do not matter"
)]
pub(crate) enum ColumnBuilder {
    Str(StringBuilder),
    Enum {
        builder: EnumBuilder,
        documented: Vec<String>,
        /// Per dictionary key of the current batch: whether its value is documented. Filled
        /// when a key first appears, so each distinct value is checked once per batch.
        key_documented: Vec<bool>,
    },
    Int(Int64Builder),
    Float(Float64Builder),
    Bool(BooleanBuilder),
    Time(Int64Builder, TimeUnit),
    StrList(ListBuilder<StringBuilder>),
    IntList(ListBuilder<Int64Builder>),
    StrMap(MapBuilder<StringBuilder, StringBuilder>),
}

impl ColumnBuilder {
    pub(crate) fn new(field: &FieldSpec, unit: TimeUnit, capacity: usize) -> Self {
        match (field.field_type, &field.enum_values) {
            (FieldType::String, Some(values)) => ColumnBuilder::Enum {
                builder: EnumBuilder::with_capacity(capacity),
                documented: values.clone(),
                key_documented: Vec::new(),
            },
            (FieldType::String | FieldType::Json, _) => {
                ColumnBuilder::Str(StringBuilder::with_capacity(capacity, capacity * 16))
            }
            (FieldType::Int, _) => ColumnBuilder::Int(Int64Builder::with_capacity(capacity)),
            (FieldType::Float, _) => ColumnBuilder::Float(Float64Builder::with_capacity(capacity)),
            (FieldType::Bool, _) => ColumnBuilder::Bool(BooleanBuilder::with_capacity(capacity)),
            (FieldType::Timestamp, _) => {
                ColumnBuilder::Time(Int64Builder::with_capacity(capacity), unit)
            }
            (FieldType::StringList, _) => ColumnBuilder::StrList(string_list(capacity)),
            (FieldType::IntList, _) => ColumnBuilder::IntList(int_list(capacity)),
            (FieldType::StringMap, _) => ColumnBuilder::StrMap(string_map(capacity)),
        }
    }

    /// Appends one staged value; string slots are read from the row's text or line, list and
    /// map slots from its items. Returns `true` when an enum value is outside the documented
    /// list. Inlined into the decoder's loop over a row's columns: called once per value, it
    /// cost 5% more instructions as a call (measured with callgrind on spectrum_events).
    #[inline(always)]
    pub(crate) fn append(&mut self, slot: Slot, row: RowData<'_>) -> bool {
        match (self, slot) {
            (ColumnBuilder::Str(b), Slot::Str(..) | Slot::Line(..)) => {
                b.append_value(row.text_of(slot).expect("a string slot"))
            }
            (
                ColumnBuilder::Enum {
                    builder,
                    documented,
                    key_documented,
                },
                Slot::Str(..) | Slot::Line(..),
            ) => {
                let value = row.text_of(slot).expect("a string slot");
                let (key, new) = builder.append(value);
                if new {
                    key_documented.push(documented.iter().any(|d| d == value));
                }
                return !key_documented[key as usize];
            }
            (ColumnBuilder::Int(b) | ColumnBuilder::Time(b, _), Slot::Int(v)) => b.append_value(v),
            (ColumnBuilder::Float(b), Slot::Float(bits)) => b.append_value(f64::from_bits(bits)),
            (ColumnBuilder::Bool(b), Slot::Bool(v)) => b.append_value(v),
            (ColumnBuilder::StrList(b), Slot::Items(..)) => {
                for &item in row.items_of(slot) {
                    b.values().append_option(row.text_of(item));
                }
                b.append(true);
            }
            (ColumnBuilder::IntList(b), Slot::Items(..)) => {
                for &item in row.items_of(slot) {
                    b.values().append_option(match item {
                        Slot::Int(v) => Some(v),
                        _ => None,
                    });
                }
                b.append(true);
            }
            (ColumnBuilder::StrMap(b), Slot::Items(..)) => {
                for pair in row.items_of(slot).chunks_exact(2) {
                    b.keys()
                        .append_value(row.text_of(pair[0]).expect("a map key is a string"));
                    b.values().append_option(row.text_of(pair[1]));
                }
                b.append(true).expect("as many keys as values");
            }
            (builder, slot) => {
                debug_assert!(
                    matches!(slot, Slot::Absent | Slot::Null),
                    "slot {slot:?} does not fit its column"
                );
                builder.append_null();
            }
        }
        false
    }

    fn append_null(&mut self) {
        match self {
            ColumnBuilder::Str(b) => b.append_null(),
            ColumnBuilder::Enum { builder, .. } => builder.append_null(),
            ColumnBuilder::Int(b) | ColumnBuilder::Time(b, _) => b.append_null(),
            ColumnBuilder::Float(b) => b.append_null(),
            ColumnBuilder::Bool(b) => b.append_null(),
            ColumnBuilder::StrList(b) => b.append_null(),
            ColumnBuilder::IntList(b) => b.append_null(),
            ColumnBuilder::StrMap(b) => b.append(false).expect("as many keys as values"),
        }
    }

    /// Finishes the rows appended so far into an array, and makes room in the builder for as
    /// many rows in the next batch: arrow's builders hand their buffers over to the array and
    /// would start again from nothing, growing by copying as they double.
    pub(crate) fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Str(b) => {
                let array = b.finish();
                *b = StringBuilder::with_capacity(array.len(), array.values().len());
                Arc::new(array)
            }
            ColumnBuilder::Enum {
                builder,
                key_documented,
                ..
            } => {
                key_documented.clear();
                Arc::new(builder.finish())
            }
            ColumnBuilder::Int(b) => {
                let array = b.finish();
                *b = Int64Builder::with_capacity(array.len());
                Arc::new(array)
            }
            ColumnBuilder::Float(b) => {
                let array = b.finish();
                *b = Float64Builder::with_capacity(array.len());
                Arc::new(array)
            }
            ColumnBuilder::Bool(b) => {
                let array = b.finish();
                *b = BooleanBuilder::with_capacity(array.len());
                Arc::new(array)
            }
            // Nested columns are rare and narrow: arrow's builders keep their capacity.
            ColumnBuilder::StrList(b) => Arc::new(b.finish()),
            ColumnBuilder::IntList(b) => Arc::new(b.finish()),
            ColumnBuilder::StrMap(b) => Arc::new(b.finish()),
            ColumnBuilder::Time(b, unit) => {
                let (_, values, nulls) = b.finish().into_parts();
                *b = Int64Builder::with_capacity(values.len());
                match unit {
                    TimeUnit::Second => Arc::new(
                        TimestampSecondArray::new(values, nulls).with_timezone(TIMESTAMP_TZ),
                    ),
                    TimeUnit::Millisecond => Arc::new(
                        TimestampMillisecondArray::new(values, nulls).with_timezone(TIMESTAMP_TZ),
                    ),
                    TimeUnit::Microsecond => Arc::new(
                        TimestampMicrosecondArray::new(values, nulls).with_timezone(TIMESTAMP_TZ),
                    ),
                    TimeUnit::Nanosecond => Arc::new(
                        TimestampNanosecondArray::new(values, nulls).with_timezone(TIMESTAMP_TZ),
                    ),
                }
            }
        }
    }
}

/// A builder of `List(Utf8)` columns, typed as the schema says ([`list_item`]).
fn string_list(capacity: usize) -> ListBuilder<StringBuilder> {
    ListBuilder::with_capacity(StringBuilder::new(), capacity)
        .with_field(Arc::new(list_item(arrow_schema::DataType::Utf8)))
}

/// A builder of `List(Int64)` columns.
fn int_list(capacity: usize) -> ListBuilder<Int64Builder> {
    ListBuilder::with_capacity(Int64Builder::new(), capacity)
        .with_field(Arc::new(list_item(arrow_schema::DataType::Int64)))
}

/// A builder of `Map(Utf8, Utf8)` columns with the schema's entry names ([`map_entries`]).
fn string_map(capacity: usize) -> MapBuilder<StringBuilder, StringBuilder> {
    let entries = map_entries();
    let arrow_schema::DataType::Struct(fields) = entries.data_type() else {
        unreachable!("map entries are a struct")
    };
    let names = MapFieldNames {
        entry: entries.name().clone(),
        key: fields[0].name().clone(),
        value: fields[1].name().clone(),
    };
    MapBuilder::with_capacity(
        Some(names),
        StringBuilder::new(),
        StringBuilder::new(),
        capacity,
    )
    .with_keys_field(fields[0].clone())
    .with_values_field(fields[1].clone())
}
