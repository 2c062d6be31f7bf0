//! What a closed data file holds, column by column: rows, nulls, and the smallest and largest
//! values, read off the Parquet writer's own column chunk statistics (no second pass over the
//! rows). Table formats that keep per-file statistics (Delta) publish these.

use parquet::file::metadata::RowGroupMetaData;
use parquet::file::statistics::Statistics;

/// A statistic's value, as Parquet stores it (timestamps are their `i64` ticks).
#[derive(Debug, Clone, PartialEq)]
pub enum StatValue {
    /// A boolean column's value.
    Bool(bool),
    /// A 32-bit integer column's value (dates, for instance).
    Int32(i32),
    /// A 64-bit integer or timestamp column's value.
    Int64(i64),
    /// A double column's value.
    Double(f64),
    /// A string or binary column's value (the writer may have shortened it, see
    /// [`ColumnStats::exact`]).
    Bytes(Vec<u8>),
}

/// One leaf column's statistics over a whole file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnStats {
    /// Null values.
    pub nulls: u64,
    /// The smallest value, unless every value is null or a chunk had none.
    pub min: Option<StatValue>,
    /// The largest value, likewise.
    pub max: Option<StatValue>,
    /// Whether every chunk's bounds were exact (the writer shortens long strings; a shortened
    /// minimum is still a lower bound and a shortened maximum still an upper one).
    pub exact: bool,
    /// Whether min and max are known for every chunk (else they are left unset).
    known: bool,
}

/// A file's statistics: its rows and each leaf column's [`ColumnStats`], in schema order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileStats {
    /// Rows in the file.
    pub rows: u64,
    /// Per leaf column.
    pub columns: Vec<ColumnStats>,
}

impl FileStats {
    /// Combines the column chunk statistics of a file's row groups.
    pub fn of_row_groups(groups: &[RowGroupMetaData]) -> FileStats {
        let leaves = groups.first().map_or(0, |g| g.num_columns());
        let mut columns: Vec<ColumnStats> = (0..leaves)
            .map(|_| ColumnStats {
                exact: true,
                known: true,
                ..ColumnStats::default()
            })
            .collect();
        let mut rows = 0;
        for group in groups {
            rows += group.num_rows().max(0) as u64;
            for (stats, chunk) in columns.iter_mut().zip(group.columns()) {
                stats.merge(chunk.statistics(), chunk.num_values().max(0) as u64);
            }
        }
        for stats in &mut columns {
            if !stats.known {
                stats.min = None;
                stats.max = None;
            }
        }
        FileStats { rows, columns }
    }
}

impl ColumnStats {
    /// Whether every chunk had statistics: else `nulls` counts only those that had, and
    /// neither it nor the bounds may be published (the writer keeps none for lists, maps and
    /// JSON texts).
    pub fn known(&self) -> bool {
        self.known
    }

    /// Adds one chunk of `values` values (nulls included).
    fn merge(&mut self, chunk: Option<&Statistics>, values: u64) {
        let Some(chunk) = chunk else {
            self.known = false;
            return;
        };
        let nulls = chunk.null_count_opt().unwrap_or(0);
        self.nulls += nulls;
        if nulls >= values {
            return; // every value null: no bounds to add
        }
        let (min, max) = match chunk {
            Statistics::Boolean(s) => (
                s.min_opt().map(|v| StatValue::Bool(*v)),
                s.max_opt().map(|v| StatValue::Bool(*v)),
            ),
            Statistics::Int32(s) => (
                s.min_opt().map(|v| StatValue::Int32(*v)),
                s.max_opt().map(|v| StatValue::Int32(*v)),
            ),
            Statistics::Int64(s) => (
                s.min_opt().map(|v| StatValue::Int64(*v)),
                s.max_opt().map(|v| StatValue::Int64(*v)),
            ),
            Statistics::Double(s) => (
                s.min_opt().map(|v| StatValue::Double(*v)),
                s.max_opt().map(|v| StatValue::Double(*v)),
            ),
            Statistics::ByteArray(s) => (
                s.min_opt().map(|v| StatValue::Bytes(v.data().to_vec())),
                s.max_opt().map(|v| StatValue::Bytes(v.data().to_vec())),
            ),
            _ => (None, None),
        };
        let (Some(min), Some(max)) = (min, max) else {
            self.known = false;
            return;
        };
        self.exact &= chunk.min_is_exact() && chunk.max_is_exact();
        self.min = Some(match self.min.take() {
            Some(old) if less(&old, &min) => old,
            _ => min,
        });
        self.max = Some(match self.max.take() {
            Some(old) if less(&max, &old) => old,
            _ => max,
        });
    }
}

