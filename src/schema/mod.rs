//! The mapping layer: a dataset's field list (a TOML data file under `schema/`) and the Arrow
//! schema derived from it.
//!
//! The field list is the single description of a dataset. Nothing in Rust code repeats the
//! fields: the decoder, the partitioner and the DDL export all read an [`EventSchema`].
//!
//! Mapping rules (see `docs/decoding.md`, "Types"):
//! - `string` with an `enum` list becomes `Dictionary(Int16, Utf8)`; other strings `Utf8`;
//! - `int` becomes `Int64`, `float` `Float64`, `bool` `Boolean`;
//! - `timestamp` becomes `Timestamp(unit, "UTC")`, microseconds unless the caller asks otherwise;
//! - `string_list` and `int_list` (Cloudflare's `array[string]`, `array[int]`) become
//!   `List(Utf8)` and `List(Int64)`;
//! - `string_map` (an `object` of string values: headers, cookies) becomes
//!   `Map(Utf8, Utf8)`, Parquet's MAP;
//! - `json` (free-form `object` and `array[object]`) becomes `Utf8` holding the value's exact
//!   JSON text, tagged with Arrow's `arrow.json` extension type so that Parquet marks the
//!   column with the JSON logical type.
//!
//! Every field is nullable (a Logpush job may leave any field out) and carries its description
//! in the Arrow field metadata under [`DESCRIPTION_KEY`].
//!
//! Keys a line holds that the field list does not know are kept, by default, in one more
//! column, the catch-all [`CATCH_ALL`]: the exact JSON text of an object of those keys and their
//! values (see [`UnknownFields`]). It is the last column, typed as a `json` field, and no key of
//! a line maps to it.

pub mod suggest;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use arrow_array::types::ArrowPrimitiveType;
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use serde::Deserialize;

use crate::error::{Error, Result};

/// Arrow field-metadata key holding a field's description.
pub const DESCRIPTION_KEY: &str = "description";
/// Arrow field-metadata key holding an enum field's documented values, as a JSON array.
pub const ENUM_KEY: &str = "logpush.enum";
/// The time zone of every timestamp column.
pub const TIMESTAMP_TZ: &str = "UTC";
/// Arrow type of the dictionary keys of enum columns. Distinct values in one batch never exceed
/// the batch size, which the decoder caps below this type's range.
pub type EnumKey = arrow_array::types::Int16Type;

/// The field lists bundled with the tool, `(name, TOML text)`, from `schema/*.toml` (by
/// `build.rs`), sorted by name.
const BUNDLED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/bundled_schemas.rs"));

/// The dataset converted when none is named.
pub const DEFAULT_DATASET: &str = "spectrum_events";

/// The name of the catch-all column, which keeps the keys the field list does not know.
pub const CATCH_ALL: &str = "_extra";
/// Arrow field-metadata key marking a deprecated field (`"true"`).
pub const DEPRECATED_KEY: &str = "logpush.deprecated";

/// What happens to keys a line holds that are not in the field list (`--unknown-fields`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum UnknownFields {
    /// Kept in the catch-all column `_extra`: the JSON text of an object holding the unknown
    /// keys and their values (NULL when a line has none).
    #[default]
    Keep,
    /// Left out of the row (counted in the summary).
    Drop,
    /// The line is rejected.
    Reject,
}

impl UnknownFields {
    /// The flag's value, as typed.
    pub fn as_str(self) -> &'static str {
        match self {
            UnknownFields::Keep => "keep",
            UnknownFields::Drop => "drop",
            UnknownFields::Reject => "reject",
        }
    }
}

/// The declared type of one field, as written in the field list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    /// A JSON string.
    String,
    /// A 64-bit signed integer.
    Int,
    /// A 64-bit float: any JSON number.
    Float,
    /// A JSON boolean.
    Bool,
    /// An epoch integer (s, ms, us or ns) or an RFC 3339 string.
    Timestamp,
    /// A JSON array of strings (Cloudflare's `array[string]`).
    StringList,
    /// A JSON array of integers (Cloudflare's `array[int]`).
    IntList,
    /// A JSON object whose values are strings (Cloudflare's `object` for headers and cookies).
    StringMap,
    /// Any JSON value, kept as its exact text (free-form `object` and `array[object]`).
    Json,
}

