//! The fast path of line decoding: a scanner for the JSON objects Logpush writes.
//!
//! It handles what real archives hold (one object per line; string, number, boolean and null
//! values; lists of strings or integers, maps of strings, JSON values of any shape; keys in the
//! same order line after line) and goes straight from the bytes to the row's typed slots and
//! item slots. A `json` value, and the value of an unknown key, is skipped by a bracket- and
//! string-aware walk and kept as its exact text, never built. It never rejects: anything it
//! does not handle with certainty (a lone surrogate escape in a string it decodes, duplicate keys,
//! a value of the wrong type or shape, nesting past [`MAX_JSON_DEPTH`], a map of more than
//! [`MAX_MAP_KEYS`] keys, invalid JSON) makes it give up, and the line goes through the
//! general serde path, which owns every reject reason. So the scanner may only ever accept
//! what the serde path accepts, with the same values; property tests (`decode::tests`) and the
//! `decode_line` fuzz target hold the two to that.

use arrow_schema::TimeUnit;

use super::columns::Slot;
use super::general::MAX_JSON_DEPTH;
use super::{
    RowScratch, UnknownKey, epoch_instant, parse_float_text, parse_int_text, parse_timestamp_text,
};
use crate::schema::{EventSchema, FieldType, UnknownFields};
use crate::time::Instant;

/// The scanner gave up on this line: decode it with the general path.
pub(crate) struct GiveUp;

type Scan<T> = Result<T, GiveUp>;

/// The most keys of a string map the scanner takes: it finds a key given twice by comparing
/// each key with the ones before it, which is quick for the few headers or cookies a line
/// holds, and leaves bigger maps to the general path.
pub(crate) const MAX_MAP_KEYS: usize = 64;

/// What the scanner needs besides the line: the key order it predicts from the lines before.
///
/// Keys come in the same order line after line, but a line may leave some out: each key is
/// predicted from the one before it (the key that followed that one last time), so a key left
/// out costs one miss, not a miss for every key after it.
pub(crate) struct Scanner {
    /// For each field, the field whose key followed its key last time (`u16::MAX`: an unknown
    /// key or none yet); then the same for the start of the line and for an unknown key.
    after: Vec<u16>,
}

impl Scanner {
    pub(crate) fn new() -> Self {
        Scanner { after: Vec::new() }
    }

    /// Where the predictions after the start of a line, and after an unknown key, are kept.
    fn line_start(schema: &EventSchema) -> usize {
        schema.fields().len()
    }

