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
use super::timestamp::{self, Instant};
use super::{RowScratch, parse_int_text};
use crate::schema::{EventSchema, FieldType};

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
    /// escapes stay in the line ([`Slot::Line`]).
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
                    if strict {
                        return Err(GiveUp);
                    }
                    let start = row.text.len() as u32;
                    row.text.push_str(&text[key_start..key_end]);
                    row.unknown.push((start, row.text.len() as u32));
                    pos = skip_scalar(b, pos)?;
                }
            }
            position += 1;
            pos = skip_ws(b, pos);
            match b.get(pos) {
                Some(b',') => pos = skip_ws(b, pos + 1),
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
        let i = memchr::memchr2(b'"', b'\\', &b[pos..]).ok_or(GiveUp)? + pos;
        if b[pos..i].iter().any(|&c| c < 0x20) {
            return Err(GiveUp);
        }
        if b[i] == b'"' {
            return Ok((i, escaped));
        }
        escaped = true;
        // Skip the escaped character; `\u` takes four more, checked when decoding.
        pos = i + 2;
        if pos > b.len() {
            return Err(GiveUp);
        }
    }
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
                FieldType::Int => Slot::Int(parse_int_text(content).ok_or(GiveUp)?),
                FieldType::Bool => match content {
                    "true" => Slot::Bool(true),
                    "false" => Slot::Bool(false),
                    _ => return Err(GiveUp),
                },
                FieldType::Timestamp => {
                    let instant = timestamp::parse_timestamp_str(content).map_err(|_| GiveUp)?;
                    timestamp_slot(spec.zero_is_null, instant, unit)?
                }
            };
            if !matches!(slot, Slot::Str(..)) {
                row.text.truncate(start); // an escaped string parsed to another type
            }
            Ok((slot, close + 1))
        }
        Some(b'-' | b'0'..=b'9') => {
            let (n, next) = integer(b, pos)?;
            let slot = match spec.field_type {
                FieldType::Int => Slot::Int(n),
                FieldType::Timestamp => {
                    timestamp_slot(spec.zero_is_null, Instant::from_epoch_int(n), unit)?
                }
                _ => return Err(GiveUp),
            };
            Ok((slot, next))
        }
        Some(b't') if b[pos..].starts_with(b"true") && spec.field_type == FieldType::Bool => {
            Ok((Slot::Bool(true), pos + 4))
        }
        Some(b'f') if b[pos..].starts_with(b"false") && spec.field_type == FieldType::Bool => {
            Ok((Slot::Bool(false), pos + 5))
        }
        Some(b'n') if b[pos..].starts_with(b"null") => Ok((Slot::Null, pos + 4)),
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
    let mut end = digits_start;
    while end < b.len() && b[end].is_ascii_digit() {
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
    // Accumulated negatively so i64::MIN parses too. Eighteen digits stay below 10^18: no
    // overflow possible, no checks needed; only a nineteenth (nanosecond timestamps have
    // nineteen) is checked.
    let mut value: i64 = 0;
    for &d in &digits[..digits.len().min(18)] {
        value = value * 10 - i64::from(d - b'0');
    }
    if let Some(&d) = digits.get(18) {
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_sub(i64::from(d - b'0')))
            .ok_or(GiveUp)?;
    }
    let value = if negative {
        value
    } else {
        value.checked_neg().ok_or(GiveUp)?
    };
    Ok((value, end))
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
