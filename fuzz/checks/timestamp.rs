//! The timestamp parser on arbitrary text, against independent oracles.
//!
//! - Epoch integers (optional `-`, ASCII digits): the instant is recomputed in i128 from the
//!   documented magnitude rule; text beyond the i64 range must be refused as out of range.
//! - Anything else: chrono's RFC 3339 parser. Whatever we accept, chrono must accept as the same
//!   instant; whatever chrono accepts in the documented grammar (0 to 9 fraction digits, no leap
//!   second), we must accept.
//! - `Instant::to_unit` for every unit: the floor of the exact tick count, `None` outside
//!   0001-01-01..=9999-12-31 or i64 (whose lowest value, NaT to pandas, is refused too).

use arrow_schema::TimeUnit;
use logpush_parquet::time::{Instant, TimestampError, parse_timestamp_str};

const MIN_SECS: i64 = -62_135_596_800;
const MAX_SECS: i64 = 253_402_300_799;

fn epoch(n: i128) -> Instant {
    let per_sec: i128 = match n.unsigned_abs() {
        m if m < 100_000_000_000 => 1,
        m if m < 100_000_000_000_000 => 1_000,
        m if m < 100_000_000_000_000_000 => 1_000_000,
        _ => 1_000_000_000,
    };
    let nanos = n * (1_000_000_000 / per_sec);
    Instant {
        secs: nanos.div_euclid(1_000_000_000) as i64,
        nanos: nanos.rem_euclid(1_000_000_000) as u32,
    }
}

/// Whether `s` has the documented RFC 3339 shape: `YYYY-MM-DD(T|t| )HH:MM:SS[.f{1,9}](Z|z|±HH:MM)`,
/// leaving the range of each field to the parsers.
fn documented_shape(s: &str) -> bool {
    let b = s.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let at = |i: usize, set: &[u8]| b.get(i).is_some_and(|c| set.contains(c));
    let fixed = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
        .iter()
        .all(|&i| digit(i))
        && at(4, b"-")
        && at(7, b"-")
        && at(10, b"Tt ")
        && at(13, b":")
        && at(16, b":");
    if !fixed {
        return false;
    }
    let mut i = 19;
    if at(i, b".") {
        let start = i + 1;
        i = start;
        while digit(i) {
            i += 1;
        }
        if !(1..=9).contains(&(i - start)) {
            return false;
        }
    }
    match b.get(i) {
        Some(b'Z' | b'z') => i + 1 == b.len(),
        Some(b'+' | b'-') => {
            i + 6 == b.len()
                && digit(i + 1)
                && digit(i + 2)
                && at(i + 3, b":")
                && digit(i + 4)
                && digit(i + 5)
        }
        _ => false,
    }
}

fn check_units(i: Instant) {
    let total = i128::from(i.secs) * 1_000_000_000 + i128::from(i.nanos);
    for (unit, per_tick) in [
        (TimeUnit::Second, 1_000_000_000i128),
        (TimeUnit::Millisecond, 1_000_000),
        (TimeUnit::Microsecond, 1_000),
        (TimeUnit::Nanosecond, 1),
    ] {
        let expected = if (MIN_SECS..=MAX_SECS).contains(&i.secs) {
            // i64::MIN is left out on purpose: pandas and NumPy read it as NaT.
            i64::try_from(total.div_euclid(per_tick))
                .ok()
                .filter(|&t| t != i64::MIN)
        } else {
            None
        };
        assert_eq!(i.to_unit(unit), expected, "{i:?} in {unit:?}");
    }
}

/// Checks one fuzz input; panics on any disagreement.
pub fn check(data: &[u8]) {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let ours = parse_timestamp_str(s);
    let digits = s.strip_prefix('-').unwrap_or(s);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        match s.parse::<i128>().ok().filter(|n| i64::try_from(*n).is_ok()) {
            Some(n) => assert_eq!(ours, Ok(epoch(n)), "{s:?}"),
            None => assert_eq!(ours, Err(TimestampError::Range), "{s:?}"),
        }
    } else {
        let theirs = chrono::DateTime::parse_from_rfc3339(s);
        match (&ours, &theirs) {
            (Ok(i), Ok(t)) => {
                assert_eq!(
                    (i.secs, i.nanos),
                    (t.timestamp(), t.timestamp_subsec_nanos()),
                    "{s:?}"
                )
            }
            (Ok(i), Err(e)) => panic!("we read {s:?} as {i:?}, chrono refuses it: {e}"),
            (Err(e), Ok(t))
                if documented_shape(s) && t.timestamp_subsec_nanos() < 1_000_000_000 =>
            {
                // chrono marks a leap second with nanos >= 1e9; we refuse second 60.
                panic!("we refuse {s:?} ({e}), chrono reads {t}")
            }
            (Err(_), _) => {}
        }
        if ours.is_ok() {
            assert!(
                documented_shape(s),
                "accepted outside the documented grammar: {s:?}"
            );
        }
    }
    if let Ok(i) = ours {
        assert!(i.nanos < 1_000_000_000);
        check_units(i);
    }
}
