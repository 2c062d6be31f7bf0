//! Values beyond flat scalars: floats, lists, string maps, JSON text and timestamps with a
//! declared epoch unit. Each is read back from the batch as a value (not as text), every wrong
//! shape is refused with its field and reason, and the fast scanner agrees with the general
//! path on every line.

use super::*;
use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;

const SCHEMA: &str = r#"
dataset = "nested"
event_time = "When"

[[field]]
name = "When"
type = "timestamp"

[[field]]
name = "AtMs"
type = "timestamp"
epoch_unit = "ms"

[[field]]
name = "Ratio"
type = "float"

[[field]]
name = "Tags"
type = "string_list"

[[field]]
name = "Ids"
type = "int_list"

[[field]]
name = "Headers"
type = "string_map"

[[field]]
name = "Meta"
type = "json"

[[field]]
name = "Host"
type = "string"
"#;

fn nested_decoder(fast: bool) -> Decoder {
    let schema = Arc::new(EventSchema::from_toml_str(SCHEMA, "nested.toml").unwrap());
    Decoder::try_new(schema, DecodeOptions::default())
        .unwrap()
        .with_fast_path(fast)
}

fn decode_all(lines: &[&str], fast: bool) -> (Vec<Result<(), LineReject>>, Option<RecordBatch>) {
    let mut decoder = nested_decoder(fast);
    let results = lines
        .iter()
        .map(|l| decoder.decode_line(l.as_bytes()))
        .collect();
    (results, decoder.flush().unwrap())
}

