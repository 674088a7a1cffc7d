//! Event timestamps: the layouts of the supported formats, their conversion
//! to epoch milliseconds (UTC, or a named zone), and ISO-8601 output.
//!
//! The common layouts are parsed by hand (fixed digit positions) and
//! converted with integer calendar arithmetic when the zone is UTC: this is
//! the hot path of `logsync parse` on HDFS. A named zone goes through jiff's
//! bundled time zone database. A date that does not exist (month 13, 30
//! February, hour 24) is `None`: the caller turns it into a malformed line,
//! never a guess.

use jiff::tz::TimeZone;

/// How a format's time fields are written. Each layout reads one or more
/// fields of the line, given in [`TimeLayout::field_names`] order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeLayout {
    /// HDFS: `081109` `203615` (yyMMdd, HHmmss).
    CompactYyMmDd,
    /// ZooKeeper and many Java logs: `2015-07-29` `17:41:44,747`
    /// (the fraction after `,` or `.` is optional).
    IsoDateTime,
    /// Spark: `17/06/09` `20:10:40` (yy/MM/dd).
    SlashYyMmDd,
    /// Syslog, no year: `Dec` `10` `06:55:46`.
    Syslog,
    /// Apache: `Sun Dec 04 04:47:44 2005` (one field).
    Ctime,
    /// BGL: `2005-06-03-15.42.50.675872` (one field).
    DashedDotted,
    /// Unix seconds, optionally with a fraction: `1117838570`.
    EpochSeconds,
}

/// Every layout, in the order auto-detection tries them.
pub const ALL_LAYOUTS: [TimeLayout; 7] = [
    TimeLayout::CompactYyMmDd,
    TimeLayout::IsoDateTime,
    TimeLayout::SlashYyMmDd,
    TimeLayout::Syslog,
    TimeLayout::Ctime,
    TimeLayout::DashedDotted,
    TimeLayout::EpochSeconds,
];

/// A wall-clock date and time read from a line, before any zone is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Civil {
    /// Year; `None` for a year-less (syslog) stamp.
    pub year: Option<i32>,
    /// 1..=12.
    pub month: u8,
    /// 1..=31.
    pub day: u8,
    /// 0..=23.
    pub hour: u8,
    /// 0..=59.
    pub minute: u8,
    /// 0..=59.
    pub second: u8,
    /// 0..=999.
    pub millis: u16,
    /// Whether the stamp had a fractional second.
    pub subsecond: bool,
}

/// What a layout reads from its fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stamp {
    /// A wall-clock time, to be placed in a zone.
    Civil(Civil),
    /// An absolute instant in epoch milliseconds (and whether it had a fraction).
    Epoch(i64, bool),
}

impl Civil {
    /// A date with a time of day as [`hms`] reads it.
    fn at(year: Option<i32>, month: u8, day: u8, time: (u8, u8, u8, u16, bool)) -> Civil {
        let (hour, minute, second, millis, subsecond) = time;
        Civil {
            year,
            month,
            day,
            hour,
            minute,
            second,
            millis,
            subsecond,
        }
    }
}