impl FieldType {
    /// What a value of this type is, for reject reasons (`expected ...`).
    pub fn expected(self) -> &'static str {
        match self {
            FieldType::String => "a string",
            FieldType::Int => "an integer",
            FieldType::Float => "a number",
            FieldType::Bool => "a boolean",
            FieldType::Timestamp => "an epoch integer or RFC 3339 string",
            FieldType::StringList => "an array of strings",
            FieldType::IntList => "an array of integers",
            FieldType::StringMap => "an object of string values",
            FieldType::Json => "a JSON value",
        }
    }
}

/// The unit of a timestamp field's epoch integers, when the field list fixes it (Logpush's
/// `EventTimestampMs`, `...Nanos`); without it the unit is inferred from the magnitude.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EpochUnit {
    /// Seconds.
    S,
    /// Milliseconds.
    Ms,
    /// Microseconds.
    Us,
    /// Nanoseconds.
    Ns,
}

impl EpochUnit {
    /// Ticks per second.
    pub fn per_second(self) -> i64 {
        match self {
            EpochUnit::S => 1,
            EpochUnit::Ms => 1_000,
            EpochUnit::Us => 1_000_000,
            EpochUnit::Ns => 1_000_000_000,
        }
    }
}

/// How a field's column is encoded in Parquet (before compression).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnEncoding {
    /// Dictionary encoding where it pays (default): each row group's column gets a dictionary
    /// unless its first values are mostly distinct (see `write::dictionary`; enumerated
    /// strings always get one), falling back to plain when the dictionary grows large.
    Dictionary,
    /// Plain values, no dictionary: for columns of mostly distinct values (addresses, byte
    /// counts), where a dictionary only costs time and space.
    Plain,
    /// DELTA_BINARY_PACKED, for integers and timestamps that arrive nearly sorted.
    Delta,
}

/// One field of a dataset.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    /// The JSON key.
    pub name: String,
    /// The declared type.
    #[serde(rename = "type")]
    pub field_type: FieldType,
    /// Documented values of an enumerated string.
    #[serde(default, rename = "enum")]
    pub enum_values: Option<Vec<String>>,
    /// For timestamps: epoch zero means "not set" and becomes NULL.
    #[serde(default)]
    pub zero_is_null: bool,
    /// For timestamps: the unit of epoch integers (inferred from the magnitude when absent).
    #[serde(default)]
    pub epoch_unit: Option<EpochUnit>,
    /// Parquet encoding of the column (default: dictionary where it pays).
    #[serde(default)]
    pub encoding: Option<ColumnEncoding>,
    /// Documented once and since removed from Cloudflare's field list: kept so that older
    /// archives convert typed.
    #[serde(default)]
    pub deprecated: bool,
    /// Older spellings of the key (`IPTtl` for `IPTTL`): a line's key equal to one of them
    /// fills this field.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Human description, copied into the field metadata.
    #[serde(default)]
    pub description: String,
}

impl FieldSpec {
    /// Whether this field is an enumerated (dictionary-encoded) string.
    pub fn is_enum(&self) -> bool {
        self.enum_values.is_some()
    }

    /// The Arrow type of this field's column.
    pub fn arrow_type(&self, unit: TimeUnit) -> DataType {
        match self.field_type {
            FieldType::String if self.is_enum() => {
                DataType::Dictionary(Box::new(EnumKey::DATA_TYPE), Box::new(DataType::Utf8))
            }
            FieldType::String | FieldType::Json => DataType::Utf8,
            FieldType::Int => DataType::Int64,
            FieldType::Float => DataType::Float64,
            FieldType::Bool => DataType::Boolean,
            FieldType::Timestamp => DataType::Timestamp(unit, Some(TIMESTAMP_TZ.into())),
            FieldType::StringList => DataType::List(Arc::new(list_item(DataType::Utf8))),
            FieldType::IntList => DataType::List(Arc::new(list_item(DataType::Int64))),
            FieldType::StringMap => DataType::Map(Arc::new(map_entries()), false),
        }
    }

