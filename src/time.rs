//! Time, on the ground floor of the house: instants, the proleptic Gregorian calendar (days
//! since the epoch and back), and the parsing of Logpush's `int or string` timestamp fields.
//! Decoding, partitioning, the lock, the plan and the table layouts all read time here.
//!
//! Accepted timestamp forms, which may mix within one file:
//! - an epoch integer, as a JSON number or a string of ASCII digits (optional leading `-`), in
//!   seconds, milliseconds, microseconds or nanoseconds. The unit is inferred from the magnitude:
//!   `|n| < 1e11` seconds, `< 1e14` milliseconds, `< 1e17` microseconds, otherwise nanoseconds.
//!   Every instant from 1973-03-03 to 5138-11-16 therefore reads correctly in every unit (the
//!   digit counts of s, ms, us and ns epochs are ~10, ~13, ~16 and ~19);
//! - an RFC 3339 date-time `YYYY-MM-DDTHH:MM:SS[.f]Z|±HH:MM` with 0 to 9 fraction digits (`t`
//!   or a space may stand for `T`, `z` for `Z`);
//! - as a lossless reading ([`parse_timestamp_reading`]), the same date-time without an offset,
//!   read as UTC: how SIEM data lakes re-export Logpush events (`2022-05-10 06:36:57`).
//!
//! Values finer than the output unit are truncated towards the past (floor), so an event's
//! partition hour never moves.

use arrow_schema::TimeUnit;

/// An instant as whole seconds since the Unix epoch plus nanoseconds, `0 <= nanos < 1e9`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Instant {
    /// Seconds since 1970-01-01T00:00:00Z (floor).
    pub secs: i64,
    /// Nanoseconds within the second.
    pub nanos: u32,
}

/// Why a timestamp value was refused. `Display` gives the reason kept with the rejected line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// The text is neither an epoch integer nor an RFC 3339 date-time.
    #[error("not an epoch integer or RFC 3339 timestamp")]
    Syntax,
    /// The date or time fields are out of their ranges (month 13, February 30, hour 24...).
    #[error("date or time out of range")]
    Field,
    /// The instant is outside the years 0001 to 9999, or does not fit the output unit's 64-bit
    /// range (nanoseconds end in 2262).
    #[error("outside 0001-01-01 to 9999-12-31, or beyond the output unit's range")]
    Range,
}

const NANOS_PER_SEC: i64 = 1_000_000_000;
/// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the span every reader's DATE and TIMESTAMP
/// types hold, so partition folders always read back as dates.
const MIN_SECS: i64 = -62_135_596_800;
const MAX_SECS: i64 = 253_402_300_799;

impl Instant {
    /// The Unix epoch.
    pub const EPOCH: Instant = Instant { secs: 0, nanos: 0 };

    /// An instant from an epoch integer whose unit is inferred from its magnitude.
    pub fn from_epoch_int(n: i64) -> Instant {
        let magnitude = n.unsigned_abs();
        let per_sec: i64 = if magnitude < 100_000_000_000 {
            1
        } else if magnitude < 100_000_000_000_000 {
            1_000
        } else if magnitude < 100_000_000_000_000_000 {
            1_000_000
        } else {
            NANOS_PER_SEC
        };
        Self::from_epoch(n, per_sec)
    }

    /// An instant from an epoch integer of `per_sec` ticks a second (1, 1e3, 1e6 or 1e9).
    pub fn from_epoch(n: i64, per_sec: i64) -> Instant {
        let secs = n.div_euclid(per_sec);
        let sub = n.rem_euclid(per_sec);
        Instant {
            secs,
            nanos: (sub * (NANOS_PER_SEC / per_sec)) as u32,
        }
    }

    /// The instant as a count of `unit` since the epoch, floored; `None` outside the years 0001
    /// to 9999 or the unit's range (`i64::MIN` excluded: pandas and NumPy read it as NaT), which
    /// for nanoseconds is 1677-09-21T00:12:43.145224193Z to 2262-04-11T23:47:16.854775807Z.
    #[inline]
    pub fn to_unit(self, unit: TimeUnit) -> Option<i64> {
        if !(MIN_SECS..=MAX_SECS).contains(&self.secs) {
            return None;
        }
        let (per_sec, nanos_per_tick) = match unit {
            TimeUnit::Second => (1, NANOS_PER_SEC),
            TimeUnit::Millisecond => (1_000, 1_000_000),
            TimeUnit::Microsecond => (1_000_000, 1_000),
            TimeUnit::Nanosecond => (NANOS_PER_SEC, 1),
        };
        // In i128: the first nanosecond tick of i64's range has a whole second that is not.
        let ticks = i128::from(self.secs) * i128::from(per_sec)
            + i128::from(i64::from(self.nanos) / nanos_per_tick);
        // i64::MIN is NaT (not a time) to pandas and NumPy: that row would read back as NULL.
        i64::try_from(ticks).ok().filter(|&t| t != i64::MIN)
    }
}

