//! Iceberg's Avro metadata files, written and read here: manifests (one entry per data file:
//! its path, partition tuple, row count and size, and whether it was added, kept or deleted by
//! a snapshot) and manifest lists (one entry per manifest of a snapshot, with its counts and
//! partition bounds). Format version 2, with the field ids of the Iceberg specification, which
//! readers resolve fields by.
//!
//! What is written is what readers need to plan scans: no column metrics (they are optional,
//! and our files carry page statistics and the partition tuple prunes by hour). What is read
//! back (for commits, compaction and expiry) is taken by field name, so manifests other writers
//! add to the table (a catalog's own compaction) are read too.

use std::collections::BTreeMap;

use apache_avro::types::Value;
use apache_avro::{Codec, Reader, Schema, Writer};
use serde_json::json;

use crate::error::{Error, Result};

/// The type of a partition field's value in the partition tuple.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionType {
    /// `hour` and `day` transforms: hours or days since the epoch.
    Int,
    /// An identity partition of a `long` column.
    Long,
    /// An identity partition of a `string` column.
    String,
    /// An identity partition of a `boolean` column.
    Boolean,
}

/// One field of a partition spec, as manifests need it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionField {
    /// Its name in the partition tuple.
    pub name: String,
    /// Its partition field id (1000 and up).
    pub field_id: i64,
    /// The type of its values.
    pub kind: PartitionType,
}

/// A partition value.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PartitionValue {
    /// NULL (the default partition).
    Null,
    /// An `int` (hours or days since the epoch).
    Int(i32),
    /// A `long`.
    Long(i64),
    /// A `string`.
    String(String),
    /// A `boolean`.
    Boolean(bool),
}

impl PartitionValue {
    /// Iceberg's single-value serialization (the spec's appendix D), for partition bounds.
    fn to_bytes(&self) -> Option<Vec<u8>> {
        match self {
            PartitionValue::Null => None,
            PartitionValue::Int(v) => Some(v.to_le_bytes().to_vec()),
            PartitionValue::Long(v) => Some(v.to_le_bytes().to_vec()),
            PartitionValue::String(s) => Some(s.as_bytes().to_vec()),
            PartitionValue::Boolean(b) => Some(vec![u8::from(*b)]),
        }
    }

    fn to_avro(&self) -> Value {
        match self {
            PartitionValue::Null => Value::Union(0, Box::new(Value::Null)),
            PartitionValue::Int(v) => Value::Union(1, Box::new(Value::Int(*v))),
            PartitionValue::Long(v) => Value::Union(1, Box::new(Value::Long(*v))),
            PartitionValue::String(s) => Value::Union(1, Box::new(Value::String(s.clone()))),
            PartitionValue::Boolean(b) => Value::Union(1, Box::new(Value::Boolean(*b))),
        }
    }

    fn from_avro(value: &Value) -> PartitionValue {
        match unwrap_union(value) {
            Value::Int(v) | Value::Date(v) => PartitionValue::Int(*v),
            Value::Long(v) | Value::TimestampMicros(v) => PartitionValue::Long(*v),
            Value::String(s) => PartitionValue::String(s.clone()),
            Value::Boolean(b) => PartitionValue::Boolean(*b),
            _ => PartitionValue::Null,
        }
    }
}

/// A data file as a manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// Its full URI (`s3://bucket/table/data/...`).
    pub path: String,
    /// Its partition tuple, one value per partition field.
    pub partition: Vec<PartitionValue>,
    /// Rows in it.
    pub record_count: i64,
    /// Its size in bytes.
    pub file_size: i64,
}

/// Whether a manifest entry's file was kept, added or deleted by the manifest's snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// In the table, added by an earlier snapshot.
    Existing = 0,
    /// Added by this snapshot.
    Added = 1,
    /// Removed by this snapshot.
    Deleted = 2,
}

/// One entry of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Kept, added or deleted.
    pub status: Status,
    /// The snapshot that added (or deleted) it; inherited from the manifest list when `None`.
    pub snapshot_id: Option<i64>,
    /// Its data sequence number; inherited when `None` (added files only).
    pub sequence_number: Option<i64>,
    /// Its file sequence number; inherited when `None` (added files only).
    pub file_sequence_number: Option<i64>,
    /// The file.
    pub file: DataFile,
}

