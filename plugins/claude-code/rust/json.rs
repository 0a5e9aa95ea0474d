//! The JSON the reductions read, as the Go reference reads it: pdk.Members and pdk.Elements
//! (one pass over a container, values left raw), and gjson.Parse of one raw value (a string
//! decoded as gjson decodes it, invalid UTF-8 kept). Strings are bytes: a record's text need not
//! be UTF-8.

use std::borrow::Cow;

fn skip_space(j: &[u8], mut i: usize) -> usize {
    while i < j.len() && matches!(j[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// The index past the string starting at j[i] (a '"'), or None.
fn skip_string(j: &[u8], i: usize) -> Option<usize> {
    let mut k = i + 1;
    while k < j.len() {
        match j[k] {
            b'"' => return Some(k + 1),
            b'\\' => k += 2,
            _ => k += 1,
        }
    }
    None
}

/// The index past the value starting at j[i], or None.
fn skip_value(j: &[u8], i: usize) -> Option<usize> {
    if i >= j.len() {
        return None;
    }
    match j[i] {
        b'"' => skip_string(j, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut k = i;
            while k < j.len() {
                match j[k] {
                    b'"' => {
                        k = skip_string(j, k)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(k + 1);
                        }
                    }
                    _ => {}
                }
                k += 1;
            }
            None
        }
        _ => {
            let mut k = i;
            while k < j.len() && !matches!(j[k], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                k += 1;
            }
            if k == i {
                None
            } else {
                Some(k)
            }
        }
    }
}

/// What follows a member or element ending at j[i]: Ok(index of the next) after a comma,
/// Err(true) after the closing byte, Err(false) if malformed.
fn next(j: &[u8], i: usize, end: u8) -> Result<usize, bool> {
    let i = skip_space(j, i);
    if i >= j.len() {
        return Err(false);
    }
    if j[i] == b',' {
        return Ok(skip_space(j, i + 1));
    }
    Err(j[i] == end)
}

/// Calls f with each member of the object j (its key, unescaped, and raw value) until f returns
/// false, and reports whether j was a well-formed object (pdk.Members).
pub fn members<'a>(j: &'a [u8], mut f: impl FnMut(Cow<'a, [u8]>, &'a [u8]) -> bool) -> bool {
    let mut i = skip_space(j, 0);
    if i >= j.len() || j[i] != b'{' {
        return false;
    }
    i = skip_space(j, i + 1);
    if i < j.len() && j[i] == b'}' {
        return true;
    }
    while i < j.len() {
        if j[i] != b'"' {
            return false;
        }
        let end = match skip_string(j, i) {
            Some(e) => e,
            None => return false,
        };
        let raw_key = &j[i + 1..end - 1];
        let key = if raw_key.contains(&b'\\') { Cow::Owned(parse(&j[i..end]).str().into_owned()) } else { Cow::Borrowed(raw_key) };
        i = skip_space(j, end);
        if i >= j.len() || j[i] != b':' {
            return false;
        }
        i = skip_space(j, i + 1);
        let vend = match skip_value(j, i) {
            Some(e) => e,
            None => return false,
        };
        if !f(key, &j[i..vend]) {
            return true;
        }
        match next(j, vend, b'}') {
            Ok(n) => i = n,
            Err(ok) => return ok,
        }
    }
    false
}

/// Calls f with each element of the array j until f returns false, and reports whether j was a
/// well-formed array (pdk.Elements).
pub fn elements<'a>(j: &'a [u8], mut f: impl FnMut(&'a [u8]) -> bool) -> bool {
    let mut i = skip_space(j, 0);
    if i >= j.len() || j[i] != b'[' {
        return false;
    }
    i = skip_space(j, i + 1);
    if i < j.len() && j[i] == b']' {
        return true;
    }
    while i < j.len() {
        let end = match skip_value(j, i) {
            Some(e) => e,
            None => return false,
        };
        if !f(&j[i..end]) {
            return true;
        }
        match next(j, end, b']') {
            Ok(n) => i = n,
            Err(ok) => return ok,
        }
    }
    false
}

/// One parsed value, as gjson.Parse makes it.
#[derive(Clone, Debug)]
pub enum J<'a> {
    /// Does not exist.
    None,
    Null,
    False,
    True,
    /// A number: its value and raw token.
    Num(f64, &'a [u8]),
    Str(Cow<'a, [u8]>),
    /// An object or array, raw.
    Json(&'a [u8]),
}

impl<'a> J<'a> {
    pub fn exists(&self) -> bool {
        !matches!(self, J::None)
    }
    pub fn is_str(&self) -> bool {
        matches!(self, J::Str(_))
    }
    /// gjson's Str: the decoded string, or empty for other types.
    pub fn str(&self) -> Cow<'a, [u8]> {
        match self {
            J::Str(s) => s.clone(),
            _ => Cow::Borrowed(&[]),
        }
    }
    pub fn s(&self) -> &[u8] {
        match self {
            J::Str(s) => s,
            _ => &[],
        }
    }
    pub fn is_bool(&self) -> bool {
        matches!(self, J::True | J::False)
    }
    /// gjson's Bool.
    pub fn bool(&self) -> bool {
        match self {
            J::True => true,
            J::Str(s) => {
                let l = s.to_ascii_lowercase();
                l == b"1" || l == b"t" || l == b"true"
            }
            J::Num(n, _) => *n != 0.0,
            _ => false,
        }
    }
    pub fn is_withheld(&self) -> bool {
        matches!(self, J::Str(s) if &s[..] == b"<withheld>")
    }
}

/// gjson.Parse of a raw value.
pub fn parse(j: &[u8]) -> J<'_> {
    let mut i = 0;
    while i < j.len() {
        let c = j[i];
        if c == b'{' || c == b'[' {
            return J::Json(&j[i..]);
        }
        if c <= b' ' {
            i += 1;
            continue;
        }
        return match c {
            b'+' | b'-' | b'0'..=b'9' | b'i' | b'I' | b'N' => {
                let raw = tonum(&j[i..]);
                J::Num(parse_float(raw), raw)
            }
            b'n' => {
                if i + 1 < j.len() && j[i + 1] != b'u' {
                    J::Num(f64::NAN, tolit(&j[i..]))
                } else {
                    J::Null
                }
            }
            b't' => J::True,
            b'f' => J::False,
            b'"' => J::Str(tostr(&j[i..])),
            _ => J::None,
        };
    }
    J::None
}

fn tolit(j: &[u8]) -> &[u8] {
    let mut i = 1;
    while i < j.len() && (j[i].is_ascii_lowercase() || j[i].is_ascii_uppercase()) {
        i += 1;
    }
    &j[..i]
}

fn tonum(j: &[u8]) -> &[u8] {
    let mut i = 1;
    while i < j.len() {
        let c = j[i];
        if c <= b'-' {
            if c <= b' ' || c == b',' {
                return &j[..i];
            }
        } else if c == b']' || c == b'}' {
            return &j[..i];
        }
        i += 1;
    }
    j
}

fn parse_float(raw: &[u8]) -> f64 {
    std::str::from_utf8(raw).ok().and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0)
}

