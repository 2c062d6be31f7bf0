//! Partitioning: splits a batch into one piece per Hive partition, as a pure function.
//!
//! A [`PartitionSpec`] lists the partition columns: `date` (`YYYY-MM-DD`) and `hour` (`0`-`23`,
//! unpadded, so DuckDB and Spark both read it as an integer) of the event time in UTC, and fields
//! of the schema. A field used as a partition column is moved out of the data files into the
//! folder name, as Hive, Spark and DuckDB do.
//!
//! Partition values are escaped the way Hive escapes them ([`crate::hive`]): `/`, `\`, `=`, `%`,
//! control characters and a few more become `%XX`, so a value can neither climb out of the output
//! folder nor add a folder level. NULL and the empty string go to [`DEFAULT_PARTITION`], which
//! every reader reads back as NULL (Hive and Spark write empty strings there too).

use std::collections::HashMap;
use std::fmt::Write as _;

use arrow_array::cast::AsArray;
use arrow_array::types::Int64Type;
use arrow_array::{Array, ArrayRef, PrimitiveArray, RecordBatch, UInt32Array};
use arrow_schema::{DataType, SchemaRef, TimeUnit};

use crate::error::{Error, Result};
pub use crate::hive::{
    DEFAULT_PARTITION, MAX_FOLDER_NAME_BYTES, escape_value, folder_name_len, folder_values,
    percent_decode, unescape_value,
};
use crate::schema::{EnumKey, EventSchema, FieldType};
use crate::time::civil_from_days;

/// One partition column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionColumn {
    /// The UTC date of the event time.
    Date,
    /// The UTC hour (0-23) of the event time.
    Hour,
    /// A field of the schema, by index.
    Field(usize),
}

/// The partition columns of a run, in folder order; empty means no partitioning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSpec {
    columns: Vec<(String, PartitionColumn)>,
    event_time: Option<usize>,
    /// Whether partition fields stay in the data files too (Iceberg's identity partitions
    /// read them there), besides giving the folder names.
    fields_kept: bool,
}

impl PartitionSpec {
    /// No partitioning: every row goes to the output root.
    pub fn none() -> Self {
        PartitionSpec {
            columns: Vec::new(),
            event_time: None,
            fields_kept: false,
        }
    }

    /// Parses `--partition-by`: `none`, or a comma list of `date`, `hour` and field names.
    pub fn parse(text: &str, schema: &EventSchema) -> Result<Self> {
        let invalid = |message: String| Error::InvalidOption {
            option: "--partition-by",
            message,
        };
        if text.trim() == "none" {
            return Ok(Self::none());
        }
        let mut columns = Vec::new();
        for name in text.split(',').map(str::trim) {
            let column = match name {
                "date" => PartitionColumn::Date,
                "hour" => PartitionColumn::Hour,
                "" => return Err(invalid("empty column name in the list".into())),
                field => match schema.index_of(field) {
                    Some(i) if schema.fields()[i].field_type == FieldType::Timestamp => {
                        return Err(invalid(format!(
                            "{field} is a timestamp: partition by date and hour instead"
                        )));
                    }
                    Some(i)
                        if !matches!(
                            schema.fields()[i].field_type,
                            FieldType::String | FieldType::Int | FieldType::Bool
                        ) =>
                    {
                        return Err(invalid(format!(
                            "{field} holds {}: partition by string, int or bool fields",
                            schema.fields()[i].field_type.expected()
                        )));
                    }
                    Some(i) => PartitionColumn::Field(i),
                    None => {
                        return Err(invalid(format!(
                            "{field} is neither date, hour nor a field of {}",
                            schema.dataset()
                        )));
                    }
                },
            };
            if columns.iter().any(|(n, _)| n == name) {
                return Err(invalid(format!("{name} is listed twice")));
            }
            columns.push((name.to_string(), column));
        }
        let needs_time = columns
            .iter()
            .any(|(_, c)| matches!(c, PartitionColumn::Date | PartitionColumn::Hour));
        if needs_time && schema.event_time().is_none() {
            return Err(invalid(format!(
                "date and hour need an event_time field, which {} does not declare",
                schema.dataset()
            )));
        }
        Ok(PartitionSpec {
            columns,
            event_time: schema.event_time(),
            fields_kept: false,
        })
    }

    /// The partition columns, by name, in folder order.
    pub fn columns(&self) -> &[(String, PartitionColumn)] {
        &self.columns
    }

    /// Whether rows are partitioned at all.
    pub fn is_none(&self) -> bool {
        self.columns.is_empty()
    }

