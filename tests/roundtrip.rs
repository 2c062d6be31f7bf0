//! Property: any valid event, written in any of the forms the decoding rules accept (ints as
//! numbers or strings, timestamps as epoch integers in any unit or RFC 3339 with any offset,
//! strings with any escapes, keys in any order, unknown keys, white space), is converted by the
//! binary and read back from the Parquet file with exactly the value it stands for.
//!
//! The expected values come from the generator (the value first, then a text for it), not from
//! the decoder; `src/decode/tests.rs` holds the fast and serde paths to each other, the fuzz
//! targets hold both to an oracle, and this closes the loop through Parquet.

#![allow(clippy::unwrap_used, reason = "test code: a panic is a test failure")]

mod common;

use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use common::*;
use logpush_parquet::schema::{EventSchema, FieldSpec, FieldType, UnknownFields};
use logpush_parquet::time::civil_from_days;
use proptest::prelude::*;

/// A value as it must read back (timestamps as an exact instant).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Cell {
    Null,
    Str(String),
    Int(i64),
    Bool(bool),
    Time { secs: i64, nanos: u32 },
}

/// One key of a line: its JSON text (`None`: the key is absent) and what it must read back as.
type Entry = (Option<String>, Cell);

fn json_string(s: &str, escape_all: bool) -> String {
    if !escape_all {
        return serde_json::to_string(s).unwrap();
    }
    let mut out = String::from("\"");
    for c in s.chars() {
        let mut units = [0u16; 2];
        for unit in c.encode_utf16(&mut units) {
            out.push_str(&format!("\\u{unit:04X}"));
        }
    }
    out.push('"');
    out
}

fn string_value(field: &FieldSpec) -> BoxedStrategy<Entry> {
    let text = prop_oneof![
        4 => any::<String>(),
        1 => "[\\x00-\\x1f\"\\\\/]{0,6}",
        1 => Just(String::new()),
        2 => prop::sample::select(field.enum_values.clone().unwrap_or_else(|| vec!["x".into()])),
    ];
    (text, any::<bool>())
        .prop_map(|(s, escape_all)| (Some(json_string(&s, escape_all)), Cell::Str(s)))
        .boxed()
}

fn int_value() -> BoxedStrategy<Entry> {
    (any::<i64>(), any::<bool>())
        .prop_map(|(n, quoted)| {
            let text = if quoted {
                format!("\"{n}\"")
            } else {
                n.to_string()
            };
            (Some(text), Cell::Int(n))
        })
        .boxed()
}

fn bool_value() -> BoxedStrategy<Entry> {
    (any::<bool>(), any::<bool>())
        .prop_map(|(b, quoted)| {
            let text = if quoted {
                format!("\"{b}\"")
            } else {
                b.to_string()
            };
            (Some(text), Cell::Bool(b))
        })
        .boxed()
}