/// gjson's tostr: the decoded string of a raw JSON string starting with '"'.
fn tostr(j: &[u8]) -> Cow<'_, [u8]> {
    let mut i = 1;
    while i < j.len() {
        if j[i] > b'\\' {
            i += 1;
            continue;
        }
        if j[i] == b'"' {
            return Cow::Borrowed(&j[1..i]);
        }
        if j[i] == b'\\' {
            i += 1;
            while i < j.len() {
                if j[i] > b'\\' {
                    i += 1;
                    continue;
                }
                if j[i] == b'"' {
                    if j[i - 1] == b'\\' {
                        let mut n = 0;
                        let mut k = i as isize - 2;
                        while k > 0 {
                            if j[k as usize] != b'\\' {
                                break;
                            }
                            n += 1;
                            k -= 1;
                        }
                        if n % 2 == 0 {
                            i += 1;
                            continue;
                        }
                    }
                    return Cow::Owned(unescape(&j[1..i]));
                }
                i += 1;
            }
            return Cow::Owned(unescape(&j[1..i.min(j.len())]));
        }
        i += 1;
    }
    Cow::Borrowed(&j[1.min(j.len())..])
}

fn runeit(j: &[u8]) -> u32 {
    let mut n: u32 = 0;
    for &c in &j[..4] {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return 0,
        };
        n = n << 4 | d as u32;
    }
    n
}

/// Appends the UTF-8 encoding of r, U+FFFD for a surrogate or past U+10FFFF (utf8.EncodeRune).
pub fn push_rune(out: &mut Vec<u8>, r: u32) {
    let c = char::from_u32(r).unwrap_or('\u{fffd}');
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

fn unescape(j: &[u8]) -> Vec<u8> {
    let mut s = Vec::with_capacity(j.len());
    let mut i = 0;
    while i < j.len() {
        let c = j[i];
        if c < b' ' {
            return s;
        }
        if c != b'\\' {
            s.push(c);
            i += 1;
            continue;
        }
        i += 1;
        if i >= j.len() {
            return s;
        }
        match j[i] {
            b'\\' => s.push(b'\\'),
            b'/' => s.push(b'/'),
            b'b' => s.push(8),
            b'f' => s.push(12),
            b'n' => s.push(b'\n'),
            b'r' => s.push(b'\r'),
            b't' => s.push(b'\t'),
            b'"' => s.push(b'"'),
            b'u' => {
                if i + 5 > j.len() {
                    return s;
                }
                let mut r = runeit(&j[i + 1..]);
                i += 5;
                if (0xd800..0xdc00).contains(&r) && j.len() - i >= 6 && j[i] == b'\\' && j[i + 1] == b'u' {
                    let r2 = runeit(&j[i + 2..]);
                    if (0xdc00..0xe000).contains(&r2) {
                        r = (((r - 0xd800) << 10) | (r2 - 0xdc00)) + 0x10000;
                        i += 6;
                    }
                }
                push_rune(&mut s, r);
                continue;
            }
            _ => return s,
        }
        i += 1;
    }
    s
}

/// One rune of s as Go's utf8.DecodeRune reads it: (rune, width), (U+FFFD, 1) if invalid.
pub fn decode_rune(s: &[u8]) -> (u32, usize) {
    let b0 = s[0];
    if b0 < 0x80 {
        return (b0 as u32, 1);
    }
    let n = match b0 {
        0xc2..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf4 => 4,
        _ => return (0xfffd, 1),
    };
    if s.len() < n {
        return (0xfffd, 1);
    }
    match std::str::from_utf8(&s[..n]) {
        Ok(t) => (t.chars().next().map(|c| c as u32).unwrap_or(0xfffd), n),
        Err(_) => (0xfffd, 1),
    }
}
