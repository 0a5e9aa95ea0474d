//! `hangar_pdk`: Hangar's plugin development kit for Rust, with no dependency but Rust's own
//! standard library (Debian's rustc 1.63 and its `wasm32-wasi` std are enough).
//!
//! It speaks the batch ABI v1 (records in, one result per record out) and writes events in the
//! event encoding v1, byte for byte as the Go SDK's `sdk.Event.AppendBinary` does; both are
//! documented in `docs/PLUGINS.md`. A capture plugin is one function from a record to events:
//!
//! ```ignore
//! use hangar_pdk::{Event, Record, Error};
//!
//! fn capture(rec: &Record) -> Result<Vec<Event>, Error> {
//!     let name = rec.get_str("hook_event_name").ok_or("no hook_event_name")?;
//!     let mut ev = Event::new(&format!("hook.{}", name));
//!     if let Some(tool) = rec.get_str("tool_name") {
//!         ev.ident("tool_name", &tool);
//!     }
//!     Ok(vec![ev])
//! }
//!
//! hangar_pdk::capture!(capture);
//! ```
//!
//! built as a `cdylib` for `wasm32-wasi` (see the README for the one command). The macros
//! [`capture!`], [`enrich!`], [`insight!`], [`enrich_batch!`] and [`insight_batch!`] define the
//! export the host calls; the module exports only those a plugin defines.
//!
//! Errors and panics: a handler's `Err` fails that record only (the host dead-letters it with the
//! message); a panic fails the whole call (WASM has no unwinding: the module traps, after the
//! SDK's panic hook has handed the message to Extism's `error_set`).

#![warn(missing_docs)]

use std::borrow::Cow;

mod json;
mod sys;

pub use json::{index_byte, Attr, Elements, JsonKind, Members, Value};

/// The batch ABI version this SDK speaks (`abi.Version`).
pub const ABI_VERSION: u8 = 1;
/// The event encoding version (`sdk.EncodingVersion`).
pub const ENCODING_VERSION: u8 = 1;
/// The longest identifier the host accepts: kind, session id, ident value (`sdk.MaxIdentLen`).
pub const MAX_IDENT_LEN: usize = 128;
/// The longest hash attribute the host accepts (`sdk.MaxHashLen`).
pub const MAX_HASH_LEN: usize = 32;
/// The most attributes one event may have (`sdk.MaxAttrs`).
pub const MAX_ATTRS: usize = 64;
/// The encoding of "no time" (Go's zero `time.Time`): the host fills in when the record was
/// received.
pub const ZERO_TIME: i64 = i64::MIN;
/// The host's stand-in for a value of a `read:payload.` field that is not metadata by type
/// (`abi.Withheld`): text, a path, a command. A plugin that needs the text asks for
/// `content:<path>`.
pub const WITHHELD: &str = "<withheld>";

// ---------------------------------------------------------------------------------------------
// Primitive encoders, as Go's encoding/binary writes them.

/// Appends `v` as an unsigned LEB128 varint (Go's `binary.AppendUvarint`).
#[inline]
pub fn put_uvarint(b: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        b.push(v as u8 | 0x80);
        v >>= 7;
    }
    b.push(v as u8);
}

/// Appends `v` as a zigzag varint (Go's `binary.AppendVarint`).
#[inline]
pub fn put_varint(b: &mut Vec<u8>, v: i64) {
    put_uvarint(b, ((v << 1) ^ (v >> 63)) as u64);
}

/// Appends a string: its length as a uvarint, then its bytes.
#[inline]
fn put_bytes(b: &mut Vec<u8>, s: &[u8]) {
    put_uvarint(b, s.len() as u64);
    b.extend_from_slice(s);
}

/// The number of bytes `put_uvarint` writes for `v`.
#[inline]
fn uvarint_len(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    (bits + 6) / 7
}

// ---------------------------------------------------------------------------------------------
// Events