/// What a manifest is written with: the table's schema JSON and its partition spec.
#[derive(Debug, Clone)]
pub struct ManifestContext<'a> {
    /// The table's current schema, as JSON text.
    pub schema_json: &'a str,
    /// Its schema id.
    pub schema_id: i64,
    /// The partition spec's id.
    pub spec_id: i64,
    /// The partition spec's fields, as the spec's JSON writes them.
    pub spec_fields_json: &'a str,
    /// The partition spec's fields, as the partition tuple needs them.
    pub fields: &'a [PartitionField],
}

fn avro_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Iceberg {
        table: String::new(),
        message: format!("{what}: {e}"),
    }
}

/// The Avro schema of a manifest for `fields`.
fn manifest_schema(fields: &[PartitionField]) -> Result<Schema> {
    let partition_fields: Vec<serde_json::Value> = fields
        .iter()
        .map(|f| {
            let ty = match f.kind {
                PartitionType::Int => "int",
                PartitionType::Long => "long",
                PartitionType::String => "string",
                PartitionType::Boolean => "boolean",
            };
            json!({"name": f.name, "type": ["null", ty], "default": null, "field-id": f.field_id})
        })
        .collect();
    let schema = json!({
        "type": "record",
        "name": "manifest_entry",
        "fields": [
            {"name": "status", "type": "int", "field-id": 0},
            {"name": "snapshot_id", "type": ["null", "long"], "default": null, "field-id": 1},
            {"name": "sequence_number", "type": ["null", "long"], "default": null, "field-id": 3},
            {"name": "file_sequence_number", "type": ["null", "long"], "default": null, "field-id": 4},
            {"name": "data_file", "field-id": 2, "type": {
                "type": "record",
                "name": "r2",
                "fields": [
                    {"name": "content", "type": "int", "field-id": 134},
                    {"name": "file_path", "type": "string", "field-id": 100},
                    {"name": "file_format", "type": "string", "field-id": 101},
                    {"name": "partition", "field-id": 102,
                     "type": {"type": "record", "name": "r102", "fields": partition_fields}},
                    {"name": "record_count", "type": "long", "field-id": 103},
                    {"name": "file_size_in_bytes", "type": "long", "field-id": 104},
                ]
            }}
        ]
    });
    Schema::parse(&schema).map_err(|e| avro_error("manifest schema", e))
}

/// The Avro schema of a manifest list.
fn manifest_list_schema() -> Result<Schema> {
    let schema = json!({
        "type": "record",
        "name": "manifest_file",
        "fields": [
            {"name": "manifest_path", "type": "string", "field-id": 500},
            {"name": "manifest_length", "type": "long", "field-id": 501},
            {"name": "partition_spec_id", "type": "int", "field-id": 502},
            {"name": "content", "type": "int", "field-id": 517},
            {"name": "sequence_number", "type": "long", "field-id": 515},
            {"name": "min_sequence_number", "type": "long", "field-id": 516},
            {"name": "added_snapshot_id", "type": "long", "field-id": 503},
            {"name": "added_files_count", "type": "int", "field-id": 504},
            {"name": "existing_files_count", "type": "int", "field-id": 505},
            {"name": "deleted_files_count", "type": "int", "field-id": 506},
            {"name": "added_rows_count", "type": "long", "field-id": 512},
            {"name": "existing_rows_count", "type": "long", "field-id": 513},
            {"name": "deleted_rows_count", "type": "long", "field-id": 514},
            {"name": "partitions", "default": null, "field-id": 507, "type": ["null", {
                "type": "array", "element-id": 508, "items": {
                    "type": "record", "name": "r508", "fields": [
                        {"name": "contains_null", "type": "boolean", "field-id": 509},
                        {"name": "contains_nan", "type": ["null", "boolean"], "default": null, "field-id": 518},
                        {"name": "lower_bound", "type": ["null", "bytes"], "default": null, "field-id": 510},
                        {"name": "upper_bound", "type": ["null", "bytes"], "default": null, "field-id": 511},
                    ]
                }
            }]},
        ]
    });
    Schema::parse(&schema).map_err(|e| avro_error("manifest list schema", e))
}