    fn after_unknown(schema: &EventSchema) -> usize {
        schema.fields().len() + 1
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
        if self.after.len() != schema.fields().len() + 2 {
            self.after = vec![u16::MAX; schema.fields().len() + 2];
        }
        let mut previous = Self::line_start(schema);
        loop {
            expect(b, pos, b'"')?;
            let (field, key_end) = match self.predicted_key(b, pos + 1, previous, schema) {
                Some((i, key_end)) => (Some(i), key_end),
                None => {
                    let (key_end, escaped) = string_end(b, pos + 1)?;
                    if escaped {
                        return Err(GiveUp);
                    }
                    let key = &text[pos + 1..key_end];
                    (self.learn_key(key, previous, schema), key_end)
                }
            };
            previous = field.unwrap_or_else(|| Self::after_unknown(schema));
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
                    pos = skip_value(b, pos)?;
                    row.unknown.push(UnknownKey {
                        name: (start, row.text.len() as u32),
                        value: match mode {
                            UnknownFields::Keep => Slot::Line(value_start as u32, pos as u32),
                            _ => Slot::Absent,
                        },
                    });
                }
            }
            pos = skip_ws(b, pos);
            match b.get(pos) {
                Some(b',') => pos = skip_ws(b, pos + 1),
                Some(b'}') if strict && !row.coerced.is_empty() => return Err(GiveUp),
                Some(b'}') => return end(b, pos + 1),
                _ => return Err(GiveUp),
            }
        }
    }

    /// The field whose key followed `previous` (a field index, [`Scanner::line_start`] or
    /// [`Scanner::after_unknown`]) last time, if its name is the key starting at `start`
    /// (followed by the closing quote), and the index of that quote. Predicted names were read
    /// as keys without escapes, so they hold no quote, backslash or control character: bytes
    /// equal to the name and then a quote are that key, no string scan needed.
    fn predicted_key(
        &self,
        b: &[u8],
        start: usize,
        previous: usize,
        schema: &EventSchema,
    ) -> Option<(usize, usize)> {
        let i = usize::from(self.after[previous]);
        let name = schema.fields().get(i)?.name.as_bytes();
        let end = start + name.len();
        (b.get(end) == Some(&b'"') && same_bytes(&b[start..end], name)).then_some((i, end))
    }

    /// The field index of `key` (a key without escapes), remembered as the prediction for the
    /// key after `previous`.
    fn learn_key(&mut self, key: &str, previous: usize, schema: &EventSchema) -> Option<usize> {
        let found = schema.index_of(key);
        self.after[previous] = found.map_or(u16::MAX, |i| u16::try_from(i).unwrap_or(u16::MAX));
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
                let code = hex_escape(rest, i + 2)?;
                match code {
                    // A pair of surrogates (`\ud83d\ude00`) is one character, as serde_json
                    // reads it; a lone one is left to the general path (which refuses it).
                    0xD800..=0xDBFF if rest.get(i + 6..i + 8) == Some("\\u") => {
                        let low = hex_escape(rest, i + 8)?;
                        if !(0xDC00..=0xDFFF).contains(&low) {
                            return Err(GiveUp);
                        }
                        let code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                        (char::from_u32(code).ok_or(GiveUp)?, 11)
                    }
                    _ => (char::from_u32(code).ok_or(GiveUp)?, 5),
                }
            }
            _ => return Err(GiveUp),
        };
        out.push(c);
        rest = &rest[i + 1 + used..];
    }
    out.push_str(rest);
    Ok(())
}

/// The code unit of the four hexadecimal digits of a `\u` escape at `at` of `text`.
fn hex_escape(text: &str, at: usize) -> Scan<u32> {
    let hex = text.get(at..at + 4).ok_or(GiveUp)?;
    if !hex.bytes().all(|h| h.is_ascii_hexdigit()) {
        return Err(GiveUp);
    }
    u32::from_str_radix(hex, 16).map_err(|_| GiveUp)
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
                FieldType::Int | FieldType::Float | FieldType::Bool | FieldType::Timestamp
                    if content.is_empty() =>
                {
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
                FieldType::Float => {
                    row.coerced.push(i as u32);
                    Slot::Float(parse_float_text(content).ok_or(GiveUp)?.to_bits())
                }
                FieldType::Timestamp => {
                    let (instant, read) =
                        parse_timestamp_text(spec, content).map_err(|_| GiveUp)?;
                    if read {
                        row.coerced.push(i as u32);
                    }
                    timestamp_slot(spec.zero_is_null, instant, unit)?
                }
                // A string where a list is declared: a list of that one string.
                FieldType::StringList => {
                    row.coerced.push(i as u32);
                    one_item(string, row)
                }
                // The exact text, quotes and escapes included (the unescaped copy was only a
                // check).
                FieldType::Json => Slot::Line(pos as u32, close as u32 + 1),
                FieldType::IntList | FieldType::StringMap => return Err(GiveUp),
            };
            if escaped && !matches!(slot, Slot::Str(..) | Slot::Items(..)) {
                row.text.truncate(start); // an escaped string parsed to another type
            }
            Ok((slot, close + 1))
        }
        Some(b'-' | b'0'..=b'9') => {
            let Ok((n, next)) = integer(b, pos) else {
                return other_number(text, pos, spec.field_type, i, row);
            };
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
                // An integer where a list is declared: a list of that one integer.
                FieldType::IntList => {
                    row.coerced.push(i as u32);
                    one_item(Slot::Int(n), row)
                }
                FieldType::Json => Slot::Line(pos as u32, next as u32),
                FieldType::Bool | FieldType::StringList | FieldType::StringMap => {
                    return Err(GiveUp);
                }
            };
            Ok((slot, next))
        }
        Some(b'[' | b'{') => nested(text, pos, spec.field_type, i, row),
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
        FieldType::Json => Ok((Slot::Line(pos as u32, (pos + len) as u32), pos + len)),
        _ => Err(GiveUp),
    }
}

