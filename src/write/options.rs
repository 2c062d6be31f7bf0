//! How data files are encoded and sized: the codec, row group and file sizes from the command
//! line, turned into parquet-rs writer properties, and the limits that keep the writer's memory
//! flat.

use parquet::basic::{Compression, Encoding, GzipLevel, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

use crate::error::{Error, Result};
use crate::schema::{ColumnEncoding, EventSchema};

/// Most rows in a data page. parquet-rs holds a dictionary-encoded column's indices as 8-byte
/// integers (and each value's levels) until its page closes, and a page of small indices
/// reaches its byte limit only after its row limit: at the library's default of 20,000 rows, a
/// row group of the 150 leaf columns of `http_requests` held 24 MB of indices alone, which the
/// row-group budget counted against its rows. At 5,000, row groups of wide rows hold about
/// twice the rows in the same memory (10,046 -> 18,572 rows median, output -3%; 200,000
/// generated `http_requests` lines); narrow rows do not notice.
pub const DATA_PAGE_ROWS: usize = 5_000;

/// The Parquet compression codec of the data files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    /// zstd (default level 1).
    Zstd,
    /// Snappy.
    Snappy,
    /// LZ4 (the raw-block LZ4 Parquet codec).
    Lz4,
    /// gzip (default level 6).
    Gzip,
    /// No compression.
    None,
}

/// How data files are encoded and sized.
#[derive(Debug, Clone)]
pub struct ParquetOptions {
    /// Compression codec.
    pub codec: Codec,
    /// Codec level (zstd 1-22, gzip 0-10); `None` for the codec's default.
    pub level: Option<i32>,
    /// Most rows in a row group.
    pub row_group_rows: usize,
    /// Most estimated encoded bytes in a row group.
    pub row_group_bytes: usize,
    /// A file is closed and the next one started once it reaches this many bytes.
    pub max_file_bytes: u64,
}

impl Default for ParquetOptions {
    fn default() -> Self {
        ParquetOptions {
            codec: Codec::Zstd,
            level: None,
            row_group_rows: 1024 * 1024,
            row_group_bytes: 128 * 1024 * 1024,
            max_file_bytes: 512 * 1024 * 1024,
        }
    }
}

impl ParquetOptions {
    /// The parquet writer properties for these options, with `metadata` as key-value metadata
    /// and each field's column encoding from the field list.
    pub fn writer_properties(
        &self,
        schema: &EventSchema,
        metadata: Vec<KeyValue>,
    ) -> Result<WriterProperties> {
        let level_error = |e: parquet::errors::ParquetError| Error::InvalidOption {
            option: "--compression-level",
            message: e.to_string(),
        };
        let compression = match self.codec {
            Codec::Zstd => Compression::ZSTD(match self.level {
                Some(l) => ZstdLevel::try_new(l).map_err(level_error)?,
                None => ZstdLevel::default(),
            }),
            Codec::Gzip => Compression::GZIP(match self.level {
                Some(l) => GzipLevel::try_new(u32::try_from(l).map_err(|_| {
                    level_error(parquet::errors::ParquetError::General(
                        "gzip levels are 0 to 10".into(),
                    ))
                })?)
                .map_err(level_error)?,
                None => GzipLevel::default(),
            }),
            Codec::Snappy | Codec::Lz4 | Codec::None if self.level.is_some() => {
                return Err(Error::InvalidOption {
                    option: "--compression-level",
                    message: format!("{:?} has no levels", self.codec).to_lowercase(),
                });
            }
            Codec::Snappy => Compression::SNAPPY,
            Codec::Lz4 => Compression::LZ4_RAW,
            Codec::None => Compression::UNCOMPRESSED,
        };
        if self.row_group_rows == 0 || self.row_group_bytes == 0 || self.max_file_bytes == 0 {
            return Err(Error::InvalidOption {
                option: "--row-group-size/--max-file-size",
                message: "must be greater than zero".into(),
            });
        }
        let mut builder = WriterProperties::builder();
        for field in schema.fields() {
            let column = ColumnPath::from(field.name.as_str());
            match field.encoding {
                None | Some(ColumnEncoding::Dictionary) => {}
                Some(ColumnEncoding::Plain) => {
                    builder = builder.set_column_dictionary_enabled(column, false);
                }
                Some(ColumnEncoding::Delta) => {
                    builder = builder
                        .set_column_dictionary_enabled(column.clone(), false)
                        .set_column_encoding(column, Encoding::DELTA_BINARY_PACKED);
                }
            }
        }
        for leaf in unfiltered_leaves(schema)? {
            builder = builder.set_column_statistics_enabled(leaf, EnabledStatistics::None);
        }
        Ok(builder
            .set_compression(compression)
            .set_data_page_row_count_limit(DATA_PAGE_ROWS)
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .set_max_row_group_bytes(Some(self.row_group_bytes))
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_created_by(format!(
                "logpush-parquet version {} ({})",
                env!("CARGO_PKG_VERSION"),
                parquet::file::properties::DEFAULT_CREATED_BY
            ))
            .set_key_value_metadata(Some(metadata))
            .build())
    }
}