    /// The spec with partition fields kept in the data files as well as in folder names
    /// (Iceberg tables, whose identity partitions read the field from the files).
    pub fn with_fields_kept(mut self) -> Self {
        self.fields_kept = true;
        self
    }

    /// Indices of schema fields that become folder names.
    pub fn folder_fields(&self) -> Vec<usize> {
        self.columns
            .iter()
            .filter_map(|(_, c)| match c {
                PartitionColumn::Field(i) => Some(*i),
                _ => None,
            })
            .collect()
    }

    /// Indices of schema fields that become folder names and leave the data files (none when
    /// they are kept).
    pub fn moved_fields(&self) -> Vec<usize> {
        match self.fields_kept {
            true => Vec::new(),
            false => self.folder_fields(),
        }
    }

    /// Indices of the fields (of `field_count`) that stay in the data files.
    pub fn kept_fields(&self, field_count: usize) -> Vec<usize> {
        let moved = self.moved_fields();
        (0..field_count).filter(|i| !moved.contains(i)).collect()
    }

    /// The schema of the data files: the batch schema without the moved fields.
    pub fn file_schema(&self, batch_schema: &SchemaRef) -> SchemaRef {
        let keep = self.kept_fields(batch_schema.fields().len());
        std::sync::Arc::new(
            batch_schema
                .project(&keep)
                .expect("indices come from the schema itself"),
        )
    }

    /// The text spelled on the command line (`none` when unpartitioned).
    pub fn to_option_text(&self) -> String {
        if self.columns.is_empty() {
            return "none".into();
        }
        let names: Vec<&str> = self.columns.iter().map(|(n, _)| n.as_str()).collect();
        names.join(",")
    }
}

/// Renders one partition column's folder value for each row.
enum ValueSource<'a> {
    /// Event-time ticks per hour, and the event-time column.
    Time {
        column: &'a PrimitiveArray<Int64Type>,
        ticks_per_hour: i64,
        date: bool,
    },
    Field(&'a ArrayRef),
}

/// A timestamp column of any unit, viewed as its underlying `i64` ticks.
fn timestamps_as_i64(column: &ArrayRef) -> PrimitiveArray<Int64Type> {
    use arrow_array::types::*;
    match column.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => column
            .as_primitive::<TimestampSecondType>()
            .reinterpret_cast::<Int64Type>(),
        DataType::Timestamp(TimeUnit::Millisecond, _) => column
            .as_primitive::<TimestampMillisecondType>()
            .reinterpret_cast::<Int64Type>(),
        DataType::Timestamp(TimeUnit::Microsecond, _) => column
            .as_primitive::<TimestampMicrosecondType>()
            .reinterpret_cast::<Int64Type>(),
        _ => column
            .as_primitive::<TimestampNanosecondType>()
            .reinterpret_cast::<Int64Type>(),
    }
}

fn ticks_per_hour(data_type: &DataType) -> i64 {
    match data_type {
        DataType::Timestamp(TimeUnit::Second, _) => 3_600,
        DataType::Timestamp(TimeUnit::Millisecond, _) => 3_600_000,
        DataType::Timestamp(TimeUnit::Microsecond, _) => 3_600_000_000,
        _ => 3_600_000_000_000,
    }
}

