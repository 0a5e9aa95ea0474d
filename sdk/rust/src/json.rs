//! A small JSON reader for records: lookups by dotted path over the record's bytes, without
//! decoding or allocating, for guests where every loop turn costs (the host charges fuel per loop
//! body). Strings are skipped eight bytes at a time, 32 per loop turn. It never panics on
//! malformed JSON: what it cannot read is missing.

use std::borrow::Cow;

/// The type of a JSON value, by its first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonKind {
    /// A string.
    String,
    /// A number.
    Number,
    /// `true` or `false`.
    Bool,
    /// `null`.
    Null,
    /// An object.
    Object,
    /// An array.
    Array,
    /// Not a JSON value (malformed, or nothing).
    Invalid,
}

/// Value is one JSON value of a record: its text, unparsed. Its accessors read it on demand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Value<'a> {
    raw: &'a [u8],
}

/// Attr is an attribute of a stored event or a derived record, found by key
/// ([`crate::Record::attr`]): its type and its value, as JSON.
#[derive(Clone, Copy, Debug)]
pub struct Attr<'a> {
    /// The attribute's type, a JSON string: "int", "float", "bool", "ident", "hash", "sketch".
    pub typ: Value<'a>,
    /// The attribute's value: a number, a boolean, a string (an ident, a hash in hex), or for a
    /// sketch an object `{"i": [...], "v": [...]}`.
    pub value: Value<'a>,
}

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGHS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `w` that is zero (exactly for the lowest; a borrow only reaches
/// the bytes above a zero byte).
#[inline(always)]
fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(ONES) & !w & HIGHS
}

#[inline(always)]
fn word(s: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&s[i..i + 8]);
    u64::from_le_bytes(w)
}

