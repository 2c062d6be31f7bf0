//! Values beyond flat scalars: floats, lists, string maps, JSON text and timestamps with a
//! declared epoch unit. Each is read back from the batch as a value (not as text), every wrong
//! shape is refused with its field and reason, and the fast scanner agrees with the general
//! path on every line.

use super::*;
use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use proptest::prelude::*;

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

/// A decoder of the nested schema with the given unknown-key mode and strictness.
fn nested_decoder_with(fast: bool, unknown: UnknownFields, strict: bool) -> Decoder {
    let schema = EventSchema::from_toml_str(SCHEMA, "nested.toml")
        .unwrap()
        .with_unknown_fields(unknown)
        .unwrap();
    let options = DecodeOptions {
        strict,
        ..DecodeOptions::default()
    };
    Decoder::try_new(Arc::new(schema), options)
        .unwrap()
        .with_fast_path(fast)
}

/// Decodes `lines` with and without the fast scanner, in every unknown-key mode, strict and
/// not: the same rejects (field and reason), counts and rows.
fn assert_paths_agree_on_nested(lines: &[String]) -> Result<(), TestCaseError> {
    for unknown in [
        UnknownFields::Keep,
        UnknownFields::Drop,
        UnknownFields::Reject,
    ] {
        for strict in [false, true] {
            let mut fast = nested_decoder_with(true, unknown, strict);
            let mut general = nested_decoder_with(false, unknown, strict);
            for line in lines {
                let a = fast.decode_line(line.as_bytes());
                let b = general.decode_line(line.as_bytes());
                prop_assert_eq!(a, b, "{:?}, strict {}: {}", unknown, strict, line);
            }
            prop_assert_eq!(fast.take_stats(), general.take_stats());
            prop_assert_eq!(fast.flush().unwrap(), general.flush().unwrap());
        }
    }
    Ok(())
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

/// Values of each nested type: accepted shapes, the lossless readings, and every refusal the
/// scanner must leave to the general path, one field per line (`{"When":1,...}` around it).
const NESTED_VALUES: &[(&str, &str)] = &[
    // string lists
    ("Tags", r#"["a","b"]"#),
    ("Tags", r#"[]"#),
    ("Tags", r#"[ ]"#),
    ("Tags", r#"[ "a" , null ,"" ]"#),
    ("Tags", r#"[null]"#),
    ("Tags", r#""one""#),
    ("Tags", r#""with \" escape""#),
    ("Tags", r#"["\u00e9","a\nb","\/"]"#),
    ("Tags", r#"["\ud83d\ude00"]"#),
    ("Tags", r#"["\ud83d\u0041"]"#),
    ("Tags", r#"["\ude00\ud83d"]"#),
    ("Tags", r#"["\ud800"]"#),
    ("Tags", r#"["\x"]"#),
    ("Tags", r#"[1]"#),
    ("Tags", r#"[true]"#),
    ("Tags", r#"[["a"]]"#),
    ("Tags", r#"[{"a":"b"}]"#),
    ("Tags", r#"["a",]"#),
    ("Tags", r#"[,"a"]"#),
    ("Tags", r#"["a" "b"]"#),
    ("Tags", r#"["a""#),
    ("Tags", r#"5"#),
    ("Tags", r#"true"#),
    ("Tags", r#"{}"#),
    // int lists
    ("Ids", r#"[1,-2,"3",null]"#),
    ("Ids", r#"[]"#),
    ("Ids", r#"7"#),
    ("Ids", r#"-7"#),
    ("Ids", r#""7""#),
    ("Ids", r#"[9223372036854775807,-9223372036854775808]"#),
    ("Ids", r#"[9223372036854775808]"#),
    ("Ids", r#"[-9223372036854775809]"#),
    ("Ids", r#"9223372036854775808"#),
    ("Ids", r#"[-0]"#),
    ("Ids", r#"-0"#),
    ("Ids", r#"[1.5]"#),
    ("Ids", r#"[1e3]"#),
    ("Ids", r#"1.5"#),
    ("Ids", r#"["01","-5","007"]"#),
    ("Ids", r#"["-"]"#),
    ("Ids", r#"[""]"#),
    ("Ids", r#"["1\u0030"]"#),
    ("Ids", r#"["9223372036854775808"]"#),
    ("Ids", r#"[ 1 , 2 ]"#),
    ("Ids", r#"[true]"#),
    ("Ids", r#"[[1]]"#),
    ("Ids", r#"[01]"#),
    ("Ids", r#"{}"#),
    // string maps
    ("Headers", r#"{}"#),
    ("Headers", r#"{ }"#),
    ("Headers", r#"{"a":"b","c":null,"d":""}"#),
    ("Headers", r#"{ "a" : "b" , "c" : "d" }"#),
    ("Headers", r#"{"a":"1","a":"2"}"#),
    ("Headers", r#"{"a":"1","b":"2","\u0061":"3"}"#),
    ("Headers", r#"{"k\"q":"v\\","x\ty":"\u00e9"}"#),
    ("Headers", r#"{"\ud800":"v"}"#),
    ("Headers", r#"{"a":"\ud800"}"#),
    ("Headers", r#"{"a":1}"#),
    ("Headers", r#"{"a":true}"#),
    ("Headers", r#"{"a":["x"]}"#),
    ("Headers", r#"{"a":{"b":"c"}}"#),
    ("Headers", r#"{"a":"b",}"#),
    ("Headers", r#"{"a" "b"}"#),
    ("Headers", r#"{"a":}"#),
    ("Headers", r#"{a:"b"}"#),
    ("Headers", r#""str""#),
    ("Headers", r#"[]"#),
    // json
    ("Meta", r#"{"a":[1,2.5,{"b":null}],"s":"\u00e9"}"#),
    ("Meta", r#""text""#),
    ("Meta", r#""esc\"aped\\""#),
    ("Meta", r#""\ud800""#),
    ("Meta", r#"{"\udc00":"\ud83d\ude00"}"#),
    ("Meta", r#"1.5e3"#),
    ("Meta", r#"-0"#),
    ("Meta", r#"0"#),
    ("Meta", r#"123456789012345678901234567890"#),
    ("Meta", r#"1e999"#),
    ("Meta", r#"true"#),
    ("Meta", r#"false"#),
    ("Meta", r#"[ 1 , { "a" : [ ] } , "x" ]"#),
    ("Meta", r#"{ }"#),
    ("Meta", r#"[[],{},[{}]]"#),
    ("Meta", r#"{"a":1,}"#),
    ("Meta", r#"[1,]"#),
    ("Meta", r#"[1 2]"#),
    ("Meta", r#"{"a" 1}"#),
    ("Meta", r#"{"a":1 "b":2}"#),
    ("Meta", r#"{1:2}"#),
    ("Meta", r#"[01]"#),
    ("Meta", r#"[1.]"#),
    ("Meta", r#"[.5]"#),
    ("Meta", r#"[-]"#),
    ("Meta", r#"[1e]"#),
    ("Meta", r#"[1e+]"#),
    ("Meta", r#"[+1]"#),
    ("Meta", r#"["\x"]"#),
    ("Meta", r#"["\u12"]"#),
    ("Meta", r#"["\u12g4"]"#),
    ("Meta", r#"[tru]"#),
    ("Meta", r#"[nul]"#),
    ("Meta", r#"[}"#),
    ("Meta", r#"{]"#),
    ("Meta", r#"{"a":"b"]"#),
    ("Meta", r#"[1]]"#),
    ("Meta", r#"[1"#),
    ("Meta", r#"{"a":[1,{"b":[2,{"c":"]}"}]}]}"#),
    // floats
    ("Ratio", r#"0.1"#),
    ("Ratio", r#"1e-3"#),
    ("Ratio", r#"-1.5E+2"#),
    ("Ratio", r#"1e400"#),
    ("Ratio", r#"1e-400"#),
    ("Ratio", r#"0.1000000000000000055511151231257827"#),
    ("Ratio", r#"2.2250738585072011e-308"#),
    ("Ratio", r#"9007199254740993"#),
    ("Ratio", r#"18446744073709551616"#),
    ("Ratio", r#"-9223372036854775809"#),
    ("Ratio", r#"-0.0"#),
    ("Ratio", r#""0.25""#),
    ("Ratio", r#""""#),
    ("Ratio", r#""NaN""#),
    ("Ratio", r#""1.""#),
    ("Ratio", r#"[0.5]"#),
    ("Ratio", r#"01.5"#),
    // strings given numbers
    ("Host", r#"1.50"#),
    ("Host", r#"-0"#),
    ("Host", r#"1E5"#),
    ("Host", r#"123456789012345678901"#),
    ("Host", r#"[1]"#),
    ("Host", r#"{"a":"b"}"#),
    // unknown keys: kept as their exact text, dropped or refused by the mode
    ("Unknown", r#"[1,{"a":[null]}]"#),
    ("Unknown", r#"{"\ud800":"x","b":-0.5e-7}"#),
    ("Unknown", r#""\ud800""#),
    ("Unknown", r#"{ "a" : [ ] }"#),
    ("Unknown", r#"[1,]"#),
    ("Unknown", r#"["\q"]"#),
];

#[test]
fn the_fast_scanner_agrees_with_the_general_path_on_every_nested_shape() {
    let mut lines: Vec<String> = NESTED_VALUES
        .iter()
        .map(|(field, value)| format!(r#"{{"When":1795474800,"{field}":{value},"Host":"h"}}"#))
        .collect();
    // Nested 128 levels (the limit) and 129; 200 under an unknown key (dropped: accepted).
    for depth in [127, 128, 129, 200] {
        let value = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
        lines.push(format!(r#"{{"When":1795474800,"Meta":{value}}}"#));
        lines.push(format!(r#"{{"When":1795474800,"Unknown":{value}}}"#));
        let objects = format!("{}1{}", r#"{"a":"#.repeat(depth), "}".repeat(depth));
        lines.push(format!(r#"{{"When":1795474800,"Meta":{objects}}}"#));
    }
    // A map of as many keys as the scanner takes, and one more.
    for keys in [scan::MAX_MAP_KEYS, scan::MAX_MAP_KEYS + 1] {
        let entries: Vec<String> = (0..keys).map(|k| format!(r#""k{k}":"v""#)).collect();
        let map = entries.join(",");
        lines.push(format!(r#"{{"When":1795474800,"Headers":{{{map}}}}}"#));
    }
    // A key given twice, each value nested.
    lines.push(r#"{"When":1,"Tags":["a"],"Tags":["b"]}"#.into());
    lines.push(r#"{"When":1,"Meta":[1],"Meta":null}"#.into());
    assert_paths_agree_on_nested(&lines).unwrap();
}

#[test]
fn well_formed_nested_lines_take_the_fast_path() {
    // If they went to the general path the output would be the same, only slower: this test is
    // what notices.
    let schema = EventSchema::from_toml_str(SCHEMA, "nested.toml").unwrap();
    let mut scanner = scan::Scanner::new();
    let mut row = RowScratch {
        slots: vec![columns::Slot::Absent; schema.fields().len()],
        ..RowScratch::default()
    };
    let taken = [
        ("Tags", r#"["a","b\u00e9"]"#),
        ("Tags", r#"[ ]"#),
        ("Tags", r#"[ "a" , null ,"" ]"#),
        ("Tags", r#""one""#),
        ("Tags", r#"["emoji \ud83d\ude00 pair"]"#),
        ("Ids", r#"[1,-2,"3",null]"#),
        ("Ids", r#"7"#),
        ("Headers", r#"{"a":"b","c":null,"k\"q":"v"}"#),
        ("Meta", r#"[ 1 , { "a" : [ ] } , "\ud800" ]"#),
        ("Meta", r#"-1.5e-3"#),
        ("Ratio", r#"0.4375"#),
        ("Ratio", r#"-1.5E+2"#),
        ("Ratio", r#""0.25""#),
        ("Host", r#"1.50"#),
    ];
    for (field, value) in taken {
        let line = format!(r#"{{"When":1795474800,"{field}":{value},"Unknown":[{{"a":1}}]}}"#);
        row.clear();
        let scanned = scanner.scan(&line, &schema, TimeUnit::Microsecond, false, &mut row);
        assert!(scanned.is_ok(), "{line}");
    }
    let line = r#"{"When":1795474800,"AtMs":1795474800123,"Ratio":0.4375,"Tags":["a","b\"c",null,"é"],"Ids":[1,-2,"3",null],"Headers":{"user-agent":"curl/8","x-empty":"","x-null":null},"Meta":{"a":[1,2.5,{"b":null}],"s":"\u00e9"},"Host":"h"}"#;
    row.clear();
    let scanned = scanner.scan(line, &schema, TimeUnit::Microsecond, false, &mut row);
    assert!(scanned.is_ok(), "{line}");
}

#[test]
fn the_fast_scanner_agrees_with_the_general_path_on_the_drift_corpus() {
    // Real datasets' lines, with their drifted keys and value types.
    let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/drift");
    let mut files = 0;
    for entry in std::fs::read_dir(folder).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "ndjson") {
            continue;
        }
        let name = path.file_stem().unwrap().to_str().unwrap();
        let dataset = name.split('-').next().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        for unknown in [UnknownFields::Keep, UnknownFields::Drop] {
            for strict in [false, true] {
                let schema = EventSchema::bundled(dataset).unwrap();
                let schema = Arc::new(schema.with_unknown_fields(unknown).unwrap());
                let options = DecodeOptions {
                    strict,
                    ..DecodeOptions::default()
                };
                let decoder = |fast| {
                    Decoder::try_new(schema.clone(), options)
                        .unwrap()
                        .with_fast_path(fast)
                };
                let (mut fast, mut general) = (decoder(true), decoder(false));
                for line in text.lines() {
                    let a = fast.decode_line(line.as_bytes());
                    assert_eq!(a, general.decode_line(line.as_bytes()), "{name}: {line}");
                }
                assert_eq!(fast.take_stats(), general.take_stats(), "{name}");
                assert_eq!(fast.flush().unwrap(), general.flush().unwrap(), "{name}");
            }
        }
        files += 1;
    }
    assert!(files >= 5, "the drift corpus is there");
}

mod nested_lines_agree {
    use super::super::fast_path_agrees_with_general_path::{json_string, value};
    use super::*;

    fn ws() -> impl Strategy<Value = &'static str> {
        prop_oneof![6 => Just(""), 1 => Just(" "), 1 => Just("\n\t ")]
    }

    /// An array of `item`s, with white space around them now and then.
    fn array(item: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
        prop::collection::vec((ws(), item, ws()), 0..5).prop_map(|items| {
            let items: Vec<String> = items
                .into_iter()
                .map(|(a, v, b)| format!("{a}{v}{b}"))
                .collect();
            format!("[{}]", items.join(","))
        })
    }

    fn string() -> impl Strategy<Value = String> {
        (".{0,6}", any::<bool>()).prop_map(|(s, escaped)| json_string(&s, escaped))
    }

    /// A value shaped for the nested fields: lists, int lists (with integers written as
    /// strings), maps (whose few key names repeat), and any JSON value.
    fn nested_value() -> impl Strategy<Value = String> {
        let string_item = prop_oneof![6 => string(), 1 => Just("null".to_string()), 1 => value()];
        let int_item = prop_oneof![
            6 => any::<i64>().prop_map(|n| n.to_string()),
            2 => "\"-?[0-9]{1,4}\"",
            1 => Just("null".to_string()),
            1 => value(),
        ];
        let key = prop::sample::select(vec![
            r#""a""#,
            r#""b""#,
            r#""\u0061""#,
            r#""c\"d""#,
            r#""e""#,
            r#""é""#,
        ]);
        let entry = (
            key,
            ws(),
            prop_oneof![6 => string(), 1 => Just("null".to_string()), 1 => value()],
        );
        let map = prop::collection::vec(entry, 0..4).prop_map(|entries| {
            let entries: Vec<String> = entries
                .into_iter()
                .map(|(k, w, v)| format!("{k}{w}:{w}{v}"))
                .collect();
            format!("{{{}}}", entries.join(","))
        });
        prop_oneof![
            3 => array(string_item),
            3 => array(int_item),
            3 => map,
            3 => value(),
            1 => string(),
        ]
    }

    fn line() -> impl Strategy<Value = String> {
        let key = prop::sample::select(vec![
            "When", "AtMs", "Ratio", "Tags", "Ids", "Headers", "Meta", "Host", "Unknown", "Other",
        ]);
        let entries = prop::collection::vec((key, ws(), nested_value()), 0..7);
        (entries, any::<prop::sample::Index>(), 0u8..8).prop_map(|(entries, at, cut)| {
            let body: Vec<String> = entries
                .into_iter()
                .map(|(k, w, v)| format!(r#""{k}"{w}:{w}{v}"#))
                .collect();
            let line = format!(r#"{{"When":1795474800,{}}}"#, body.join(",")).replace(",}", "}");
            // Now and then a line cut short: a broken value must not be taken.
            if cut > 0 {
                return line;
            }
            let mut end = at.index(line.len() + 1);
            while !line.is_char_boundary(end) {
                end -= 1;
            }
            line[..end].to_string()
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]
        #[test]
        fn on_any_nested_line(lines in prop::collection::vec(line(), 1..6)) {
            assert_paths_agree_on_nested(&lines)?;
        }
    }
}
