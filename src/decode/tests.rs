use super::*;
use crate::schema::{FieldType, UnknownFields};
use arrow_array::cast::AsArray;
use arrow_array::types::{Int16Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{Array, RecordBatch};

fn decoder(strict: bool, batch_size: usize) -> Decoder {
    decoder_with(UnknownFields::Keep, strict, batch_size)
}

fn decoder_with(unknown: UnknownFields, strict: bool, batch_size: usize) -> Decoder {
    let schema = EventSchema::spectrum_events()
        .with_unknown_fields(unknown)
        .unwrap();
    Decoder::try_new(
        Arc::new(schema),
        DecodeOptions {
            strict,
            batch_size,
            ..DecodeOptions::default()
        },
    )
    .unwrap()
}

fn decode_all(lines: &[&str]) -> (RecordBatch, DecodeStats) {
    let mut d = decoder(false, DEFAULT_BATCH_SIZE);
    for line in lines {
        d.decode_line(line.as_bytes()).unwrap();
    }
    let stats = d.take_stats();
    (d.flush().unwrap().unwrap(), stats)
}

fn string_at(batch: &RecordBatch, name: &str, row: usize) -> Option<String> {
    let col = batch.column_by_name(name).unwrap();
    if col.is_null(row) {
        return None;
    }
    Some(match col.data_type() {
        arrow_schema::DataType::Utf8 => col.as_string::<i32>().value(row).to_string(),
        _ => {
            let dict = col.as_dictionary::<Int16Type>();
            let values = dict.values().as_string::<i32>();
            values.value(dict.keys().value(row) as usize).to_string()
        }
    })
}

fn micros_at(batch: &RecordBatch, name: &str, row: usize) -> Option<i64> {
    let col = batch
        .column_by_name(name)
        .unwrap()
        .as_primitive::<TimestampMicrosecondType>();
    col.is_valid(row).then(|| col.value(row))
}

fn int_at(batch: &RecordBatch, name: &str, row: usize) -> Option<i64> {
    let col = batch
        .column_by_name(name)
        .unwrap()
        .as_primitive::<Int64Type>();
    col.is_valid(row).then(|| col.value(row))
}

const FULL: &str = r#"{"Application":"a1b2c3","ClientAsn":13335,"ClientBytes":5120,"ClientCountry":"de","ClientIP":"2001:db8::1","ClientMatchedIpFirewall":"UNKNOWN","ClientPort":51234,"ClientProto":"tcp","ClientTcpRtt":1200000,"ClientTlsCipher":"UNK","ClientTlsClientHelloServerName":"db.example.com","ClientTlsProtocol":"TLSv1.3","ClientTlsStatus":"OK","ColoCode":"FRA","ConnectTimestamp":1653557040000000000,"DisconnectTimestamp":"2022-05-26T09:25:00.5Z","Event":"disconnect","IpFirewall":true,"OriginBytes":9000,"OriginIP":"192.0.2.10","OriginPort":5432,"OriginProto":"tcp","OriginTcpRtt":800000,"OriginTlsCipher":"ECDHE-RSA-AES128-GCM-SHA256","OriginTlsFingerprint":"","OriginTlsMode":"full","OriginTlsProtocol":"TLSv1.2","OriginTlsStatus":"OK","ProxyProtocol":"off","Status":200,"Timestamp":"1653557100"}"#;

#[test]
fn a_complete_event_decodes_every_field_with_its_type() {
    let (batch, stats) = decode_all(&[FULL]);
    assert_eq!(batch.num_rows(), 1);
    assert_eq!(batch.num_columns(), 32, "31 fields and the catch-all");
    assert_eq!(string_at(&batch, "_extra", 0), None, "no unknown key");
    assert_eq!(
        string_at(&batch, "Application", 0).as_deref(),
        Some("a1b2c3")
    );
    assert_eq!(string_at(&batch, "Event", 0).as_deref(), Some("disconnect"));
    assert_eq!(
        string_at(&batch, "OriginTlsFingerprint", 0).as_deref(),
        Some("")
    );
    assert_eq!(int_at(&batch, "ClientAsn", 0), Some(13335));
    assert_eq!(int_at(&batch, "Status", 0), Some(200));
    let fw = batch.column_by_name("IpFirewall").unwrap().as_boolean();
    assert!(fw.value(0));
    assert_eq!(
        micros_at(&batch, "ConnectTimestamp", 0),
        Some(1_653_557_040_000_000)
    );
    assert_eq!(
        micros_at(&batch, "DisconnectTimestamp", 0),
        Some(1_653_557_100_500_000)
    );
    assert_eq!(
        micros_at(&batch, "Timestamp", 0),
        Some(1_653_557_100_000_000)
    );
    assert_eq!(stats.rows, 1);
    assert!(stats.out_of_enum.is_empty());
    assert!(stats.unknown_fields.is_empty());
}

#[test]
fn keys_in_any_order_absent_and_null_fields() {
    let (batch, _) = decode_all(&[
        r#"{"Status":0,"Application":"x","Event":"connect"}"#,
        r#"{"Event":null,"Application":null,"Status":null}"#,
        r#"{}"#,
    ]);
    assert_eq!(batch.num_rows(), 3);
    assert_eq!(int_at(&batch, "Status", 0), Some(0));
    assert_eq!(string_at(&batch, "Application", 0).as_deref(), Some("x"));
    for row in [1, 2] {
        for col in batch.columns() {
            assert!(col.is_null(row), "row {row} should be all null");
        }
    }
}

#[test]
fn timestamp_forms_mix_within_one_batch() {
    let forms = [
        "1653557040",
        "1653557040000",
        "1653557040000000",
        "1653557040000000000",
        "\"1653557040\"",
        "\"1653557040000000000\"",
        "\"2022-05-26T09:24:00Z\"",
        "\"2022-05-26T09:24:00.000Z\"",
        "\"2022-05-26T09:24:00.000000000Z\"",
        "\"2022-05-26T11:24:00+02:00\"",
    ];
    let lines: Vec<String> = forms
        .iter()
        .map(|f| format!("{{\"Timestamp\":{f},\"ConnectTimestamp\":{f}}}"))
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let (batch, _) = decode_all(&refs);
    for (row, form) in forms.iter().enumerate() {
        assert_eq!(
            micros_at(&batch, "Timestamp", row),
            Some(1_653_557_040_000_000),
            "{form}"
        );
        assert_eq!(
            micros_at(&batch, "ConnectTimestamp", row),
            Some(1_653_557_040_000_000)
        );
    }
}

#[test]
fn zero_disconnect_timestamp_is_null_in_every_form_but_zero_event_time_is_kept() {
    let (batch, _) = decode_all(&[
        r#"{"DisconnectTimestamp":0,"ConnectTimestamp":0,"Timestamp":0}"#,
        r#"{"DisconnectTimestamp":"0"}"#,
        r#"{"DisconnectTimestamp":"1970-01-01T00:00:00Z"}"#,
        r#"{"DisconnectTimestamp":"1970-01-01T00:00:00.000000000Z"}"#,
        r#"{"DisconnectTimestamp":1}"#,
    ]);
    for row in 0..4 {
        assert_eq!(
            micros_at(&batch, "DisconnectTimestamp", row),
            None,
            "row {row}"
        );
    }
    assert_eq!(micros_at(&batch, "ConnectTimestamp", 0), None);
    assert_eq!(micros_at(&batch, "Timestamp", 0), Some(0));
    assert_eq!(micros_at(&batch, "DisconnectTimestamp", 4), Some(1_000_000));
}

#[test]
fn values_outside_an_enum_are_kept_verbatim_and_counted() {
    let (batch, stats) = decode_all(&[
        r#"{"Event":"connect","ClientProto":"quic"}"#,
        r#"{"Event":"newKind","ClientProto":"tcp"}"#,
        r#"{"Event":"Connect"}"#,
    ]);
    assert_eq!(string_at(&batch, "ClientProto", 0).as_deref(), Some("quic"));
    assert_eq!(string_at(&batch, "Event", 1).as_deref(), Some("newKind"));
    assert_eq!(string_at(&batch, "Event", 2).as_deref(), Some("Connect"));
    assert_eq!(stats.out_of_enum.get("ClientProto"), Some(&1));
    assert_eq!(stats.out_of_enum.get("Event"), Some(&2));
}

#[test]
fn an_enum_column_with_many_distinct_values_keeps_every_value_once_per_batch() {
    // Past 16 distinct values the enum builder looks values up in a hash map: rows and counts
    // must come out the same as with few, across batches, with nulls and escapes in between.
    let values: Vec<String> = (0..120).map(|i| format!("kind{}", (i * 7) % 23)).collect();
    let lines: Vec<String> = values
        .iter()
        .enumerate()
        .map(|(i, v)| match i % 9 {
            4 => r#"{"Event":null}"#.to_string(),
            5 => format!(r#"{{"Event":"k{}"}}"#, &v[1..]),
            _ => format!(r#"{{"Event":"{v}"}}"#),
        })
        .collect();
    let mut d = decoder(false, 60);
    let mut got = Vec::new();
    for line in &lines {
        if d.is_full() {
            got.push(d.flush().unwrap().unwrap());
        }
        d.decode_line(line.as_bytes()).unwrap();
    }
    got.push(d.flush().unwrap().unwrap());
    let mut row = 0;
    for batch in &got {
        let dict = batch
            .column_by_name("Event")
            .unwrap()
            .as_dictionary::<Int16Type>();
        let distinct: std::collections::HashSet<&str> =
            dict.values().as_string::<i32>().iter().flatten().collect();
        assert_eq!(
            distinct.len(),
            dict.values().len(),
            "each value once in a batch"
        );
        for r in 0..batch.num_rows() {
            let expected = (row % 9 != 4).then(|| values[row].clone());
            assert_eq!(string_at(batch, "Event", r), expected, "row {row}");
            row += 1;
        }
    }
    assert_eq!(row, 120);
    let outside = (0..120).filter(|i| i % 9 != 4).count();
    assert_eq!(
        d.take_stats().out_of_enum.get("Event"),
        Some(&(outside as u64))
    );
}

#[test]
fn unknown_keys_are_kept_dropped_or_rejected_and_counted() {
    let line =
        r#"{"Event":"connect","NewField":{"deep":[1, 2,{"x":null}]},"Status":0,"Other":1.50}"#;
    let (batch, stats) = decode_all(&[line, line]);
    assert_eq!(batch.num_rows(), 2);
    assert_eq!(stats.unknown_fields.get("NewField"), Some(&2));
    assert_eq!(stats.unknown_fields.get("Other"), Some(&2));
    // Kept: the exact text of each value (spaces and `1.50` included), in line order.
    assert_eq!(
        string_at(&batch, "_extra", 1).as_deref(),
        Some(r#"{"NewField":{"deep":[1, 2,{"x":null}]},"Other":1.50}"#)
    );

    let mut drop = decoder_with(UnknownFields::Drop, false, 10);
    drop.decode_line(line.as_bytes()).unwrap();
    assert_eq!(drop.take_stats().unknown_fields.get("NewField"), Some(&1));
    let batch = drop.flush().unwrap().unwrap();
    assert_eq!(batch.num_columns(), 31, "no catch-all column");

    let mut reject = decoder_with(UnknownFields::Reject, false, 10);
    let refused = reject.decode_line(line.as_bytes()).unwrap_err();
    assert_eq!(
        refused.reason,
        "unknown field \"NewField\" (--unknown-fields reject)"
    );
    assert!(reject.is_empty());
}

#[test]
fn the_catch_all_holds_escaped_keys_and_every_kind_of_value_as_valid_json() {
    for fast_path in [true, false] {
        let mut d = decoder(false, 10).with_fast_path(fast_path);
        for line in [
            r#"{"Status":1,"a\"b":"x\ty","c\u0001":true,"n":null,"e":-12e-3,"Z":"\u00e9","Event":"connect","ClientAsn":1,"ClientPort":2,"OriginPort":3}"#,
            r#"{"Status":2}"#,
            r#"{"p_event_time":"2022-05-10 06:36:57","Status":3}"#,
        ] {
            d.decode_line(line.as_bytes()).unwrap();
        }
        let batch = d.flush().unwrap().unwrap();
        let extra = string_at(&batch, "_extra", 0).unwrap();
        assert_eq!(
            extra,
            r#"{"a\"b":"x\ty","c\u0001":true,"n":null,"e":-12e-3,"Z":"\u00e9"}"#
        );
        let parsed: serde_json::Value = serde_json::from_str(&extra).unwrap();
        assert_eq!(parsed["a\"b"], "x\ty");
        assert_eq!(parsed["c\u{1}"], true);
        assert_eq!(parsed["Z"], "\u{e9}");
        assert_eq!(string_at(&batch, "_extra", 1), None);
        assert_eq!(
            string_at(&batch, "_extra", 2).as_deref(),
            Some(r#"{"p_event_time":"2022-05-10 06:36:57"}"#)
        );
    }
}

#[test]
fn an_unknown_key_given_twice_is_rejected_when_kept() {
    let line = br#"{"Status":1,"X":1,"X":2}"#;
    for fast_path in [true, false] {
        let mut keep = decoder(false, 10).with_fast_path(fast_path);
        let refused = keep.decode_line(line).unwrap_err();
        assert_eq!(refused.field.as_deref(), Some("X"));
        assert_eq!(refused.reason, "key appears twice in the object");
        let mut drop = decoder_with(UnknownFields::Drop, false, 10).with_fast_path(fast_path);
        drop.decode_line(line).unwrap();
    }
}

#[test]
fn a_key_differing_from_a_field_only_by_case_is_kept_and_named_a_near_miss() {
    let (batch, stats) = decode_all(&[r#"{"ClientASN":13335,"Status":1}"#]);
    assert_eq!(int_at(&batch, "ClientAsn", 0), None, "not mapped silently");
    assert_eq!(
        string_at(&batch, "_extra", 0).as_deref(),
        Some(r#"{"ClientASN":13335}"#)
    );
    let near = EventSchema::spectrum_events().near_misses(&stats.unknown_fields);
    assert_eq!(
        near.into_iter().collect::<Vec<_>>(),
        [("ClientASN (field ClientAsn)".to_string(), 1)]
    );
}

#[test]
fn distinct_unknown_names_are_counted_up_to_the_limit_then_together() {
    let mut d = decoder_with(UnknownFields::Drop, false, DEFAULT_BATCH_SIZE);
    let mut stats = DecodeStats::default();
    for i in 0..MAX_UNKNOWN_NAMES + 50 {
        let line = format!(r#"{{"Status":1,"Event":"connect","K{i}":1}}"#);
        d.decode_line(line.as_bytes()).unwrap();
        if d.is_full() {
            d.flush().unwrap();
        }
        if i % 1000 == 0 {
            stats.merge(d.take_stats());
        }
    }
    stats.merge(d.take_stats());
    assert_eq!(stats.unknown_fields.len(), MAX_UNKNOWN_NAMES);
    assert_eq!(stats.unknown_fields_other, 50);
    assert_eq!(stats.rows, (MAX_UNKNOWN_NAMES + 50) as u64);
}

#[test]
fn a_line_of_another_dataset_is_rejected_not_turned_into_nulls() {
    // A firewall_events line among spectrum_events inputs: one shared key, five unknown.
    let line = r#"{"Action":"block","ClientIP":"192.0.2.1","Datetime":1795474800,"Kind":"firewall","RayID":"8c1","Source":"waf"}"#;
    for strict in [false, true] {
        let mut d = decoder(strict, 10);
        let reject = d.decode_line(line.as_bytes()).unwrap_err();
        if !strict {
            assert_eq!(reject.field, None);
            assert!(
                reject
                    .reason
                    .contains("5 of its 6 keys are not fields of spectrum_events"),
                "{reject}"
            );
        }
        assert!(d.is_empty());
    }
    // Half the keys known is still this dataset, with newer fields.
    let mut d = decoder(false, 10);
    d.decode_line(br#"{"Event":"connect","New1":1,"Status":0,"New2":2}"#)
        .unwrap();
    d.decode_line(b"{}").unwrap();
}

#[test]
fn lossy_or_malformed_lines_are_rejected_with_field_and_reason() {
    let cases: &[(&[u8], Option<&str>, &str)] = &[
        (b"{\"Status\":200", None, "invalid JSON"),
        (b"not json", None, "invalid JSON"),
        (b"[1,2]", None, "expected a JSON object, found an array"),
        (b"\"text\"", None, "expected a JSON object, found a string"),
        (b"null", None, "expected a JSON object, found null"),
        (b" 42 ", None, "expected a JSON object, found a number"),
        (b"-1.5e3", None, "expected a JSON object, found a number"),
        (b"true", None, "expected a JSON object, found a boolean"),
        (b"{\"Status\":200} {}", None, "trailing characters"),
        (
            b"{\"Application\":\"\xff\xfe\"}",
            Some("Application"),
            "invalid unicode",
        ),
        (
            b"{\"Status\":\"abc\"}",
            Some("Status"),
            "the string \"abc\"",
        ),
        (
            b"{\"Status\":\"12.5\"}",
            Some("Status"),
            "expected an integer",
        ),
        (
            b"{\"Status\":\" 12\"}",
            Some("Status"),
            "expected an integer",
        ),
        (b"{\"Status\":12.5}", Some("Status"), "fraction"),
        (b"{\"Status\":1e3}", Some("Status"), "fraction"),
        (b"{\"Status\":200.0}", Some("Status"), "fraction"),
        (
            b"{\"ClientBytes\":9223372036854775808}",
            Some("ClientBytes"),
            "beyond the int64 range",
        ),
        (
            b"{\"ClientBytes\":\"9223372036854775808\"}",
            Some("ClientBytes"),
            "expected an integer",
        ),
        (
            b"{\"ClientBytes\":123456789012345678901234567890}",
            Some("ClientBytes"),
            "int64",
        ),
        (b"{\"Status\":true}", Some("Status"), "found a boolean"),
        (b"{\"Status\":[200]}", Some("Status"), "found an array"),
        (
            b"{\"IpFirewall\":1}",
            Some("IpFirewall"),
            "expected a boolean",
        ),
        (
            b"{\"IpFirewall\":\"yes\"}",
            Some("IpFirewall"),
            "expected a boolean",
        ),
        (b"{\"Event\":{\"a\":1}}", Some("Event"), "found an object"),
        (
            b"{\"Timestamp\":\"yesterday\"}",
            Some("Timestamp"),
            "not an epoch integer",
        ),
        (b"{\"Timestamp\":1.5}", Some("Timestamp"), "fraction"),
        (
            b"{\"Timestamp\":\"2022-02-30T00:00:00Z\"}",
            Some("Timestamp"),
            "out of range",
        ),
        (b"{\"Status\":200,\"Status\":200}", Some("Status"), "twice"),
        (b"{\"Status\":tru}", Some("Status"), "invalid JSON"),
        (b"{\"Status\":-0}", Some("Status"), "-0"),
        (
            b"{\"Timestamp\":-99999999999}",
            Some("Timestamp"),
            "0001-01-01",
        ),
    ];
    for (line, field, reason) in cases {
        let mut d = decoder(false, 10);
        let reject = d.decode_line(line).unwrap_err();
        let shown = String::from_utf8_lossy(line);
        assert_eq!(reject.field.as_deref(), *field, "{shown}: {reject}");
        assert!(
            reject.reason.contains(reason),
            "{shown}: {reject:?} should say {reason:?}"
        );
        assert!(d.is_empty(), "{shown} left a row behind");
    }
}

#[test]
fn invalid_utf8_in_the_value_of_an_unknown_key_rejects_the_line() {
    // Regression: serde_json skips unknown values without checking their UTF-8, so this line
    // was written (and counted as an unknown field) although it is not JSON.
    for fast_path in [true, false] {
        let mut keep = decoder(false, 10).with_fast_path(fast_path);
        let reject = keep
            .decode_line(b"{\"Status\":1,\"Extra\":\"caf\xc3\"}")
            .unwrap_err();
        assert_eq!(reject.field.as_deref(), Some("Extra"));
        assert!(reject.reason.contains("invalid unicode"), "{reject}");
        assert!(keep.is_empty());
        let mut d = decoder_with(UnknownFields::Drop, false, 10).with_fast_path(fast_path);
        let reject = d
            .decode_line(b"{\"Status\":1,\"Extra\":\"caf\xc3\"}")
            .unwrap_err();
        assert_eq!(reject.field, None);
        assert_eq!(
            reject.reason,
            "invalid UTF-8 at byte 25 (in the value of an unknown key)"
        );
        let reject = d
            .decode_line(b"{\"Extra\":[\"\xff\"],\"Status\":1}")
            .unwrap_err();
        assert!(
            reject.reason.starts_with("invalid UTF-8 at byte 12 "),
            "{reject}"
        );
        assert!(d.is_empty());
        assert!(d.take_stats().unknown_fields.is_empty());
    }
}

#[test]
fn unknown_values_are_skipped_unbuilt_however_deep_or_large() {
    // Text the JSON grammar allows but serde_json's `Value` cannot hold: a number beyond f64,
    // nesting past 128 levels, an escaped lone surrogate (the first and the last were found by
    // the `decode_line` fuzz target, whose `Value`-based oracle refused them). Under an unknown
    // key it is skipped, never built; under a known key it is refused.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    for fast_path in [true, false] {
        // Kept, an unknown value is text, exactly as written: nesting past a `json` field's
        // limit is refused, as for a `json` field.
        let mut keep = decoder(false, 10).with_fast_path(fast_path);
        keep.decode_line(br#"{"Extra":922337203685e5807,"Status":1}"#)
            .unwrap();
        let reject = keep
            .decode_line(format!(r#"{{"Extra":{deep},"Status":2}}"#).as_bytes())
            .unwrap_err();
        assert_eq!(reject.field.as_deref(), Some("Extra"), "{reject}");
        assert!(reject.reason.contains("nested deeper"), "{reject}");
        let batch = keep.flush().unwrap().unwrap();
        assert_eq!(
            string_at(&batch, "_extra", 0).as_deref(),
            Some(r#"{"Extra":922337203685e5807}"#)
        );
        let mut d = decoder_with(UnknownFields::Drop, false, 10).with_fast_path(fast_path);
        for line in [
            r#"{"Extra":922337203685e5807,"Status":1}"#.to_string(),
            format!(r#"{{"Extra":{deep},"Status":2}}"#),
            r#"{"Extra":"\ud83d alone","Status":3}"#.to_string(),
        ] {
            d.decode_line(line.as_bytes()).unwrap();
        }
        // Under a known key the same values are refused.
        let reject = d.decode_line(br#"{"Status":1e400}"#).unwrap_err();
        assert_eq!(reject.field.as_deref(), Some("Status"));
        assert!(reject.reason.contains("number out of range"), "{reject}");
        let reject = d
            .decode_line(format!(r#"{{"Status":{deep}}}"#).as_bytes())
            .unwrap_err();
        assert_eq!(reject.reason, "expected an integer, found an array");
        let reject = d
            .decode_line(br#"{"Application":"\ud83d alone"}"#)
            .unwrap_err();
        assert!(reject.reason.contains("hex escape"), "{reject}");
        let batch = d.flush().unwrap().unwrap();
        assert_eq!(batch.num_rows(), 3);
        assert_eq!(int_at(&batch, "Status", 1), Some(2));
    }
}

#[test]
fn float_text_follows_the_json_number_grammar() {
    for (text, expected) in [
        ("0.25", Some(0.25)),
        ("-3", Some(-3.0)),
        ("1e-3", Some(0.001)),
        ("-0.5E+2", Some(-50.0)),
        ("0", Some(0.0)),
        (".5", None),
        ("-.5", None),
        ("5.", None),
        ("+5", None),
        ("05", None),
        ("1e", None),
        ("1e+", None),
        ("-", None),
        ("", None),
        ("NaN", None),
        ("inf", None),
        ("1e400", None),
        (" 1", None),
    ] {
        assert_eq!(parse_float_text(text), expected, "{text:?}");
    }
}

#[test]
fn accepted_lossless_conversions() {
    let (batch, stats) = decode_all(&[
        r#"{"Status":"200","IpFirewall":"false","ClientAsn":-1}"#,
        r#"{"ClientBytes":9223372036854775807,"IpFirewall":"true"}"#,
    ]);
    assert_eq!(int_at(&batch, "Status", 0), Some(200));
    assert_eq!(int_at(&batch, "ClientAsn", 0), Some(-1));
    assert_eq!(int_at(&batch, "ClientBytes", 1), Some(i64::MAX));
    let fw = batch.column_by_name("IpFirewall").unwrap().as_boolean();
    assert!(!fw.value(0) && fw.value(1));
    let coerced: Vec<(&str, u64)> = (stats.values_coerced.iter())
        .map(|(k, v)| (k.as_str(), *v))
        .collect();
    assert_eq!(coerced, [("IpFirewall", 2), ("Status", 1)]);
}

/// Each lossless reading, on both parsers: the value it becomes, counted for its field; and
/// under `--strict`, the line rejected naming the field.
#[test]
fn each_lossless_reading_is_kept_counted_and_refused_when_strict() {
    let ts = |text: &str| {
        let (instant, _) = crate::time::parse_timestamp_reading(text).unwrap();
        instant.to_unit(arrow_schema::TimeUnit::Microsecond)
    };
    // (line, field, what the column holds, as text)
    let cases: &[(&str, &str, &str)] = &[
        (r#"{"Application":42}"#, "Application", "42"),
        (r#"{"Application":-1.50e+3}"#, "Application", "-1.50e+3"),
        (r#"{"Application":true}"#, "Application", "true"),
        (r#"{"Event":0}"#, "Event", "0"),
        (r#"{"Status":"443"}"#, "Status", "443"),
        (r#"{"Status":""}"#, "Status", "NULL"),
        (r#"{"IpFirewall":"true"}"#, "IpFirewall", "true"),
        (r#"{"IpFirewall":""}"#, "IpFirewall", "NULL"),
        (r#"{"Timestamp":""}"#, "Timestamp", "NULL"),
        (
            r#"{"Timestamp":"2022-05-10 06:36:57"}"#,
            "Timestamp",
            "2022-05-10T06:36:57Z",
        ),
        (
            r#"{"Timestamp":"2022-05-10T06:36:57.123456"}"#,
            "Timestamp",
            "2022-05-10T06:36:57.123456Z",
        ),
    ];
    for &(line, field, expected) in cases {
        for fast_path in [true, false] {
            let mut d = decoder(false, 10).with_fast_path(fast_path);
            d.decode_line(line.as_bytes())
                .unwrap_or_else(|e| panic!("{line}: {e}"));
            let stats = d.take_stats();
            assert_eq!(stats.values_coerced.get(field), Some(&1), "{line}");
            let batch = d.flush().unwrap().unwrap();
            let got = match batch.column_by_name(field).unwrap().data_type() {
                arrow_schema::DataType::Int64 => int_at(&batch, field, 0).map(|v| v.to_string()),
                arrow_schema::DataType::Boolean => {
                    let col = batch.column_by_name(field).unwrap().as_boolean();
                    col.is_valid(0).then(|| col.value(0).to_string())
                }
                arrow_schema::DataType::Timestamp(..) => {
                    let got = micros_at(&batch, field, 0);
                    assert_eq!(got, (expected != "NULL").then(|| ts(expected).unwrap()));
                    got.map(|_| expected.to_string())
                }
                _ => string_at(&batch, field, 0),
            };
            assert_eq!(got.as_deref().unwrap_or("NULL"), expected, "{line}");

            let mut strict = decoder(true, 10).with_fast_path(fast_path);
            let refused = strict.decode_line(line.as_bytes()).unwrap_err();
            assert_eq!(refused.field.as_deref(), Some(field), "{line}");
            assert!(refused.reason.contains("--strict"), "{line}: {refused}");
        }
    }
    // Documented forms are no reading: not counted, and accepted under --strict.
    for line in [
        r#"{"Timestamp":"1653557040"}"#,
        r#"{"Timestamp":"2022-05-26T09:24:00Z"}"#,
        r#"{"Timestamp":1653557040000000001,"ClientBytes":9007199254740993}"#,
    ] {
        for fast_path in [true, false] {
            let mut d = decoder(true, 10).with_fast_path(fast_path);
            d.decode_line(line.as_bytes()).unwrap();
            assert!(d.take_stats().values_coerced.is_empty(), "{line}");
        }
    }
    // Nanosecond epochs above 2^53 and integers above 2^53 stay exact (no float in between).
    let (batch, _) =
        decode_all(&[r#"{"Timestamp":1653557040000000001,"ClientBytes":9007199254740993}"#]);
    assert_eq!(
        int_at(&batch, "ClientBytes", 0),
        Some(9_007_199_254_740_993)
    );
    let nanos = EventSchema::spectrum_events();
    let mut d = Decoder::try_new(
        Arc::new(nanos),
        DecodeOptions {
            timestamp_unit: arrow_schema::TimeUnit::Nanosecond,
            ..DecodeOptions::default()
        },
    )
    .unwrap();
    d.decode_line(br#"{"Timestamp":1653557040000000001}"#)
        .unwrap();
    let batch = d.flush().unwrap().unwrap();
    let col = batch.column_by_name("Timestamp").unwrap();
    let col = col.as_primitive::<arrow_array::types::TimestampNanosecondType>();
    assert_eq!(col.value(0), 1_653_557_040_000_000_001);
    // Still refused: no exact reading.
    for (line, field) in [
        (r#"{"Status":".5"}"#, "Status"),
        (r#"{"Status":"12.5"}"#, "Status"),
        (r#"{"Status":12.5}"#, "Status"),
        (r#"{"IpFirewall":1}"#, "IpFirewall"),
        (r#"{"IpFirewall":"yes"}"#, "IpFirewall"),
        (r#"{"Application":[1]}"#, "Application"),
        (r#"{"Application":{"a":1}}"#, "Application"),
        (r#"{"Timestamp":"2022-05-10 06:36"}"#, "Timestamp"),
    ] {
        let mut d = decoder(false, 10);
        let refused = d.decode_line(line.as_bytes()).unwrap_err();
        assert_eq!(refused.field.as_deref(), Some(field), "{line}");
    }
}

#[test]
fn a_rejected_line_leaves_no_trace_in_the_batch() {
    let mut d = decoder(false, 100);
    d.decode_line(br#"{"Application":"first","Status":1}"#)
        .unwrap();
    // The string field parses before the bad int: its text must not leak into row 2.
    d.decode_line(br#"{"Application":"bad","Status":"x"}"#)
        .unwrap_err();
    d.decode_line(br#"{"Status":3}"#).unwrap();
    let batch = d.flush().unwrap().unwrap();
    assert_eq!(batch.num_rows(), 2);
    assert_eq!(string_at(&batch, "Application", 1), None);
    assert_eq!(int_at(&batch, "Status", 1), Some(3));
}

#[test]
fn batch_sizes_give_identical_rows() {
    let mut lines = Vec::new();
    for i in 0..257 {
        let event = ["connect", "disconnect", "odd"][i % 3];
        lines.push(format!(
            r#"{{"Application":"app{}","Event":"{event}","Status":{i},"Timestamp":{}}}"#,
            i % 7,
            1_653_557_040 + i
        ));
    }
    let mut reference: Option<Vec<RecordBatch>> = None;
    for size in [1, 3, 100, DEFAULT_BATCH_SIZE] {
        let mut d = decoder(false, size);
        let mut batches = Vec::new();
        for line in &lines {
            if d.is_full() {
                batches.extend(d.flush().unwrap());
            }
            d.decode_line(line.as_bytes()).unwrap();
        }
        batches.extend(d.flush().unwrap());
        assert!(batches.iter().all(|b| b.num_rows() <= size));
        let whole = arrow_select::concat::concat_batches(d.arrow_schema(), &batches).unwrap();
        // Dictionary keys differ with batch boundaries; compare logical values.
        let whole = unpack_dictionaries(&whole);
        match &reference {
            None => reference = Some(vec![whole]),
            Some(r) => assert_eq!(r[0], whole, "batch size {size}"),
        }
    }
}

#[test]
fn batch_size_is_validated() {
    let schema = Arc::new(EventSchema::spectrum_events());
    for bad in [0, MAX_BATCH_SIZE + 1] {
        let options = DecodeOptions {
            batch_size: bad,
            ..DecodeOptions::default()
        };
        assert!(Decoder::try_new(schema.clone(), options).is_err());
    }
}

/// The batch with dictionary columns cast to plain strings, for comparing logical values.
pub(crate) fn unpack_dictionaries(batch: &RecordBatch) -> RecordBatch {
    let columns = batch
        .columns()
        .iter()
        .map(|c| match c.data_type() {
            arrow_schema::DataType::Dictionary(_, v) => arrow_cast::cast(c, v).unwrap(),
            _ => c.clone(),
        })
        .collect::<Vec<_>>();
    RecordBatch::try_from_iter(
        batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .zip(columns),
    )
    .unwrap()
}

mod nested;

mod fast_path_agrees_with_general_path {
    use super::*;
    use proptest::prelude::*;

    fn general_only(unknown: UnknownFields, strict: bool) -> Decoder {
        let mut d = decoder_with(unknown, strict, DEFAULT_BATCH_SIZE);
        d.fast_path = false;
        d
    }

    fn unknown_mode() -> impl Strategy<Value = UnknownFields> {
        prop_oneof![
            2 => Just(UnknownFields::Keep),
            1 => Just(UnknownFields::Drop),
            1 => Just(UnknownFields::Reject),
        ]
    }

    pub(super) fn json_string(s: &str, escape_all: bool) -> String {
        if escape_all {
            let mut out = String::from("\"");
            for c in s.chars() {
                let mut buf = [0u16; 2];
                for unit in c.encode_utf16(&mut buf) {
                    out.push_str(&format!("\\u{unit:04x}"));
                }
            }
            out.push('"');
            out
        } else {
            serde_json::to_string(s).unwrap()
        }
    }

    /// A JSON value of any kind, biased towards what fields hold.
    pub(super) fn value() -> impl Strategy<Value = String> {
        let scalar = prop_oneof![
            4 => any::<i64>().prop_map(|n| n.to_string()),
            2 => (0u64..=u64::MAX).prop_map(|n| n.to_string()),
            1 => "-?(0|[1-9][0-9]{0,25})(\\.[0-9]{1,3})?([eE][+-]?[0-9]{1,2})?",
            1 => "0[0-9]{1,3}",
            2 => Just("true".to_string()),
            2 => Just("false".to_string()),
            2 => Just("null".to_string()),
            1 => Just("tru".to_string()),
            3 => (".{0,12}", any::<bool>()).prop_map(|(s, e)| json_string(&s, e)),
            2 => prop_oneof![
                Just("\"true\""), Just("\"false\""), Just("\"443\""), Just("\"-7\""),
                Just("\"0\""), Just("-0"), Just("\"-0\""), Just("-99999999999"), Just("\"1795474800\""), Just("\"1795474800123\""),
                Just("\"2026-11-23T05:00:00Z\""), Just("\"2026-11-23T05:00:00.123456789+02:00\""),
                Just("\"1970-01-01T00:00:00Z\""), Just("\"2026-02-30T00:00:00Z\""),
                Just("\"connect\""), Just("\"TLSv1.3\""), Just("\"\\ud83d\\ude00\""), Just("\"\\ud800\""),
                Just("\"a\\\"b\\\\c\\/d\\n\""), Just("\"\\x\""), Just("\"\\u12\""),
                Just("\"\""), Just("\"2022-05-10 06:36:57\""), Just("\"2022-05-10T06:36:57.25\""),
                Just("1.50"), Just("-12e-3"),
            ].prop_map(String::from),
        ];
        scalar.prop_recursive(2, 8, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec(("[a-z]{1,3}", inner), 0..3).prop_map(|v| {
                    let body: Vec<String> =
                        v.into_iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                    format!("{{{}}}", body.join(","))
                }),
            ]
        })
    }

    fn names() -> Vec<String> {
        EventSchema::spectrum_events()
            .listed_fields()
            .iter()
            .map(|f| f.name.clone())
            .collect()
    }

    /// A key: mostly a field's name, sometimes one that only starts like one, is cut short or
    /// differs in its last character.
    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => prop::sample::select(names()).prop_map(|n| format!("\"{n}\"")),
            1 => "[A-Za-z]{1,8}".prop_map(|n| format!("\"{n}\"")),
            1 => Just("\"Stat\\u0075s\"".to_string()),
            1 => prop::sample::select(names()).prop_map(|n| format!("\"{n}x\"")),
            1 => prop::sample::select(names()).prop_map(|n| format!("\"{}\"", &n[..n.len() - 1])),
            1 => prop::sample::select(names()).prop_map(|n| format!("\"{}_\"", &n[..n.len() - 1])),
        ]
    }

    fn ws() -> impl Strategy<Value = &'static str> {
        prop_oneof![8 => Just(""), 1 => Just(" "), 1 => Just("\t"), 1 => Just(" \r ")]
    }

    fn line() -> impl Strategy<Value = Vec<u8>> {
        let object =
            prop::collection::vec((key(), ws(), value(), ws()), 0..12).prop_map(|entries| {
                let body: Vec<String> = entries
                    .into_iter()
                    .map(|(k, w1, v, w2)| format!("{k}{w1}:{w2}{v}"))
                    .collect();
                format!("{{{}}}", body.join(","))
            });
        let corruption = prop_oneof![
            6 => Just(None),
            1 => (any::<prop::sample::Index>(), Just(0u8)).prop_map(|(i, _)| Some((i, None))),
            1 => (any::<prop::sample::Index>(), any::<u8>()).prop_map(|(i, b)| Some((i, Some(b)))),
        ];
        (object, corruption, ws()).prop_map(|(text, corruption, tail)| {
            let mut bytes = format!("{text}{tail}").into_bytes();
            match corruption {
                None => {}
                Some((at, None)) => bytes.truncate(at.index(bytes.len() + 1)),
                Some((at, Some(b))) => {
                    let i = at.index(bytes.len());
                    bytes[i] = b;
                }
            }
            bytes
        })
    }

    /// Lines that mostly repeat one key order (as archives do, so the scanner's predictions are
    /// used), with some keys replaced at random or by near misses of the expected name (one
    /// character longer, shorter or different).
    fn lines_in_one_key_order() -> impl Strategy<Value = Vec<Vec<u8>>> {
        let order = prop::collection::vec(prop::sample::select(names()), 1..12);
        let line = |order: Vec<String>| {
            let schema = EventSchema::spectrum_events();
            let entries = order.into_iter().map(move |n| {
                let field_type = schema.fields()[schema.index_of(&n).unwrap()].field_type;
                (
                    prop_oneof![
                        12 => Just(format!("\"{n}\"")),
                        1 => key(),
                        1 => Just(format!("\"{n}x\"")),
                        1 => Just(format!("\"{}\"", &n[..n.len() - 1])),
                        2 => any::<prop::sample::Index>().prop_map(move |at| {
                            let mut near = n.clone().into_bytes();
                            near[at.index(n.len())] = b'_';
                            format!("\"{}\"", String::from_utf8(near).unwrap())
                        }),
                    ],
                    prop_oneof![4 => valid_value(field_type), 1 => value()],
                )
            });
            entries.collect::<Vec<_>>().prop_map(|entries| {
                let body: Vec<String> = entries.iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("{{{}}}", body.join(",")).into_bytes()
            })
        };
        order.prop_flat_map(move |order| prop::collection::vec(line(order), 1..8))
    }

    /// A value the field accepts, so that whole lines are accepted and a key taken for another
    /// shows in the rows.
    fn valid_value(field_type: FieldType) -> BoxedStrategy<String> {
        match field_type {
            FieldType::String => ".{0,12}".prop_map(|s| json_string(&s, false)).boxed(),
            FieldType::Int => any::<i64>().prop_map(|n| n.to_string()).boxed(),
            FieldType::Bool => any::<bool>().prop_map(|b| b.to_string()).boxed(),
            FieldType::Timestamp => (1u64..4_000_000_000).prop_map(|s| s.to_string()).boxed(),
            // spectrum_events has no field of the other types (the nested tests cover them).
            _ => Just("null".to_string()).boxed(),
        }
    }

    fn assert_paths_agree(
        lines: &[Vec<u8>],
        unknown: UnknownFields,
        strict: bool,
    ) -> Result<(), TestCaseError> {
        let mut fast = decoder_with(unknown, strict, DEFAULT_BATCH_SIZE);
        let mut general = general_only(unknown, strict);
        for line in lines {
            let a = fast.decode_line(line);
            let b = general.decode_line(line);
            prop_assert_eq!(a, b, "line {:?}", String::from_utf8_lossy(line));
        }
        prop_assert_eq!(fast.take_stats(), general.take_stats());
        let a = fast.flush().unwrap().map(|b| unpack_dictionaries(&b));
        let b = general.flush().unwrap().map(|b| unpack_dictionaries(&b));
        prop_assert_eq!(a, b);
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn on_any_line(
            lines in prop::collection::vec(line(), 1..8),
            unknown in unknown_mode(),
            strict in any::<bool>(),
        ) {
            assert_paths_agree(&lines, unknown, strict)?;
        }

        #[test]
        fn on_lines_in_one_key_order(
            lines in lines_in_one_key_order(),
            unknown in unknown_mode(),
            strict in any::<bool>(),
        ) {
            assert_paths_agree(&lines, unknown, strict)?;
        }
    }

    #[test]
    fn a_predicted_key_matches_only_whole() {
        // After a line with `Application` first the scanner expects it there again: a longer or
        // shorter key, or one that differs in one character, is another key.
        let lines: Vec<Vec<u8>> = [
            r#"{"Application":"a","Status":200}"#,
            r#"{"ApplicationX":"b","Status":201}"#,
            r#"{"Application":"c","Status":202}"#,
            r#"{"Applicatio":"d","Status":203}"#,
            r#"{"Application":"e","Status":204}"#,
            r#"{"Applicatio_":"f","Status":205}"#,
            r#"{"Application":"g","Status":206}"#,
            r#"{"_pplication":"h","Status":207}"#,
            r#"{"Application":"i","Status":208}"#,
        ]
        .iter()
        .map(|l| l.as_bytes().to_vec())
        .collect();
        assert_paths_agree(&lines, UnknownFields::Keep, false).unwrap();
        let mut fast = decoder(false, DEFAULT_BATCH_SIZE);
        for line in &lines {
            fast.decode_line(line).unwrap();
        }
        let stats = fast.take_stats();
        assert_eq!(
            stats.unknown_fields.keys().collect::<Vec<_>>(),
            ["Applicatio", "Applicatio_", "ApplicationX", "_pplication"]
        );
        let batch = fast.flush().unwrap().unwrap();
        let apps: Vec<_> = (0..9)
            .map(|r| string_at(&batch, "Application", r))
            .collect();
        let expected =
            ["a", "", "c", "", "e", "", "g", "", "i"].map(|a| (!a.is_empty()).then(|| a.into()));
        assert_eq!(apps, expected);
    }

    #[test]
    fn real_logpush_lines_take_the_fast_path() {
        // The sample lines parse without giving up: if they did, the speed would be lost silently.
        let schema = Arc::new(EventSchema::spectrum_events());
        let mut scanner = scan::Scanner::new();
        let mut row = RowScratch {
            slots: vec![columns::Slot::Absent; schema.fields().len()],
            ..RowScratch::default()
        };
        for line in [
            FULL,
            r#"{"Timestamp":"2026-11-23T23:59:59.999999Z","Event":"disconnect","Status":200,"ClientBytes":"5120","IpFirewall":"true","X":"\u00e9"}"#,
        ] {
            row.clear();
            let scanned = scanner.scan(
                line,
                &schema,
                arrow_schema::TimeUnit::Microsecond,
                false,
                &mut row,
            );
            assert!(scanned.is_ok(), "{line}");
        }
    }
}