/// A list of the one item `item`, read from a scalar where a list is declared.
fn one_item(item: Slot, row: &mut RowScratch) -> Slot {
    let at = row.items.len() as u32;
    row.items.push(item);
    Slot::Items(at, at + 1)
}

/// A number the fast integer reading did not take (a fraction, an exponent, `-0`, beyond the
/// `i64` range, or not a JSON number at all) at `pos`, for a field of `field_type`. A float is
/// read by serde_json itself, so that its bits are the general path's to the last one. Out of
/// line: floats are rare next to integers.
#[inline(never)]
fn other_number(
    text: &str,
    pos: usize,
    field_type: FieldType,
    i: usize,
    row: &mut RowScratch,
) -> Scan<(Slot, usize)> {
    let end = skip_number(text.as_bytes(), pos)?;
    let slot = match field_type {
        FieldType::Float => {
            let x: f64 = serde_json::from_str(&text[pos..end]).map_err(|_| GiveUp)?;
            Slot::Float(x.to_bits())
        }
        // Its exact text, as the general path keeps it.
        FieldType::String => {
            row.coerced.push(i as u32);
            Slot::Line(pos as u32, end as u32)
        }
        FieldType::Json => Slot::Line(pos as u32, end as u32),
        _ => return Err(GiveUp),
    };
    Ok((slot, end))
}

/// An array or object at `pos` for a field of `field_type`: the items of a list, the keys and
/// values of a map, or the exact text of a JSON value. Out of line: the flat lines of most
/// datasets never come here.
#[inline(never)]
fn nested(
    text: &str,
    pos: usize,
    field_type: FieldType,
    i: usize,
    row: &mut RowScratch,
) -> Scan<(Slot, usize)> {
    match (field_type, text.as_bytes()[pos]) {
        (FieldType::StringList, b'[') => list(text, pos, ItemKind::String, i, row),
        (FieldType::IntList, b'[') => list(text, pos, ItemKind::Int, i, row),
        (FieldType::StringMap, b'{') => string_map(text, pos, row),
        (FieldType::Json, _) => {
            let end = skip_value(text.as_bytes(), pos)?;
            Ok((Slot::Line(pos as u32, end as u32), end))
        }
        _ => Err(GiveUp),
    }
}

/// What the items of a list are read as.
#[derive(Clone, Copy)]
enum ItemKind {
    String,
    Int,
}

/// The items of the array at `pos` (its `[`), pushed to the row's item slots.
fn list(
    text: &str,
    pos: usize,
    kind: ItemKind,
    i: usize,
    row: &mut RowScratch,
) -> Scan<(Slot, usize)> {
    let b = text.as_bytes();
    let start = row.items.len() as u32;
    let mut pos = skip_ws(b, pos + 1);
    if b.get(pos) == Some(&b']') {
        return Ok((Slot::Items(start, start), pos + 1));
    }
    loop {
        let (item, next) = match (kind, b.get(pos)) {
            (_, Some(b'n')) if b[pos..].starts_with(b"null") => (Slot::Null, pos + 4),
            (ItemKind::String, Some(b'"')) => string_item(text, pos, row)?,
            (ItemKind::Int, Some(b'-' | b'0'..=b'9')) => {
                let (n, next) = integer(b, pos)?;
                (Slot::Int(n), next)
            }
            // An integer written as a string: a lossless reading, counted for each item.
            (ItemKind::Int, Some(b'"')) => {
                let (close, escaped) = string_end(b, pos + 1)?;
                if escaped {
                    return Err(GiveUp);
                }
                let n = parse_int_text(&text[pos + 1..close]).ok_or(GiveUp)?;
                row.coerced.push(i as u32);
                (Slot::Int(n), close + 1)
            }
            _ => return Err(GiveUp),
        };
        row.items.push(item);
        pos = skip_ws(b, next);
        match b.get(pos) {
            Some(b',') => pos = skip_ws(b, pos + 1),
            Some(b']') => return Ok((Slot::Items(start, row.items.len() as u32), pos + 1)),
            _ => return Err(GiveUp),
        }
    }
}

