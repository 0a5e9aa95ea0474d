//! RFC 3339 timestamps as Go's time.Parse(time.RFC3339Nano, s) reads them: its strict fast path,
//! then its general layout parser (which also takes a one-digit hour, a comma before the
//! fraction, and zone offsets up to 24:60).

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in(m: i64, y: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn unix_nanos(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64, ns: i64, offset: i64) -> (i64, i64) {
    (days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s - offset, ns)
}

fn digits(s: &[u8]) -> Option<i64> {
    let mut x = 0i64;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        x = x * 10 + (c - b'0') as i64;
    }
    Some(x)
}

fn ranged(s: &[u8], lo: i64, hi: i64) -> Option<i64> {
    digits(s).filter(|x| *x >= lo && *x <= hi)
}

fn is_digit(s: &[u8], i: usize) -> bool {
    i < s.len() && s[i].is_ascii_digit()
}

/// parseNanoseconds: value[0] is '.' or ',', value[1..n] digits.
fn nanos(value: &[u8], mut n: usize) -> i64 {
    if n > 10 {
        n = 10;
    }
    let mut ns = digits(&value[1..n]).unwrap_or(0);
    for _ in 0..10 - n {
        ns *= 10;
    }
    ns
}

fn fast(s: &[u8]) -> Option<(i64, i64)> {
    if s.len() < 19 {
        return None;
    }
    let year = ranged(&s[0..4], 0, 9999);
    let month = ranged(&s[5..7], 1, 12);
    let day = ranged(&s[8..10], 1, days_in(month.unwrap_or(1), year.unwrap_or(0)));
    let hour = ranged(&s[11..13], 0, 23);
    let min = ranged(&s[14..16], 0, 59);
    let sec = ranged(&s[17..19], 0, 59);
    let (year, month, day, hour, min, sec) = (year?, month?, day?, hour?, min?, sec?);
    if !(s[4] == b'-' && s[7] == b'-' && s[10] == b'T' && s[13] == b':' && s[16] == b':') {
        return None;
    }
    let mut s = &s[19..];
    let mut ns = 0;
    if s.len() >= 2 && s[0] == b'.' && is_digit(s, 1) {
        let mut n = 2;
        while n < s.len() && is_digit(s, n) {
            n += 1;
        }
        ns = nanos(s, n);
        s = &s[n..];
    }
    let mut off = 0;
    if s.len() != 1 || s[0] != b'Z' {
        if s.len() != 6 {
            return None;
        }
        let hr = ranged(&s[1..3], 0, 23)?;
        let mm = ranged(&s[4..6], 0, 59)?;
        if !((s[0] == b'-' || s[0] == b'+') && s[3] == b':') {
            return None;
        }
        off = (hr * 60 + mm) * 60;
        if s[0] == b'-' {
            off = -off;
        }
    }
    Some(unix_nanos(year, month, day, hour, min, sec, ns, off))
}

/// getnum: one or two digits (exactly two if fixed).
fn getnum(s: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
    if !is_digit(s, 0) {
        return None;
    }
    if !is_digit(s, 1) {
        if fixed {
            return None;
        }
        return Some(((s[0] - b'0') as i64, &s[1..]));
    }
    Some((((s[0] - b'0') * 10 + (s[1] - b'0')) as i64, &s[2..]))
}

fn lit<'a>(s: &'a [u8], c: u8) -> Option<&'a [u8]> {
    if s.first() == Some(&c) {
        Some(&s[1..])
    } else {
        None
    }
}

fn general(v: &[u8]) -> Option<(i64, i64)> {
    if v.len() < 4 || !is_digit(v, 0) {
        return None;
    }
    let year = digits(&v[..4])?;
    let v = lit(&v[4..], b'-')?;
    let (month, v) = getnum(v, true)?;
    if !(1..=12).contains(&month) {
        return None;
    }
    let v = lit(v, b'-')?;
    let (day, v) = getnum(v, true)?;
    let v = lit(v, b'T')?;
    let (hour, v) = getnum(v, false)?;
    if hour >= 24 {
        return None;
    }
    let v = lit(v, b':')?;
    let (min, v) = getnum(v, true)?;
    if min >= 60 {
        return None;
    }
    let v = lit(v, b':')?;
    let (sec, mut v) = getnum(v, true)?;
    if sec >= 60 {
        return None;
    }
    let mut ns = 0;
    if v.len() >= 2 && (v[0] == b'.' || v[0] == b',') && is_digit(v, 1) {
        let mut i = 0;
        while i + 1 < v.len() && v[i + 1].is_ascii_digit() {
            i += 1;
        }
        ns = nanos(v, 1 + i);
        v = &v[1 + i..];
    }
    let mut off = 0;
    if v.first() == Some(&b'Z') {
        v = &v[1..];
    } else {
        if v.len() < 6 || v[3] != b':' {
            return None;
        }
        let (hr, _) = getnum(&v[1..3], true)?;
        let (mm, _) = getnum(&v[4..6], true)?;
        if hr > 24 || mm > 60 {
            return None;
        }
        off = (hr * 60 + mm) * 60;
        match v[0] {
            b'+' => {}
            b'-' => off = -off,
            _ => return None,
        }
        v = &v[6..];
    }
    if !v.is_empty() {
        return None;
    }
    if day < 1 || day > days_in(month, year) {
        return None;
    }
    Some(unix_nanos(year, month, day, hour, min, sec, ns, off))
}

/// The Unix nanoseconds of an RFC 3339 timestamp, if Go parses it and it is within
/// 1970-01-01 and 2200-01-01 (inclusive), as eventTime keeps it.
pub fn event_time(s: &[u8]) -> Option<i64> {
    let (secs, ns) = fast(s).or_else(|| general(s))?;
    const MAX: i64 = 7258118400; // 2200-01-01T00:00:00Z
    if secs < 0 || secs > MAX || secs == MAX && ns > 0 {
        return None;
    }
    Some(secs * 1_000_000_000 + ns)
}
