//! Logpush's CSV output (`output_options.output_type: csv`): one record a line, the values of
//! the job's `field_names` in that order, no header, strings quoted (`""` for a quote inside).
//!
//! A record is turned into the JSON object Logpush would have written for the same job, and
//! that object goes through the decoder like any NDJSON line, so CSV follows the same rules and
//! rejects. Each value becomes a JSON string (the decoder reads `"443"` as an int, `"true"` as a
//! bool, digits or RFC 3339 as a timestamp); an empty unquoted value is NULL; a value of a
//! list, map or `json` field must be JSON text and is inserted as such.

use std::io::Write as _;

use super::LineReject;
use crate::error::{Error, Result};
use crate::schema::{EventSchema, FieldType};

/// The columns of CSV records: which field each value belongs to (`--csv-fields`).
#[derive(Debug, Clone)]
pub struct CsvColumns {
    /// Field indices, in column order.
    fields: Vec<usize>,
}

impl CsvColumns {
    /// The columns named in `list` (comma-separated field names, in the job's `field_names`
    /// order); every name must be a field of `schema`, once.
    pub fn parse(list: &str, schema: &EventSchema) -> Result<Self> {
        let invalid = |message: String| Error::InvalidOption {
            option: "--csv-fields",
            message,
        };
        let mut fields = Vec::new();
        for name in list.split(',').map(str::trim) {
            let Some(i) = schema.index_of(name) else {
                return Err(invalid(format!(
                    "{name:?} is not a field of {} (`logpush-parquet schema` lists them)",
                    schema.dataset()
                )));
            };
            if fields.contains(&i) {
                return Err(invalid(format!("{name} is listed twice")));
            }
            fields.push(i);
        }
        Ok(CsvColumns { fields })
    }

    /// Writes the JSON object of the CSV record `line` into `json` (cleared first).
    pub(crate) fn to_json(
        &self,
        line: &[u8],
        schema: &EventSchema,
        json: &mut Vec<u8>,
    ) -> std::result::Result<(), LineReject> {
        let reject = |field: Option<usize>, reason: String| LineReject {
            field: field.map(|i| schema.fields()[i].name.clone()),
            reason,
        };
        let text = std::str::from_utf8(line).map_err(|e| {
            reject(
                None,
                format!("invalid UTF-8 at byte {}", e.valid_up_to() + 1),
            )
        })?;
        json.clear();
        json.push(b'{');
        let mut rest = text;
        let mut column = 0;
        let mut value = String::new();
        loop {
            if column == self.fields.len() {
                return Err(reject(
                    None,
                    format!(
                        "CSV record has more than the {} values --csv-fields names",
                        self.fields.len()
                    ),
                ));
            }
            let field = self.fields[column];
            let quoted = rest.starts_with('"');
            value.clear();
            rest = if quoted {
                let after = unquote(&rest[1..], &mut value).ok_or_else(|| {
                    reject(Some(field), "CSV: a quoted value is not closed".into())
                })?;
                if !(after.is_empty() || after.starts_with(',')) {
                    return Err(reject(
                        Some(field),
                        "CSV: text after the closing quote of a value".into(),
                    ));
                }
                after
            } else {
                let end = rest.find(',').unwrap_or(rest.len());
                value.push_str(&rest[..end]);
                &rest[end..]
            };
            if quoted || !value.is_empty() {
                if json.len() > 1 {
                    json.push(b',');
                }
                let spec = &schema.fields()[field];
                serde_json::to_writer(&mut *json, &spec.name).expect("writing to a Vec");
                json.push(b':');
                match spec.field_type {
                    FieldType::StringList
                    | FieldType::IntList
                    | FieldType::StringMap
                    | FieldType::Json => {
                        if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(&value) {
                            return Err(reject(Some(field), format!("not JSON text: {e}")));
                        }
                        json.extend_from_slice(value.as_bytes());
                    }
                    // CSV has no types: a number or boolean is written as the job's NDJSON
                    // would write it, so that it is no lossless reading of a string.
                    FieldType::Int
                        if super::parse_int_text(&value)
                            .is_some_and(|n| n.to_string() == value) =>
                    {
                        json.extend_from_slice(value.as_bytes())
                    }
                    FieldType::Float if serde_json::from_str::<f64>(&value).is_ok() => {
                        json.extend_from_slice(value.as_bytes())
                    }
                    FieldType::Bool if value == "true" || value == "false" => {
                        json.extend_from_slice(value.as_bytes())
                    }
                    _ => serde_json::to_writer(&mut *json, &value).expect("writing to a Vec"),
                }
            }
            column += 1;
            match rest.strip_prefix(',') {
                Some(next) => rest = next,
                None => break,
            }
        }
        if column != self.fields.len() {
            return Err(reject(
                None,
                format!(
                    "CSV record has {column} values, --csv-fields names {}",
                    self.fields.len()
                ),
            ));
        }
        let _ = json.write_all(b"}");
        Ok(())
    }
}