/// The kinds of attribute value (`sdk.ValueKind`), as their kind bytes in the encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ValueKind {
    /// A signed 64-bit integer: counts, sizes, durations in milliseconds, exit codes.
    Int = 1,
    /// A finite 64-bit float: costs, ratios.
    Float = 2,
    /// A flag.
    Bool = 3,
    /// A short identifier: printable ASCII without spaces, at most [`MAX_IDENT_LEN`] bytes.
    Ident = 4,
    /// An opaque hash of 1 to [`MAX_HASH_LEN`] bytes, such as a salted hash.
    Hash = 5,
    /// A sparse vector of float32 values at u16 indices.
    Sketch = 6,
}

/// Event is one privacy-safe fact, built by a handler. Its attributes are encoded as they are
/// added, so that emitting it costs one copy. The host assigns the id and the platform, and fills
/// in the time when the event has none; it checks every rule (docs/PLUGINS.md, "What the host
/// enforces"): this builder checks none.
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    kind: String,
    session: String,
    time: i64,
    attrs: Vec<u8>,
    n_attrs: u32,
}

impl Event {
    /// Returns an event of a kind, such as `"hook.PreToolUse"`, with no session, no time and no
    /// attributes.
    pub fn new(kind: &str) -> Event {
        Event { kind: kind.to_owned(), session: String::new(), time: ZERO_TIME, attrs: Vec::new(), n_attrs: 0 }
    }

    /// Returns the event's kind.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// Returns the number of attributes added so far.
    pub fn attr_count(&self) -> usize {
        self.n_attrs as usize
    }

    /// Sets the assistant's session id.
    pub fn session(&mut self, id: &str) -> &mut Self {
        self.session.clear();
        self.session.push_str(id);
        self
    }

    /// Sets when it happened, in Unix nanoseconds ([`ZERO_TIME`]: none, the host fills in the
    /// time the record was received).
    pub fn at(&mut self, unix_nanos: i64) -> &mut Self {
        self.time = unix_nanos;
        self
    }

    fn key(&mut self, key: &str, kind: ValueKind) {
        put_bytes(&mut self.attrs, key.as_bytes());
        self.attrs.push(kind as u8);
        self.n_attrs += 1;
    }

    /// Adds an integer attribute.
    pub fn int(&mut self, key: &str, v: i64) -> &mut Self {
        self.key(key, ValueKind::Int);
        put_varint(&mut self.attrs, v);
        self
    }

    /// Adds a float attribute; it must be finite.
    pub fn float(&mut self, key: &str, v: f64) -> &mut Self {
        self.key(key, ValueKind::Float);
        self.attrs.extend_from_slice(&v.to_bits().to_le_bytes());
        self
    }

    /// Adds a boolean attribute.
    pub fn bool(&mut self, key: &str, v: bool) -> &mut Self {
        self.key(key, ValueKind::Bool);
        self.attrs.push(v as u8);
        self
    }

    /// Adds an identifier attribute: a tool name, a model, a file extension.
    pub fn ident(&mut self, key: &str, v: &str) -> &mut Self {
        self.key(key, ValueKind::Ident);
        put_bytes(&mut self.attrs, v.as_bytes());
        self
    }

    /// Adds a hash attribute: 1 to 32 opaque bytes, such as an HMAC keyed with [`salt`].
    pub fn hash(&mut self, key: &str, v: &[u8]) -> &mut Self {
        self.key(key, ValueKind::Hash);
        put_bytes(&mut self.attrs, v);
        self
    }

    /// Adds a sketch attribute: entries of (index, value), indices strictly increasing, values
    /// finite, 1 to 256 of them.
    pub fn sketch(&mut self, key: &str, entries: &[(u16, f32)]) -> &mut Self {
        self.key(key, ValueKind::Sketch);
        put_uvarint(&mut self.attrs, entries.len() as u64);
        for (i, v) in entries {
            self.attrs.extend_from_slice(&i.to_le_bytes());
            self.attrs.extend_from_slice(&v.to_bits().to_le_bytes());
        }
        self
    }