fn optional_long(v: Option<i64>) -> Value {
    match v {
        Some(v) => Value::Union(1, Box::new(Value::Long(v))),
        None => Value::Union(0, Box::new(Value::Null)),
    }
}

/// A manifest of `entries`, as Avro bytes.
pub fn write_manifest(context: &ManifestContext<'_>, entries: &[Entry]) -> Result<Vec<u8>> {
    let schema = manifest_schema(context.fields)?;
    let mut writer = Writer::with_codec(&schema, Vec::new(), Codec::Deflate(Default::default()));
    let metadata = [
        ("schema", context.schema_json.to_string()),
        ("schema-id", context.schema_id.to_string()),
        ("partition-spec", context.spec_fields_json.to_string()),
        ("partition-spec-id", context.spec_id.to_string()),
        ("format-version", "2".to_string()),
        ("content", "data".to_string()),
    ];
    for (key, value) in metadata {
        writer
            .add_user_metadata(key.to_string(), value)
            .map_err(|e| avro_error("manifest metadata", e))?;
    }
    for entry in entries {
        let partition: Vec<(String, Value)> = (context.fields.iter())
            .zip(&entry.file.partition)
            .map(|(f, v)| (f.name.clone(), v.to_avro()))
            .collect();
        let data_file = Value::Record(vec![
            ("content".into(), Value::Int(0)),
            ("file_path".into(), Value::String(entry.file.path.clone())),
            ("file_format".into(), Value::String("PARQUET".into())),
            ("partition".into(), Value::Record(partition)),
            ("record_count".into(), Value::Long(entry.file.record_count)),
            (
                "file_size_in_bytes".into(),
                Value::Long(entry.file.file_size),
            ),
        ]);
        let record = Value::Record(vec![
            ("status".into(), Value::Int(entry.status as i32)),
            ("snapshot_id".into(), optional_long(entry.snapshot_id)),
            (
                "sequence_number".into(),
                optional_long(entry.sequence_number),
            ),
            (
                "file_sequence_number".into(),
                optional_long(entry.file_sequence_number),
            ),
            ("data_file".into(), data_file),
        ]);
        writer
            .append(record)
            .map_err(|e| avro_error("manifest entry", e))?;
    }
    writer.into_inner().map_err(|e| avro_error("manifest", e))
}

/// A manifest list as its entries describe the manifests of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestFile {
    /// The manifest's full URI.
    pub path: String,
    /// Its length in bytes.
    pub length: i64,
    /// The partition spec its files were written with.
    pub spec_id: i32,
    /// 0 for data manifests (the only kind this tool writes; delete manifests are kept as read).
    pub content: i32,
    /// The sequence number of the snapshot that added it.
    pub sequence_number: i64,
    /// The smallest data sequence number of its live files.
    pub min_sequence_number: i64,
    /// The snapshot that added it.
    pub added_snapshot_id: i64,
    /// Entries and rows by status.
    pub added_files: i32,
    /// Entries kept from earlier snapshots.
    pub existing_files: i32,
    /// Entries deleted by the snapshot that added it.
    pub deleted_files: i32,
    /// Rows of added files.
    pub added_rows: i64,
    /// Rows of existing files.
    pub existing_rows: i64,
    /// Rows of deleted files.
    pub deleted_rows: i64,
    /// Per partition field: whether a NULL is present, and the bounds of the others (single-value
    /// serialization).
    pub partitions: Option<Vec<FieldSummary>>,
}

/// The partition bounds of one field over a manifest's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSummary {
    /// Whether a file of the manifest has NULL for the field.
    pub contains_null: bool,
    /// The smallest non-null value, serialized.
    pub lower: Option<Vec<u8>>,
    /// The largest non-null value, serialized.
    pub upper: Option<Vec<u8>>,
}