/// The leaf columns of the lists, maps and JSON fields (the catch-all column among them): no
/// reader prunes files or pages on the smallest and largest of a list's items, a map's keys or
/// a JSON text, and Delta and Iceberg keep no bounds for lists and maps. Their statistics are
/// not computed: a comparison of every value (2.5% of an `http_requests` run's time).
fn unfiltered_leaves(schema: &EventSchema) -> Result<Vec<ColumnPath>> {
    use crate::schema::FieldType;
    let unfiltered: std::collections::HashSet<&str> = schema
        .fields()
        .iter()
        .filter(|f| {
            matches!(
                f.field_type,
                FieldType::StringList | FieldType::IntList | FieldType::StringMap | FieldType::Json
            )
        })
        .map(|f| f.name.as_str())
        .collect();
    let arrow = schema.arrow_schema(arrow_schema::TimeUnit::Microsecond);
    let parquet = parquet::arrow::ArrowSchemaConverter::new()
        .convert(&arrow)
        .map_err(|e| Error::InvalidOption {
            option: "--schema",
            message: e.to_string(),
        })?;
    Ok(parquet
        .columns()
        .iter()
        .filter(|c| unfiltered.contains(c.path().parts()[0].as_str()))
        .map(|c| c.path().clone())
        .collect())
}

/// Limits that keep the writer's memory flat however many partitions a run touches.
#[derive(Debug, Clone, Copy)]
pub struct WriterLimits {
    /// A file is closed and the next one started once it reaches this many bytes.
    pub max_file_bytes: u64,
    /// Most memory for row groups being built, over all open files: past it, the largest are
    /// written out early (as smaller row groups).
    pub buffer_bytes: usize,
    /// Most files open at once. Rows of partitions beyond it wait in the overflow buffer.
    pub max_open_files: usize,
    /// Memory for rows of partitions without an open file: past it, they are spilled to disk in
    /// partition order, to be merged into one file per partition at the end.
    pub overflow_bytes: usize,
    /// Encoder threads (see [`super::encode`]).
    pub encode_threads: usize,
    /// Splits (batches) without rows for an open file after which it may be closed to make
    /// room for another partition ([`IDLE_SPLITS_PER_THREAD`] per reading thread: the pipeline
    /// takes its readers' chunks in turn, so a partition fed by one of them gets rows once a
    /// round).
    pub idle_splits: u64,
}

/// See [`WriterLimits::idle_splits`].
pub const IDLE_SPLITS_PER_THREAD: u64 = 16;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_maps_and_json_leaves_have_no_statistics_and_scalars_have_page_statistics() {
        let schema = EventSchema::bundled("http_requests").unwrap();
        let properties = ParquetOptions::default()
            .writer_properties(&schema, Vec::new())
            .unwrap();
        let leaves = unfiltered_leaves(&schema).unwrap();
        let names: Vec<String> = leaves.iter().map(|p| p.string()).collect();
        for (field, leaf_count) in [
            ("SecurityRuleIDs", 1),
            ("RequestHeaders", 2),
            ("JA4Signals", 1),
        ] {
            let of_field: Vec<&String> = names
                .iter()
                .filter(|n| n.split('.').next() == Some(field))
                .collect();
            assert_eq!(of_field.len(), leaf_count, "{field}: {names:?}");
        }
        for leaf in &leaves {
            assert_eq!(
                properties.statistics_enabled(leaf),
                EnabledStatistics::None,
                "{leaf}"
            );
        }
        for scalar in [
            "ClientRequestHost",
            "EdgeResponseStatus",
            "EdgeStartTimestamp",
        ] {
            let path = ColumnPath::from(scalar);
            assert!(!leaves.contains(&path), "{scalar}");
            assert_eq!(
                properties.statistics_enabled(&path),
                EnabledStatistics::Page,
                "{scalar}"
            );
        }
        assert_eq!(properties.data_page_row_count_limit(), DATA_PAGE_ROWS);
    }
}
