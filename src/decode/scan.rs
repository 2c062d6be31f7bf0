//! The fast path of line decoding: a scanner for the flat JSON objects Logpush writes.
//!
//! It handles what real archives hold (one object per line; string, integer, boolean and null
//! values; keys in the same order line after line) and goes straight from the bytes to the
//! row's typed slots. It never rejects: anything it does not handle with certainty (nested
//! values, fractions, surrogate escapes, duplicate keys, a value of the wrong type, invalid
//! JSON) makes it give up, and the line goes through the general serde path, which owns every
//! reject reason. So the scanner may only ever accept what the serde path accepts, with the
//! same values; a property test (`decode::tests`) holds the two to that.

use arrow_schema::TimeUnit;

use super::columns::Slot;
use super::{RowScratch, UnknownKey, epoch_instant, parse_int_text, parse_timestamp_text};
use crate::schema::{EventSchema, FieldType, UnknownFields};
use crate::time::Instant;

/// The scanner gave up on this line: decode it with the general path.
pub(crate) struct GiveUp;

type Scan<T> = Result<T, GiveUp>;

/// What the scanner needs besides the line: the schema, options and the key order it
/// predicts from the previous line.
pub(crate) struct Scanner {
    /// Field index of the key seen at each position of the previous line (`u16::MAX`: unknown).
    predicted: Vec<u16>,
}

impl Scanner {
    pub(crate) fn new() -> Self {
        Scanner {
            predicted: Vec::new(),
        }
    }

    /// Scans `text` (a whole line, checked as UTF-8 once, so every slice cut at an ASCII
    /// delimiter is text) into `row`; `row` must be cleared by the caller. Strings without
    /// escapes stay in the line ([`Slot::Line`]), as do the values of unknown keys that are
    /// kept. Under `strict`, a line that needs a lossless reading is given up (the general path
    /// rejects it).
    pub(crate) fn scan(
        &mut self,
        text: &str,
        schema: &EventSchema,
        unit: TimeUnit,
        strict: bool,
        row: &mut RowScratch,
    ) -> Scan<()> {
        let b = text.as_bytes();
        let mut pos = skip_ws(b, 0);
        expect(b, pos, b'{')?;
        pos = skip_ws(b, pos + 1);
        if b.get(pos) == Some(&b'}') {
            return end(b, pos + 1);
        }
        let mut position = 0;
        loop {
            expect(b, pos, b'"')?;
            let (field, key_end) = match self.predicted_key(b, pos + 1, position, schema) {
                Some((i, key_end)) => (Some(i), key_end),
                None => {
                    let (key_end, escaped) = string_end(b, pos + 1)?;
                    if escaped {
                        return Err(GiveUp);
                    }
                    let key = &text[pos + 1..key_end];
                    (self.learn_key(key, position, schema), key_end)
                }
            };
            let key_start = pos + 1;
            pos = skip_ws(b, key_end + 1);
            expect(b, pos, b':')?;
            pos = skip_ws(b, pos + 1);
            match field {
                Some(i) => {
                    if row.slots[i] != Slot::Absent {
                        return Err(GiveUp);
                    }
                    let (slot, next) = value(text, pos, schema, i, unit, row)?;
                    row.slots[i] = slot;
                    pos = next;
                }
                None => {
                    let mode = schema.unknown_fields();
                    if mode == UnknownFields::Reject {
                        return Err(GiveUp);
                    }
                    let start = row.text.len() as u32;
                    row.text.push_str(&text[key_start..key_end]);
                    let value_start = pos;
                    pos = skip_scalar(b, pos)?;
                    row.unknown.push(UnknownKey {
                        name: (start, row.text.len() as u32),
                        value: match mode {
                            UnknownFields::Keep => Slot::Line(value_start as u32, pos as u32),
                            _ => Slot::Absent,
                        },
                    });
                }
            }
            position += 1;
            pos = skip_ws(b, pos);
            match b.get(pos) {
                Some(b',') => pos = skip_ws(b, pos + 1),
                Some(b'}') if strict && !row.coerced.is_empty() => return Err(GiveUp),
                Some(b'}') => return end(b, pos + 1),
                _ => return Err(GiveUp),
            }
        }
    }

    /// The field seen at this position on the previous line, if its name is the key starting
    /// at `start` (followed by the closing quote), and the index of that quote. Predicted names
    /// were read as keys without escapes, so they hold no quote, backslash or control
    /// character: bytes equal to the name and then a quote are that key, no string scan needed.
    fn predicted_key(
        &self,
        b: &[u8],
        start: usize,
        position: usize,
        schema: &EventSchema,
    ) -> Option<(usize, usize)> {
        let i = usize::from(*self.predicted.get(position)?);
        let name = schema.fields().get(i)?.name.as_bytes();
        let end = start + name.len();
        (b.get(end) == Some(&b'"') && same_bytes(&b[start..end], name)).then_some((i, end))
    }