impl ManifestFile {
    /// The summary of a manifest of `entries` written to `path` (`length` bytes) by snapshot
    /// `snapshot_id` with sequence number `sequence_number`.
    pub fn describe(
        path: String,
        length: i64,
        spec_id: i32,
        snapshot_id: i64,
        sequence_number: i64,
        entries: &[Entry],
    ) -> ManifestFile {
        let count = |s: Status| entries.iter().filter(|e| e.status == s).count() as i32;
        let rows = |s: Status| {
            (entries.iter().filter(|e| e.status == s))
                .map(|e| e.file.record_count)
                .sum()
        };
        let min_sequence_number = (entries.iter())
            .filter(|e| e.status != Status::Deleted)
            .map(|e| e.sequence_number.unwrap_or(sequence_number))
            .min()
            .unwrap_or(sequence_number);
        let fields = entries.first().map_or(0, |e| e.file.partition.len());
        let partitions = (0..fields)
            .map(|i| {
                let values: Vec<&PartitionValue> = (entries.iter())
                    .filter(|e| e.status != Status::Deleted)
                    .map(|e| &e.file.partition[i])
                    .collect();
                let present = values.iter().filter(|v| ***v != PartitionValue::Null);
                FieldSummary {
                    contains_null: values.iter().any(|v| **v == PartitionValue::Null),
                    lower: present.clone().min().and_then(|v| v.to_bytes()),
                    upper: present.max().and_then(|v| v.to_bytes()),
                }
            })
            .collect();
        ManifestFile {
            path,
            length,
            spec_id,
            content: 0,
            sequence_number,
            min_sequence_number,
            added_snapshot_id: snapshot_id,
            added_files: count(Status::Added),
            existing_files: count(Status::Existing),
            deleted_files: count(Status::Deleted),
            added_rows: rows(Status::Added),
            existing_rows: rows(Status::Existing),
            deleted_rows: rows(Status::Deleted),
            partitions: Some(partitions),
        }
    }
}

/// A manifest list of `manifests`, as Avro bytes, for snapshot `snapshot_id` (metadata that
/// readers may check).
pub fn write_manifest_list(
    manifests: &[ManifestFile],
    snapshot_id: i64,
    parent_id: Option<i64>,
    sequence_number: i64,
) -> Result<Vec<u8>> {
    let schema = manifest_list_schema()?;
    let mut writer = Writer::with_codec(&schema, Vec::new(), Codec::Deflate(Default::default()));
    let mut metadata = vec![
        ("snapshot-id", snapshot_id.to_string()),
        ("sequence-number", sequence_number.to_string()),
        ("format-version", "2".to_string()),
    ];
    if let Some(parent) = parent_id {
        metadata.push(("parent-snapshot-id", parent.to_string()));
    }
    for (key, value) in metadata {
        writer
            .add_user_metadata(key.to_string(), value)
            .map_err(|e| avro_error("manifest list metadata", e))?;
    }
    let bytes = |b: &Option<Vec<u8>>| match b {
        Some(b) => Value::Union(1, Box::new(Value::Bytes(b.clone()))),
        None => Value::Union(0, Box::new(Value::Null)),
    };
    for m in manifests {
        let partitions = match &m.partitions {
            None => Value::Union(0, Box::new(Value::Null)),
            Some(summaries) => Value::Union(
                1,
                Box::new(Value::Array(
                    summaries
                        .iter()
                        .map(|s| {
                            Value::Record(vec![
                                ("contains_null".into(), Value::Boolean(s.contains_null)),
                                (
                                    "contains_nan".into(),
                                    Value::Union(0, Box::new(Value::Null)),
                                ),
                                ("lower_bound".into(), bytes(&s.lower)),
                                ("upper_bound".into(), bytes(&s.upper)),
                            ])
                        })
                        .collect(),
                )),
            ),
        };
        let record = Value::Record(vec![
            ("manifest_path".into(), Value::String(m.path.clone())),
            ("manifest_length".into(), Value::Long(m.length)),
            ("partition_spec_id".into(), Value::Int(m.spec_id)),
            ("content".into(), Value::Int(m.content)),
            ("sequence_number".into(), Value::Long(m.sequence_number)),
            (
                "min_sequence_number".into(),
                Value::Long(m.min_sequence_number),
            ),
            ("added_snapshot_id".into(), Value::Long(m.added_snapshot_id)),
            ("added_files_count".into(), Value::Int(m.added_files)),
            ("existing_files_count".into(), Value::Int(m.existing_files)),
            ("deleted_files_count".into(), Value::Int(m.deleted_files)),
            ("added_rows_count".into(), Value::Long(m.added_rows)),
            ("existing_rows_count".into(), Value::Long(m.existing_rows)),
            ("deleted_rows_count".into(), Value::Long(m.deleted_rows)),
            ("partitions".into(), partitions),
        ]);
        writer
            .append(record)
            .map_err(|e| avro_error("manifest list entry", e))?;
    }
    writer
        .into_inner()
        .map_err(|e| avro_error("manifest list", e))
}