    /// The length of the event's encoding.
    fn encoded_len(&self) -> usize {
        let zz = ((self.time << 1) ^ (self.time >> 63)) as u64;
        1 + 16
            + 1
            + uvarint_len(self.kind.len() as u64)
            + self.kind.len()
            + uvarint_len(self.session.len() as u64)
            + self.session.len()
            + uvarint_len(zz)
            + 10
            + uvarint_len(self.n_attrs as u64)
            + self.attrs.len()
    }

    /// Appends the event's encoding v1 to `b`, exactly as `sdk.Event.AppendBinary` writes it:
    /// a zero id, an empty platform and no ingest time, which the host and the store set.
    pub fn append_binary(&self, b: &mut Vec<u8>) {
        b.reserve(self.encoded_len());
        b.push(ENCODING_VERSION);
        b.extend_from_slice(&[0u8; 16]);
        b.push(0); // platform ""
        put_bytes(b, self.kind.as_bytes());
        put_bytes(b, self.session.as_bytes());
        put_varint(b, self.time);
        put_varint(b, ZERO_TIME);
        put_uvarint(b, self.n_attrs as u64);
        b.extend_from_slice(&self.attrs);
    }
}

// ---------------------------------------------------------------------------------------------
// Errors

/// Error fails one record: the host sends it to the dead-letter queue with the message (cut to
/// 256 bytes, withheld if it carries content the plugin was shown: say what went wrong, not what
/// the record held). An empty message becomes "failed".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(String);

impl Error {
    /// Returns an error with a message.
    pub fn new(msg: impl Into<String>) -> Error {
        Error(msg.into())
    }

    /// Returns the message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Error {
    fn from(s: &str) -> Error {
        Error(s.to_owned())
    }
}

impl From<String> for Error {
    fn from(s: String) -> Error {
        Error(s)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

/// What a handler makes of one record: its events, or the error that fails it.
pub type Outcome = Result<Vec<Event>, Error>;

// ---------------------------------------------------------------------------------------------
// Records

/// Record is one input record: a JSON object holding exactly the granted fields. A
/// `content:<path>` field holds its value as it is; a `read:payload.<path>` field holds only the
/// values that are metadata by type, and [`WITHHELD`] in place of any other.
///
/// Lookups take dotted paths (`"tool_input.command"`; a numeric segment indexes an array) and
/// scan the record's bytes without decoding or allocating; only a string with escapes is
/// unescaped into a copy. Each lookup scans from the record's start: to read many fields of a
/// large record, walk [`Record::root`]'s [`Value::members`] once.
#[derive(Clone, Copy, Debug)]
pub struct Record<'a> {
    json: &'a [u8],
}

impl<'a> Record<'a> {
    /// Returns a record over JSON bytes (the SDK makes them; tests may too).
    pub fn new(json: &'a [u8]) -> Record<'a> {
        Record { json }
    }

    /// Returns the record's JSON bytes.
    pub fn json(&self) -> &'a [u8] {
        self.json
    }

    /// Returns the record's top-level value (an object).
    pub fn root(&self) -> Value<'a> {
        Value::parse(self.json)
    }