    /// The field index of `key` (a key without escapes), remembered as the prediction for
    /// this position.
    fn learn_key(&mut self, key: &str, position: usize, schema: &EventSchema) -> Option<usize> {
        let found = schema.index_of(key);
        let code = found.map_or(u16::MAX, |i| u16::try_from(i).unwrap_or(u16::MAX));
        if position < self.predicted.len() {
            self.predicted[position] = code;
        } else if position == self.predicted.len() && position < 4096 {
            self.predicted.push(code);
        }
        found
    }
}

/// `a == b`, compared inline: keys are short, and a call to `memcmp` for each cost more than
/// the comparison. Eight bytes at a time, the last eight (overlapping the ones before) covering
/// what is left: a key of 8 to 16 bytes takes two comparisons.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    fn word(bytes: &[u8], at: usize) -> u64 {
        u64::from_ne_bytes(bytes[at..at + 8].try_into().expect("eight bytes"))
    }
    let len = a.len();
    if len != b.len() {
        return false;
    }
    if len < 8 {
        return a == b;
    }
    let mut diff = word(a, len - 8) ^ word(b, len - 8);
    let mut at = 0;
    while at + 8 < len {
        diff |= word(a, at) ^ word(b, at);
        at += 8;
    }
    diff == 0
}

fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while let Some(b' ' | b'\t' | b'\r' | b'\n') = b.get(pos) {
        pos += 1;
    }
    pos
}

fn expect(b: &[u8], pos: usize, c: u8) -> Scan<()> {
    if b.get(pos) == Some(&c) {
        Ok(())
    } else {
        Err(GiveUp)
    }
}

/// Only white space may follow the object.
fn end(b: &[u8], pos: usize) -> Scan<()> {
    if skip_ws(b, pos) == b.len() {
        Ok(())
    } else {
        Err(GiveUp)
    }
}

/// The index of the closing quote of a string whose content starts at `start`, and whether the
/// string holds escapes. Raw control characters are invalid JSON.
fn string_end(b: &[u8], start: usize) -> Scan<(usize, bool)> {
    let mut pos = start;
    let mut escaped = false;
    loop {
        let i = pos + string_stop(&b[pos..]).ok_or(GiveUp)?;
        match b[i] {
            b'"' => return Ok((i, escaped)),
            b'\\' => {
                escaped = true;
                // Skip the escaped character; `\u` takes four more, checked when decoding.
                pos = i + 2;
                if pos > b.len() {
                    return Err(GiveUp);
                }
            }
            _ => return Err(GiveUp),
        }
    }
}