/// `YYYY-MM-DDTHH:MM:SS[.f]` of `local_secs`, with `digits` fraction digits of `nanos`.
fn civil_text(local_secs: i64, nanos: u32, digits: u32, sep: char) -> String {
    let (y, m, d) = civil_from_days(local_secs.div_euclid(86_400));
    let sod = local_secs.rem_euclid(86_400);
    let mut text = format!(
        "{y:04}-{m:02}-{d:02}{sep}{:02}:{:02}:{:02}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    );
    if digits > 0 {
        let frac = nanos / 10u32.pow(9 - digits);
        text.push_str(&format!(".{frac:0width$}", width = digits as usize));
    }
    text
}

/// Timestamps between 1973-03-03 and the end of the unit's range (all four epoch units read
/// correctly there), in every accepted form.
fn timestamp_value(field: &FieldSpec, unit: TimeUnit) -> BoxedStrategy<Entry> {
    // Nanoseconds end in 2262; keep every instant writable in the output unit.
    let max_secs = if unit == TimeUnit::Nanosecond {
        9_000_000_000
    } else {
        99_999_999_999
    };
    let zero_is_null = field.zero_is_null;
    let instant = (100_000_000i64..max_secs, 0u32..1_000_000_000);
    let epoch =
        (instant.clone(), 0usize..4, any::<bool>()).prop_map(|((secs, nanos), form, quoted)| {
            // Epoch nanoseconds end in 2262: later instants are written in microseconds.
            let form = if form == 3 && secs >= 9_000_000_000 {
                2
            } else {
                form
            };
            let per_sec: i64 = [1, 1_000, 1_000_000, 1_000_000_000][form];
            let tick = 1_000_000_000 / per_sec as u32;
            let nanos = nanos / tick * tick;
            let n = secs * per_sec + i64::from(nanos) / (1_000_000_000 / per_sec);
            let text = if quoted {
                format!("\"{n}\"")
            } else {
                n.to_string()
            };
            (Some(text), Cell::Time { secs, nanos })
        });
    let rfc3339 = (
        instant,
        0u32..=9,
        -1439i64..=1439,
        prop::sample::select(vec!['T', 't', ' ']),
        any::<bool>(),
    )
        .prop_map(|((secs, nanos), digits, offset_min, sep, lower_z)| {
            let nanos = nanos / 10u32.pow(9 - digits) * 10u32.pow(9 - digits);
            let mut text = civil_text(secs + offset_min * 60, nanos, digits, sep);
            if offset_min == 0 {
                text.push(if lower_z { 'z' } else { 'Z' });
            } else {
                let sign = if offset_min < 0 { '-' } else { '+' };
                let m = offset_min.abs();
                text.push_str(&format!("{sign}{:02}:{:02}", m / 60, m % 60));
            }
            (Some(format!("\"{text}\"")), Cell::Time { secs, nanos })
        });
    let zero = prop::sample::select(vec!["0", "\"0\"", "\"1970-01-01T00:00:00Z\""]).prop_map(
        move |text| {
            let cell = if zero_is_null {
                Cell::Null
            } else {
                Cell::Time { secs: 0, nanos: 0 }
            };
            (Some(text.to_string()), cell)
        },
    );
    prop_oneof![4 => epoch, 4 => rfc3339, 1 => zero].boxed()
}

fn field_value(field: &FieldSpec, unit: TimeUnit) -> BoxedStrategy<Entry> {
    let typed = match field.field_type {
        FieldType::String => string_value(field),
        FieldType::Int => int_value(),
        FieldType::Bool => bool_value(),
        FieldType::Timestamp => timestamp_value(field, unit),
        // The nested types are covered by the decoder's tests and the dataset suite.
        other => panic!("{}: no strategy for {other:?} values", field.name),
    };
    prop_oneof![
        6 => typed,
        1 => Just((Some("null".to_string()), Cell::Null)),
        1 => Just((None, Cell::Null)),
    ]
    .boxed()
}

fn unknown_entry() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        Just("1".to_string()),
        Just("1.5e300".to_string()),
        Just("\"text\"".to_string()),
        Just("[1,{\"a\":[null,true]}]".to_string()),
        Just("{\"nested\":{\"deep\":[]}}".to_string()),
    ];
    ("X[a-z]{0,6}", value).prop_map(|(k, v)| format!("\"{k}\":{v}"))
}

/// One event: its line and the row it must become.
fn event(schema: Arc<EventSchema>, unit: TimeUnit) -> impl Strategy<Value = (String, Vec<Cell>)> {
    let fields: Vec<BoxedStrategy<Entry>> = schema
        .fields()
        .iter()
        .map(|f| field_value(f, unit))
        .collect();
    let names: Vec<String> = schema.fields().iter().map(|f| f.name.clone()).collect();
    (
        fields,
        prop::collection::vec(unknown_entry(), 0..3),
        // JSON white space, but no line feed: that would end the line.
        prop::sample::select(vec!["", " ", "\t", " \r "]),
    )
        .prop_flat_map(move |(entries, unknown, ws)| {
            let mut parts: Vec<String> = names
                .iter()
                .zip(&entries)
                .filter_map(|(name, (text, _))| {
                    text.as_ref().map(|t| format!("\"{name}\"{ws}:{ws}{t}"))
                })
                .collect();
            parts.extend(unknown);
            let cells: Vec<Cell> = entries.into_iter().map(|(_, cell)| cell).collect();
            (Just(parts).prop_shuffle(), Just(cells), Just(ws))
        })
        .prop_map(|(parts, cells, ws)| (format!("{ws}{{{}}}{ws}", parts.join(",")), cells))
}