    /// Returns the value at a dotted path, or `None` if there is none.
    pub fn get(&self, path: &str) -> Option<Value<'a>> {
        self.root().get(path)
    }

    /// Returns the string at a path, unescaped, or `None` if there is none or it is not a string.
    pub fn get_str(&self, path: &str) -> Option<Cow<'a, str>> {
        self.get(path)?.as_str()
    }

    /// Returns the integer at a path (exact to 64 bits; a fractional number is truncated), or
    /// `None` if there is none or it is not a number.
    pub fn get_int(&self, path: &str) -> Option<i64> {
        self.get(path)?.as_i64()
    }

    /// Returns the number at a path, or `None` if there is none or it is not a number.
    pub fn get_float(&self, path: &str) -> Option<f64> {
        self.get(path)?.as_f64()
    }

    /// Returns the boolean at a path, or `None` if there is none or it is not `true` or `false`.
    pub fn get_bool(&self, path: &str) -> Option<bool> {
        self.get(path)?.as_bool()
    }

    /// Reports whether the record has a value at a path (`null` included).
    pub fn has(&self, path: &str) -> bool {
        self.get(path).is_some()
    }

    /// Reports whether the value at a path is [`WITHHELD`]: the host had a value there but passed
    /// none of its text.
    pub fn is_withheld(&self, path: &str) -> bool {
        self.get(path).map_or(false, |v| v.is_withheld())
    }

    /// Returns the attribute of a key of a stored event (an enrich plugin's record) or a derived
    /// record (an insight plugin's): their attributes are an array
    /// `"attrs": [{"key": "tool_name", "type": "ident", "value": "Bash"}, ...]`, as
    /// `sdk.Event.MarshalJSON` writes them. It is the Go SDK's
    /// ``rec.Get(`attrs.#(key=="tool_name")`)``: the first element with that key.
    pub fn attr(&self, key: &str) -> Option<Attr<'a>> {
        json::find_attr(self.json, key.as_bytes())
    }

    /// Returns the value of an ident (or hash) attribute, or `None`.
    pub fn attr_ident(&self, key: &str) -> Option<Cow<'a, str>> {
        self.attr(key)?.value.as_str()
    }

    /// Returns the value of an int attribute exactly, or `None`.
    pub fn attr_int(&self, key: &str) -> Option<i64> {
        self.attr(key)?.value.as_i64()
    }

    /// Returns the value of a float (or int) attribute, or `None`.
    pub fn attr_float(&self, key: &str) -> Option<f64> {
        self.attr(key)?.value.as_f64()
    }

    /// Returns the value of a bool attribute, or `None`.
    pub fn attr_bool(&self, key: &str) -> Option<bool> {
        self.attr(key)?.value.as_bool()
    }

    /// Returns the type of an attribute ("int", "float", "bool", "ident", "hash", "sketch"), or
    /// `None`.
    pub fn attr_type(&self, key: &str) -> Option<Cow<'a, str>> {
        self.attr(key)?.typ.as_str()
    }
}

// ---------------------------------------------------------------------------------------------
// The batch ABI

/// A handler turns one record into events (or an error that fails that record).
pub type Handler = fn(&Record) -> Outcome;

/// A batch handler turns a whole call's records into one outcome each, in order (a missing
/// outcome counts as no events). A plugin that keeps state in kv uses it to read its state once
/// per call and write it back once. [`leaks`], from a batch handler, asks about the call's last
/// record.
pub type BatchHandler = fn(&[Record]) -> Vec<Outcome>;

/// The call's output buffer, reused from call to call (an instance serves one call at a time,
/// on one thread).
static mut OUT: Vec<u8> = Vec::new();
/// The index in the call's batch of the record being handled (for [`leaks`]).
static mut CURRENT: u32 = 0;
/// The largest output buffer kept for the next call.
const MAX_KEPT_OUTPUT: usize = 1 << 20;

/// A malformed input batch.
fn malformed(what: &str) -> String {
    format!("abi: malformed batch: {}", what)
}