/// The keys and values (strings or `null`), alternating, of the object at `pos` (its `{`),
/// pushed to the row's item slots. A key given twice gives up (the general path rejects it).
fn string_map(text: &str, pos: usize, row: &mut RowScratch) -> Scan<(Slot, usize)> {
    let b = text.as_bytes();
    let start = row.items.len();
    let mut pos = skip_ws(b, pos + 1);
    if b.get(pos) == Some(&b'}') {
        return Ok((Slot::Items(start as u32, start as u32), pos + 1));
    }
    loop {
        expect(b, pos, b'"')?;
        let (key, next) = string_item(text, pos, row)?;
        pos = skip_ws(b, next);
        expect(b, pos, b':')?;
        pos = skip_ws(b, pos + 1);
        let (value, next) = match b.get(pos) {
            Some(b'"') => string_item(text, pos, row)?,
            Some(b'n') if b[pos..].starts_with(b"null") => (Slot::Null, pos + 4),
            _ => return Err(GiveUp),
        };
        let keys = &row.items[start..];
        if keys.len() >= 2 * MAX_MAP_KEYS {
            return Err(GiveUp);
        }
        let name = key.text(&row.text, text);
        if keys
            .iter()
            .step_by(2)
            .any(|k| k.text(&row.text, text) == name)
        {
            return Err(GiveUp);
        }
        row.items.extend([key, value]);
        pos = skip_ws(b, next);
        match b.get(pos) {
            Some(b',') => pos = skip_ws(b, pos + 1),
            Some(b'}') => {
                let end = row.items.len() as u32;
                return Ok((Slot::Items(start as u32, end), pos + 1));
            }
            _ => return Err(GiveUp),
        }
    }
}

/// The string at `pos` (its opening quote) as a slot: in the line, or unescaped into the row's
/// text; and the position after it.
fn string_item(text: &str, pos: usize, row: &mut RowScratch) -> Scan<(Slot, usize)> {
    let (close, escaped) = string_end(text.as_bytes(), pos + 1)?;
    if !escaped {
        return Ok((Slot::Line(pos as u32 + 1, close as u32), close + 1));
    }
    let start = row.text.len() as u32;
    unescape(&text[pos + 1..close], &mut row.text)?;
    Ok((Slot::Str(start, row.text.len() as u32), close + 1))
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

/// Skips the JSON value at `pos` (no white space before it) and returns the position after it,
/// checking it as serde_json checks a value it skips or keeps raw: the grammar, and escapes by
/// their form only (a lone surrogate passes); UTF-8 was checked for the whole line. Arrays and
/// objects nested more than [`MAX_JSON_DEPTH`] levels give up: a `json` field or a kept
/// unknown key refuses them, and a dropped unknown key that deep is left to the general path.
/// Iterative, so no input can exhaust the stack: the kind of each open level is a bit of one
/// `u128` (the depth limit is 128).
fn skip_value(b: &[u8], mut pos: usize) -> Scan<usize> {
    const _: () = assert!(MAX_JSON_DEPTH <= 128, "one bit per open level in a u128");
    let mut depth = 0;
    let mut objects: u128 = 0; // bit `d`: the level `d + 1` deep is an object
    loop {
        pos = match b.get(pos) {
            Some(b'"') => skip_string(b, pos + 1)?,
            Some(b'-' | b'0'..=b'9') => skip_number(b, pos)?,
            Some(b't') if b[pos..].starts_with(b"true") => pos + 4,
            Some(b'f') if b[pos..].starts_with(b"false") => pos + 5,
            Some(b'n') if b[pos..].starts_with(b"null") => pos + 4,
            Some(&open @ (b'[' | b'{')) => {
                if depth == MAX_JSON_DEPTH {
                    return Err(GiveUp);
                }
                let object = open == b'{';
                objects = objects & !(1 << depth) | u128::from(object) << depth;
                depth += 1;
                let inside = skip_ws(b, pos + 1);
                if b.get(inside) != Some(if object { &b'}' } else { &b']' }) {
                    // The first member's value next (after its key, in an object).
                    pos = if object { skip_key(b, inside)? } else { inside };
                    continue;
                }
                depth -= 1;
                inside + 1
            }
            _ => return Err(GiveUp),
        };
        // After a value: close the levels it ends, or go on to the next member.
        loop {
            if depth == 0 {
                return Ok(pos);
            }
            pos = skip_ws(b, pos);
            let object = objects >> (depth - 1) & 1 == 1;
            match b.get(pos) {
                Some(b',') => {
                    pos = skip_ws(b, pos + 1);
                    if object {
                        pos = skip_key(b, pos)?;
                    }
                    break;
                }
                Some(b']') if !object => pos += 1,
                Some(b'}') if object => pos += 1,
                _ => return Err(GiveUp),
            }
            depth -= 1;
        }
    }
}

/// Skips an object's key at `pos`, the colon and the white space around it: the position of
/// the member's value.
fn skip_key(b: &[u8], pos: usize) -> Scan<usize> {
    expect(b, pos, b'"')?;
    let pos = skip_ws(b, skip_string(b, pos + 1)?);
    expect(b, pos, b':')?;
    Ok(skip_ws(b, pos + 1))
}

/// Skips the rest of a string whose content starts at `start`: the position after its closing
/// quote. Escapes are checked by their form, as serde_json checks a string it skips: one of
/// `"\/bfnrt`, or `u` and four hexadecimal digits.
fn skip_string(b: &[u8], start: usize) -> Scan<usize> {
    let mut pos = start;
    loop {
        let i = pos + string_stop(&b[pos..]).ok_or(GiveUp)?;
        match b[i] {
            b'"' => return Ok(i + 1),
            b'\\' => match b.get(i + 1) {
                Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => pos = i + 2,
                Some(b'u')
                    if b.get(i + 2..i + 6)
                        .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) =>
                {
                    pos = i + 6;
                }
                _ => return Err(GiveUp),
            },
            _ => return Err(GiveUp),
        }
    }
}