fn unwrap_union(value: &Value) -> &Value {
    match value {
        Value::Union(_, inner) => inner,
        other => other,
    }
}

/// A record's fields by name.
fn fields(value: &Value) -> BTreeMap<&str, &Value> {
    match unwrap_union(value) {
        Value::Record(fields) => fields.iter().map(|(k, v)| (k.as_str(), v)).collect(),
        _ => BTreeMap::new(),
    }
}

fn long(record: &BTreeMap<&str, &Value>, name: &str) -> Option<i64> {
    match unwrap_union(record.get(name)?) {
        Value::Long(v) => Some(*v),
        Value::Int(v) => Some(i64::from(*v)),
        _ => None,
    }
}

fn text(record: &BTreeMap<&str, &Value>, name: &str) -> Option<String> {
    match unwrap_union(record.get(name)?) {
        Value::String(s) => Some(s.clone()),
        _ => None,
    }
}

fn read_values(bytes: &[u8], what: &str) -> Result<Vec<Value>> {
    let reader = Reader::new(bytes).map_err(|e| avro_error(what, e))?;
    reader.map(|v| v.map_err(|e| avro_error(what, e))).collect()
}

/// The entries of a manifest; partition tuples in the order of `fields` (by name).
pub fn read_manifest(bytes: &[u8], fields: &[PartitionField]) -> Result<Vec<Entry>> {
    let malformed = |what: &str| avro_error("manifest", format!("an entry without {what}"));
    read_values(bytes, "manifest")?
        .iter()
        .map(|value| {
            let entry = self::fields(value);
            let file = self::fields(
                entry
                    .get("data_file")
                    .ok_or_else(|| malformed("data_file"))?,
            );
            let partition = self::fields(
                file.get("partition")
                    .ok_or_else(|| malformed("partition"))?,
            );
            let status = match long(&entry, "status") {
                Some(0) => Status::Existing,
                Some(1) => Status::Added,
                Some(2) => Status::Deleted,
                _ => return Err(malformed("a status")),
            };
            Ok(Entry {
                status,
                snapshot_id: long(&entry, "snapshot_id"),
                sequence_number: long(&entry, "sequence_number"),
                file_sequence_number: long(&entry, "file_sequence_number"),
                file: DataFile {
                    path: text(&file, "file_path").ok_or_else(|| malformed("file_path"))?,
                    partition: (fields.iter())
                        .map(|f| {
                            partition
                                .get(f.name.as_str())
                                .map_or(PartitionValue::Null, |v| PartitionValue::from_avro(v))
                        })
                        .collect(),
                    record_count: long(&file, "record_count")
                        .ok_or_else(|| malformed("record_count"))?,
                    file_size: long(&file, "file_size_in_bytes")
                        .ok_or_else(|| malformed("file_size_in_bytes"))?,
                },
            })
        })
        .collect()
}