/// Reads a uvarint at `*i`, advancing it.
fn read_uvarint(b: &[u8], i: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    let mut shift = 0u32;
    while *i < b.len() {
        let c = b[*i];
        *i += 1;
        if shift == 63 && c > 1 {
            return None;
        }
        v |= ((c & 0x7f) as u64) << shift;
        if c < 0x80 {
            return Some(v);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    None
}

/// Decodes an input batch (abi.DecodeInput) into its records.
pub fn decode_input(b: &[u8]) -> Result<Vec<Record<'_>>, String> {
    match b.first() {
        None => return Err(malformed("truncated")),
        Some(&v) if v != ABI_VERSION => return Err(malformed(&format!("version {}, want {}", v, ABI_VERSION))),
        _ => {}
    }
    let mut i = 1;
    let n = read_uvarint(b, &mut i).ok_or_else(|| malformed("truncated count"))?;
    if n > (b.len() - i) as u64 {
        return Err(malformed("count exceeds input"));
    }
    let mut recs = Vec::with_capacity(n as usize);
    for _ in 0..n {
        let len = read_uvarint(b, &mut i).ok_or_else(|| malformed("truncated record length"))?;
        if len > (b.len() - i) as u64 {
            return Err(malformed("truncated record"));
        }
        let end = i + len as usize;
        recs.push(Record { json: &b[i..end] });
        i = end;
    }
    if i != b.len() {
        return Err(malformed("trailing bytes"));
    }
    Ok(recs)
}

/// Appends one result (abi.AppendOutput's encoding of a result).
fn append_result(b: &mut Vec<u8>, r: &Outcome) {
    match r {
        Err(e) => {
            let msg = if e.0.is_empty() { "failed" } else { e.0.as_str() };
            b.push(1);
            put_bytes(b, msg.as_bytes());
        }
        Ok(evs) => {
            b.push(0);
            put_uvarint(b, evs.len() as u64);
            for ev in evs {
                put_uvarint(b, ev.encoded_len() as u64);
                ev.append_binary(b);
            }
        }
    }
}

/// Runs a handler over an input batch and returns the output (the batch ABI v1), encoding each
/// record's events as soon as its handler returns. It is what the exports do, without the host;
/// tests may call it natively.
pub fn process(input: &[u8], h: Handler, out: &mut Vec<u8>) -> Result<(), String> {
    let recs = decode_input(input)?;
    out.push(ABI_VERSION);
    put_uvarint(out, recs.len() as u64);
    for (i, rec) in recs.iter().enumerate() {
        unsafe { CURRENT = i as u32 };
        append_result(out, &h(rec));
    }
    Ok(())
}

/// Runs a batch handler over an input batch and returns the output, as [`process`] does.
pub fn process_batch(input: &[u8], h: BatchHandler, out: &mut Vec<u8>) -> Result<(), String> {
    let recs = decode_input(input)?;
    unsafe { CURRENT = recs.len().saturating_sub(1) as u32 };
    let results = h(&recs);
    out.push(ABI_VERSION);
    put_uvarint(out, recs.len() as u64);
    let none: Outcome = Ok(Vec::new());
    for i in 0..recs.len() {
        append_result(out, results.get(i).unwrap_or(&none));
    }
    Ok(())
}

/// Runs one export call: reads the input, runs `f`, sets the output and returns 0, or sets
/// Extism's error and returns 1. The export macros call it.
#[doc(hidden)]
pub fn call(f: impl FnOnce(&[u8], &mut Vec<u8>) -> Result<(), String>) -> i32 {
    install_panic_hook();
    let input = sys::input();
    // Through a raw pointer: the instance runs one call at a time, on one thread.
    let kept = unsafe { &mut *std::ptr::addr_of_mut!(OUT) };
    let mut out = std::mem::take(kept);
    out.clear();
    let rc = match f(&input, &mut out) {
        Ok(()) => {
            sys::output(&out);
            0
        }
        Err(msg) => {
            sys::error_set(&msg);
            1
        }
    };
    if out.capacity() <= MAX_KEPT_OUTPUT {
        *kept = out;
    }
    rc
}

/// Sets, once, a panic hook that hands the panic's message to Extism's `error_set` instead of
/// writing it to stderr. The module then traps (WASM has no unwinding), failing the call.
fn install_panic_hook() {
    static mut SET: bool = false;
    unsafe {
        if SET {
            return;
        }
        SET = true;
    }
    std::panic::set_hook(Box::new(|info| {
        let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
            (*s).to_owned()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            String::from("panic")
        };
        sys::error_set(&format!("panic: {}", msg));
    }));
}

/// Defines the export `capture` with a [`Handler`]: raw platform records in, events out.
#[macro_export]
macro_rules! capture {
    ($h:expr) => {
        #[export_name = "capture"]
        pub extern "C" fn __hangar_export_capture() -> i32 {
            $crate::call(|input, out| $crate::process(input, $h, out))
        }
    };
}