/// Parses the text of a JSON string holding a timestamp (an epoch integer or RFC 3339).
pub fn parse_timestamp_str(s: &str) -> Result<Instant, TimestampError> {
    match parse_timestamp_reading(s)? {
        (instant, false) => Ok(instant),
        (_, true) => Err(TimestampError::Syntax),
    }
}

/// Parses the text of a JSON string holding a timestamp: an epoch integer, RFC 3339, or a
/// date-time without an offset, read as UTC. The flag says whether it was the last (a lossless
/// reading of an undocumented form, which the caller counts, or refuses when strict).
pub fn parse_timestamp_reading(s: &str) -> Result<(Instant, bool), TimestampError> {
    let b = s.as_bytes();
    let digits = b.strip_prefix(b"-").unwrap_or(b);
    if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) {
        // Out of i64 range as text means out of range in every unit.
        let n: i64 = s.parse().map_err(|_| TimestampError::Range)?;
        return Ok((Instant::from_epoch_int(n), false));
    }
    let (instant, offset) = parse_date_time(b)?;
    Ok((instant, offset.is_none()))
}

fn digits_at(b: &[u8], at: usize, n: usize) -> Result<u32, TimestampError> {
    let field = b.get(at..at + n).ok_or(TimestampError::Syntax)?;
    field.iter().try_fold(0u32, |acc, &c| {
        if c.is_ascii_digit() {
            Ok(acc * 10 + u32::from(c - b'0'))
        } else {
            Err(TimestampError::Syntax)
        }
    })
}

