//! Column builders: one per field, appending the typed values of accepted rows and finishing
//! them into Arrow arrays of the mapped type.
//!
//! arrow-json has no dictionary decoder, so enum columns use arrow's `StringDictionaryBuilder`
//! directly and count values outside the documented list here.

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Int64Builder, StringBuilder, StringDictionaryBuilder};
use arrow_array::{
    ArrayRef, TimestampMicrosecondArray, TimestampMillisecondArray, TimestampNanosecondArray,
    TimestampSecondArray,
};
use arrow_schema::TimeUnit;

use crate::schema::{EnumKey, FieldSpec, FieldType, TIMESTAMP_TZ};

/// One row's value for one field, staged until the whole line has parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    /// The key was not in the line.
    Absent,
    /// JSON `null` (or a zero timestamp of a `zero_is_null` field).
    Null,
    /// An integer, or a timestamp already in the output unit.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// A string, as a byte range of the row's text buffer.
    Str(u32, u32),
}

/// Builds one column.
#[allow(
    clippy::large_enum_variant,
    reason = "one builder per column, 31 per decoder: the variants' sizes do not matter"
)]
pub(crate) enum ColumnBuilder {
    Str(StringBuilder),
    Enum {
        builder: StringDictionaryBuilder<EnumKey>,
        documented: Vec<String>,
        /// Per dictionary key of the current batch: whether its value is documented. Filled
        /// when a key first appears, so each distinct value is checked once per batch.
        key_documented: Vec<bool>,
    },
    Int(Int64Builder),
    Bool(BooleanBuilder),
    Time(Int64Builder, TimeUnit),
}

impl ColumnBuilder {
    pub(crate) fn new(field: &FieldSpec, unit: TimeUnit, capacity: usize) -> Self {
        match (field.field_type, &field.enum_values) {
            (FieldType::String, Some(values)) => ColumnBuilder::Enum {
                builder: StringDictionaryBuilder::with_capacity(capacity, values.len(), 64),
                documented: values.clone(),
                key_documented: Vec::new(),
            },
            (FieldType::String, None) => {
                ColumnBuilder::Str(StringBuilder::with_capacity(capacity, capacity * 16))
            }
            (FieldType::Int, _) => ColumnBuilder::Int(Int64Builder::with_capacity(capacity)),
            (FieldType::Bool, _) => ColumnBuilder::Bool(BooleanBuilder::with_capacity(capacity)),
            (FieldType::Timestamp, _) => {
                ColumnBuilder::Time(Int64Builder::with_capacity(capacity), unit)
            }
        }
    }

    /// Appends one staged value. Returns `true` when an enum value is outside the documented list.
    pub(crate) fn append(&mut self, slot: Slot, text: &str) -> bool {
        match (self, slot) {
            (ColumnBuilder::Str(b), Slot::Str(s, e)) => {
                b.append_value(&text[s as usize..e as usize])
            }
            (
                ColumnBuilder::Enum {
                    builder,
                    documented,
                    key_documented,
                },
                Slot::Str(s, e),
            ) => {
                let value = &text[s as usize..e as usize];
                let key = builder
                    .append(value)
                    .expect("batch size is capped below the dictionary key range")
                    as usize;
                if key == key_documented.len() {
                    key_documented.push(documented.iter().any(|d| d == value));
                }
                return !key_documented[key];
            }
            (ColumnBuilder::Int(b) | ColumnBuilder::Time(b, _), Slot::Int(v)) => b.append_value(v),
            (ColumnBuilder::Bool(b), Slot::Bool(v)) => b.append_value(v),
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
            ColumnBuilder::Bool(b) => b.append_null(),
        }
    }

    /// Finishes the rows appended so far into an array and resets the builder.
    pub(crate) fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Str(b) => Arc::new(b.finish()),
            ColumnBuilder::Enum {
                builder,
                key_documented,
                ..
            } => {
                key_documented.clear();
                Arc::new(builder.finish())
            }
            ColumnBuilder::Int(b) => Arc::new(b.finish()),
            ColumnBuilder::Bool(b) => Arc::new(b.finish()),
            ColumnBuilder::Time(b, unit) => {
                let (_, values, nulls) = b.finish().into_parts();
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