    /// The Arrow field, with the description (and enum values) in its metadata.
    pub fn arrow_field(&self, unit: TimeUnit) -> Field {
        let mut metadata = HashMap::new();
        if !self.description.is_empty() {
            metadata.insert(DESCRIPTION_KEY.to_string(), self.description.clone());
        }
        if let Some(values) = &self.enum_values {
            metadata.insert(
                ENUM_KEY.to_string(),
                serde_json::to_string(values).unwrap_or_default(),
            );
        }

        if self.deprecated {
            metadata.insert(DEPRECATED_KEY.to_string(), "true".to_string());
        }

        let field = Field::new(&self.name, self.arrow_type(unit), true).with_metadata(metadata);
        match self.field_type {
            FieldType::Json => field.with_extension_type(arrow_schema::extension::Json::default()),
            _ => field,
        }
    }
}

/// The item field of list columns (arrow's and Parquet's usual name, nullable items).
pub fn list_item(data_type: DataType) -> Field {
    Field::new("item", data_type, true)
}

/// The entries of map columns: Parquet's `key_value` group of a non-null `key` and a nullable
/// `value`.
pub fn map_entries() -> Field {
    Field::new(
        "key_value",
        DataType::Struct(
            vec![
                Field::new("key", DataType::Utf8, false),
                Field::new("value", DataType::Utf8, true),
            ]
            .into(),
        ),
        false,
    )
}

/// A dataset's field list, validated.
#[derive(Debug, Clone)]
pub struct EventSchema {
    dataset: String,
    source: Option<String>,
    event_time: Option<usize>,
    /// The field list's fields, then the catch-all column when unknown keys are kept.
    fields: Vec<FieldSpec>,
    /// Field indices by key (the catch-all has none: no key maps to it). Every key of every
    /// line the scanner does not predict is looked up here: a fast hash (Fx) rather than
    /// SipHash, which cost 6% of an http_requests run. Keys come from the input, but the table
    /// is fixed (the field list's names), so no input can make its buckets grow.
    by_name: rustc_hash::FxHashMap<String, usize>,
    /// Hex SHA-256 of the field-list text, so output names change when the schema does.
    fingerprint: String,
    unknown_fields: UnknownFields,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FieldListFile {
    dataset: String,
    #[serde(default)]
    event_time: Option<String>,
    /// Where the field list comes from (Cloudflare's documentation page).
    #[serde(default)]
    source: Option<String>,
    #[serde(rename = "field")]
    fields: Vec<FieldSpec>,
}

impl EventSchema {
    /// The bundled `spectrum_events` field list.
    pub fn spectrum_events() -> Self {
        Self::bundled(DEFAULT_DATASET).expect("the bundled field lists are valid (a unit test)")
    }

    /// The names of the bundled field lists (`--dataset`), sorted.
    pub fn bundled_names() -> impl Iterator<Item = &'static str> {
        BUNDLED.iter().map(|(name, _)| *name)
    }