fn expect(b: &[u8], at: usize, allowed: &[u8]) -> Result<(), TimestampError> {
    match b.get(at) {
        Some(c) if allowed.contains(c) => Ok(()),
        _ => Err(TimestampError::Syntax),
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fffffffff](Z|±HH:MM)`.
pub fn parse_rfc3339(b: &[u8]) -> Result<Instant, TimestampError> {
    match parse_date_time(b)? {
        (instant, Some(_)) => Ok(instant),
        (_, None) => Err(TimestampError::Syntax),
    }
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.fffffffff][Z|±HH:MM]`: the instant (UTC when the offset is
/// left out) and the offset in seconds, `None` when left out.
fn parse_date_time(b: &[u8]) -> Result<(Instant, Option<i64>), TimestampError> {
    let year = digits_at(b, 0, 4)?;
    expect(b, 4, b"-")?;
    let month = digits_at(b, 5, 2)?;
    expect(b, 7, b"-")?;
    let day = digits_at(b, 8, 2)?;
    expect(b, 10, b"Tt ")?;
    let hour = digits_at(b, 11, 2)?;
    expect(b, 13, b":")?;
    let minute = digits_at(b, 14, 2)?;
    expect(b, 16, b":")?;
    let second = digits_at(b, 17, 2)?;
    let mut at = 19;
    let mut nanos = 0u32;
    if b.get(at) == Some(&b'.') {
        at += 1;
        let start = at;
        while at < b.len() && b[at].is_ascii_digit() {
            at += 1;
        }
        let n = at - start;
        if n == 0 || n > 9 {
            return Err(TimestampError::Syntax);
        }
        nanos = digits_at(b, start, n)? * 10u32.pow((9 - n) as u32);
    }
    let offset_secs: Option<i64> = match b.get(at) {
        None => None,
        Some(b'Z' | b'z') if at + 1 == b.len() => Some(0),
        Some(&sign @ (b'+' | b'-')) if at + 6 == b.len() => {
            let oh = digits_at(b, at + 1, 2)?;
            expect(b, at + 3, b":")?;
            let om = digits_at(b, at + 4, 2)?;
            if oh > 23 || om > 59 {
                return Err(TimestampError::Field);
            }
            let off = i64::from(oh * 3600 + om * 60);
            Some(if sign == b'+' { off } else { -off })
        }
        _ => return Err(TimestampError::Syntax),
    };
    if !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return Err(TimestampError::Field);
    }
    let days = days_from_civil(i64::from(year), month, day);
    let secs =
        days * 86_400 + i64::from(hour * 3600 + minute * 60 + second) - offset_secs.unwrap_or(0);
    Ok((Instant { secs, nanos }, offset_secs))
}

fn is_leap(year: u32) -> bool {
    year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400))
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T: i64 = 1_653_557_040; // 2022-05-26T09:24:00Z

    fn us(i: Instant) -> i64 {
        i.to_unit(TimeUnit::Microsecond).unwrap()
    }

    #[test]
    fn epoch_integers_in_every_unit_give_the_same_instant() {
        let expected = T * 1_000_000;
        for n in [T, T * 1_000, T * 1_000_000, T * 1_000_000_000] {
            assert_eq!(us(Instant::from_epoch_int(n)), expected, "{n}");
            assert_eq!(us(parse_timestamp_str(&n.to_string()).unwrap()), expected);
        }
    }

    #[test]
    fn unit_boundaries_follow_the_documented_rule() {
        // 99,999,999,999 is the largest value read as seconds (year 5138).
        assert_eq!(Instant::from_epoch_int(99_999_999_999).secs, 99_999_999_999);
        assert_eq!(Instant::from_epoch_int(100_000_000_000).secs, 100_000_000);
        assert_eq!(
            Instant::from_epoch_int(100_000_000_000_000).secs,
            100_000_000
        );
        assert_eq!(
            Instant::from_epoch_int(100_000_000_000_000_000).secs,
            100_000_000
        );
        assert_eq!(
            Instant::from_epoch_int(i64::MAX).secs,
            i64::MAX / 1_000_000_000
        );
    }

    #[test]
    fn rfc3339_forms_with_fractions_and_offsets() {
        let base = T * 1_000_000;
        let cases = [
            ("2022-05-26T09:24:00Z", base),
            ("2022-05-26t09:24:00z", base),
            ("2022-05-26 09:24:00Z", base),
            ("2022-05-26T09:24:00.1Z", base + 100_000),
            ("2022-05-26T09:24:00.123Z", base + 123_000),
            ("2022-05-26T09:24:00.123456Z", base + 123_456),
            ("2022-05-26T09:24:00.123456789Z", base + 123_456),
            ("2022-05-26T11:24:00+02:00", base),
            ("2022-05-26T04:54:00.5-04:30", base + 500_000),
            ("2022-05-26T09:24:00+00:00", base),
        ];
        for (text, expected) in cases {
            assert_eq!(us(parse_timestamp_str(text).unwrap()), expected, "{text}");
        }
        let ns = parse_timestamp_str("2022-05-26T09:24:00.123456789Z").unwrap();
        assert_eq!(
            ns.to_unit(TimeUnit::Nanosecond),
            Some(T * NANOS_PER_SEC + 123_456_789)
        );
        assert_eq!(ns.to_unit(TimeUnit::Millisecond), Some(T * 1_000 + 123));
    }

    #[test]
    fn zero_forms_are_the_epoch() {
        for text in [
            "0",
            "1970-01-01T00:00:00Z",
            "1970-01-01T00:00:00.000Z",
            "-0",
        ] {
            assert_eq!(parse_timestamp_str(text).unwrap(), Instant::EPOCH, "{text}");
        }
        assert_eq!(Instant::from_epoch_int(0), Instant::EPOCH);
    }

    #[test]
    fn malformed_and_out_of_range_values_are_refused() {
        use TimestampError::*;
        let cases = [
            ("", Syntax),
            ("yesterday", Syntax),
            ("2022-05-26", Syntax),
            ("2022-05-26T09:24:00", Syntax),
            ("2022-05-26T09:24Z", Syntax),
            ("2022-05-26T09:24:00.Z", Syntax),
            ("2022-05-26T09:24:00.1234567891Z", Syntax),
            ("2022-05-26T09:24:00Z ", Syntax),
            ("2022-05-26T09:24:00+0200", Syntax),
            ("+1653557040", Syntax),
            ("1653557040.5", Syntax),
            (" 1653557040", Syntax),
            ("2022-13-01T00:00:00Z", Field),
            ("2022-02-29T00:00:00Z", Field),
            ("2022-04-31T00:00:00Z", Field),
            ("2022-05-26T24:00:00Z", Field),
            ("2022-05-26T23:60:00Z", Field),
            ("2022-05-26T23:59:60Z", Field),
            ("2022-05-26T23:59:59+24:00", Field),
            ("99999999999999999999", Range),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_timestamp_str(text), Err(expected), "{text:?}");
        }
        assert!(parse_timestamp_str("2024-02-29T00:00:00Z").is_ok());
        assert!(parse_timestamp_str("2000-02-29T00:00:00Z").is_ok());
        assert_eq!(
            parse_timestamp_str("1900-02-29T00:00:00Z"),
            Err(TimestampError::Field)
        );
        assert_eq!(days_from_civil(1, 1, 1) * 86_400, MIN_SECS);
        assert_eq!(days_from_civil(10_000, 1, 1) * 86_400 - 1, MAX_SECS);
        // Seconds before year 1 read as seconds but fit no reader's types.
        assert_eq!(
            Instant::from_epoch_int(-99_999_999_999).to_unit(TimeUnit::Second),
            None
        );
        assert!(
            Instant::from_epoch_int(-62_135_596_800)
                .to_unit(TimeUnit::Second)
                .is_some()
        );
        // Year 9999 fits microseconds but not nanoseconds.
        let far = parse_timestamp_str("9999-12-31T23:59:59Z").unwrap();
        assert!(far.to_unit(TimeUnit::Microsecond).is_some());
        assert_eq!(far.to_unit(TimeUnit::Nanosecond), None);
    }

    #[test]
    fn the_first_nanoseconds_of_the_i64_range_are_kept() {
        // Regression (found by the `timestamp` fuzz target): the whole second of the earliest
        // nanosecond ticks is below i64::MIN in nanoseconds, so they were refused as out of range.
        let first = i64::MIN + 1;
        let i = Instant::from_epoch_int(first);
        assert_eq!((i.secs, i.nanos), (-9_223_372_037, 145_224_193));
        assert_eq!(i.to_unit(TimeUnit::Nanosecond), Some(first));
        assert_eq!(
            Instant::from_epoch_int(first + 999_999_999).to_unit(TimeUnit::Nanosecond),
            Some(first + 999_999_999)
        );
        // i64::MIN itself is NaT to pandas and NumPy: refused rather than read back as NULL.
        assert_eq!(
            Instant::from_epoch_int(i64::MIN).to_unit(TimeUnit::Nanosecond),
            None
        );
        assert_eq!(
            Instant::from_epoch_int(i64::MAX).to_unit(TimeUnit::Nanosecond),
            Some(i64::MAX)
        );
    }

    #[test]
    fn sub_unit_precision_is_floored_also_before_the_epoch() {
        let i = Instant::from_epoch_int(-1); // -1 s
        assert_eq!(i.to_unit(TimeUnit::Millisecond), Some(-1_000));
        let i = Instant::from_epoch_int(-100_000_000_000_000_001); // ns, just before a us tick
        assert_eq!(i.to_unit(TimeUnit::Microsecond), Some(-100_000_000_000_001));
    }

    proptest! {
        #[test]
        fn civil_round_trip(days in -1_000_000i64..3_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }

        #[test]
        fn rfc3339_agrees_with_epoch_integers(
            secs in 100_000_000i64..99_999_999_999, nanos in 0u32..1_000_000_000
        ) {
            let days = secs.div_euclid(86_400);
            let (y, mo, d) = civil_from_days(days);
            let sod = secs.rem_euclid(86_400);
            let text = format!(
                "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{nanos:09}Z",
                sod / 3600, sod / 60 % 60, sod % 60
            );
            let parsed = parse_timestamp_str(&text).unwrap();
            prop_assert_eq!(parsed, Instant { secs, nanos });
            let as_ns = secs as i128 * 1_000_000_000 + nanos as i128;
            if let Ok(n) = i64::try_from(as_ns) {
                prop_assert_eq!(Instant::from_epoch_int(n), Instant { secs, nanos });
            }
            prop_assert_eq!(Instant::from_epoch_int(secs), Instant { secs, nanos: 0 });
        }
    }
}