impl ValueSource<'_> {
    /// Whether rows `a` and `b` surely have the same folder value (`false` may still be the
    /// same value: a dictionary can hold a value twice).
    fn same(&self, a: usize, b: usize) -> bool {
        match self {
            ValueSource::Time {
                column,
                ticks_per_hour,
                ..
            } => match (column.is_null(a), column.is_null(b)) {
                (false, false) => {
                    column.value(a).div_euclid(*ticks_per_hour)
                        == column.value(b).div_euclid(*ticks_per_hour)
                }
                (null_a, null_b) => null_a && null_b,
            },
            ValueSource::Field(column) => match (column.is_null(a), column.is_null(b)) {
                (false, false) => match column.data_type() {
                    DataType::Utf8 => {
                        let strings = column.as_string::<i32>();
                        strings.value(a) == strings.value(b)
                    }
                    DataType::Dictionary(_, _) => {
                        let keys = column.as_dictionary::<EnumKey>().keys();
                        keys.value(a) == keys.value(b)
                    }
                    DataType::Int64 => {
                        let ints = column.as_primitive::<Int64Type>();
                        ints.value(a) == ints.value(b)
                    }
                    DataType::Boolean => {
                        column.as_boolean().value(a) == column.as_boolean().value(b)
                    }
                    _ => false,
                },
                (null_a, null_b) => null_a && null_b,
            },
        }
    }

    /// Appends the folder value of `row` to `out`.
    fn render(&self, row: usize, out: &mut String) {
        match self {
            ValueSource::Time {
                column,
                ticks_per_hour,
                date,
            } => {
                if column.is_null(row) {
                    out.push_str(DEFAULT_PARTITION);
                    return;
                }
                let hours = column.value(row).div_euclid(*ticks_per_hour);
                if *date {
                    let (y, m, d) = civil_from_days(hours.div_euclid(24));
                    let _ = write!(out, "{y:04}-{m:02}-{d:02}");
                } else {
                    let _ = write!(out, "{}", hours.rem_euclid(24));
                }
            }
            ValueSource::Field(column) => {
                if column.is_null(row) {
                    out.push_str(DEFAULT_PARTITION);
                    return;
                }
                let text = match column.data_type() {
                    DataType::Utf8 => column.as_string::<i32>().value(row).to_string(),
                    DataType::Dictionary(_, _) => {
                        let dict = column.as_dictionary::<EnumKey>();
                        let key = dict.keys().value(row) as usize;
                        dict.values().as_string::<i32>().value(key).to_string()
                    }
                    DataType::Int64 => column.as_primitive::<Int64Type>().value(row).to_string(),
                    DataType::Boolean => column.as_boolean().value(row).to_string(),
                    other => unreachable!("partition fields are never of type {other}"),
                };
                if text.is_empty() {
                    out.push_str(DEFAULT_PARTITION);
                } else {
                    out.push_str(&escape_value(&text));
                }
            }
        }
    }
}

/// A batch split by partition: its rows (without the moved fields) grouped by partition folder,
/// folders in sorted order, rows in their original order within a folder.
///
/// One sorted batch rather than one batch per partition: with thousands of partitions per batch,
/// building a batch of 31 arrays for each piece cost more than the rows themselves. Pieces are
/// zero-copy slices of the sorted batch.
#[derive(Debug, Clone)]
pub struct Split {
    /// The rows, grouped by partition in the order of `groups`.
    pub batch: RecordBatch,
    /// Each partition's relative folder (empty when unpartitioned) and its number of rows.
    pub groups: Vec<(String, usize)>,
}

impl Split {
    /// Each partition's folder and rows, as slices of the sorted batch.
    pub fn pieces(&self) -> impl Iterator<Item = (&str, RecordBatch)> {
        let mut offset = 0;
        self.groups.iter().map(move |(folder, rows)| {
            let piece = self.batch.slice(offset, *rows);
            offset += rows;
            (folder.as_str(), piece)
        })
    }
}

