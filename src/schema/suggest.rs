//! Schema drift a user can act on: from the keys of sample lines that a field list does not
//! know, a longer field list ([`Suggestion::render`]), ready for `--schema`. Each unknown key
//! becomes a field typed by what all its values have in common; a key that differs from a
//! field only by case is named as an alias to add by hand, not as a field (readers could not
//! tell the two columns apart).
//!
//! Plain synchronous code over parsed JSON values: `crate::suggest` reads the inputs.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

use super::{CATCH_ALL, EventSchema};
use crate::time;

/// Distinct unknown keys followed; further keys are counted, not typed.
pub const MAX_KEYS: usize = 10_000;
/// Characters of an example value shown in the suggestion.
const EXAMPLE_CHARS: usize = 60;

/// What the values of one unknown key have been.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Seen {
    /// Lines that held the key.
    lines: u64,
    nulls: u64,
    bools: u64,
    ints: u64,
    /// Numbers with a fraction or exponent, or beyond the int64 range.
    floats: u64,
    /// Strings, and how many of them are date-times (RFC 3339, or without an offset).
    strings: u64,
    date_times: u64,
    /// Arrays of strings (or nulls), of integers (or nulls), and other arrays; an empty
    /// array counts as neither kind.
    string_lists: u64,
    int_lists: u64,
    empty_lists: u64,
    other_lists: u64,
    /// Objects of string (or null) values, and other objects.
    string_maps: u64,
    other_objects: u64,
    /// The first value that was not null, as JSON text.
    example: Option<String>,
}

/// The unknown keys of sample lines, and what their values were.
#[derive(Debug, Default)]
pub struct Suggestion {
    /// Lines looked at (JSON objects).
    pub lines: u64,
    /// Lines that were not JSON objects, and were skipped.
    pub not_objects: u64,
    keys: BTreeMap<String, Seen>,
    /// Occurrences of keys beyond the first [`MAX_KEYS`].
    pub untyped: u64,
}

impl Suggestion {
    /// Looks at one line: its keys that `schema` does not know (neither a field nor an alias).
    pub fn add_line(&mut self, schema: &EventSchema, line: &[u8]) {
        let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(line) else {
            self.not_objects += 1;
            return;
        };
        self.lines += 1;
        for (key, value) in object {
            if schema.index_of(&key).is_some() {
                continue;
            }
            let full = self.keys.len() >= MAX_KEYS;
            let seen = match self.keys.get_mut(&key) {
                Some(seen) => seen,
                None if full => {
                    self.untyped += 1;
                    continue;
                }
                None => self.keys.entry(key).or_default(),
            };
            seen.add(&value);
        }
    }

    /// How many distinct unknown keys were seen (at most [`MAX_KEYS`]).
    pub fn keys(&self) -> usize {
        self.keys.len()
    }

    /// `base` (the field list's TOML text, unchanged) followed by a field for each unknown key,
    /// typed by its values, with what was seen in a comment.
    pub fn render(&self, schema: &EventSchema, base: &str, inputs: usize) -> String {
        let mut out = base.trim_end().to_string();
        out.push_str("\n\n");
        let _ = writeln!(
            out,
            "# Suggested by `logpush-parquet schema --suggest`: {} key{} that the list above does \
             not know,\n# seen in {} line{} of {} input{}. Each field's type is the one all its \
             values fit (check it),\n# then convert with --schema THIS_FILE: a Delta table gains \
             the new columns at its next run.",
            self.keys.len(),
            plural(self.keys.len() as u64),
            self.lines,
            plural(self.lines),
            inputs,
            plural(inputs as u64),
        );
        if self.untyped > 0 {
            let _ = writeln!(
                out,
                "# {} more occurrences of keys beyond the first {MAX_KEYS} were not typed.",
                self.untyped
            );
        }
        let folded: BTreeMap<String, &str> = (schema.listed_fields().iter())
            .map(|f| (f.name.to_lowercase(), f.name.as_str()))
            .collect();
        for (key, seen) in &self.keys {
            out.push('\n');
            let example = match &seen.example {
                Some(text) => format!(", e.g. {}", shorten(text)),
                None => String::new(),
            };
            let _ = writeln!(out, "# in {} of {} lines{example}", seen.lines, self.lines);
            if let Some(field) = folded.get(&key.to_lowercase()) {
                let _ = writeln!(
                    out,
                    "# {} differs from the field {field} only by case: an older spelling? Add it \
                     to that field's\n# aliases (aliases = [{}]) rather than as a field of its \
                     own, which readers could not tell apart.",
                    toml_string(key),
                    toml_string(key)
                );
                continue;
            }
            if key == CATCH_ALL {
                let _ = writeln!(
                    out,
                    "# {CATCH_ALL} is the name of the column that keeps unknown keys: a field \
                     cannot have it."
                );
                continue;
            }
            let (field_type, note) = seen.field_type();
            let _ = writeln!(out, "[[field]]\nname = {}", toml_string(key));
            let _ = writeln!(out, "type = \"{field_type}\"");
            if let Some(note) = note {
                let _ = writeln!(out, "description = {}", toml_string(note));
            }
        }
        out
    }
}