    /// The TOML text of the bundled field list `name`.
    pub fn bundled_text(name: &str) -> Option<&'static str> {
        BUNDLED
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, text)| *text)
    }

    /// The bundled field list `name` (a file stem under `schema/`).
    pub fn bundled(name: &str) -> Result<Self> {
        match BUNDLED.iter().find(|(n, _)| *n == name) {
            Some((_, text)) => Self::from_toml_str(text, &format!("built-in {name}")),
            None => Err(Error::InvalidOption {
                option: "--dataset",
                message: format!(
                    "no bundled field list is named {name:?} (`logpush-parquet schema --list` \
                     names them; --schema FILE loads another)"
                ),
            }),
        }
    }

    /// Loads a field list from a file.
    pub fn load(path: &Path) -> Result<Self> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Error::Schema {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
        Self::from_toml_str(&text, &origin)
    }

    /// Parses and validates a field list; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: &str) -> Result<Self> {
        let fail = |message: String| Error::Schema {
            origin: origin.to_string(),
            message,
        };
        let file: FieldListFile = toml::from_str(text).map_err(|e| fail(e.to_string()))?;
        if file.dataset.trim().is_empty() {
            return Err(fail("`dataset` is empty".into()));
        }
        if file.fields.is_empty() {
            return Err(fail("no [[field]] entries".into()));
        }
        let mut by_name = rustc_hash::FxHashMap::default();
        // Readers (DuckDB, Spark, Delta, Iceberg) compare column names without case.
        let mut folded = HashMap::new();
        for (i, f) in file.fields.iter().enumerate() {
            if f.name.is_empty() {
                return Err(fail(format!("field {} has an empty name", i + 1)));
            }
            if by_name.insert(f.name.clone(), i).is_some() {
                return Err(fail(format!("field {} is listed twice", f.name)));
            }
            if let Some(other) = folded.insert(f.name.to_lowercase(), &f.name) {
                return Err(fail(format!(
                    "fields {other} and {} differ only by case, which readers do not tell \
                     apart: make one an alias of the other",
                    f.name
                )));
            }
        }
        for (i, f) in file.fields.iter().enumerate() {
            for alias in &f.aliases {
                if by_name.insert(alias.clone(), i).is_some() {
                    return Err(fail(format!(
                        "alias {alias} of field {} is already a key of the list",
                        f.name
                    )));
                }
            }
        }
        for f in &file.fields {
            if f.enum_values.is_some() && f.field_type != FieldType::String {
                return Err(fail(format!(
                    "field {}: only strings can have `enum`",
                    f.name
                )));
            }
            if let Some(values) = &f.enum_values {
                let distinct: HashSet<&String> = values.iter().collect();
                if values.is_empty() || distinct.len() != values.len() {
                    return Err(fail(format!(
                        "field {}: `enum` must list distinct values",
                        f.name
                    )));
                }
            }
            if f.encoding == Some(ColumnEncoding::Delta)
                && !matches!(f.field_type, FieldType::Int | FieldType::Timestamp)
            {
                return Err(fail(format!(
                    "field {}: delta encoding is for ints and timestamps",
                    f.name
                )));
            }
            if (f.zero_is_null || f.epoch_unit.is_some()) && f.field_type != FieldType::Timestamp {
                return Err(fail(format!(
                    "field {}: only timestamps can have `zero_is_null` or `epoch_unit`",
                    f.name
                )));
            }
        }
        let event_time = match &file.event_time {
            None => None,
            Some(name) => match by_name.get(name) {
                Some(&i) if file.fields[i].field_type == FieldType::Timestamp => Some(i),
                Some(_) => {
                    return Err(fail(format!("event_time {name} is not a timestamp field")));
                }
                None => return Err(fail(format!("event_time {name} is not a listed field"))),
            },
        };
        if by_name.contains_key(CATCH_ALL) {
            return Err(fail(format!(
                "a field is named {CATCH_ALL}, the name of the column that keeps unknown keys: \
                 rename it"
            )));
        }
        EventSchema {
            dataset: file.dataset,
            source: file.source,
            event_time,
            fields: file.fields,
            by_name,
            fingerprint: crate::hex_sha256(text.as_bytes()),
            unknown_fields: UnknownFields::Drop,
        }
        .with_unknown_fields(UnknownFields::default())
    }

    /// The schema with `mode` for unknown keys: the catch-all column is there with `keep` only.
    pub fn with_unknown_fields(mut self, mode: UnknownFields) -> Result<Self> {
        if self.catch_all().is_some() {
            self.fields.pop();
        }
        if mode == UnknownFields::Keep {
            self.fields.push(FieldSpec {
                name: CATCH_ALL.to_string(),
                field_type: FieldType::Json,
                enum_values: None,
                zero_is_null: false,
                epoch_unit: None,
                encoding: None,
                deprecated: false,
                aliases: Vec::new(),
                description: "The keys of the line that are not in the field list, with their \
                              values: the exact JSON text of an object (NULL when there are none)."
                    .to_string(),
            });
        }
        self.unknown_fields = mode;
        Ok(self)
    }

    /// What happens to keys that are not in the field list.
    pub fn unknown_fields(&self) -> UnknownFields {
        self.unknown_fields
    }

    /// The index of the catch-all column, when unknown keys are kept.
    pub fn catch_all(&self) -> Option<usize> {
        (self.unknown_fields == UnknownFields::Keep).then(|| self.fields.len() - 1)
    }

    /// The fields of the field list, without the catch-all column.
    pub fn listed_fields(&self) -> &[FieldSpec] {
        match self.catch_all() {
            Some(i) => &self.fields[..i],
            None => &self.fields,
        }
    }

    /// The dataset name (`spectrum_events`).
    pub fn dataset(&self) -> &str {
        &self.dataset
    }

    /// Where the field list comes from, when it says.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The columns' fields, in field-list order (which is the column order), the catch-all
    /// column last when unknown keys are kept.
    pub fn fields(&self) -> &[FieldSpec] {
        &self.fields
    }

    /// The index of the field whose key is `name` (its name or one of its aliases).
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// The unknown keys of `counts` (key -> rows) that differ from a field's name only by
    /// letter case, as `KEY (field NAME)` -> rows: spelling variants a user may want to map with
    /// `aliases` in a field list of their own.
    pub fn near_misses(&self, counts: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
        let folded: HashMap<String, &str> = (self.listed_fields().iter())
            .map(|f| (f.name.to_lowercase(), f.name.as_str()))
            .collect();
        counts
            .iter()
            .filter_map(|(key, n)| {
                let field = folded.get(&key.to_lowercase())?;
                Some((format!("{key} (field {field})"), *n))
            })
            .collect()
    }

    /// The index of the event-time field that `date` and `hour` partitions derive from.
    pub fn event_time(&self) -> Option<usize> {
        self.event_time
    }

    /// Hex SHA-256 of the field-list text.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The Arrow schema of decoded batches: one nullable column per field, in order.
    pub fn arrow_schema(&self, unit: TimeUnit) -> SchemaRef {
        Arc::new(Schema::new(
            self.fields
                .iter()
                .map(|f| f.arrow_field(unit))
                .collect::<Vec<_>>(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_field_list_has_the_31_documented_fields() {
        let schema = EventSchema::spectrum_events();
        assert_eq!(schema.dataset(), "spectrum_events");
        assert_eq!(schema.listed_fields().len(), 31);
        assert_eq!(schema.fields().len(), 32, "and the catch-all column");
        assert_eq!(schema.fields()[31].name, CATCH_ALL);
        assert_eq!(schema.index_of(CATCH_ALL), None, "no key maps to it");
        let seed = include_str!("../../schema/spectrum_events.toml");
        assert!(seed.contains("name = \"OriginTlsFingerprint\""));
        let enums: Vec<&str> = schema
            .fields()
            .iter()
            .filter(|f| f.is_enum())
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(
            enums,
            [
                "ClientMatchedIpFirewall",
                "ClientProto",
                "ClientTlsProtocol",
                "ClientTlsStatus",
                "Event",
                "OriginProto",
                "OriginTlsMode",
                "OriginTlsProtocol",
                "OriginTlsStatus",
                "ProxyProtocol"
            ]
        );
        assert_eq!(schema.event_time(), schema.index_of("Timestamp"));
    }

    #[test]
    fn types_map_to_arrow_as_documented() {
        let schema = EventSchema::spectrum_events();
        let arrow = schema.arrow_schema(TimeUnit::Microsecond);
        let ty = |n: &str| arrow.field_with_name(n).unwrap().data_type().clone();
        assert_eq!(ty("ClientAsn"), DataType::Int64);
        assert_eq!(ty("IpFirewall"), DataType::Boolean);
        assert_eq!(ty("Application"), DataType::Utf8);
        assert_eq!(
            ty("Event"),
            DataType::Dictionary(Box::new(DataType::Int16), Box::new(DataType::Utf8))
        );
        assert_eq!(
            ty("Timestamp"),
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
        );
        let nanos = schema.arrow_schema(TimeUnit::Nanosecond);
        assert_eq!(
            nanos
                .field_with_name("DisconnectTimestamp")
                .unwrap()
                .data_type(),
            &DataType::Timestamp(TimeUnit::Nanosecond, Some("UTC".into()))
        );
        let status = arrow.field_with_name("Status").unwrap();
        assert_eq!(
            status.metadata().get(DESCRIPTION_KEY).map(String::as_str),
            Some("A code indicating reason for connection closure.")
        );
        assert!(arrow.fields().iter().all(|f| f.is_nullable()));
        let event = arrow.field_with_name("Event").unwrap();
        assert!(event.metadata()[ENUM_KEY].contains("\"clientFiltered\""));
    }

    #[test]
    fn every_field_list_under_schema_is_bundled_and_loads() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("schema");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .filter_map(|e| {
                let path = e.unwrap().path();
                (path.extension()? == "toml")
                    .then(|| path.file_stem()?.to_str().map(String::from))?
            })
            .collect();
        files.sort();
        let names: Vec<&str> = EventSchema::bundled_names().collect();
        assert_eq!(names, files);
        assert!(names.len() >= 39, "every Logpush dataset: {names:?}");
        for name in names {
            let schema = EventSchema::bundled(name).unwrap();
            assert!(schema.event_time().is_some(), "{name} names its event time");
            assert!(
                schema.source().is_some() || name == DEFAULT_DATASET,
                "{name}"
            );
            let arrow = schema.arrow_schema(TimeUnit::Microsecond);
            assert_eq!(arrow.fields().len(), schema.fields().len());
            crate::decode::Decoder::try_new(Arc::new(schema), Default::default()).unwrap();
        }
        let unknown = EventSchema::bundled("http_request")
            .unwrap_err()
            .to_string();
        assert!(unknown.contains("schema --list"), "{unknown}");
    }

    #[test]
    fn nested_types_map_to_arrow_as_documented() {
        let schema = EventSchema::bundled("http_requests").unwrap();
        let arrow = schema.arrow_schema(TimeUnit::Microsecond);
        let field = |n: &str| arrow.field_with_name(n).unwrap().clone();
        assert_eq!(
            field("EdgeResponseCompressionRatio").data_type(),
            &DataType::Float64
        );
        assert_eq!(
            field("BotDetectionIDs").data_type(),
            &DataType::List(Arc::new(list_item(DataType::Int64)))
        );
        assert_eq!(
            field("BotDetectionTags").data_type(),
            &DataType::List(Arc::new(list_item(DataType::Utf8)))
        );
        assert!(matches!(
            field("RequestHeaders").data_type(),
            DataType::Map(..)
        ));
        assert_eq!(field("JA4Signals").data_type(), &DataType::Utf8);
        assert_eq!(
            field("JA4Signals").extension_type_name(),
            Some("arrow.json")
        );
        let workers = EventSchema::bundled("workers_trace_events").unwrap();
        let at = &workers.fields()[workers.event_time().unwrap()];
        assert_eq!(
            (at.name.as_str(), at.epoch_unit),
            ("EventTimestampMs", Some(EpochUnit::Ms))
        );
    }

    #[test]
    fn zero_is_null_is_set_on_connect_and_disconnect_only() {
        let schema = EventSchema::spectrum_events();
        let zero: Vec<&str> = schema
            .fields()
            .iter()
            .filter(|f| f.zero_is_null)
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(zero, ["ConnectTimestamp", "DisconnectTimestamp"]);
    }

    #[test]
    fn aliases_map_older_spellings_and_deprecated_fields_are_marked() {
        let schema = EventSchema::bundled("network_analytics_logs").unwrap();
        let ttl = schema.index_of("IPTTL").unwrap();
        assert_eq!(schema.index_of("IPTtl"), Some(ttl), "the 2022 spelling");
        assert_eq!(schema.index_of("ipttl"), None, "not any spelling");
        let http = EventSchema::bundled("http_requests").unwrap();
        let waf = &http.fields()[http.index_of("WAFAction").unwrap()];
        assert!(waf.deprecated);
        let arrow = http.arrow_schema(TimeUnit::Microsecond);
        let field = arrow.field_with_name("WAFAction").unwrap();
        assert_eq!(
            field.metadata().get(DEPRECATED_KEY).map(String::as_str),
            Some("true")
        );
        let current = arrow.field_with_name("ClientIP").unwrap();
        assert_eq!(current.metadata().get(DEPRECATED_KEY), None);
        // Every bundled list: no two keys equal but for case, except a field and its aliases.
        for name in EventSchema::bundled_names() {
            let schema = EventSchema::bundled(name).unwrap();
            let mut folded = HashSet::new();
            for f in schema.listed_fields() {
                assert!(folded.insert(f.name.to_lowercase()), "{name}: {}", f.name);
                for alias in &f.aliases {
                    assert_eq!(alias.to_lowercase(), f.name.to_lowercase(), "{name}");
                }
            }
        }
    }

    #[test]
    fn near_misses_are_keys_equal_to_a_field_but_for_case() {
        let schema = EventSchema::spectrum_events();
        let counts: BTreeMap<String, u64> = [("ClientASN", 3), ("clientasn", 1), ("Other", 5)]
            .into_iter()
            .map(|(k, n)| (k.to_string(), n))
            .collect();
        let near: Vec<(String, u64)> = schema.near_misses(&counts).into_iter().collect();
        assert_eq!(
            near,
            [
                ("ClientASN (field ClientAsn)".to_string(), 3),
                ("clientasn (field ClientAsn)".to_string(), 1)
            ]
        );
    }

    #[test]
    fn the_catch_all_column_comes_and_goes_with_the_unknown_fields_mode() {
        let keep = EventSchema::spectrum_events();
        assert_eq!(keep.unknown_fields(), UnknownFields::Keep);
        assert_eq!(keep.catch_all(), Some(31));
        let drop = keep
            .clone()
            .with_unknown_fields(UnknownFields::Drop)
            .unwrap();
        assert_eq!((drop.catch_all(), drop.fields().len()), (None, 31));
        let again = drop.with_unknown_fields(UnknownFields::Keep).unwrap();
        assert_eq!(again.fields().len(), 32);
        let arrow = again.arrow_schema(TimeUnit::Microsecond);
        let extra = arrow.field_with_name(CATCH_ALL).unwrap();
        assert_eq!(extra.extension_type_name(), Some("arrow.json"));
    }

    #[test]
    fn invalid_field_lists_are_refused_with_the_reason() {
        let cases = [
            ("dataset = \"d\"\nfield = []", "no [[field]]"),
            (
                "dataset = \"d\"\n[[field]]\nname = \"a\"\ntype = \"int\"\n[[field]]\nname = \"a\"\ntype = \"int\"",
                "listed twice",
            ),
            (
                "dataset = \"d\"\n[[field]]\nname = \"a\"\ntype = \"int\"\nenum = [\"x\"]",
                "only strings",
            ),
            (
                "dataset = \"d\"\n[[field]]\nname = \"a\"\ntype = \"decimal\"",
                "unknown variant",
            ),
            (
                "dataset = \"d\"\nevent_time = \"a\"\n[[field]]\nname = \"a\"\ntype = \"int\"",
                "not a timestamp",
            ),
            (
                "dataset = \"d\"\n[[field]]\nname = \"a\"\ntype = \"string\"\nenum = [\"x\", \"x\"]",
                "distinct",
            ),
            (
                "dataset = \"d\"\n[[field]]\nname = \"IPTTL\"\ntype = \"int\"\n[[field]]\nname = \"IPTtl\"\ntype = \"int\"",
                "differ only by case",
            ),
            (
                "dataset = \"d\"\n[[field]]\nname = \"a\"\ntype = \"int\"\naliases = [\"b\"]\n[[field]]\nname = \"b\"\ntype = \"int\"",
                "alias b of field a is already a key",
            ),
            (
                "dataset = \"d\"\n[[field]]\nname = \"_extra\"\ntype = \"json\"",
                "the name of the column that keeps unknown keys",
            ),
        ];
        for (text, expected) in cases {
            let err = EventSchema::from_toml_str(text, "test.toml")
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(expected),
                "{err:?} should mention {expected:?}"
            );
            assert!(err.contains("test.toml"), "{err:?} should name the file");
        }
    }
}