impl TimeLayout {
    /// The format fields this layout reads, by their LogHub names: a format
    /// string with these fields gets this layout when its first line parses.
    #[must_use]
    pub fn field_names(self) -> &'static [&'static str] {
        match self {
            TimeLayout::CompactYyMmDd | TimeLayout::IsoDateTime | TimeLayout::SlashYyMmDd => {
                &["Date", "Time"]
            }
            TimeLayout::Syslog => &["Date", "Day", "Time"],
            TimeLayout::Ctime | TimeLayout::DashedDotted => &["Time"],
            TimeLayout::EpochSeconds => &["Timestamp"],
        }
    }

    /// Reads the stamp from the layout's fields; `None` if they are not in
    /// this layout or name an impossible date or time.
    #[must_use]
    pub fn read(self, parts: &[&str]) -> Option<Stamp> {
        let c = match (self, parts) {
            (TimeLayout::CompactYyMmDd, [d, t]) => {
                let (d, t) = (d.as_bytes(), t.as_bytes());
                if d.len() != 6 || t.len() != 6 {
                    return None;
                }
                Civil {
                    year: Some(two_digit_year(num(d.get(0..2)?)?)),
                    month: num(d.get(2..4)?)? as u8,
                    day: num(d.get(4..6)?)? as u8,
                    hour: num(t.get(0..2)?)? as u8,
                    minute: num(t.get(2..4)?)? as u8,
                    second: num(t.get(4..6)?)? as u8,
                    millis: 0,
                    subsecond: false,
                }
            }
            (TimeLayout::IsoDateTime, [d, t]) => {
                let (year, month, day) = ymd(d.as_bytes(), b'-', 4)?;
                let time = hms(t.as_bytes(), b":")?;
                Civil::at(Some(year), month, day, time)
            }
            (TimeLayout::SlashYyMmDd, [d, t]) => {
                let (year, month, day) = ymd(d.as_bytes(), b'/', 2)?;
                let time = hms(t.as_bytes(), b":")?;
                Civil::at(Some(two_digit_year(year as u32)), month, day, time)
            }
            (TimeLayout::Syslog, [m, d, t]) => {
                let time = hms(t.as_bytes(), b":")?;
                let d = d.as_bytes();
                if d.is_empty() || d.len() > 2 {
                    return None;
                }
                Civil::at(None, month_number(m.as_bytes())?, num(d)? as u8, time)
            }
            (TimeLayout::Ctime, [s]) => {
                let mut words = s.split_ascii_whitespace();
                let weekday = words.next()?;
                if weekday.len() != 3 || !weekday.bytes().all(|b| b.is_ascii_alphabetic()) {
                    return None;
                }
                let month = month_number(words.next()?.as_bytes())?;
                let d = words.next()?.as_bytes();
                let time = hms(words.next()?.as_bytes(), b":")?;
                let y = words.next()?.as_bytes();
                if words.next().is_some() || d.is_empty() || d.len() > 2 || y.len() != 4 {
                    return None;
                }
                Civil::at(Some(num(y)? as i32), month, num(d)? as u8, time)
            }
            (TimeLayout::DashedDotted, [s]) => {
                let s = s.as_bytes();
                let (date, time) = (s.get(..10)?, s.get(10..)?);
                let (year, month, day) = ymd(date, b'-', 4)?;
                let time = time.strip_prefix(b"-")?;
                let time = hms(time, b".")?;
                Civil::at(Some(year), month, day, time)
            }
            (TimeLayout::EpochSeconds, [s]) => {
                let s = s.as_bytes();
                let (int, frac) = match s.iter().position(|&b| b == b'.') {
                    Some(i) => (s.get(..i)?, Some(s.get(i + 1..)?)),
                    None => (s, None),
                };
                if int.is_empty() || int.len() > 12 {
                    return None;
                }
                let secs = i64::from(num_u64(int)?);
                let millis = match frac {
                    Some(f) => i64::from(fraction_millis(f)?),
                    None => 0,
                };
                return Some(Stamp::Epoch(secs * 1000 + millis, frac.is_some()));
            }
            _ => return None,
        };
        valid(&c).then_some(Stamp::Civil(c))
    }
}

/// Whether the date exists and the time is within a day.
fn valid(c: &Civil) -> bool {
    let Some(year) = c.year.or(Some(2000)) else {
        return false;
    };
    (1..=12).contains(&c.month)
        && c.day >= 1
        && c.day <= days_in_month(year, c.month)
        && c.hour < 24
        && c.minute < 60
        && c.second < 60
}

/// Whether `year` is a leap year (proleptic Gregorian).
#[must_use]
pub fn is_leap(year: i32) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

/// Days in `month` of `year`.
#[must_use]
pub fn days_in_month(year: i32, month: u8) -> u8 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// POSIX `%y`: 69-99 are 1969-1999, 00-68 are 2000-2068.
fn two_digit_year(yy: u32) -> i32 {
    if yy >= 69 {
        1900 + yy as i32
    } else {
        2000 + yy as i32
    }
}

/// `Jan`..`Dec` (case-insensitive) to 1..=12.
fn month_number(m: &[u8]) -> Option<u8> {
    const NAMES: [&[u8; 3]; 12] = [
        b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov",
        b"dec",
    ];
    let [a, b, c] = m else { return None };
    let lower = [
        a.to_ascii_lowercase(),
        b.to_ascii_lowercase(),
        c.to_ascii_lowercase(),
    ];
    NAMES.iter().position(|n| **n == lower).map(|i| i as u8 + 1)
}

/// All-digit bytes (at most 9) as a number.
fn num(b: &[u8]) -> Option<u32> {
    if b.is_empty() || b.len() > 9 {
        return None;
    }
    let mut v = 0u32;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u32::from(c - b'0');
    }
    Some(v)
}