/// The manifests a manifest list names.
pub fn read_manifest_list(bytes: &[u8]) -> Result<Vec<ManifestFile>> {
    let malformed = |what: &str| avro_error("manifest list", format!("an entry without {what}"));
    read_values(bytes, "manifest list")?
        .iter()
        .map(|value| {
            let m = fields(value);
            let int = |name: &str| long(&m, name).map(|v| v as i32);
            let partitions = match m.get("partitions").map(|v| unwrap_union(v)) {
                Some(Value::Array(items)) => Some(
                    items
                        .iter()
                        .map(|item| {
                            let s = fields(item);
                            let bytes = |name: &str| match s.get(name).map(|v| unwrap_union(v)) {
                                Some(Value::Bytes(b)) => Some(b.clone()),
                                _ => None,
                            };
                            FieldSummary {
                                contains_null: matches!(
                                    s.get("contains_null").map(|v| unwrap_union(v)),
                                    Some(Value::Boolean(true))
                                ),
                                lower: bytes("lower_bound"),
                                upper: bytes("upper_bound"),
                            }
                        })
                        .collect(),
                ),
                _ => None,
            };
            Ok(ManifestFile {
                path: text(&m, "manifest_path").ok_or_else(|| malformed("manifest_path"))?,
                length: long(&m, "manifest_length").ok_or_else(|| malformed("manifest_length"))?,
                spec_id: int("partition_spec_id").unwrap_or(0),
                content: int("content").unwrap_or(0),
                sequence_number: long(&m, "sequence_number").unwrap_or(0),
                min_sequence_number: long(&m, "min_sequence_number").unwrap_or(0),
                added_snapshot_id: long(&m, "added_snapshot_id").unwrap_or(0),
                added_files: int("added_files_count").unwrap_or(0),
                existing_files: int("existing_files_count").unwrap_or(0),
                deleted_files: int("deleted_files_count").unwrap_or(0),
                added_rows: long(&m, "added_rows_count").unwrap_or(0),
                existing_rows: long(&m, "existing_rows_count").unwrap_or(0),
                deleted_rows: long(&m, "deleted_rows_count").unwrap_or(0),
                partitions,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> Vec<PartitionField> {
        vec![
            PartitionField {
                name: "Timestamp_hour".into(),
                field_id: 1000,
                kind: PartitionType::Int,
            },
            PartitionField {
                name: "Application".into(),
                field_id: 1001,
                kind: PartitionType::String,
            },
        ]
    }

    fn entry(path: &str, hour: i32, app: Option<&str>, status: Status) -> Entry {
        Entry {
            status,
            snapshot_id: (status != Status::Added).then_some(7),
            sequence_number: (status != Status::Added).then_some(3),
            file_sequence_number: (status != Status::Added).then_some(3),
            file: DataFile {
                path: path.into(),
                partition: vec![
                    PartitionValue::Int(hour),
                    app.map_or(PartitionValue::Null, |a| PartitionValue::String(a.into())),
                ],
                record_count: 10,
                file_size: 1234,
            },
        }
    }

    #[test]
    fn manifests_round_trip_with_their_field_ids_and_metadata() {
        let fields = fields();
        let context = ManifestContext {
            schema_json: r#"{"type":"struct","schema-id":0,"fields":[]}"#,
            schema_id: 0,
            spec_id: 0,
            spec_fields_json: "[]",
            fields: &fields,
        };
        let entries = vec![
            entry(
                "s3://b/t/data/a.parquet",
                491_000,
                Some("app"),
                Status::Added,
            ),
            entry("s3://b/t/data/b.parquet", 491_001, None, Status::Existing),
            entry(
                "s3://b/t/data/c.parquet",
                491_002,
                Some("x"),
                Status::Deleted,
            ),
        ];
        let bytes = write_manifest(&context, &entries).unwrap();
        assert_eq!(read_manifest(&bytes, &fields).unwrap(), entries);
        let reader = Reader::new(&bytes[..]).unwrap();
        let meta = reader.user_metadata();
        assert_eq!(meta["format-version"], b"2");
        assert_eq!(meta["content"], b"data");
        let schema = serde_json::to_string(reader.writer_schema()).unwrap();
        for id in ["\"field-id\":134", "\"field-id\":102", "\"field-id\":1001"] {
            assert!(schema.contains(id), "{id} in {schema}");
        }

        let list = ManifestFile::describe(
            "s3://b/t/metadata/m.avro".into(),
            bytes.len() as i64,
            0,
            9,
            4,
            &entries,
        );
        assert_eq!(
            (list.added_files, list.existing_files, list.deleted_files),
            (1, 1, 1)
        );
        assert_eq!(list.min_sequence_number, 3);
        let summaries = list.partitions.as_ref().unwrap();
        assert_eq!(summaries[0].lower, Some(491_000i32.to_le_bytes().to_vec()));
        assert_eq!(
            summaries[0].upper,
            Some(491_001i32.to_le_bytes().to_vec()),
            "deleted files left out"
        );
        assert!(summaries[1].contains_null);
        let list_bytes = write_manifest_list(std::slice::from_ref(&list), 9, Some(8), 4).unwrap();
        assert_eq!(read_manifest_list(&list_bytes).unwrap(), vec![list]);
    }
}