fn ticks(secs: i64, nanos: u32, unit: TimeUnit) -> i64 {
    let per_tick: i128 = match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    };
    let total = i128::from(secs) * 1_000_000_000 + i128::from(nanos);
    i64::try_from(total.div_euclid(per_tick)).unwrap()
}

/// Row `row` of `batch`, timestamps as raw ticks.
fn read_row(batch: &RecordBatch, row: usize) -> Vec<Cell> {
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
                    let plain = arrow_cast::cast(col, &DataType::Utf8).unwrap();
                    Cell::Str(plain.as_string::<i32>().value(row).to_string())
                }
                DataType::Int64 => Cell::Int(col.as_primitive::<Int64Type>().value(row)),
                DataType::Boolean => Cell::Bool(col.as_boolean().value(row)),
                DataType::Timestamp(_, _) => {
                    let raw = arrow_cast::cast(col, &DataType::Int64).unwrap();
                    Cell::Int(raw.as_primitive::<Int64Type>().value(row))
                }
                other => panic!("unexpected column type {other}"),
            }
        })
        .collect()
}

fn cases() -> impl Strategy<Value = (TimeUnit, Vec<(String, Vec<Cell>)>)> {
    let schema = EventSchema::spectrum_events().with_unknown_fields(UnknownFields::Drop);
    let schema = Arc::new(schema.expect("a valid list"));
    prop::sample::select(vec![
        TimeUnit::Millisecond,
        TimeUnit::Microsecond,
        TimeUnit::Nanosecond,
    ])
    .prop_flat_map(move |unit| {
        (
            Just(unit),
            prop::collection::vec(event(schema.clone(), unit), 1..30),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_valid_event_reads_back_from_parquet_with_its_values((unit, events) in cases()) {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("events.ndjson");
        let text: String = events.iter().map(|(line, _)| format!("{line}\n")).collect();
        std::fs::write(&input, &text).unwrap();
        let out = dir.path().join("out");
        let unit_arg = match unit {
            TimeUnit::Millisecond => "ms",
            TimeUnit::Microsecond => "us",
            _ => "ns",
        };
        let r = run(
            &[
                "convert", input.to_str().unwrap(), "-o", out.to_str().unwrap(), "-q",
                "--partition-by", "none", "--timestamp-unit", unit_arg,
                // Unknown keys left out: the catch-all column has tests of its own (the
                // decoder's, and the drift corpus read back by DuckDB, pyarrow and Spark).
                "--unknown-fields", "drop",
                "--max-reject-ratio", "0",
            ],
            None,
        );
        let rejects = std::fs::read_dir(out.join("_rejects"))
            .map(|d| d.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect::<String>())
            .unwrap_or_default();
        prop_assert_eq!(r.code, 0, "every line is valid: {}\n{}", r.stderr, rejects);
        let files = parquet_files(&out);
        prop_assert_eq!(files.len(), 1);
        let batches = read_parquet(&out.join(&files[0]));
        let mut got = Vec::new();
        for batch in &batches {
            for row in 0..batch.num_rows() {
                got.push(read_row(batch, row));
            }
        }
        prop_assert_eq!(got.len(), events.len());
        for (i, ((line, cells), row)) in events.iter().zip(&got).enumerate() {
            let expected: Vec<Cell> = cells
                .iter()
                .map(|c| match c {
                    Cell::Time { secs, nanos } => Cell::Int(ticks(*secs, *nanos, unit)),
                    other => other.clone(),
                })
                .collect();
            prop_assert_eq!(row, &expected, "row {} from {}", i, line);
        }
    }
}