/// All-digit bytes (at most 18) as a number.
fn num_u64(b: &[u8]) -> Option<u32> {
    if b.len() > 10 {
        return None;
    }
    let mut v = 0u64;
    for &c in b {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + u64::from(c - b'0');
    }
    u32::try_from(v).ok()
}

/// `yyyy-MM-dd` (or `yy/MM/dd` with `year_len` 2) to its parts.
fn ymd(b: &[u8], sep: u8, year_len: usize) -> Option<(i32, u8, u8)> {
    if b.len() != year_len + 6 || b.get(year_len) != Some(&sep) || b.get(year_len + 3) != Some(&sep)
    {
        return None;
    }
    let year = num(b.get(..year_len)?)? as i32;
    let month = num(b.get(year_len + 1..year_len + 3)?)? as u8;
    let day = num(b.get(year_len + 4..)?)? as u8;
    Some((year, month, day))
}

/// `HH:mm:ss` with an optional `,fff` or `.fff` fraction (`sep` separates
/// hours, minutes and seconds): (hour, minute, second, millis, had a fraction).
fn hms(b: &[u8], sep: &[u8; 1]) -> Option<(u8, u8, u8, u16, bool)> {
    let main = b.get(..8)?;
    if main.get(2..3)? != sep || main.get(5..6)? != sep {
        return None;
    }
    let hour = num(main.get(0..2)?)? as u8;
    let minute = num(main.get(3..5)?)? as u8;
    let second = num(main.get(6..8)?)? as u8;
    let rest = b.get(8..)?;
    let (millis, subsecond) = match rest.split_first() {
        None => (0, false),
        Some((b',' | b'.', frac)) => (fraction_millis(frac)?, true),
        Some(_) => return None,
    };
    Some((hour, minute, second, millis, subsecond))
}