/// `a < b` for two values of one column.
fn less(a: &StatValue, b: &StatValue) -> bool {
    match (a, b) {
        (StatValue::Bool(a), StatValue::Bool(b)) => a < b,
        (StatValue::Int32(a), StatValue::Int32(b)) => a < b,
        (StatValue::Int64(a), StatValue::Int64(b)) => a < b,
        (StatValue::Double(a), StatValue::Double(b)) => a < b,
        (StatValue::Bytes(a), StatValue::Bytes(b)) => a < b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
    use parquet::arrow::ArrowWriter;
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    use parquet::file::properties::WriterProperties;

    #[test]
    fn file_stats_combine_every_row_group_of_the_file() {
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(5),
            None,
            Some(-3),
            Some(9),
            None,
            Some(2),
        ]));
        let text: ArrayRef = Arc::new(StringArray::from(vec![
            Some("m"),
            Some("b"),
            None,
            Some("z"),
            Some("a"),
            Some("q"),
        ]));
        let nulls: ArrayRef = Arc::new(Int64Array::from(vec![None::<i64>; 6]));
        let batch = RecordBatch::try_from_iter([("i", ints), ("s", text), ("n", nulls)]).unwrap();
        let mut bytes = Vec::new();
        let properties = WriterProperties::builder()
            .set_max_row_group_row_count(Some(2))
            .build();
        let mut writer =
            ArrowWriter::try_new(&mut bytes, batch.schema(), Some(properties)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 3);
        let stats = FileStats::of_row_groups(reader.metadata().row_groups());
        assert_eq!(stats.rows, 6);
        let [i, s, n] = &stats.columns[..] else {
            panic!("three columns: {stats:?}")
        };
        assert_eq!(
            (i.nulls, &i.min, &i.max),
            (2, &Some(StatValue::Int64(-3)), &Some(StatValue::Int64(9)))
        );
        assert_eq!(s.nulls, 1);
        assert_eq!(s.min, Some(StatValue::Bytes(b"a".to_vec())));
        assert_eq!(s.max, Some(StatValue::Bytes(b"z".to_vec())));
        assert!(i.exact && s.exact);
        assert_eq!(
            (n.nulls, &n.min, &n.max),
            (6, &None, &None),
            "all null: no bounds"
        );
    }

    #[test]
    fn a_column_written_without_statistics_is_not_known() {
        let ints: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(3)]));
        let text: ArrayRef = Arc::new(StringArray::from(vec![Some("{}"), None, Some("[1]")]));
        let batch = RecordBatch::try_from_iter([("i", ints), ("json", text)]).unwrap();
        let mut bytes = Vec::new();
        let properties = WriterProperties::builder()
            .set_column_statistics_enabled(
                "json".into(),
                parquet::file::properties::EnabledStatistics::None,
            )
            .build();
        let mut writer =
            ArrowWriter::try_new(&mut bytes, batch.schema(), Some(properties)).unwrap();
        writer.write(&batch).unwrap();
        writer.close().unwrap();
        let reader = ParquetRecordBatchReaderBuilder::try_new(bytes::Bytes::from(bytes)).unwrap();
        let stats = FileStats::of_row_groups(reader.metadata().row_groups());
        let [i, json] = &stats.columns[..] else {
            panic!("two columns: {stats:?}")
        };
        assert!(i.known() && i.nulls == 1, "{i:?}");
        assert!(!json.known(), "{json:?}");
        assert_eq!((&json.min, &json.max), (&None, &None));
    }
}