/// Defines the export `enrich` with a [`Handler`]: stored events in, derived records out.
#[macro_export]
macro_rules! enrich {
    ($h:expr) => {
        #[export_name = "enrich"]
        pub extern "C" fn __hangar_export_enrich() -> i32 {
            $crate::call(|input, out| $crate::process(input, $h, out))
        }
    };
}

/// Defines the export `insight` with a [`Handler`]: derived records in, insights out.
#[macro_export]
macro_rules! insight {
    ($h:expr) => {
        #[export_name = "insight"]
        pub extern "C" fn __hangar_export_insight() -> i32 {
            $crate::call(|input, out| $crate::process(input, $h, out))
        }
    };
}

/// Defines the export `enrich` with a [`BatchHandler`], called once per call with all its records.
#[macro_export]
macro_rules! enrich_batch {
    ($h:expr) => {
        #[export_name = "enrich"]
        pub extern "C" fn __hangar_export_enrich() -> i32 {
            $crate::call(|input, out| $crate::process_batch(input, $h, out))
        }
    };
}

/// Defines the export `insight` with a [`BatchHandler`], called once per call with all its
/// records.
#[macro_export]
macro_rules! insight_batch {
    ($h:expr) => {
        #[export_name = "insight"]
        pub extern "C" fn __hangar_export_insight() -> i32 {
            $crate::call(|input, out| $crate::process_batch(input, $h, out))
        }
    };
}

// ---------------------------------------------------------------------------------------------
// Host functions

/// Log levels for [`log`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Level {
    /// Debug.
    Debug = 0,
    /// Info.
    Info = 1,
    /// Warn.
    Warn = 2,
    /// Error.
    Error = 3,
}

/// Writes a line to the agent's log under the plugin's name (capability `log`). Lines are cut at
/// 1,024 bytes, rate-limited, and withheld if they carry content the instance was shown.
pub fn log(level: Level, msg: &str) {
    sys::log(level as u64, msg.as_bytes());
}

/// Returns the value stored under `key` in the plugin's own keyspace (capability `kv`), or
/// `None`.
pub fn kv_get(key: &[u8]) -> Option<Vec<u8>> {
    sys::kv_get(key)
}

/// Stores a value in the plugin's own keyspace (capability `kv`): keys at most 256 bytes, values
/// at most 64 KiB; an empty value deletes the key.
pub fn kv_set(key: &[u8], value: &[u8]) {
    sys::kv_set(key, value)
}

/// Returns the plugin's salt: 32 secret bytes, the same for this plugin on this install, different
/// between plugins and between installs. Key a hash with it (such as HMAC-SHA256) to emit values
/// that compare within an install but cannot be guessed from outside it. It needs no capability.
/// The host is asked once per instance. A host without an install secret traps the plugin.
pub fn salt() -> Vec<u8> {
    sys::salt()
}

/// Reports, for each string, whether the host would refuse an emission carrying it for the record
/// being handled (the leak checks the host applies to every emitted kind, session id, attribute
/// key and ident or hash value: 12 or more consecutive bytes of content the plugin was shown).
/// Ask before emitting strings derived from content, and withhold what would fail. It needs no
/// capability; for a plugin shown no content every answer is false. Call it only from a handler.
pub fn leaks<S: AsRef<[u8]>>(strings: &[S]) -> Vec<bool> {
    let mut hits = vec![false; strings.len()];
    if strings.is_empty() {
        return hits;
    }
    let mut q = Vec::new();
    for s in strings {
        put_bytes(&mut q, s.as_ref());
    }
    let mut bitmap = vec![0u8; (strings.len() + 7) / 8];
    sys::leaks(unsafe { CURRENT }, &q, &mut bitmap);
    for (k, h) in hits.iter_mut().enumerate() {
        *h = bitmap[k / 8] & (1 << (k % 8)) != 0;
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uvarint_lengths() {
        for v in [0u64, 1, 127, 128, 16383, 16384, u64::MAX] {
            let mut b = Vec::new();
            put_uvarint(&mut b, v);
            assert_eq!(b.len(), uvarint_len(v), "{}", v);
        }
    }
}
