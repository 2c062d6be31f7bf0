//! What an Iceberg table of a dataset looks like: its schema (the field list's columns with
//! field ids, as Iceberg JSON), its partition spec (from `--partition-by`), and the Arrow schema
//! of its Parquet data files (each column carrying its field id, as Iceberg readers require).
//!
//! Type mapping: `string` and `json` are `string` (Iceberg has no JSON type; the text is the
//! same), `int` is `long`, `float` `double`, `bool` `boolean`, `timestamp` `timestamptz`
//! (microseconds), `string_list` and `int_list` `list<string>` and `list<long>`, `string_map`
//! `map<string, string>`. Partitioning: `date,hour` is `hour(event time)` (Iceberg refuses a day
//! and an hour of one column), `date` alone `day(event time)`, a field `identity(field)`.

use std::collections::HashMap;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Fields, Schema, SchemaRef};
use parquet::arrow::PARQUET_FIELD_ID_META_KEY;
use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::partition::{PartitionColumn, PartitionSpec};
use crate::schema::{EventSchema, FieldSpec, FieldType};

/// The first partition field id (Iceberg's convention).
pub const FIRST_PARTITION_FIELD_ID: i64 = 1000;

/// An Iceberg column type, as the table's schema JSON writes it.
fn iceberg_type(field: &FieldSpec, ids: &mut impl FnMut() -> i64) -> Value {
    match field.field_type {
        FieldType::String | FieldType::Json => json!("string"),
        FieldType::Int => json!("long"),
        FieldType::Float => json!("double"),
        FieldType::Bool => json!("boolean"),
        FieldType::Timestamp => json!("timestamptz"),
        FieldType::StringList | FieldType::IntList => {
            let element = match field.field_type {
                FieldType::StringList => "string",
                _ => "long",
            };
            json!({"type": "list", "element-id": ids(), "element": element, "element-required": false})
        }
        FieldType::StringMap => json!({
            "type": "map", "key-id": ids(), "key": "string",
            "value-id": ids(), "value": "string", "value-required": false
        }),
    }
}

/// The schema JSON of a new table of `schema`: the columns in order with ids 1 to N, then the
/// ids of list elements and map keys and values. Returns it and the last id used.
pub fn new_table_schema(schema: &EventSchema) -> (Value, i64) {
    let columns = schema.fields().len() as i64;
    let mut next_nested = columns;
    let mut ids = || {
        next_nested += 1;
        next_nested
    };
    let fields: Vec<Value> = (schema.fields().iter().enumerate())
        .map(|(i, f)| column_json(f, i as i64 + 1, &mut ids))
        .collect();
    let last = next_nested;
    (
        json!({"type": "struct", "schema-id": 0, "fields": fields}),
        last,
    )
}

/// One column of the schema JSON, with id `id` (nested ids from `ids`).
fn column_json(field: &FieldSpec, id: i64, ids: &mut impl FnMut() -> i64) -> Value {
    let mut column = json!({
        "id": id,
        "name": field.name,
        "required": false,
        "type": iceberg_type(field, ids),
    });
    if !field.description.is_empty() {
        column["doc"] = json!(field.description);
    }
    column
}

/// The columns of `schema` a table lacks (by name), as schema JSON fields with ids after
/// `last_id`; `Err` names a column whose type differs. Returns the new fields and the last id.
pub fn missing_columns(
    schema: &EventSchema,
    table: &Value,
    mut last_id: i64,
) -> Result<(Vec<Value>, i64)> {
    let existing = columns_by_name(table);
    let mut ids = || {
        last_id += 1;
        last_id
    };
    let mut added = Vec::new();
    for field in schema.fields() {
        let mut probe = || 0;
        let wanted = iceberg_type(field, &mut probe);
        match existing.get(field.name.as_str()) {
            Some(have) if same_type(have.get("type"), &wanted) => {}
            Some(have) => {
                return Err(Error::TableMismatch {
                    location: String::new(),
                    message: format!(
                        "the column {} is {} in the table, and {} in this run's field list: a \
                         column's type cannot change (convert into another table)",
                        field.name,
                        type_name(have.get("type")),
                        type_name(Some(&wanted))
                    ),
                });
            }
            None => {
                let id = ids();
                added.push(column_json(field, id, &mut ids));
            }
        }
    }
    Ok((added, last_id))
}

/// Two column types agree: the same primitive, or the same kind of list or map of the same
/// element types (their ids aside).
fn same_type(have: Option<&Value>, wanted: &Value) -> bool {
    let Some(have) = have else { return false };
    match (have, wanted) {
        (Value::String(a), Value::String(b)) => a == b,
        (Value::Object(a), Value::Object(b)) => ["type", "element", "key", "value"]
            .iter()
            .all(|k| a.get(*k) == b.get(*k)),
        _ => false,
    }
}