/// Returns the index of the first `c` in `s`, testing eight bytes per step with word arithmetic
/// (32 per loop turn): several times faster in a guest than a byte loop on the long strings a
/// record carries (file contents, tool output).
pub fn index_byte(s: &[u8], c: u8) -> Option<usize> {
    let pat = c as u64 * ONES;
    let mut i = 0;
    while i + 32 <= s.len() {
        let t = zero_bytes(word(s, i) ^ pat)
            | zero_bytes(word(s, i + 8) ^ pat)
            | zero_bytes(word(s, i + 16) ^ pat)
            | zero_bytes(word(s, i + 24) ^ pat);
        if t != 0 {
            break;
        }
        i += 32;
    }
    while i + 8 <= s.len() {
        let t = zero_bytes(word(s, i) ^ pat);
        if t != 0 {
            return Some(i + t.trailing_zeros() as usize / 8);
        }
        i += 8;
    }
    while i < s.len() {
        if s[i] == c {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Returns the index of the first `"` or `\` in `s` at or after `i`.
fn index_quote_or_backslash(s: &[u8], mut i: usize) -> Option<usize> {
    const Q: u64 = b'"' as u64 * ONES;
    const B: u64 = b'\\' as u64 * ONES;
    while i + 32 <= s.len() {
        let (w0, w1, w2, w3) = (word(s, i), word(s, i + 8), word(s, i + 16), word(s, i + 24));
        let t = zero_bytes(w0 ^ Q)
            | zero_bytes(w0 ^ B)
            | zero_bytes(w1 ^ Q)
            | zero_bytes(w1 ^ B)
            | zero_bytes(w2 ^ Q)
            | zero_bytes(w2 ^ B)
            | zero_bytes(w3 ^ Q)
            | zero_bytes(w3 ^ B);
        if t != 0 {
            break;
        }
        i += 32;
    }
    while i + 8 <= s.len() {
        let w = word(s, i);
        let t = zero_bytes(w ^ Q) | zero_bytes(w ^ B);
        if t != 0 {
            return Some(i + t.trailing_zeros() as usize / 8);
        }
        i += 8;
    }
    while i < s.len() {
        if s[i] == b'"' || s[i] == b'\\' {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[inline]
fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
        i += 1;
    }
    i
}

/// Returns the index after the string that starts at `b[i]` (a quote), or `None`.
fn skip_string(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        let k = index_quote_or_backslash(b, j)?;
        if b[k] == b'"' {
            return Some(k + 1);
        }
        j = k + 2;
        if j > b.len() {
            return None;
        }
    }
}

/// Returns the index after the object or array that starts at `b[i]`, or `None`.
fn skip_container(b: &[u8], i: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut j = i;
    while j < b.len() {
        match b[j] {
            b'"' => {
                j = skip_string(b, j)?;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(j + 1);
                }
            }
            _ => {}
        }
        j += 1;
    }
    None
}

/// Returns the index after the value that starts at `b[i]`, or `None`.
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match *b.get(i)? {
        b'"' => skip_string(b, i),
        b'{' | b'[' => skip_container(b, i),
        b',' | b':' | b'}' | b']' => None,
        _ => {
            let mut j = i;
            while j < b.len() && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                j += 1;
            }
            Some(j)
        }
    }
}

/// Appends the unescaped text of a JSON string's inside (escapes as JSON defines them; a lone
/// surrogate becomes U+FFFD).
fn unescape(s: &[u8]) -> String {
    let mut out: Vec<u8> = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c != b'\\' {
            out.push(c);
            i += 1;
            continue;
        }
        let e = match s.get(i + 1) {
            Some(&e) => e,
            None => break,
        };
        i += 2;
        let ch = match e {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let hi = match hex4(s, i) {
                    Some(v) => v,
                    None => {
                        out.extend_from_slice("\u{fffd}".as_bytes());
                        continue;
                    }
                };
                i += 4;
                if (0xd800..0xdc00).contains(&hi) {
                    if s.get(i) == Some(&b'\\') && s.get(i + 1) == Some(&b'u') {
                        if let Some(lo) = hex4(s, i + 2) {
                            if (0xdc00..0xe000).contains(&lo) {
                                i += 6;
                                let cp = 0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00);
                                char::from_u32(cp).unwrap_or('\u{fffd}')
                            } else {
                                '\u{fffd}'
                            }
                        } else {
                            '\u{fffd}'
                        }
                    } else {
                        '\u{fffd}'
                    }
                } else {
                    char::from_u32(hi).unwrap_or('\u{fffd}')
                }
            }
            other => other as char,
        };
        let mut buf = [0u8; 4];
        out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
    }
    match String::from_utf8(out) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

fn hex4(s: &[u8], i: usize) -> Option<u32> {
    let h = s.get(i..i + 4)?;
    let mut v = 0u32;
    for &c in h {
        v = v * 16
            + match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return None,
            } as u32;
    }
    Some(v)
}

/// Reports whether a JSON string's text (quotes included) is `want` once unescaped.
fn string_eq(raw: &[u8], want: &[u8]) -> bool {
    if raw.len() < 2 {
        return false;
    }
    let inner = &raw[1..raw.len() - 1];
    if index_byte(inner, b'\\').is_none() {
        inner == want
    } else {
        unescape(inner).as_bytes() == want
    }
}

impl<'a> Value<'a> {
    /// Returns the JSON value at the start of `b` (after whitespace).
    pub fn parse(b: &'a [u8]) -> Value<'a> {
        let i = skip_ws(b, 0);
        match skip_value(b, i) {
            Some(end) => Value { raw: &b[i..end] },
            None => Value { raw: &b[b.len()..] },
        }
    }

    /// Returns the value's JSON text.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Returns the value's type.
    pub fn kind(&self) -> JsonKind {
        match self.raw.first() {
            Some(b'"') => JsonKind::String,
            Some(b'{') => JsonKind::Object,
            Some(b'[') => JsonKind::Array,
            Some(b't') | Some(b'f') => JsonKind::Bool,
            Some(b'n') => JsonKind::Null,
            Some(b'-') | Some(b'0'..=b'9') => JsonKind::Number,
            _ => JsonKind::Invalid,
        }
    }

    /// Returns the value at a dotted path below this one (`"a.b"`; a numeric segment indexes an
    /// array), or `None`.
    pub fn get(&self, path: &str) -> Option<Value<'a>> {
        let mut cur = *self;
        for seg in path.split('.') {
            cur = match cur.kind() {
                JsonKind::Object => cur.member(seg)?,
                JsonKind::Array => cur.elements().nth(seg.parse::<usize>().ok()?)?,
                _ => return None,
            };
        }
        Some(cur)
    }

    /// Returns the value of an object's first member of a key, or `None`.
    pub fn member(&self, key: &str) -> Option<Value<'a>> {
        let key = key.as_bytes();
        self.members().find(|(k, _)| string_eq(k.raw, key)).map(|(_, v)| v)
    }

    /// Returns the members of an object, in order, as (key, value); the key is a JSON string
    /// (read it with [`Value::as_str`] or compare with [`Value::str_eq`]). Nothing is decoded:
    /// one pass skips every value it does not return. Empty for other types.
    pub fn members(&self) -> Members<'a> {
        let pos = if self.kind() == JsonKind::Object { 1 } else { self.raw.len() };
        Members { b: self.raw, pos }
    }

    /// Returns the elements of an array, in order. Empty for other types.
    pub fn elements(&self) -> Elements<'a> {
        let pos = if self.kind() == JsonKind::Array { 1 } else { self.raw.len() };
        Elements { b: self.raw, pos }
    }

    /// Returns a string's bytes as they stand between the quotes (escapes included), or `None`
    /// if it is not a string.
    pub fn str_raw(&self) -> Option<&'a [u8]> {
        if self.kind() != JsonKind::String || self.raw.len() < 2 {
            return None;
        }
        Some(&self.raw[1..self.raw.len() - 1])
    }

    /// Returns a string's text, unescaped (borrowed when it has no escapes), or `None` if it is not
    /// a string. Invalid UTF-8 becomes U+FFFD.
    pub fn as_str(&self) -> Option<Cow<'a, str>> {
        let inner = self.str_raw()?;
        if index_byte(inner, b'\\').is_none() {
            Some(String::from_utf8_lossy(inner))
        } else {
            Some(Cow::Owned(unescape(inner)))
        }
    }

    /// Reports whether the value is a string equal to `want` once unescaped, without allocating
    /// unless it has escapes.
    pub fn str_eq(&self, want: &str) -> bool {
        self.kind() == JsonKind::String && string_eq(self.raw, want.as_bytes())
    }

    /// Returns a number as an integer: exact to 64 bits for an integer literal, truncated (and
    /// saturated) for others; `None` if it is not a number.
    pub fn as_i64(&self) -> Option<i64> {
        if self.kind() != JsonKind::Number {
            return None;
        }
        let (neg, digits) = match self.raw.split_first() {
            Some((b'-', rest)) => (true, rest),
            _ => (false, self.raw),
        };
        if !digits.is_empty() && digits.iter().all(|c| c.is_ascii_digit()) {
            let mut v: i64 = 0;
            let mut ok = true;
            for &c in digits {
                let d = (c - b'0') as i64;
                match v.checked_mul(10).and_then(|v| if neg { v.checked_sub(d) } else { v.checked_add(d) }) {
                    Some(n) => v = n,
                    None => {
                        ok = false;
                        break;
                    }
                }
            }
            if ok {
                return Some(v);
            }
        }
        self.as_f64().map(|f| f as i64)
    }

    /// Returns a number as a float (correctly rounded), or `None` if it is not a number.
    pub fn as_f64(&self) -> Option<f64> {
        if self.kind() != JsonKind::Number {
            return None;
        }
        std::str::from_utf8(self.raw).ok()?.parse::<f64>().ok()
    }

    /// Returns `true` or `false`, or `None` for other values.
    pub fn as_bool(&self) -> Option<bool> {
        match self.raw {
            b"true" => Some(true),
            b"false" => Some(false),
            _ => None,
        }
    }

    /// Reports whether the value is `null`.
    pub fn is_null(&self) -> bool {
        self.raw == b"null"
    }

    /// Reports whether the value is [`crate::WITHHELD`], the host's stand-in for a
    /// `read:payload.` value that is not metadata by type.
    pub fn is_withheld(&self) -> bool {
        self.raw == b"\"<withheld>\""
    }
}

/// An iterator over an object's members ([`Value::members`]).
pub struct Members<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Members<'a> {
    type Item = (Value<'a>, Value<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.b;
        let mut i = skip_ws(b, self.pos);
        if b.get(i) == Some(&b',') {
            i = skip_ws(b, i + 1);
        }
        if b.get(i) != Some(&b'"') {
            self.pos = b.len();
            return None;
        }
        let kend = match skip_string(b, i) {
            Some(k) => k,
            None => {
                self.pos = b.len();
                return None;
            }
        };
        let key = Value { raw: &b[i..kend] };
        let j = skip_ws(b, kend);
        if b.get(j) != Some(&b':') {
            self.pos = b.len();
            return None;
        }
        let vstart = skip_ws(b, j + 1);
        match skip_value(b, vstart) {
            Some(vend) => {
                self.pos = vend;
                Some((key, Value { raw: &b[vstart..vend] }))
            }
            None => {
                self.pos = b.len();
                None
            }
        }
    }
}

/// An iterator over an array's elements ([`Value::elements`]).
pub struct Elements<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Iterator for Elements<'a> {
    type Item = Value<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let b = self.b;
        let mut i = skip_ws(b, self.pos);
        if b.get(i) == Some(&b',') {
            i = skip_ws(b, i + 1);
        }
        match skip_value(b, i) {
            Some(end) if end > i => {
                self.pos = end;
                Some(Value { raw: &b[i..end] })
            }
            _ => {
                self.pos = b.len();
                None
            }
        }
    }
}

/// Finds the element of the record's top-level `attrs` array whose `key` is `key`, in one pass
/// over each element's members.
pub(crate) fn find_attr<'a>(json: &'a [u8], key: &[u8]) -> Option<Attr<'a>> {
    let attrs = Value::parse(json).members().find(|(k, _)| string_eq(k.raw, b"attrs"))?.1;
    for el in attrs.elements() {
        let (mut hit, mut typ, mut value) = (false, Value { raw: b"" }, Value { raw: b"" });
        for (k, v) in el.members() {
            match k.raw {
                b"\"key\"" => hit = v.kind() == JsonKind::String && string_eq(v.raw, key),
                b"\"type\"" => typ = v,
                b"\"value\"" => value = v,
                _ if k.str_raw().map_or(false, |r| r.contains(&b'\\')) => match k.as_str().as_deref() {
                    Some("key") => hit = v.kind() == JsonKind::String && string_eq(v.raw, key),
                    Some("type") => typ = v,
                    Some("value") => value = v,
                    _ => {}
                },
                _ => {}
            }
        }
        if hit {
            return Some(Attr { typ, value });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_byte_matches_naive() {
        let s: Vec<u8> = (0..200u32).map(|i| (i * 7 % 251) as u8).collect();
        for c in 0..=255u8 {
            for start in 0..40 {
                let got = index_byte(&s[start..], c);
                let want = s[start..].iter().position(|&x| x == c);
                assert_eq!(got, want, "c {} start {}", c, start);
            }
        }
    }

    #[test]
    fn lookups() {
        let b = br#" {"a":{"b":[1,{"c":"x\"y"}]},"n":-9223372036854775808,"f":1.5e3,"t":true,"e":"Caf\u00e9\ud83d\ude00","w":"<withheld>"} "#;
        let v = Value::parse(b);
        assert_eq!(v.get("a.b.1.c").unwrap().as_str().unwrap(), "x\"y");
        assert_eq!(v.get("n").unwrap().as_i64(), Some(i64::MIN));
        assert_eq!(v.get("f").unwrap().as_i64(), Some(1500));
        assert_eq!(v.get("t").unwrap().as_bool(), Some(true));
        assert_eq!(v.get("e").unwrap().as_str().unwrap(), "Café😀");
        assert!(v.get("w").unwrap().is_withheld());
        assert!(v.get("a.b.2").is_none());
        assert!(v.get("zz").is_none());
        for cut in 0..b.len() {
            let v = Value::parse(&b[..cut]);
            let _ = v.get("a.b.1.c");
            let _ = v.get("e").and_then(|e| e.as_str());
        }
    }
}