#[test]
fn nested_values_arrive_as_values() {
    let lines = [
        r#"{"When":1795474800,"AtMs":1795474800123,"Ratio":0.4375,"Tags":["a","b\"c",null,"é"],"Ids":[1,-2,"3",null],"Headers":{"user-agent":"curl/8","x-empty":"","x-null":null},"Meta":{"a":[1,2.5,{"b":null}],"s":"\u00e9"},"Host":"h"}"#,
        r#"{"When":"2026-11-23T23:00:00Z","AtMs":"1795474800123","Ratio":"1e-3","Tags":[],"Ids":[],"Headers":{},"Meta":"text","Host":"h"}"#,
        r#"{"When":1795474800,"Ratio":2,"Tags":null,"Headers":null,"Meta":null}"#,
        r#"{"When":1795474800,"Meta":[{"x":1},{"y":[true,false]}]}"#,
    ];
    let (results, batch) = decode_all(&lines, true);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let batch = batch.unwrap();
    let column = |name: &str| batch.column_by_name(name).unwrap().clone();

    let at = column("AtMs");
    let at = at.as_primitive::<TimestampMicrosecondType>();
    assert_eq!(at.value(0), 1_795_474_800_123_000, "a declared ms epoch");
    assert_eq!(
        at.value(1),
        1_795_474_800_123_000,
        "digits in a string, same unit"
    );
    assert!(at.is_null(2));

    let ratio = column("Ratio");
    let ratio = ratio.as_primitive::<Float64Type>();
    assert_eq!(
        (ratio.value(0), ratio.value(1), ratio.value(2)),
        (0.4375, 0.001, 2.0)
    );
    assert!(ratio.is_null(3));

    let tags = column("Tags");
    let tags = tags.as_list::<i32>();
    let first = tags.value(0);
    let first = first.as_string::<i32>();
    let items: Vec<Option<&str>> = first.iter().collect();
    assert_eq!(items, [Some("a"), Some("b\"c"), None, Some("é")]);
    assert_eq!(tags.value(1).len(), 0, "an empty list is not NULL");
    assert!(!tags.is_null(1) && tags.is_null(2) && tags.is_null(3));

    let ids = column("Ids");
    let ids = ids.as_list::<i32>();
    let first = ids.value(0);
    let values: Vec<Option<i64>> = first.as_primitive::<Int64Type>().iter().collect();
    assert_eq!(values, [Some(1), Some(-2), Some(3), None]);

    let headers = column("Headers");
    let headers = headers.as_map();
    let entries = headers.value(0);
    let keys: Vec<Option<&str>> = entries.column(0).as_string::<i32>().iter().collect();
    let values: Vec<Option<&str>> = entries.column(1).as_string::<i32>().iter().collect();
    assert_eq!(keys, [Some("user-agent"), Some("x-empty"), Some("x-null")]);
    assert_eq!(values, [Some("curl/8"), Some(""), None]);
    assert_eq!(headers.value(1).len(), 0);
    assert!(headers.is_null(2) && headers.is_null(3));

    // JSON keeps the value's exact text, escapes and number spelling included.
    let meta: Vec<Option<String>> = (0..4).map(|r| string_at(&batch, "Meta", r)).collect();
    assert_eq!(
        meta,
        [
            Some(r#"{"a":[1,2.5,{"b":null}],"s":"\u00e9"}"#.to_string()),
            Some(r#""text""#.to_string()),
            None,
            Some(r#"[{"x":1},{"y":[true,false]}]"#.to_string()),
        ]
    );
    let field = batch.schema().field_with_name("Meta").unwrap().clone();
    assert_eq!(field.extension_type_name(), Some("arrow.json"));
}

#[test]
fn wrong_shapes_are_refused_with_field_and_reason() {
    let cases = [
        (
            r#"{"Tags":{"a":"b"}}"#,
            "Tags",
            "expected an array of strings, found an object",
        ),
        (
            r#"{"Tags":["a",["b"]]}"#,
            "Tags",
            "item 1: expected a string, found an array",
        ),
        (
            r#"{"Tags":["a",1]}"#,
            "Tags",
            "item 1: expected a string, found a number",
        ),
        (
            r#"{"Ids":[1,2.5]}"#,
            "Ids",
            "item 1: expected an integer, found a number with a fraction",
        ),
        (
            r#"{"Ids":[18446744073709551615]}"#,
            "Ids",
            "item 0: expected an integer, found an integer beyond the int64 range",
        ),
        (
            r#"{"Ids":"1,2"}"#,
            "Ids",
            "expected an array of integers, found the string \"1,2\"",
        ),
        (
            r#"{"Headers":["a"]}"#,
            "Headers",
            "expected an object of string values, found an array",
        ),
        (
            r#"{"Headers":{"a":["x","y"]}}"#,
            "Headers",
            "key \"a\": expected a string, found an array",
        ),
        (
            r#"{"Headers":{"a":{"b":"c"}}}"#,
            "Headers",
            "key \"a\": expected a string, found an object",
        ),
        (
            r#"{"Headers":{"a":1}}"#,
            "Headers",
            "key \"a\": expected a string, found a number",
        ),
        (
            r#"{"Headers":{"a":"1","b":"2","a":"3"}}"#,
            "Headers",
            "key \"a\" appears twice",
        ),
        (
            r#"{"Ratio":"NaN"}"#,
            "Ratio",
            "expected a number, found the string \"NaN\"",
        ),
        (
            r#"{"Ratio":"inf"}"#,
            "Ratio",
            "expected a number, found the string \"inf\"",
        ),
        (
            r#"{"Ratio":true}"#,
            "Ratio",
            "expected a number, found a boolean",
        ),
        (
            r#"{"Ratio":[1]}"#,
            "Ratio",
            "expected a number, found an array",
        ),
        (
            r#"{"Host":{"a":1}}"#,
            "Host",
            "expected a string, found an object",
        ),
        (
            r#"{"AtMs":1.5}"#,
            "AtMs",
            "expected an epoch integer or RFC 3339 string",
        ),
    ];
    for fast in [true, false] {
        let mut decoder = nested_decoder(fast);
        for (line, field, reason) in cases {
            let reject = decoder.decode_line(line.as_bytes()).unwrap_err();
            assert_eq!(reject.field.as_deref(), Some(field), "{line}");
            assert!(
                reject.reason.contains(reason),
                "{line}: {:?} should contain {reason:?}",
                reject.reason
            );
        }
        assert!(
            decoder.flush().unwrap().is_none(),
            "a refused line leaves no row"
        );
    }
}

#[test]
fn deep_or_broken_json_values_are_refused_without_a_panic() {
    let deep = format!(
        r#"{{"Meta":{}1{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    let unclosed = r#"{"Meta":{"a":[1,2}}"#.to_string();
    let huge = format!(r#"{{"Tags":[{}"x"]}}"#, "\"a\",".repeat(200_000));
    let mut decoder = nested_decoder(true);
    let reject = decoder.decode_line(deep.as_bytes()).unwrap_err();
    assert_eq!(reject.field.as_deref(), Some("Meta"));
    assert!(reject.reason.contains("nested deeper than 128"), "{reject}");
    let limit = format!(r#"{{"Meta":{}1{}}}"#, "[".repeat(128), "]".repeat(128));
    decoder.decode_line(limit.as_bytes()).unwrap();
    let strings = format!(r#"{{"Meta":["{}\"]]]"]}}"#, "[".repeat(300));
    decoder.decode_line(strings.as_bytes()).unwrap();
    assert!(decoder.decode_line(unclosed.as_bytes()).is_err());
    decoder.decode_line(huge.as_bytes()).unwrap();
    let batch = decoder.flush().unwrap().unwrap();
    let tags = batch
        .column_by_name("Tags")
        .unwrap()
        .as_list::<i32>()
        .value(2);
    assert_eq!(tags.len(), 200_001);
}

#[test]
fn the_fast_scanner_agrees_with_the_general_path_on_nested_lines() {
    let lines = [
        r#"{"When":1795474800,"Ratio":3,"Host":"a"}"#,
        r#"{"When":1795474800,"Ratio":-0,"Host":"a"}"#,
        r#"{"When":1795474800,"Ratio":0.5,"Tags":["x"],"Host":"b"}"#,
        r#"{"When":1795474800,"AtMs":1795474800123,"Meta":"s","Host":"c"}"#,
        r#"{"When":1795474800,"AtMs":"1795474800123","Ids":null,"Headers":null,"Meta":null}"#,
        r#"{"When":1795474800,"AtMs":1795474800,"Ratio":"0.25"}"#,
        r#"{"When":1795474800,"Meta":{"k":"v"},"Host":"d","Unknown":[1,{"a":2}]}"#,
        r#"{"When":1795474800,"Headers":{"a":"b"},"Host":"e"}"#,
    ];
    let (fast_results, fast_batch) = decode_all(&lines, true);
    let (general_results, general_batch) = decode_all(&lines, false);
    assert_eq!(fast_results, general_results);
    assert_eq!(fast_batch, general_batch);
    let batch = fast_batch.unwrap();
    let ratio = batch.column_by_name("Ratio").unwrap();
    assert_eq!(ratio.as_primitive::<Float64Type>().value(0), 3.0);
}