fn type_name(ty: Option<&Value>) -> String {
    match ty {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => match o.get("type").and_then(Value::as_str) {
            Some("list") => format!(
                "list<{}>",
                o.get("element").map_or(Value::Null, Clone::clone)
            ),
            Some("map") => format!(
                "map<{}, {}>",
                o.get("key").map_or(Value::Null, Clone::clone),
                o.get("value").map_or(Value::Null, Clone::clone)
            ),
            _ => "a struct".into(),
        },
        _ => "unknown".into(),
    }
}

/// The columns of a table schema JSON, by name.
pub fn columns_by_name(table: &Value) -> HashMap<&str, &Value> {
    (table["fields"].as_array().into_iter().flatten())
        .filter_map(|f| Some((f.get("name")?.as_str()?, f)))
        .collect()
}

/// The partition spec JSON of `--partition-by` over `schema` (whose column ids come from
/// `table_schema`), fields numbered from [`FIRST_PARTITION_FIELD_ID`].
pub fn partition_spec(
    partition: &PartitionSpec,
    schema: &EventSchema,
    table_schema: &Value,
) -> Result<Value> {
    let refuse = |message: String| Error::InvalidOption {
        option: "--partition-by",
        message,
    };
    let ids = columns_by_name(table_schema);
    let id_of = |name: &str| ids.get(name).and_then(|c| c["id"].as_i64());
    let has = |c: PartitionColumn| partition.columns().iter().any(|(_, col)| *col == c);
    let mut fields = Vec::new();
    let mut next = FIRST_PARTITION_FIELD_ID;
    let mut time_done = false;
    for (_, column) in partition.columns() {
        let (source, transform, name) = match column {
            PartitionColumn::Date | PartitionColumn::Hour => {
                if time_done {
                    continue;
                }
                time_done = true;
                let event = schema.event_time().map(|i| schema.fields()[i].name.clone());
                let event =
                    event.ok_or_else(|| refuse("date and hour need an event time".into()))?;
                let transform = match (has(PartitionColumn::Date), has(PartitionColumn::Hour)) {
                    (true, true) => "hour",
                    (true, false) => "day",
                    _ => {
                        return Err(refuse(
                            "hour without date has no Iceberg transform: partition by date,hour \
                             (hour of the event time) or date (its day)"
                                .into(),
                        ));
                    }
                };
                let name = format!("{event}_{transform}");
                (event, transform, name)
            }
            PartitionColumn::Field(i) => {
                let name = schema.fields()[*i].name.clone();
                (name.clone(), "identity", name)
            }
        };
        let source_id = id_of(&source)
            .ok_or_else(|| refuse(format!("the table has no column {source} to partition by")))?;
        fields.push(json!({
            "source-id": source_id,
            "field-id": next,
            "name": name,
            "transform": transform,
        }));
        next += 1;
    }
    Ok(json!({"spec-id": 0, "fields": fields}))
}

/// The Arrow schema of the table's data files: `columns` (the decoded schema) with each field's
/// id from `table_schema` (nested ones too), and without the JSON annotation (Iceberg has no
/// JSON type: readers expect plain strings).
pub fn data_file_schema(columns: &SchemaRef, table_schema: &Value) -> Result<SchemaRef> {
    let by_name = columns_by_name(table_schema);
    let fields = columns
        .fields()
        .iter()
        .map(|field| {
            let column =
                by_name
                    .get(field.name().as_str())
                    .ok_or_else(|| Error::TableMismatch {
                        location: String::new(),
                        message: format!("the table has no column {}", field.name()),
                    })?;
            Ok(with_ids(field, column))
        })
        .collect::<Result<Vec<Field>>>()?;
    Ok(Arc::new(Schema::new_with_metadata(
        fields,
        columns.metadata().clone(),
    )))
}