impl Seen {
    fn add(&mut self, value: &Value) {
        self.lines += 1;
        if !value.is_null() && self.example.is_none() {
            self.example = Some(value.to_string());
        }
        match value {
            Value::Null => self.nulls += 1,
            Value::Bool(_) => self.bools += 1,
            Value::Number(n) if n.as_i64().is_some() => self.ints += 1,
            Value::Number(_) => self.floats += 1,
            Value::String(s) => {
                self.strings += 1;
                if is_date_time(s) {
                    self.date_times += 1;
                }
            }
            Value::Array(items) if items.is_empty() => self.empty_lists += 1,
            Value::Array(items) if items.iter().all(|i| i.is_string() || i.is_null()) => {
                self.string_lists += 1
            }
            Value::Array(items) if items.iter().all(|i| i.is_i64() || i.is_null()) => {
                self.int_lists += 1
            }
            Value::Array(_) => self.other_lists += 1,
            Value::Object(map) if map.values().all(|v| v.is_string() || v.is_null()) => {
                self.string_maps += 1
            }
            Value::Object(_) => self.other_objects += 1,
        }
    }

    /// The field-list type all the values fit, and a note when the choice is not plain.
    fn field_type(&self) -> (&'static str, Option<&'static str>) {
        let scalars = self.bools + self.ints + self.floats + self.strings;
        let lists = self.string_lists + self.int_lists + self.empty_lists + self.other_lists;
        let objects = self.string_maps + self.other_objects;
        match (scalars, lists, objects) {
            (0, 0, 0) => ("string", Some("Only null was seen: the type is a guess.")),
            (_, 0, 0) if self.strings == scalars && self.date_times == self.strings => {
                ("timestamp", None)
            }
            (_, 0, 0) if self.bools == scalars => ("bool", None),
            (_, 0, 0) if self.ints == scalars => ("int", None),
            (_, 0, 0) if self.ints + self.floats == scalars => ("float", None),
            // Numbers and booleans in a string field are kept as their exact text.
            (_, 0, 0) => ("string", None),
            (0, _, 0) if self.other_lists == 0 && self.int_lists == 0 => ("string_list", None),
            (0, _, 0) if self.other_lists == 0 && self.string_lists == 0 => ("int_list", None),
            (0, 0, _) if self.other_objects == 0 => ("string_map", None),
            _ => (
                "json",
                Some("Values of several shapes: kept as their exact JSON text."),
            ),
        }
    }
}

/// A date-time string (RFC 3339, or without an offset), not an epoch in a string.
fn is_date_time(s: &str) -> bool {
    s.contains(':') && time::parse_timestamp_reading(s).is_ok()
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(EXAMPLE_CHARS) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_string(),
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A TOML basic string: quotes, backslashes and control characters escaped.
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn suggest(lines: &[&str]) -> (EventSchema, String) {
        let schema = EventSchema::spectrum_events();
        let mut suggestion = Suggestion::default();
        for line in lines {
            suggestion.add_line(&schema, line.as_bytes());
        }
        let text = suggestion.render(&schema, "dataset = \"spectrum_events\"\n", 1);
        (schema, text)
    }

    #[test]
    fn each_unknown_key_becomes_a_field_of_the_type_its_values_fit() {
        let (_, text) = suggest(&[
            r#"{"Status":1,"S":"a","I":1,"F":1,"B":true,"T":"2022-05-10 06:36:57","SL":["a",null],"IL":[1],"M":{"k":"v"},"J":{"k":[1]},"N":null,"Mixed":1}"#,
            r#"{"Status":2,"S":"b","I":-2,"F":0.5,"B":false,"T":"2022-05-10T06:36:57Z","SL":[],"IL":[],"M":{},"J":[{"a":1}],"N":null,"Mixed":"x"}"#,
            "not json",
        ]);
        let suggested = EventSchema::from_toml_str(&text, "suggested").unwrap();
        let ty = |name: &str| {
            let f = &suggested.fields()[suggested.index_of(name).unwrap()];
            format!("{:?}", f.field_type)
        };
        let types: Vec<(&str, String)> =
            ["S", "I", "F", "B", "T", "SL", "IL", "M", "J", "N", "Mixed"]
                .into_iter()
                .map(|n| (n, ty(n)))
                .collect();
        assert_eq!(
            types,
            [
                ("S", "String".into()),
                ("I", "Int".into()),
                ("F", "Float".into()),
                ("B", "Bool".into()),
                ("T", "Timestamp".into()),
                ("SL", "StringList".into()),
                ("IL", "IntList".into()),
                ("M", "StringMap".into()),
                ("J", "Json".into()),
                ("N", "String".into()),
                ("Mixed", "String".into()),
            ]
        );
        assert!(text.contains("# in 2 of 2 lines, e.g. \"a\"\n"), "{text}");
        assert!(text.contains("Only null was seen"), "{text}");
    }

    #[test]
    fn a_near_miss_is_named_as_an_alias_and_the_list_still_loads() {
        let (_, text) = suggest(&[r#"{"ClientASN":13335,"Status":1,"Weird\"Key":"x","_extra":1}"#]);
        assert!(
            text.contains("\"ClientASN\" differs from the field ClientAsn only by case"),
            "{text}"
        );
        assert!(!text.contains("name = \"ClientASN\""), "{text}");
        assert!(text.contains("name = \"Weird\\\"Key\""), "{text}");
        assert!(text.contains("_extra is the name of the column"), "{text}");
        EventSchema::from_toml_str(&text, "suggested").unwrap();
    }

    #[test]
    fn keys_beyond_the_limit_are_counted_not_typed() {
        let schema = EventSchema::spectrum_events();
        let mut suggestion = Suggestion::default();
        for i in 0..MAX_KEYS + 3 {
            suggestion.add_line(&schema, format!(r#"{{"K{i}":1}}"#).as_bytes());
        }
        assert_eq!((suggestion.keys(), suggestion.untyped), (MAX_KEYS, 3));
    }
}