/// The digits after a decimal point (1 to 9 of them), as whole milliseconds
/// (truncated, as `date` does).
fn fraction_millis(frac: &[u8]) -> Option<u16> {
    if frac.is_empty() || frac.len() > 9 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut ms = 0u16;
    for i in 0..3 {
        ms = ms * 10 + frac.get(i).map_or(0, |d| u16::from(d - b'0'));
    }
    Some(ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
#[must_use]
pub fn days_from_civil(year: i32, month: u8, day: u8) -> i64 {
    let y = i64::from(year) - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day number (inverse of [`days_from_civil`]).
#[must_use]
pub fn civil_from_days(days: i64) -> (i64, u8, u8) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The zone a zone-less stamp is read in.
#[derive(Debug, Clone, Default)]
pub enum Zone {
    /// UTC (the default): integer arithmetic, no database.
    #[default]
    Utc,
    /// A named zone of the bundled database (`--tz`).
    Named(TimeZone),
}

impl Zone {
    /// The zone named `name` (`UTC` gives [`Zone::Utc`]).
    ///
    /// # Errors
    /// [`Error::UnknownTimeZone`](crate::Error::UnknownTimeZone) if the
    /// bundled database has no such zone.
    pub fn named(name: &str) -> crate::Result<Zone> {
        if name.eq_ignore_ascii_case("utc") || name.eq_ignore_ascii_case("z") {
            return Ok(Zone::Utc);
        }
        TimeZone::get(name)
            .map(Zone::Named)
            .map_err(|_| crate::Error::UnknownTimeZone {
                name: name.to_owned(),
            })
    }

    /// Epoch milliseconds of a complete wall-clock time in this zone; `None`
    /// if the zone cannot place it. A wall time that occurs twice (the hour
    /// when clocks go back) takes the earlier instant, one that does not occur
    /// (the hour skipped when clocks go forward) is moved forward by the gap,
    /// as jiff's `compatible` disambiguation does.
    #[must_use]
    pub fn epoch_ms(&self, year: i32, c: &Civil) -> Option<i64> {
        match self {
            Zone::Utc => {
                let days = days_from_civil(year, c.month, c.day);
                let secs = days * 86_400
                    + i64::from(c.hour) * 3600
                    + i64::from(c.minute) * 60
                    + i64::from(c.second);
                Some(secs * 1000 + i64::from(c.millis))
            }
            Zone::Named(tz) => {
                let year = i16::try_from(year).ok()?;
                let dt = jiff::civil::DateTime::new(
                    year,
                    c.month as i8,
                    c.day as i8,
                    c.hour as i8,
                    c.minute as i8,
                    c.second as i8,
                    i32::from(c.millis) * 1_000_000,
                )
                .ok()?;
                let ts = tz.to_ambiguous_timestamp(dt).compatible().ok()?;
                Some(ts.as_millisecond())
            }
        }
    }
}

/// Writes `ms` as ISO-8601 in UTC: `2008-11-09T20:36:15Z`, with `.mmm`
/// before the `Z` when `subsecond`.
pub fn write_iso(out: &mut String, ms: i64, subsecond: bool) {
    use std::fmt::Write as _;
    let days = ms.div_euclid(86_400_000);
    let in_day = ms.rem_euclid(86_400_000);
    let (y, m, d) = civil_from_days(days);
    let secs = in_day / 1000;
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    if subsecond {
        let _ = write!(out, ".{:03}", in_day % 1000);
    }
    out.push('Z');
}

/// [`write_iso`] into a new string.
#[must_use]
pub fn iso(ms: i64, subsecond: bool) -> String {
    let mut s = String::with_capacity(24);
    write_iso(&mut s, ms, subsecond);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(layout: TimeLayout, parts: &[&str]) -> Option<String> {
        match layout.read(parts)? {
            Stamp::Civil(c) => Some(iso(
                Zone::Utc.epoch_ms(c.year.unwrap_or(2000), &c)?,
                c.subsecond,
            )),
            Stamp::Epoch(ms, sub) => Some(iso(ms, sub)),
        }
    }

    #[test]
    fn each_layout_reads_its_sample() {
        use TimeLayout::*;
        let cases: [(TimeLayout, &[&str], &str); 7] = [
            (CompactYyMmDd, &["081109", "203615"], "2008-11-09T20:36:15Z"),
            (
                IsoDateTime,
                &["2015-07-29", "17:41:44,747"],
                "2015-07-29T17:41:44.747Z",
            ),
            (
                SlashYyMmDd,
                &["17/06/09", "20:10:40"],
                "2017-06-09T20:10:40Z",
            ),
            (Syslog, &["Dec", "10", "06:55:46"], "2000-12-10T06:55:46Z"),
            (Ctime, &["Sun Dec 04 04:47:44 2005"], "2005-12-04T04:47:44Z"),
            (
                DashedDotted,
                &["2005-06-03-15.42.50.675872"],
                "2005-06-03T15:42:50.675Z",
            ),
            (EpochSeconds, &["1117838570"], "2005-06-03T22:42:50Z"),
        ];
        for (layout, parts, want) in cases {
            assert_eq!(utc(layout, parts).as_deref(), Some(want), "{layout:?}");
        }
    }

    #[test]
    fn impossible_dates_and_times_are_rejected() {
        use TimeLayout::*;
        assert_eq!(utc(CompactYyMmDd, &["081309", "203615"]), None);
        assert_eq!(utc(CompactYyMmDd, &["080230", "000000"]), None);
        assert!(utc(CompactYyMmDd, &["080229", "000000"]).is_some());
        assert_eq!(utc(CompactYyMmDd, &["070229", "000000"]), None);
        assert_eq!(utc(CompactYyMmDd, &["081109", "246000"]), None);
        assert_eq!(utc(IsoDateTime, &["2015-07-29", "17:61:44,747"]), None);
        assert_eq!(utc(IsoDateTime, &["2015-07-29", "17:41:44,"]), None);
        assert_eq!(utc(Syslog, &["Foo", "10", "06:55:46"]), None);
        assert_eq!(utc(Ctime, &["Sun Dec 32 04:47:44 2005"]), None);
        assert_eq!(utc(CompactYyMmDd, &["08110x", "203615"]), None);
        assert_eq!(utc(EpochSeconds, &["-5"]), None);
    }

    #[test]
    fn calendar_arithmetic_round_trips() {
        for days in (-800_000..800_000).step_by(37) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y as i32, m, d), days);
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn a_named_zone_agrees_with_jiff_across_dst() {
        let la = Zone::named("America/Los_Angeles").expect("bundled tzdb");
        let c = |month, day, hour| Civil {
            year: Some(2005),
            month,
            day,
            hour,
            minute: 30,
            second: 0,
            millis: 0,
            subsecond: false,
        };
        // PDT (UTC-7) in June, PST (UTC-8) in December.
        assert_eq!(la.epoch_ms(2005, &c(6, 3, 15)), Some(1_117_837_800_000));
        assert_eq!(la.epoch_ms(2005, &c(12, 3, 15)), Some(1_133_652_600_000));
        assert!(matches!(
            Zone::named("Mars/Olympus"),
            Err(crate::Error::UnknownTimeZone { .. })
        ));
    }
}