/// `field` with the field id of `column` (schema JSON), its nested fields with theirs.
fn with_ids(field: &Field, column: &Value) -> Field {
    let mut metadata = field.metadata().clone();
    metadata.remove(arrow_schema::extension::EXTENSION_TYPE_NAME_KEY);
    metadata.remove(arrow_schema::extension::EXTENSION_TYPE_METADATA_KEY);
    if let Some(id) = column.get("id").and_then(Value::as_i64) {
        metadata.insert(PARQUET_FIELD_ID_META_KEY.to_string(), id.to_string());
    }
    let ty = &column["type"];
    let id_field = |f: &Field, key: &str| {
        let mut m = f.metadata().clone();
        if let Some(id) = ty.get(key).and_then(Value::as_i64) {
            m.insert(PARQUET_FIELD_ID_META_KEY.to_string(), id.to_string());
        }
        f.clone().with_metadata(m)
    };
    let data_type = match field.data_type() {
        DataType::List(item) => DataType::List(Arc::new(id_field(item, "element-id"))),
        DataType::Map(entries, sorted) => match entries.data_type() {
            DataType::Struct(kv) if kv.len() == 2 => {
                let kv: Fields =
                    vec![id_field(&kv[0], "key-id"), id_field(&kv[1], "value-id")].into();
                let entries = entries
                    .as_ref()
                    .clone()
                    .with_data_type(DataType::Struct(kv));
                DataType::Map(Arc::new(entries), *sorted)
            }
            other => DataType::Map(
                Arc::new(entries.as_ref().clone().with_data_type(other.clone())),
                *sorted,
            ),
        },
        other => other.clone(),
    };
    field
        .clone()
        .with_data_type(data_type)
        .with_metadata(metadata)
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_schema::TimeUnit;

    #[test]
    fn a_new_tables_schema_numbers_columns_then_nested_fields() {
        let schema = EventSchema::bundled("http_requests").unwrap();
        let (json, last) = new_table_schema(&schema);
        let fields = json["fields"].as_array().unwrap();
        assert_eq!(fields.len(), schema.fields().len());
        assert_eq!(fields[0]["id"], 1);
        assert_eq!(fields.last().unwrap()["name"], "_extra");
        let columns = columns_by_name(&json);
        assert_eq!(columns["BotDetectionIDs"]["type"]["type"], "list");
        assert_eq!(columns["BotDetectionIDs"]["type"]["element"], "long");
        assert_eq!(columns["RequestHeaders"]["type"]["type"], "map");
        assert_eq!(columns["EdgeStartTimestamp"]["type"], "timestamptz");
        assert_eq!(columns["JA4Signals"]["type"], "string");
        let mut ids: Vec<i64> = Vec::new();
        for f in fields {
            ids.push(f["id"].as_i64().unwrap());
            for key in ["element-id", "key-id", "value-id"] {
                if let Some(id) = f["type"].get(key) {
                    ids.push(id.as_i64().unwrap());
                }
            }
        }
        let count = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), count, "every id once");
        assert_eq!(*ids.last().unwrap(), last);
    }

    #[test]
    fn data_files_carry_every_field_id_and_no_json_annotation() {
        let schema = EventSchema::bundled("http_requests").unwrap();
        let (json, _) = new_table_schema(&schema);
        let arrow = schema.arrow_schema(TimeUnit::Microsecond);
        let files = data_file_schema(&arrow, &json).unwrap();
        let id = |f: &Field| f.metadata().get(PARQUET_FIELD_ID_META_KEY).cloned();
        assert_eq!(id(files.field(0)), Some("1".into()));
        let signals = files.field_with_name("JA4Signals").unwrap();
        assert_eq!(signals.extension_type_name(), None);
        let DataType::List(item) = files
            .field_with_name("BotDetectionIDs")
            .unwrap()
            .data_type()
        else {
            panic!("a list")
        };
        let columns = columns_by_name(&json);
        assert_eq!(
            id(item),
            Some(columns["BotDetectionIDs"]["type"]["element-id"].to_string())
        );
    }

    #[test]
    fn partitioning_maps_to_iceberg_transforms() {
        let schema = EventSchema::spectrum_events();
        let (json, _) = new_table_schema(&schema);
        let spec = |text: &str| {
            partition_spec(
                &PartitionSpec::parse(text, &schema).unwrap(),
                &schema,
                &json,
            )
        };
        let hourly = spec("date,hour").unwrap();
        assert_eq!(hourly["fields"].as_array().unwrap().len(), 1);
        assert_eq!(hourly["fields"][0]["transform"], "hour");
        assert_eq!(hourly["fields"][0]["name"], "Timestamp_hour");
        assert_eq!(hourly["fields"][0]["field-id"], 1000);
        let by_app = spec("date,Application").unwrap();
        assert_eq!(by_app["fields"][0]["transform"], "day");
        assert_eq!(by_app["fields"][1]["transform"], "identity");
        assert_eq!(by_app["fields"][1]["field-id"], 1001);
        assert!(
            spec("hour")
                .unwrap_err()
                .to_string()
                .contains("hour without date")
        );
        assert_eq!(spec("none").unwrap()["fields"], json!([]));
    }

    #[test]
    fn missing_columns_get_new_ids_and_a_changed_type_is_refused() {
        let schema = EventSchema::spectrum_events();
        let (full, last) = new_table_schema(&schema);
        let mut shorter = full.clone();
        shorter["fields"]
            .as_array_mut()
            .unwrap()
            .retain(|f| f["name"] != "Status");
        let (added, new_last) = missing_columns(&schema, &shorter, last).unwrap();
        assert_eq!(added.len(), 1);
        assert_eq!(
            (added[0]["name"].as_str(), added[0]["id"].as_i64()),
            (Some("Status"), Some(last + 1))
        );
        assert_eq!(new_last, last + 1);
        let mut changed = full.clone();
        for f in changed["fields"].as_array_mut().unwrap() {
            if f["name"] == "Status" {
                f["type"] = json!("string");
            }
        }
        let refused = missing_columns(&schema, &changed, last)
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("the column Status is string in the table, and long"),
            "{refused}"
        );
    }
}