/// Reads a quoted value's text (after its opening quote) into `value`; returns what follows
/// the closing quote, or `None` when there is none.
fn unquote<'a>(mut rest: &'a str, value: &mut String) -> Option<&'a str> {
    loop {
        let quote = rest.find('"')?;
        value.push_str(&rest[..quote]);
        rest = &rest[quote + 1..];
        match rest.strip_prefix('"') {
            Some(after) => {
                value.push('"');
                rest = after;
            }
            None => return Some(rest),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn json(columns: &str, line: &str) -> std::result::Result<String, LineReject> {
        let schema = EventSchema::bundled("http_requests").unwrap();
        let csv = CsvColumns::parse(columns, &schema).unwrap();
        let mut out = Vec::new();
        csv.to_json(line.as_bytes(), &schema, &mut out)?;
        Ok(String::from_utf8(out).unwrap())
    }

    #[test]
    fn records_become_the_objects_logpush_would_write() {
        let columns = "ClientIP,EdgeResponseStatus,BotDetectionIDs,RequestHeaders,CacheTieredFill";
        assert_eq!(
            json(columns, r#""192.0.2.1",200,"[1,2]","{""a"":""b""}",true"#).unwrap(),
            r#"{"ClientIP":"192.0.2.1","EdgeResponseStatus":200,"BotDetectionIDs":[1,2],"RequestHeaders":{"a":"b"},"CacheTieredFill":true}"#
        );
        // Numbers and booleans quoted or not are the same; other text stays a string.
        assert_eq!(
            json(
                "EdgeResponseStatus,CacheTieredFill,EdgeResponseCompressionRatio",
                r#""200","false","1.5e0""#
            )
            .unwrap(),
            r#"{"EdgeResponseStatus":200,"CacheTieredFill":false,"EdgeResponseCompressionRatio":1.5e0}"#
        );
        assert_eq!(
            json("EdgeResponseStatus,CacheTieredFill", r#"0200,yes"#).unwrap(),
            r#"{"EdgeResponseStatus":"0200","CacheTieredFill":"yes"}"#
        );
        // Empty unquoted values are NULL; a quoted empty string is a string.
        assert_eq!(json(columns, r#""",,,,"#).unwrap(), r#"{"ClientIP":""}"#);
        assert_eq!(
            json("ClientRequestUserAgent", r#""say ""hi"", then, go""#).unwrap(),
            r#"{"ClientRequestUserAgent":"say \"hi\", then, go"}"#
        );
    }

    #[test]
    fn malformed_records_are_refused_with_the_reason() {
        let columns = "ClientIP,EdgeResponseStatus,BotDetectionIDs";
        let cases = [
            (r#""a",1"#, None, "has 2 values, --csv-fields names 3"),
            (r#""a",1,"[1]",4"#, None, "more than the 3 values"),
            (r#""a,1,"[1]""#, Some("ClientIP"), "after the closing quote"),
            (
                r#""a"x,1,"[1]""#,
                Some("ClientIP"),
                "after the closing quote",
            ),
            (r#""a",1,"[1"#, Some("BotDetectionIDs"), "not closed"),
            (r#""a",1,"{1}""#, Some("BotDetectionIDs"), "not JSON text"),
        ];
        for (line, field, reason) in cases {
            let reject = json(columns, line).unwrap_err();
            assert_eq!(reject.field.as_deref(), field, "{line}");
            assert!(reject.reason.contains(reason), "{line}: {reject}");
        }
        let schema = EventSchema::bundled("http_requests").unwrap();
        let unknown = CsvColumns::parse("ClientIP,Nope", &schema).unwrap_err();
        assert!(unknown.to_string().contains("\"Nope\" is not a field"));
    }
}