/// The offset of the first byte of `b` that stops a run of plain string content: a quote, a
/// backslash or a control character (below 0x20). Strings in Logpush lines are short (most
/// under 40 bytes), so eight bytes at a time in a register beat a `memchr2` call and a second
/// pass for control characters.
fn string_stop(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH_BITS: u64 = 0x8080_8080_8080_8080;
    // The high bit of each byte of `x` below `n` (n <= 0x80). Exact for the lowest such byte:
    // a borrow only runs upward from a byte that is itself below `n`.
    fn below(x: u64, n: u8) -> u64 {
        x.wrapping_sub(ONES * u64::from(n)) & !x & HIGH_BITS
    }
    let mut at = 0;
    while let Some(chunk) = b.get(at..at + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let stops = below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1)
            | below(word, 0x20);
        if stops != 0 {
            // Little-endian: the lowest set bit is in the first stopping byte.
            return Some(at + (stops.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    b[at..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|i| at + i)
}

/// Appends the unescaped content of `raw` (a string body with escapes) to `out`.
fn unescape(raw: &str, out: &mut String) -> Scan<()> {
    let mut rest = raw;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let tail = &rest.as_bytes()[i + 1..];
        let (c, used) = match tail.first() {
            Some(b'"') => ('"', 1),
            Some(b'\\') => ('\\', 1),
            Some(b'/') => ('/', 1),
            Some(b'b') => ('\u{8}', 1),
            Some(b'f') => ('\u{c}', 1),
            Some(b'n') => ('\n', 1),
            Some(b'r') => ('\r', 1),
            Some(b't') => ('\t', 1),
            Some(b'u') => {
                let hex = rest.get(i + 2..i + 6).ok_or(GiveUp)?;
                if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
                    return Err(GiveUp);
                }
                let code = u32::from_str_radix(hex, 16).map_err(|_| GiveUp)?;
                // Surrogates (pairs or lone) are left to the general path.
                (char::from_u32(code).ok_or(GiveUp)?, 5)
            }
            _ => return Err(GiveUp),
        };
        out.push(c);
        rest = &rest[i + 1 + used..];
    }
    out.push_str(rest);
    Ok(())
}

/// Parses the value at `pos` for field `i`; returns its slot and the position after it.
/// Inlined into its one caller: returned through memory, the slot cost a store-forwarding stall.
#[inline(always)]
fn value(
    text: &str,
    pos: usize,
    schema: &EventSchema,
    i: usize,
    unit: TimeUnit,
    row: &mut RowScratch,
) -> Scan<(Slot, usize)> {
    let b = text.as_bytes();
    let spec = &schema.fields()[i];
    match b.get(pos) {
        Some(b'"') => {
            let (close, escaped) = string_end(b, pos + 1)?;
            let start = row.text.len();
            let (content, string) = if escaped {
                unescape(&text[pos + 1..close], &mut row.text)?;
                let string = Slot::Str(start as u32, row.text.len() as u32);
                (&row.text[start..], string)
            } else {
                let string = Slot::Line(pos as u32 + 1, close as u32);
                (&text[pos + 1..close], string)
            };
            let slot = match spec.field_type {
                FieldType::String => string,
                FieldType::Int | FieldType::Bool | FieldType::Timestamp if content.is_empty() => {
                    row.coerced.push(i as u32);
                    Slot::Null
                }
                FieldType::Int => {
                    row.coerced.push(i as u32);
                    Slot::Int(parse_int_text(content).ok_or(GiveUp)?)
                }
                FieldType::Bool => {
                    row.coerced.push(i as u32);
                    match content {
                        "true" => Slot::Bool(true),
                        "false" => Slot::Bool(false),
                        _ => return Err(GiveUp),
                    }
                }
                FieldType::Timestamp => {
                    let (instant, read) =
                        parse_timestamp_text(spec, content).map_err(|_| GiveUp)?;
                    if read {
                        row.coerced.push(i as u32);
                    }
                    timestamp_slot(spec.zero_is_null, instant, unit)?
                }
                // Numbers in strings, lists of one string, and JSON text (whose exact text
                // includes the quotes and escapes), are left to the general path.
                _ => return Err(GiveUp),
            };
            if escaped && !matches!(slot, Slot::Str(..)) {
                row.text.truncate(start); // an escaped string parsed to another type
            }
            Ok((slot, close + 1))
        }
        Some(b'-' | b'0'..=b'9') => {
            let (n, next) = integer(b, pos)?;
            let slot = match spec.field_type {
                FieldType::Int => Slot::Int(n),
                FieldType::Float => Slot::Float((n as f64).to_bits()),
                FieldType::Timestamp => {
                    timestamp_slot(spec.zero_is_null, epoch_instant(spec, n), unit)?
                }
                // A number in a string field: its exact text (a JSON integer is canonical).
                FieldType::String => {
                    row.coerced.push(i as u32);
                    Slot::Line(pos as u32, next as u32)
                }
                _ => return Err(GiveUp),
            };
            Ok((slot, next))
        }
        Some(b't') if b[pos..].starts_with(b"true") => {
            literal(spec.field_type, true, pos, 4, i, row)
        }
        Some(b'f') if b[pos..].starts_with(b"false") => {
            literal(spec.field_type, false, pos, 5, i, row)
        }
        Some(b'n') if b[pos..].starts_with(b"null") => Ok((Slot::Null, pos + 4)),
        _ => Err(GiveUp),
    }
}

/// A `true` or `false` of `len` bytes at `pos` for field `i` of type `field_type`: a boolean,
/// or its text in a string field.
#[inline(always)]
fn literal(
    field_type: FieldType,
    value: bool,
    pos: usize,
    len: usize,
    i: usize,
    row: &mut RowScratch,
) -> Scan<(Slot, usize)> {
    match field_type {
        FieldType::Bool => Ok((Slot::Bool(value), pos + len)),
        FieldType::String => {
            row.coerced.push(i as u32);
            Ok((Slot::Line(pos as u32, (pos + len) as u32), pos + len))
        }
        _ => Err(GiveUp),
    }
}

fn timestamp_slot(zero_is_null: bool, instant: Instant, unit: TimeUnit) -> Scan<Slot> {
    if zero_is_null && instant == Instant::EPOCH {
        return Ok(Slot::Null);
    }
    instant.to_unit(unit).map(Slot::Int).ok_or(GiveUp)
}

/// A JSON integer `-?(0|[1-9][0-9]*)` in the i64 range, not followed by a fraction or exponent.
fn integer(b: &[u8], pos: usize) -> Scan<(i64, usize)> {
    let negative = b[pos] == b'-';
    let digits_start = pos + usize::from(negative);
    // Nineteen digits stay below 10^19 < 2^64: the magnitude is accumulated unchecked, and
    // longer numbers (wrapped, the value is then meaningless) are refused by their length.
    let mut magnitude: u64 = 0;
    let mut end = digits_start;
    while let Some(chunk) = b.get(end..end + 8) {
        let word = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
        let Some(value) = eight_digits(word) else {
            break;
        };
        magnitude = magnitude.wrapping_mul(100_000_000).wrapping_add(value);
        end += 8;
    }
    while let Some(&d) = b.get(end)
        && d.is_ascii_digit()
    {
        magnitude = magnitude.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
        end += 1;
    }
    let digits = &b[digits_start..end];
    if digits.is_empty() || (digits.len() > 1 && digits[0] == b'0') || digits.len() > 19 {
        return Err(GiveUp);
    }
    // serde_json reads `-0` as the float -0.0, which the general path refuses for ints.
    if negative && digits == b"0" {
        return Err(GiveUp);
    }
    if matches!(b.get(end), Some(b'.' | b'e' | b'E')) {
        return Err(GiveUp);
    }
    let value = if negative {
        // Up to 2^63, which is i64::MIN's magnitude: as i64 it is i64::MIN, and negating it
        // (wrapping) leaves it so.
        (magnitude <= 1 << 63).then(|| (magnitude as i64).wrapping_neg())
    } else {
        i64::try_from(magnitude).ok()
    };
    Ok((value.ok_or(GiveUp)?, end))
}

/// The value of eight ASCII digits read as a little-endian word (the first digit in the lowest
/// byte), or `None` if any byte is not a digit.
fn eight_digits(word: u64) -> Option<u64> {
    const HIGH_NIBBLES: u64 = 0xF0F0_F0F0_F0F0_F0F0;
    const ZEROS: u64 = 0x3030_3030_3030_3030;
    // Each byte is 0x30..=0x3F, and still 0x3_ after adding 6: so 0x30..=0x39. (Adding 6 only
    // carries out of a byte that already failed the first test.)
    if word & HIGH_NIBBLES != ZEROS
        || word.wrapping_add(0x0606_0606_0606_0606) & HIGH_NIBBLES != ZEROS
    {
        return None;
    }
    // Pairs of digits, then all eight, combined by multiplications in the register.
    let digits = word - ZEROS;
    let pairs = digits * 10 + (digits >> 8);
    // The products' upper halves sum to the value; their lower halves never carry into them.
    let high = (pairs & 0x0000_00FF_0000_00FF).wrapping_mul(100 + (1_000_000 << 32));
    let low = ((pairs >> 16) & 0x0000_00FF_0000_00FF).wrapping_mul(1 + (10_000 << 32));
    Some((high + low) >> 32)
}

/// Skips the value of an unknown key: a string, number or literal (anything else gives up).
fn skip_scalar(b: &[u8], pos: usize) -> Scan<usize> {
    match b.get(pos) {
        Some(b'"') => {
            let (close, escaped) = string_end(b, pos + 1)?;
            if escaped {
                // Escapes must be valid JSON even in values we ignore.
                let mut scratch = String::new();
                let text = std::str::from_utf8(&b[pos + 1..close]).map_err(|_| GiveUp)?;
                unescape(text, &mut scratch)?;
            }
            Ok(close + 1)
        }
        Some(b'-' | b'0'..=b'9') => integer(b, pos).map(|(_, end)| end),
        Some(b't') if b[pos..].starts_with(b"true") => Ok(pos + 4),
        Some(b'f') if b[pos..].starts_with(b"false") => Ok(pos + 5),
        Some(b'n') if b[pos..].starts_with(b"null") => Ok(pos + 4),
        _ => Err(GiveUp),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_bytes_finds_a_difference_at_every_position_of_every_length() {
        for len in 0..40 {
            let a: Vec<u8> = (0..len as u8).map(|i| b'A' + i % 26).collect();
            assert!(same_bytes(&a, &a.clone()), "{len} bytes");
            for at in 0..len {
                let mut b = a.clone();
                b[at] ^= 0x20;
                assert!(!same_bytes(&a, &b), "{len} bytes, differing at {at}");
            }
            assert!(!same_bytes(&a, &a[..len.saturating_sub(1)]) || len == 0);
        }
    }

    #[test]
    fn string_stop_finds_the_first_quote_backslash_or_control_character_wherever_it_is() {
        let naive = |b: &[u8]| b.iter().position(|&c| c == b'"' || c == b'\\' || c < 0x20);
        // Bytes next to the stopping ones, which must not stop: the edges of the tests.
        let plain = [
            b' ', b'!', b'#', b'[', b']', b'a', 0x7f, 0x80, 0xa2, 0xdc, 0xff,
        ];
        for len in 0..40 {
            let base: Vec<u8> = (0..len).map(|i| plain[i % plain.len()]).collect();
            assert_eq!(string_stop(&base), None, "{len} plain bytes");
            for at in 0..len {
                for stop in [b'"', b'\\', 0x00, 0x0a, 0x1f] {
                    let mut b = base.clone();
                    b[at] = stop;
                    // A second stop further on must not hide the first.
                    if at + 3 < len {
                        b[at + 3] = b'"';
                    }
                    assert_eq!(string_stop(&b), naive(&b), "{len} bytes, {stop:#x} at {at}");
                    assert_eq!(string_stop(&b), Some(at));
                }
            }
        }
    }

    #[test]
    fn string_end_skips_escaped_quotes_and_refuses_control_characters() {
        let end = |text: &[u8]| string_end(text, 0).ok();
        assert_eq!(end(br#"abc" rest"#), Some((3, false)));
        assert_eq!(end(br#"a\"b\\" rest"#), Some((6, true)));
        assert_eq!(end(br#"0123456789\"0123456789" x"#), Some((22, true)));
        assert_eq!(end(br#"tab\there" x"#), Some((9, true)));
        assert_eq!(end(b"raw\ttab\" x"), None);
        assert_eq!(end(br#"no end"#), None);
        assert_eq!(end(br#"ends in a backslash\"#), None);
    }

    #[test]
    fn eight_digits_reads_every_digit_position_and_refuses_any_other_byte() {
        let word = |text: &[u8]| u64::from_le_bytes(text.try_into().unwrap());
        let mut n: u64 = 12_345_678;
        for _ in 0..10_000 {
            let text = format!("{:08}", n % 100_000_000);
            assert_eq!(
                eight_digits(word(text.as_bytes())),
                Some(n % 100_000_000),
                "{text}"
            );
            n = n
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
        }
        for text in [b"00000000", b"99999999", b"10000000", b"00000001"] {
            let expected = std::str::from_utf8(text).unwrap().parse().ok();
            assert_eq!(eight_digits(word(text)), expected);
        }
        for at in 0..8 {
            for other in [
                b'/',
                b':',
                b'-',
                b'.',
                b'e',
                0x00,
                0x39 + 0x10,
                0xb0,
                0xfa,
                0xff,
            ] {
                let mut text = *b"12345678";
                text[at] = other;
                assert_eq!(eight_digits(word(&text)), None, "{other:#x} at {at}");
            }
        }
    }

    #[test]
    fn integers_of_every_length_parse_as_the_standard_library_does() {
        for len in 1..=21 {
            for first in [b'1', b'9'] {
                for sign in ["", "-"] {
                    let digits: String = (0..len)
                        .map(|i| {
                            if i == 0 {
                                first as char
                            } else {
                                char::from(b'0' + (i * 7 % 10) as u8)
                            }
                        })
                        .collect();
                    let text = format!("{sign}{digits},");
                    let expected = text[..text.len() - 1].parse::<i64>().ok();
                    assert_eq!(
                        integer(text.as_bytes(), 0).ok(),
                        expected.map(|n| (n, text.len() - 1)),
                        "{text}"
                    );
                }
            }
        }
    }

    #[test]
    fn integers_parse_exactly_up_to_the_i64_range_and_no_further() {
        let parse = |text: &str| integer(text.as_bytes(), 0).ok();
        for n in [
            0,
            7,
            -7,
            999_999_999_999_999_999,
            -999_999_999_999_999_999,
            1_000_000_000_000_000_000,
            1_795_534_019_158_722_997,
            i64::MAX,
            i64::MIN,
        ] {
            let text = n.to_string();
            assert_eq!(parse(&text), Some((n, text.len())), "{text}");
        }
        for text in [
            "9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999",
        ] {
            assert_eq!(parse(text), None, "{text} is out of range");
        }
        for text in ["-0", "01", "-", "1.5", "2e3"] {
            assert_eq!(
                parse(text),
                None,
                "{text} is not a JSON integer the scanner takes"
            );
        }
    }
}