/// Splits `batch` by partition (see [`Split`]). With no partition columns the folder is empty
/// and the whole batch is one group.
pub fn split(batch: &RecordBatch, spec: &PartitionSpec) -> Result<Split> {
    let keep = spec.kept_fields(batch.num_columns());
    if spec.is_none() {
        return Ok(Split {
            batch: batch.project(&keep)?,
            groups: vec![(String::new(), batch.num_rows())],
        });
    }
    let time_column = spec.event_time.map(|i| batch.column(i));
    let time_ticks = time_column.map(|c| ticks_per_hour(c.data_type()));
    let time_as_i64 = time_column.map(timestamps_as_i64);
    let sources: Vec<(String, ValueSource)> = spec
        .columns
        .iter()
        .map(|(name, column)| {
            let source = match column {
                PartitionColumn::Date | PartitionColumn::Hour => ValueSource::Time {
                    column: time_as_i64.as_ref().expect("parse checked event_time"),
                    ticks_per_hour: time_ticks.unwrap_or(1),
                    date: *column == PartitionColumn::Date,
                },
                PartitionColumn::Field(i) => ValueSource::Field(batch.column(*i)),
            };
            (escape_value(name), source)
        })
        .collect();

    let mut groups: HashMap<String, Vec<u32>> = HashMap::new();
    let mut key = String::new();
    for row in 0..batch.num_rows() {
        // Archives come in time order, so a row most often has the previous row's folder: when
        // every value is the same, `key` still holds it and need not be written again.
        if row > 0 && sources.iter().all(|(_, source)| source.same(row - 1, row)) {
            let rows = groups
                .get_mut(key.as_str())
                .expect("the previous row's group");
            rows.push(row as u32);
            continue;
        }
        key.clear();
        for (n, (name, source)) in sources.iter().enumerate() {
            if n > 0 {
                key.push('/');
            }
            key.push_str(name);
            key.push('=');
            source.render(row, &mut key);
        }
        match groups.get_mut(key.as_str()) {
            Some(rows) => rows.push(row as u32),
            None => {
                groups.insert(key.clone(), vec![row as u32]);
            }
        }
    }
    let mut groups: Vec<(String, Vec<u32>)> = groups.into_iter().collect();
    groups.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let projected = batch.project(&keep)?;
    let batch = if groups.len() == 1 {
        projected
    } else {
        let indices: UInt32Array = groups.iter().flat_map(|(_, rows)| rows).copied().collect();
        arrow_select::take::take_record_batch(&projected, &indices)?
    };
    Ok(Split {
        batch,
        groups: groups
            .into_iter()
            .map(|(folder, rows)| (folder, rows.len()))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::{DecodeOptions, Decoder};
    use std::sync::Arc;

    fn batch(lines: &[&str]) -> RecordBatch {
        let schema = Arc::new(EventSchema::spectrum_events());
        let mut d = Decoder::try_new(schema, DecodeOptions::default()).unwrap();
        for l in lines {
            d.decode_line(l.as_bytes()).unwrap();
        }
        d.flush().unwrap().unwrap()
    }

    fn spec(text: &str) -> PartitionSpec {
        PartitionSpec::parse(text, &EventSchema::spectrum_events()).unwrap()
    }

    #[test]
    fn unescaping_undoes_escaping_and_the_default_partition_is_null() {
        for value in [
            "plain",
            "a/b=c%d",
            "__HIVE_DEFAULT_PARTITION__",
            "tab\there\u{1}",
            "née:#?*[]^{}",
            "%41 stays %41",
        ] {
            assert_eq!(unescape_value(&escape_value(value)).as_deref(), Some(value));
        }
        assert_eq!(unescape_value(DEFAULT_PARTITION), None);
        assert_eq!(
            folder_values("date=2026-11-23/hour=5/Application=a%2Fb"),
            [
                ("date", Some("2026-11-23".to_string())),
                ("hour", Some("5".to_string())),
                ("Application", Some("a/b".to_string()))
            ]
        );
        assert_eq!(
            folder_values("date=__HIVE_DEFAULT_PARTITION__"),
            [("date", None)]
        );
        assert!(folder_values("").is_empty());
    }

    /// `split`'s pieces, owned, after checking the groups account for every row of the batch.
    fn split_pieces(b: &RecordBatch, text: &str) -> Vec<(String, RecordBatch)> {
        let split = split(b, &spec(text)).unwrap();
        let grouped: usize = split.groups.iter().map(|(_, rows)| rows).sum();
        assert_eq!(grouped, split.batch.num_rows());
        assert_eq!(split.batch.num_rows(), b.num_rows());
        split
            .pieces()
            .map(|(folder, piece)| (folder.to_string(), piece))
            .collect()
    }

    #[test]
    fn the_text_of_the_default_partition_name_is_not_read_back_as_null() {
        // Regression: a value spelled `__HIVE_DEFAULT_PARTITION__` was written as that folder
        // name, which DuckDB and Spark read back as NULL.
        assert_eq!(
            escape_value(DEFAULT_PARTITION),
            "%5F_HIVE_DEFAULT_PARTITION__"
        );
        let b = batch(&[r#"{"Application":"__HIVE_DEFAULT_PARTITION__"}"#, r#"{}"#]);
        let folders: Vec<String> = split_pieces(&b, "Application")
            .into_iter()
            .map(|(folder, _)| folder)
            .collect();
        assert_eq!(
            folders,
            [
                "Application=%5F_HIVE_DEFAULT_PARTITION__",
                "Application=__HIVE_DEFAULT_PARTITION__"
            ]
        );
    }

    #[test]
    fn date_and_hour_come_from_the_event_time_in_utc_unpadded() {
        let b = batch(&[
            r#"{"Timestamp":"2026-11-23T05:59:59.999999Z","Status":1}"#,
            r#"{"Timestamp":"2026-11-23T06:00:00+01:00","Status":2}"#,
            r#"{"Timestamp":"2026-11-23T23:00:00Z","Status":3}"#,
            r#"{"Status":4}"#,
            r#"{"Timestamp":"2026-11-23T05:00:00Z","Status":5}"#,
        ]);
        let pieces = split_pieces(&b, "date,hour");
        let summary: Vec<(String, usize)> = pieces
            .iter()
            .map(|(k, b)| (k.clone(), b.num_rows()))
            .collect();
        assert_eq!(
            summary,
            [
                ("date=2026-11-23/hour=23".to_string(), 1),
                ("date=2026-11-23/hour=5".to_string(), 3),
                (
                    format!("date={DEFAULT_PARTITION}/hour={DEFAULT_PARTITION}"),
                    1
                ),
            ]
        );
        let statuses = pieces[1]
            .1
            .column_by_name("Status")
            .unwrap()
            .as_primitive::<Int64Type>();
        assert_eq!(statuses.values().to_vec(), [1, 2, 5], "row order is kept");
        assert_eq!(
            pieces[0].1.num_columns(),
            32,
            "31 fields and the catch-all: date and hour are not data columns"
        );
    }

    #[test]
    fn field_partitions_are_escaped_and_moved_out_of_the_files() {
        let b = batch(&[
            r#"{"Application":"../../etc","Event":"connect","Status":1}"#,
            r#"{"Application":"","Event":null,"Status":2}"#,
            r#"{"Application":"a=b/c","Event":"connect","Status":3}"#,
        ]);
        let pieces = split_pieces(&b, "Application,Event,Status");
        let folders: Vec<&str> = pieces.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            folders,
            [
                "Application=..%2F..%2Fetc/Event=connect/Status=1",
                "Application=__HIVE_DEFAULT_PARTITION__/Event=__HIVE_DEFAULT_PARTITION__/Status=2",
                "Application=a%3Db%2Fc/Event=connect/Status=3",
            ]
        );
        for (folder, piece) in &pieces {
            assert_eq!(folder.matches('/').count(), 2, "{folder}");
            assert!(piece.column_by_name("Application").is_none());
            assert!(piece.column_by_name("Event").is_none());
            assert_eq!(
                piece.num_columns(),
                29,
                "32 columns less the 3 partition fields"
            );
        }
    }

    #[test]
    fn every_row_lands_in_exactly_one_piece() {
        let lines: Vec<String> = (0..500)
            .map(|i| {
                format!(
                    r#"{{"Timestamp":{},"ColoCode":"c{}","Status":{i}}}"#,
                    1_700_000_000 + i * 997,
                    i % 13
                )
            })
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let b = batch(&refs);
        for text in ["date,hour", "hour", "ColoCode,date", "none"] {
            let pieces = split_pieces(&b, text);
            let mut seen: Vec<i64> = pieces
                .iter()
                .flat_map(|(_, p)| {
                    p.column_by_name("Status")
                        .unwrap()
                        .as_primitive::<Int64Type>()
                        .values()
                        .to_vec()
                })
                .collect();
            seen.sort_unstable();
            assert_eq!(seen, (0..500).collect::<Vec<i64>>(), "{text}");
        }
    }

    #[test]
    fn each_row_lands_in_its_own_folder_when_rows_around_it_share_some_values() {
        // Runs of rows sharing an hour, a colo, both, or neither, nulls among them; each row's
        // folder is checked against the split of that row alone.
        let lines: Vec<String> = (0..300)
            .map(|i| {
                let time = match i % 17 {
                    0 => "null".to_string(),
                    _ => (1_700_000_000 + (i / 7) * 1_800).to_string(),
                };
                let colo = match i % 11 {
                    0 => "null".to_string(),
                    _ => format!(r#""c{}""#, i / 5 % 3),
                };
                format!(
                    r#"{{"Timestamp":{time},"ColoCode":{colo},"ClientPort":{},"Status":{i}}}"#,
                    i / 4 % 2
                )
            })
            .collect();
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        let b = batch(&refs);
        let status = |piece: &RecordBatch| -> Vec<i64> {
            let column = piece.column_by_name("Status").unwrap();
            column.as_primitive::<Int64Type>().values().to_vec()
        };
        for text in [
            "date,hour",
            "date",
            "date,hour,ColoCode",
            "ColoCode,ClientPort",
        ] {
            let mut folder_of = vec![None; b.num_rows()];
            for (folder, piece) in split_pieces(&b, text) {
                for row in status(&piece) {
                    folder_of[row as usize] = Some(folder.clone());
                }
            }
            for (row, folder) in folder_of.iter().enumerate() {
                let alone = split_pieces(&b.slice(row, 1), text);
                assert_eq!(
                    folder.as_deref(),
                    Some(alone[0].0.as_str()),
                    "{text}, row {row}"
                );
            }
        }
    }

    #[test]
    fn invalid_specs_are_refused() {
        let schema = EventSchema::spectrum_events();
        for (text, expected) in [
            ("date,nope", "neither date"),
            ("date,date", "twice"),
            ("ConnectTimestamp", "timestamp"),
            ("date,,hour", "empty"),
        ] {
            let err = PartitionSpec::parse(text, &schema).unwrap_err().to_string();
            assert!(err.contains(expected), "{text}: {err}");
        }
        assert!(spec("none").is_none());
    }
}