/// Skips a JSON number at `pos`, `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, whatever its
/// magnitude: the position after it.
fn skip_number(b: &[u8], mut pos: usize) -> Scan<usize> {
    let digits = |at: usize| {
        b[at.min(b.len())..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count()
    };
    pos += usize::from(b.get(pos) == Some(&b'-'));
    match b.get(pos) {
        Some(b'0') if !b.get(pos + 1).is_some_and(u8::is_ascii_digit) => pos += 1,
        Some(b'1'..=b'9') => pos += 1 + digits(pos + 1),
        _ => return Err(GiveUp),
    }
    if b.get(pos) == Some(&b'.') {
        match digits(pos + 1) {
            0 => return Err(GiveUp),
            n => pos += 1 + n,
        }
    }
    if let Some(b'e' | b'E') = b.get(pos) {
        pos += 1;
        pos += usize::from(matches!(b.get(pos), Some(b'+' | b'-')));
        match digits(pos) {
            0 => return Err(GiveUp),
            n => pos += n,
        }
    }
    Ok(pos)
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
    fn surrogate_pairs_unescape_to_one_character_and_lone_surrogates_give_up() {
        let read = |raw: &str| {
            let mut out = String::new();
            unescape(raw, &mut out).ok().map(|()| out)
        };
        assert_eq!(read(r"a\ud83d\ude00b").as_deref(), Some("a\u{1f600}b"));
        assert_eq!(read(r"\uD83D\uDE00\u00e9").as_deref(), Some("\u{1f600}é"));
        assert_eq!(read(r"\udbff\udfff").as_deref(), Some("\u{10ffff}"));
        for lone in [
            r"\ud83d",
            r"\ud83dx",
            r"\ud83d\u0041",
            r"\ud83d\ud83d",
            r"\ude00\ud83d",
            r"\ude00",
            r"\ud83d\ude0",
            r"\ud83d\n",
        ] {
            assert_eq!(read(lone), None, "{lone}");
        }
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
