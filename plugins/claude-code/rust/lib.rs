//! The Rust port of Hangar's first-party Claude Code capture plugin (plugins/claude-code, whose Go
//! source is the reference): the same events, byte for byte, for every record
//! (TestCaptureRustEquivalence). It reads two kinds of record, hook payloads (they have
//! hook_event_name) and transcript lines (they have type), and reduces each to typed events:
//! identifiers from narrow alphabets and enumerations, sizes and counts, salted hashes and a salted
//! sketch of prompts, never text, code, paths or command arguments. ../README.md lists every event
//! and attribute; each function here names the Go one it ports.
//!
//! Build it with `sdk/rust/build.sh plugins/claude-code/rust/lib.rs claude-code.wasm`.

mod hash;
mod json;
mod reduce;
mod sketch;
mod time;
mod unicode;

use std::borrow::Cow;
use std::cell::RefCell;

use hangar_pdk::{Error, Event, Outcome, Record};
use json::J;
use reduce::*;

const LEAK_WINDOW: usize = 12;
const MAX_IDENT_LEN: usize = 128;
const MAX_TOKENS: i64 = 1_000_000_000_000;
const INTERRUPT_MARK: &[u8] = b"[Request interrupted by user";
const KIND_USAGE: &str = "transcript.usage";

// ---------------------------------------------------------------------------------------------
// Events under construction (capture.go's attrs): guard needs their strings before encoding.

#[derive(Clone)]
enum V {
    Int(i64),
    Bool(bool),
    Float(f64),
    Ident(Vec<u8>),
    Hash(Vec<u8>),
    Sketch(Vec<(u16, f32)>),
}

#[derive(Clone)]
struct A {
    key: &'static str,
    v: V,
}

#[derive(Default)]
struct Attrs(Vec<A>);

impl Attrs {
    fn int(&mut self, key: &'static str, v: i64) {
        self.0.push(A { key, v: V::Int(v) });
    }
    fn bool(&mut self, key: &'static str, v: bool) {
        self.0.push(A { key, v: V::Bool(v) });
    }
    fn float(&mut self, key: &'static str, v: f64) {
        self.0.push(A { key, v: V::Float(v) });
    }
    fn ident(&mut self, key: &'static str, v: &[u8]) {
        self.0.push(A { key, v: V::Ident(v.to_vec()) });
    }
    fn hash(&mut self, key: &'static str, v: &[u8]) {
        self.0.push(A { key, v: V::Hash(v.to_vec()) });
    }
    fn has(&self, key: &str) -> bool {
        self.0.iter().any(|a| a.key == key)
    }
    fn ident_of(&mut self, key: &'static str, v: &J) {
        if let J::Str(s) = v {
            if is_ident(s) && !v.is_withheld() {
                self.ident(key, s);
            }
        }
    }
    fn bool_of(&mut self, key: &'static str, v: &J) {
        if v.is_bool() {
            self.bool(key, v.bool());
        }
    }
    fn enum_of(&mut self, key: &'static str, v: &J, allowed: &[&str]) {
        if let J::Str(s) = v {
            if allowed.iter().any(|a| a.as_bytes() == &s[..]) {
                self.ident(key, s);
            }
        }
    }
    /// prompt's words, salted hash and sketch.
    fn prompt(&mut self, text: &[u8]) -> Result<(), Error> {
        with_keys(|k| {
            let (sk, words) = k.sketcher.sketch(k.sk0, k.sk1, text);
            self.int("prompt_words", words);
            self.hash("prompt_hash", &k.mac(&[text])[..16]);
            if !sk.is_empty() {
                self.0.push(A { key: "prompt_sketch", v: V::Sketch(sk) });
            }
        })
    }
    fn tool_use(&mut self, id: &J) -> Result<(), Error> {
        match id {
            J::Str(s) if !s.is_empty() && s.len() <= MAX_IDENT_LEN && !id.is_withheld() => {
                with_keys(|k| self.hash("tool_use_id", &k.mac(&[b"claude-code/tool_use_id\x00", s])[..12]))
            }
            _ => Ok(()),
        }
    }
    fn project(&mut self, name: &[u8]) -> Result<(), Error> {
        if name.is_empty() {
            return Ok(());
        }
        with_keys(|k| self.hash("project", &k.mac(&[name])[..16]))
    }
}

struct Ev {
    kind: String,
    session: Vec<u8>,
    time: i64,
    attrs: Vec<A>,
}

fn is_ident(s: &[u8]) -> bool {
    !s.is_empty() && s.len() <= MAX_IDENT_LEN && s.iter().all(|&c| c > b' ' && c <= b'~')
}

fn session_id(v: &J) -> Vec<u8> {
    match v {
        J::Str(s) if is_ident(s) && !v.is_withheld() => s.to_vec(),
        _ => Vec::new(),
    }
}

fn is_kind_name(s: &[u8]) -> bool {
    !s.is_empty() && s.len() <= 64 && s[0].is_ascii_alphabetic() && s.iter().all(|&c| is_alnum(c) || c == b'_' || c == b'-')
}

fn is_short_name(s: &[u8]) -> bool {
    !s.is_empty() && s.len() <= 32 && s[0].is_ascii_lowercase() && s.iter().all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_')
}

fn is_version(s: &[u8]) -> bool {
    !s.is_empty() && s.len() <= 32 && s.iter().all(|&c| is_alnum(c) || c == b'.' || c == b'+' || c == b'-')
}

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or("")
}

// ---------------------------------------------------------------------------------------------
// Keys (salt.go)

struct Keys {
    salt: Vec<u8>,
    sk0: u64,
    sk1: u64,
    sketcher: sketch::Sketcher,
}

impl Keys {
    fn mac(&self, parts: &[&[u8]]) -> [u8; 32] {
        hash::hmac(&self.salt, parts)
    }
}

thread_local! {
    static KEYS: RefCell<Option<Keys>> = RefCell::new(None);
}

/// Runs f with the plugin's keys, asking the host for the salt on first use.
fn with_keys<T>(f: impl FnOnce(&mut Keys) -> T) -> Result<T, Error> {
    KEYS.with(|cell| {
        let mut k = cell.borrow_mut();
        if k.is_none() {
            let salt = hangar_pdk::salt();
            if salt.len() < 16 {
                return Err(Error::new("salt too short"));
            }
            let sk = hash::hmac(&salt, &[b"claude-code/sketch"]);
            let mut a = [0u8; 8];
            a.copy_from_slice(&sk[..8]);
            let mut b = [0u8; 8];
            b.copy_from_slice(&sk[8..16]);
            *k = Some(Keys { salt, sk0: u64::from_le_bytes(a), sk1: u64::from_le_bytes(b), sketcher: sketch::Sketcher::new() });
        }
        Ok(f(k.as_mut().unwrap()))
    })
}

// ---------------------------------------------------------------------------------------------
// Records (record.go)

/// An object's members: unescaped key, raw value; ok if it was an object.
#[derive(Default)]
struct Members<'a> {
    list: Vec<(Cow<'a, [u8]>, &'a [u8])>,
    ok: bool,
}

impl<'a> Members<'a> {
    fn read(raw: &'a [u8]) -> Members<'a> {
        let mut list = Vec::new();
        let whole = json::members(raw, |k, v| {
            list.push((k, v));
            true
        });
        let ok = whole || !list.is_empty();
        Members { list, ok }
    }
    fn lookup(&self, key: &str) -> Option<&'a [u8]> {
        self.list.iter().find(|(k, _)| &k[..] == key.as_bytes()).map(|(_, v)| *v)
    }
    fn raw(&self, key: &str) -> &'a [u8] {
        self.lookup(key).unwrap_or(b"")
    }
    fn get(&self, key: &str) -> J<'a> {
        match self.lookup(key) {
            Some(v) => json::parse(v),
            None => J::None,
        }
    }
}

struct Rec<'a> {
    top: Members<'a>,
    subs: RefCell<Vec<(&'static str, std::rc::Rc<Members<'a>>)>>,
}

impl<'a> Rec<'a> {
    fn get(&self, path: &'static str) -> J<'a> {
        match path.find('.') {
            None => self.top.get(path),
            Some(i) => self.sub(&path[..i]).get(&path[i + 1..]),
        }
    }
    fn sub(&self, key: &'static str) -> std::rc::Rc<Members<'a>> {
        if let Some((_, m)) = self.subs.borrow().iter().find(|(k, _)| *k == key) {
            return m.clone();
        }
        let m = std::rc::Rc::new(match self.top.lookup(key) {
            Some(raw) => Members::read(raw),
            None => Members::default(),
        });
        self.subs.borrow_mut().push((key, m.clone()));
        m
    }
}

// ---------------------------------------------------------------------------------------------
// capture (capture.go)

fn capture(rec: &Record) -> Outcome {
    let raw = rec.json();
    let mut list = Vec::new();
    let ok = json::members(raw, |k, v| {
        list.push((k, v));
        true
    });
    if !ok {
        return Err(Error::new(if valid_json(raw) { "record is not an object" } else { "record is not valid JSON" }));
    }
    let r = Rec { top: Members { list, ok: true }, subs: RefCell::new(Vec::new()) };
    let name = r.get("hook_event_name");
    let evs = if name.exists() {
        vec![hook_event(&r, &name)?]
    } else {
        let t = r.get("type");
        if t.exists() {
            transcript_events(&r, &t)?
        } else {
            return Err(Error::new("record has no hook_event_name and no type"));
        }
    };
    let evs = guard(evs)?;
    Ok(evs.into_iter().map(encode).collect())
}

hangar_pdk::capture!(capture);

fn encode(e: Ev) -> Event {
    let mut ev = Event::new(&e.kind);
    ev.session(text(&e.session));
    ev.at(e.time);
    for a in &e.attrs {
        match &a.v {
            V::Int(n) => ev.int(a.key, *n),
            V::Bool(b) => ev.bool(a.key, *b),
            V::Float(f) => ev.float(a.key, *f),
            V::Ident(s) => ev.ident(a.key, text(s)),
            V::Hash(h) => ev.hash(a.key, h),
            V::Sketch(s) => ev.sketch(a.key, s),
        };
    }
    ev
}

/// Whether b is one valid JSON value (only to say why a record is not an object).
fn valid_json(b: &[u8]) -> bool {
    fn value(b: &[u8], i: usize, depth: usize) -> Option<usize> {
        let i = ws(b, i);
        if i >= b.len() || depth > 10000 {
            return None;
        }
        match b[i] {
            b'{' => {
                let mut i = ws(b, i + 1);
                if b.get(i) == Some(&b'}') {
                    return Some(i + 1);
                }
                loop {
                    if b.get(i) != Some(&b'"') {
                        return None;
                    }
                    i = string(b, i)?;
                    i = ws(b, i);
                    if b.get(i) != Some(&b':') {
                        return None;
                    }
                    i = ws(b, value(b, i + 1, depth + 1)?);
                    match b.get(i) {
                        Some(b',') => i = ws(b, i + 1),
                        Some(b'}') => return Some(i + 1),
                        _ => return None,
                    }
                }
            }
            b'[' => {
                let mut i = ws(b, i + 1);
                if b.get(i) == Some(&b']') {
                    return Some(i + 1);
                }
                loop {
                    i = ws(b, value(b, i, depth + 1)?);
                    match b.get(i) {
                        Some(b',') => i += 1,
                        Some(b']') => return Some(i + 1),
                        _ => return None,
                    }
                }
            }
            b'"' => string(b, i),
            b't' => b[i..].starts_with(b"true").then(|| i + 4),
            b'f' => b[i..].starts_with(b"false").then(|| i + 5),
            b'n' => b[i..].starts_with(b"null").then(|| i + 4),
            _ => {
                let mut j = i;
                if b.get(j) == Some(&b'-') {
                    j += 1;
                }
                let d0 = j;
                while j < b.len() && b[j].is_ascii_digit() {
                    j += 1;
                }
                if j == d0 || (b[d0] == b'0' && j - d0 > 1) {
                    return None;
                }
                if b.get(j) == Some(&b'.') {
                    j += 1;
                    let f0 = j;
                    while j < b.len() && b[j].is_ascii_digit() {
                        j += 1;
                    }
                    if j == f0 {
                        return None;
                    }
                }
                if matches!(b.get(j), Some(b'e') | Some(b'E')) {
                    j += 1;
                    if matches!(b.get(j), Some(b'+') | Some(b'-')) {
                        j += 1;
                    }
                    let e0 = j;
                    while j < b.len() && b[j].is_ascii_digit() {
                        j += 1;
                    }
                    if j == e0 {
                        return None;
                    }
                }
                Some(j)
            }
        }
    }
    fn ws(b: &[u8], mut i: usize) -> usize {
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        i
    }
    fn string(b: &[u8], mut i: usize) -> Option<usize> {
        i += 1;
        while i < b.len() {
            match b[i] {
                b'"' => return Some(i + 1),
                b'\\' => {
                    i += 1;
                    match b.get(i)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => i += 1,
                        b'u' => {
                            if i + 5 > b.len() || !b[i + 1..i + 5].iter().all(|c| c.is_ascii_hexdigit()) {
                                return None;
                            }
                            i += 5;
                        }
                        _ => return None,
                    }
                }
                c if c < b' ' => return None,
                _ => i += 1,
            }
        }
        None
    }
    match value(b, 0, 0) {
        Some(i) => ws(b, i) == b.len(),
        None => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Hooks (hook.go)

const ENUMS: &[(&str, &[&str])] = &[
    ("source", &["startup", "resume", "clear", "compact"]),
    ("reason", &["clear", "logout", "prompt_input_exit", "other", "bypass_permissions_disabled"]),
    ("trigger", &["manual", "auto"]),
    ("notification_type", &["permission_prompt", "idle_prompt", "auth_success", "elicitation_dialog"]),
    (
        "error_type",
        &[
            "rate_limit",
            "authentication_failed",
            "oauth_org_not_allowed",
            "billing_error",
            "invalid_request",
            "model_not_found",
            "server_error",
            "max_output_tokens",
            "unknown",
        ],
    ),
];

const SIZES: &[(&str, &str)] = &[
    ("tool_input", "tool_input_bytes"),
    ("tool_response", "tool_response_bytes"),
    ("prompt", "prompt_bytes"),
    ("last_assistant_message", "assistant_message_bytes"),
    ("custom_instructions", "custom_instructions_bytes"),
    ("error", "error_bytes"),
];

fn u53(v: &J) -> Option<i64> {
    match v {
        J::Num(n, _) if *n >= 0.0 && *n < 9007199254740992.0 => Some(*n as i64),
        _ => None,
    }
}

fn hook_event(r: &Rec, name: &J) -> Result<Ev, Error> {
    let name = match name {
        J::Str(s) if !s.is_empty() => s.clone(),
        _ => return Err(Error::new("record has no hook_event_name: it is not a non-empty string")),
    };
    let kind = if is_kind_name(&name) { format!("hook.{}", text(&name)) } else { "hook.other".to_string() };
    let session = session_id(&r.get("session_id"));
    let mut a = Attrs::default();
    a.ident_of("tool_name", &r.get("tool_name"));
    a.tool_use(&r.get("tool_use_id"))?;
    a.ident_of("permission_mode", &r.get("permission_mode"));
    a.ident_of("model", &r.get("model"));
    for (field, allowed) in ENUMS {
        let key: &'static str = field;
        a.enum_of(key, &r.top.get(field), allowed);
    }
    for (field, key) in SIZES {
        if let Some(raw) = r.top.lookup(field) {
            if raw != b"null" {
                a.int(key, raw_size(raw));
            }
        }
    }
    a.bool_of("stop_hook_active", &r.get("stop_hook_active"));

    let has_resp = r.top.lookup("tool_response").is_some();
    let mut failed = &name[..] == b"PostToolUseFailure";
    let resp = r.sub("tool_response");
    if resp.ok {
        let (interrupted, is_error) = (resp.get("interrupted"), resp.get("is_error"));
        a.bool_of("interrupted", &interrupted);
        a.bool_of("is_error", &is_error);
        if let Some(n) = u53(&resp.get("durationMs")) {
            a.int("duration_ms", n);
        }
        for f in ["exitCode", "exit_code", "returnCode", "return_code"] {
            if let Some(n) = int_value(&resp.get(f)) {
                if n >= -(1 << 31) && n < (1 << 32) {
                    a.int("exit_code", n);
                    failed = failed || n != 0;
                    break;
                }
            }
        }
        if let Some(raw) = resp.lookup("stderr") {
            if raw.starts_with(b"\"") {
                a.int("stderr_bytes", raw_size(raw));
            }
        }
        let v = resp.get("success");
        if v.is_bool() && !v.bool() {
            failed = true;
        }
        if is_error.bool() || interrupted.bool() {
            failed = true;
        }
    }
    if !a.has("duration_ms") {
        if let Some(n) = u53(&r.get("duration_ms")) {
            a.int("duration_ms", n);
        }
    }
    let v = r.get("is_interrupt");
    if v.is_bool() && !a.has("interrupted") {
        a.bool("interrupted", v.bool());
        failed = failed || v.bool();
    }
    if &name[..] == b"PostToolUseFailure" || &name[..] == b"PostToolUse" && has_resp {
        a.bool("success", !failed);
        if failed {
            let k = hook_error_kind(r, &a);
            a.ident("error_kind", k.as_bytes());
        }
    }

    if let J::Str(tool) = r.get("tool_name") {
        if !tool.is_empty() {
            let input = r.sub("tool_input");
            tool_input(&mut a, &tool, &input);
        }
    }
    if let J::Str(p) = r.get("prompt") {
        a.prompt(&p)?;
    }
    let mut project = Vec::new();
    if let J::Str(v) = r.get("transcript_path") {
        project = transcript_project(&v);
    }
    if project.is_empty() {
        if let J::Str(v) = r.get("cwd") {
            if !v.is_empty() {
                project = project_name(&v);
            }
        }
    }
    a.project(&project)?;
    Ok(Ev { kind, session, time: hangar_pdk::ZERO_TIME, attrs: a.0 })
}

fn tool_input(a: &mut Attrs, tool: &[u8], input: &Members) {
    a.ident("operation", operation(tool).as_bytes());
    if input.ok {
        for f in ["file_path", "notebook_path"] {
            if let J::Str(p) = input.get(f) {
                let ext = file_ext(&p);
                if !ext.is_empty() {
                    a.ident("file_ext", &ext);
                }
                break;
            }
        }
        if let Some((added, removed)) = edit_lines(tool, |k| input.get(k)) {
            a.int("lines_added", added);
            a.int("lines_removed", removed);
        }
        if tool == b"Bash" {
            if let J::Str(c) = input.get("command") {
                let name = command_name(&c);
                if !name.is_empty() && name.len() < LEAK_WINDOW {
                    a.ident("command", name);
                } else {
                    a.ident("command_kind", b"other");
                }
            }
        }
    }
    if let Some((server, name)) = mcp_names(tool) {
        if !server.is_empty() {
            a.ident("mcp_server", server);
        }
        if !name.is_empty() {
            a.ident("mcp_tool", name);
        }
    }
}

fn hook_error_kind(r: &Rec, a: &Attrs) -> &'static str {
    let mut t = r.get("error");
    if !t.is_str() {
        let resp = r.sub("tool_response");
        for f in ["error", "stderr", "content"] {
            let v = resp.get(f);
            if matches!(&v, J::Str(s) if !s.is_empty()) {
                t = v;
                break;
            }
        }
    }
    let kind = error_kind(t.s());
    if kind != ERR_OTHER {
        return kind;
    }
    for x in &a.0 {
        match (&x.v, x.key) {
            (V::Bool(true), "interrupted") => return ERR_INTERRUPTED,
            (V::Int(n), "exit_code") if *n != 0 => return ERR_EXIT_CODE,
            _ => {}
        }
    }
    ERR_OTHER
}

// ---------------------------------------------------------------------------------------------
// Transcript lines (transcript.go)

struct Meta {
    session: Vec<u8>,
    time: i64,
    attrs: Vec<A>,
}

impl Meta {
    fn event(&self, kind: &str, a: Attrs) -> Ev {
        let mut attrs = a.0;
        attrs.extend(self.attrs.iter().cloned());
        Ev { kind: kind.to_string(), session: self.session.clone(), time: self.time, attrs }
    }
}

fn transcript_events(r: &Rec, t: &J) -> Result<Vec<Ev>, Error> {
    let t = match t {
        J::Str(s) if !s.is_empty() => s.clone(),
        _ => return Err(Error::new("type is not a non-empty string")),
    };
    let mut meta = Attrs::default();
    meta.bool_of("sidechain", &r.get("isSidechain"));
    if let J::Str(v) = r.get("version") {
        if is_version(&v) {
            meta.ident("version", &v);
        }
    }
    if let J::Str(v) = r.get("cwd") {
        if !v.is_empty() {
            let name = project_name(&v);
            if !name.is_empty() {
                meta.project(&name)?;
            }
        }
    }
    let time = match r.get("timestamp") {
        J::Str(s) => time::event_time(&s).unwrap_or(hangar_pdk::ZERO_TIME),
        _ => hangar_pdk::ZERO_TIME,
    };
    let m = Meta { session: session_id(&r.get("sessionId")), time, attrs: meta.0 };
    let mut a = Attrs::default();
    match &t[..] {
        b"assistant" => assistant_events(r, &m),
        b"user" if r.get("isCompactSummary").bool() => {
            let msg = r.sub("message");
            if !msg.ok {
                return Err(Error::new("message is not an object"));
            }
            let (text, _) = user_content(msg.raw("content"));
            a.int("summary_bytes", text.len() as i64);
            Ok(vec![m.event("transcript.compact", a)])
        }
        b"user" => {
            let ua = user_attrs(r)?;
            let mut evs = vec![m.event("transcript.user", ua)];
            let msg = r.sub("message");
            tool_result_events(msg.raw("content"), &mut evs, &m)?;
            Ok(evs)
        }
        b"summary" => {
            if let Some(raw) = r.top.lookup("summary") {
                if raw != b"null" {
                    a.int("summary_bytes", raw_size(raw));
                }
            }
            Ok(vec![m.event("transcript.summary", a)])
        }
        b"system" if r.get("subtype").s() == b"compact_boundary" => {
            a.enum_of("trigger", &r.get("compactMetadata.trigger"), &["manual", "auto"]);
            if let Some(n) = int_value(&r.get("compactMetadata.preTokens")) {
                if (0..=MAX_TOKENS).contains(&n) {
                    a.int("pre_tokens", n);
                }
            }
            Ok(vec![m.event("transcript.compact", a)])
        }
        b"system" => {
            if let J::Str(v) = r.get("subtype") {
                if is_short_name(&v) {
                    a.ident("subtype", &v);
                }
            }
            Ok(vec![m.event("transcript.system", a)])
        }
        name if is_kind_name(name) => Ok(vec![m.event(&format!("transcript.{}", text(name)), a)]),
        _ => Ok(vec![m.event("transcript.other", a)]),
    }
}

/// The raw JSON of a content block's members that the reductions read (transcript.go's block).
#[derive(Default, Clone)]
struct Block<'a> {
    typ: &'a [u8],
    text: &'a [u8],
    thinking: &'a [u8],
    data: &'a [u8],
    name: &'a [u8],
    content: &'a [u8],
    is_error: &'a [u8],
    id: &'a [u8],
    input: &'a [u8],
    tool_use_id: &'a [u8],
}

fn read_block(raw: &[u8]) -> Block<'_> {
    let mut b = Block::default();
    json::members(raw, |k, v| {
        let dst = match &k[..] {
            b"type" => &mut b.typ,
            b"text" => &mut b.text,
            b"thinking" => &mut b.thinking,
            b"data" => &mut b.data,
            b"name" => &mut b.name,
            b"content" => &mut b.content,
            b"is_error" => &mut b.is_error,
            b"id" => &mut b.id,
            b"input" => &mut b.input,
            b"tool_use_id" => &mut b.tool_use_id,
            _ => return true,
        };
        if dst.is_empty() {
            *dst = v;
        }
        true
    });
    b
}

impl<'a> Block<'a> {
    fn is(&self, t: &str) -> bool {
        if self.typ.contains(&b'\\') {
            return json::parse(self.typ).s() == t.as_bytes();
        }
        self.typ.len() == t.len() + 2 && self.typ[0] == b'"' && &self.typ[1..self.typ.len() - 1] == t.as_bytes()
    }
}

const USAGE_COUNTS: [(&str, &str, bool); 6] = [
    ("input_tokens", "input_tokens", true),
    ("output_tokens", "output_tokens", true),
    ("cache_creation_input_tokens", "cache_creation_tokens", false),
    ("cache_creation.ephemeral_5m_input_tokens", "cache_creation_5m_tokens", false),
    ("cache_creation.ephemeral_1h_input_tokens", "cache_creation_1h_tokens", false),
    ("cache_read_input_tokens", "cache_read_tokens", false),
];

#[derive(Default)]
struct Usage<'a> {
    counts: [&'a [u8]; 6],
    service_tier: &'a [u8],
    speed: &'a [u8],
}

fn read_usage(raw: &[u8]) -> Usage<'_> {
    let mut u = Usage::default();
    let mut cache_creation = false;
    fn set<'a>(dst: &mut &'a [u8], v: &'a [u8]) {
        if dst.is_empty() {
            *dst = v;
        }
    }
    json::members(raw, |k, v| {
        match &k[..] {
            b"input_tokens" => set(&mut u.counts[0], v),
            b"output_tokens" => set(&mut u.counts[1], v),
            b"cache_creation_input_tokens" => set(&mut u.counts[2], v),
            b"cache_read_input_tokens" => set(&mut u.counts[5], v),
            b"service_tier" => set(&mut u.service_tier, v),
            b"speed" => set(&mut u.speed, v),
            b"cache_creation" if !cache_creation => {
                cache_creation = true;
                json::members(v, |k, v| {
                    match &k[..] {
                        b"ephemeral_5m_input_tokens" => set(&mut u.counts[3], v),
                        b"ephemeral_1h_input_tokens" => set(&mut u.counts[4], v),
                        _ => {}
                    }
                    true
                });
            }
            _ => {}
        }
        true
    });
    u
}

fn assistant_events(r: &Rec, m: &Meta) -> Result<Vec<Ev>, Error> {
    let msg = r.sub("message");
    if !msg.ok {
        return Err(Error::new("message is not an object"));
    }
    let mut evs = Vec::new();
    let u = read_usage(msg.raw("usage"));
    if !u.counts[0].is_empty() && !u.counts[1].is_empty() {
        let a = usage_attrs(r, &msg, &u)?;
        evs.push(m.event(KIND_USAGE, a));
    }
    let mut a = Attrs::default();
    a.ident_of("model", &msg.get("model"));
    a.ident_of("message_id", &msg.get("id"));
    let (mut text_n, mut thinking, mut tools) = (0i64, 0i64, 0i64);
    let mut first: Vec<u8> = Vec::new();
    let mut uses: Vec<Block> = Vec::new();
    let raw = msg.raw("content");
    if raw.starts_with(b"\"") {
        text_n = raw_size(raw);
    } else if raw.starts_with(b"[") {
        json::elements(raw, |v| {
            let b = read_block(v);
            if b.is("text") {
                text_n += raw_size(b.text);
            } else if b.is("thinking") {
                thinking += raw_size(b.thinking);
            } else if b.is("redacted_thinking") {
                thinking += raw_size(b.data);
            } else if b.is("tool_use") || b.is("server_tool_use") {
                tools += 1;
                if tools == 1 {
                    first = json::parse(b.name).s().to_vec();
                }
                uses.push(b);
            }
            true
        });
    }
    a.int("text_bytes", text_n);
    a.int("thinking_bytes", thinking);
    a.int("tool_uses", tools);
    if !first.is_empty() {
        if is_ident(&first) && first.len() < LEAK_WINDOW {
            a.ident("tool_name", &first);
        }
        a.ident("operation", operation(&first).as_bytes());
        if let Some((server, _)) = mcp_names(&first) {
            if !server.is_empty() && server.len() < LEAK_WINDOW {
                a.ident("mcp_server", server);
            }
        }
    }
    evs.push(m.event("transcript.assistant", a));
    for b in &uses {
        evs.push(tool_use_event(r, &msg, b, m)?);
    }
    Ok(evs)
}

fn tool_use_event(r: &Rec, msg: &Members, b: &Block, m: &Meta) -> Result<Ev, Error> {
    let mut a = Attrs::default();
    a.tool_use(&json::parse(b.id))?;
    let name = json::parse(b.name).s().to_vec();
    if is_ident(&name) && name.len() < LEAK_WINDOW {
        a.ident("tool_name", &name);
    }
    if !name.is_empty() {
        let input = Members::read(b.input);
        tool_input(&mut a, &name, &input);
    }
    a.ident_of("message_id", &msg.get("id"));
    a.ident_of("request_id", &r.get("requestId"));
    Ok(m.event("transcript.tool_use", a))
}

fn usage_attrs(r: &Rec, msg: &Members, u: &Usage) -> Result<Attrs, Error> {
    let mut a = Attrs::default();
    a.ident_of("model", &msg.get("model"));
    a.ident_of("message_id", &msg.get("id"));
    a.ident_of("request_id", &r.get("requestId"));
    for (k, (path, key, required)) in USAGE_COUNTS.iter().enumerate() {
        let v = json::parse(u.counts[k]);
        if !required && matches!(v, J::None | J::Null) {
            continue;
        }
        match int_value(&v) {
            None if matches!(v, J::Num(_, raw) if is_digits(raw)) => {
                return Err(Error::new(format!("usage {} is over {}", path, MAX_TOKENS)));
            }
            None => return Err(Error::new(format!("usage {} is not a non-negative integer", path))),
            Some(n) if n < 0 => return Err(Error::new(format!("usage {} is not a non-negative integer", path))),
            Some(n) if n > MAX_TOKENS => return Err(Error::new(format!("usage {} is over {}", path, MAX_TOKENS))),
            Some(n) => a.int(key, n),
        }
    }
    let v = r.get("costUSD");
    if !matches!(v, J::None | J::Null) {
        match v {
            J::Num(n, _) if n.is_finite() && n >= 0.0 => a.float("cost_usd", n),
            _ => return Err(Error::new("costUSD is not a non-negative number")),
        }
    }
    if let J::Str(s) = json::parse(u.service_tier) {
        if is_short_name(&s) {
            a.ident("service_tier", &s);
        }
    }
    a.enum_of("speed", &json::parse(u.speed), &["standard", "fast"]);
    Ok(a)
}

fn user_attrs(r: &Rec) -> Result<Attrs, Error> {
    let msg = r.sub("message");
    if !msg.ok {
        return Err(Error::new("message is not an object"));
    }
    let mut a = Attrs::default();
    let (text, res) = user_content(msg.raw("content"));
    if r.get("isMeta").bool() {
        a.bool("meta", true);
    } else if text.starts_with(INTERRUPT_MARK) {
        a.bool("interrupted", true);
    } else if !text.is_empty() {
        a.int("prompt_bytes", text.len() as i64);
        a.prompt(&text)?;
    }
    if res.0 > 0 {
        a.int("tool_results", res.0);
        a.int("tool_response_bytes", res.1);
        a.bool("is_error", res.2 > 0);
    }
    Ok(a)
}

/// The text of a user message's content and its tool results (count, bytes, errors).
fn user_content(raw: &[u8]) -> (Cow<[u8]>, (i64, i64, i64)) {
    let mut r = (0, 0, 0);
    if raw.starts_with(b"\"") {
        return (json::parse(raw).str(), r);
    }
    let mut texts: Vec<Cow<[u8]>> = Vec::new();
    json::elements(raw, |v| {
        let b = read_block(v);
        if b.is("text") {
            if let J::Str(t) = json::parse(b.text) {
                texts.push(t);
            }
        } else if b.is("tool_result") {
            r.0 += 1;
            if !b.content.is_empty() && b.content != b"null" {
                r.1 += raw_size(b.content);
            }
            if !b.is_error.is_empty() && json::parse(b.is_error).bool() {
                r.2 += 1;
            }
        }
        true
    });
    if texts.len() == 1 {
        return (texts.pop().unwrap_or_default(), r);
    }
    (Cow::Owned(texts.join(&b'\n')), r)
}

fn tool_result_events(raw: &[u8], evs: &mut Vec<Ev>, m: &Meta) -> Result<(), Error> {
    if !raw.starts_with(b"[") {
        return Ok(());
    }
    let mut err = Ok(());
    json::elements(raw, |v| {
        let b = read_block(v);
        if !b.is("tool_result") {
            return true;
        }
        let mut a = Attrs::default();
        if let Err(e) = a.tool_use(&json::parse(b.tool_use_id)) {
            err = Err(e);
            return false;
        }
        let is_error = !b.is_error.is_empty() && json::parse(b.is_error).bool();
        a.bool("is_error", is_error);
        let text = result_text(b.content);
        let mut kind = error_kind(&text);
        let interrupted = text.starts_with(INTERRUPT_MARK) || is_error && kind == ERR_INTERRUPTED;
        if is_error {
            if interrupted {
                kind = ERR_INTERRUPTED;
            }
            a.ident("error_kind", kind.as_bytes());
        }
        if !b.content.is_empty() && b.content != b"null" {
            a.int("tool_response_bytes", raw_size(b.content));
        }
        if interrupted {
            a.bool("interrupted", true);
        }
        evs.push(m.event("transcript.tool_result", a));
        true
    });
    err
}

fn result_text(raw: &[u8]) -> Vec<u8> {
    let mut raw = raw;
    if raw.starts_with(b"[") {
        let mut text: &[u8] = b"";
        json::elements(raw, |v| {
            let b = read_block(v);
            if b.is("text") {
                text = b.text;
                return false;
            }
            true
        });
        raw = text;
    }
    if !raw.starts_with(b"\"") {
        return Vec::new();
    }
    if raw.len() > MAX_ERROR_TEXT {
        let mut cut = &raw[..MAX_ERROR_TEXT];
        while let Some((&b'\\', rest)) = cut.split_last() {
            cut = rest;
        }
        let mut s = cut.to_vec();
        s.push(b'"');
        return json::parse(&s).s().to_vec();
    }
    json::parse(raw).s().to_vec()
}

// ---------------------------------------------------------------------------------------------
// guard (guard.go)

fn guard(mut evs: Vec<Ev>) -> Result<Vec<Ev>, Error> {
    // label: (event, attr), attr -1 for the kind, -2 for the session.
    let mut ss: Vec<Vec<u8>> = Vec::new();
    let mut labels: Vec<(usize, isize)> = Vec::new();
    let mut add = |s: &[u8], l: (usize, isize)| {
        if s.len() >= LEAK_WINDOW {
            ss.push(s.to_vec());
            labels.push(l);
        }
    };
    for (j, ev) in evs.iter().enumerate() {
        add(ev.kind.as_bytes(), (j, -1));
        add(&ev.session, (j, -2));
        for (k, a) in ev.attrs.iter().enumerate() {
            add(a.key.as_bytes(), (j, k as isize));
            match &a.v {
                V::Ident(s) | V::Hash(s) => add(s, (j, k as isize)),
                _ => {}
            }
        }
    }
    if ss.is_empty() {
        return Ok(evs);
    }
    let hits: Vec<(usize, isize)> = hangar_pdk::leaks(&ss).iter().zip(&labels).filter(|(h, _)| **h).map(|(_, l)| *l).collect();
    if hits.is_empty() {
        return Ok(evs);
    }
    for (j, ev) in evs.iter_mut().enumerate() {
        if hits.contains(&(j, -1)) || hits.contains(&(j, -2)) {
            return Err(Error::new("an event kind would carry content the plugin was shown"));
        }
        let mut kept = Vec::with_capacity(ev.attrs.len());
        let mut withheld = 0;
        for (k, a) in ev.attrs.drain(..).enumerate() {
            if !hits.contains(&(j, k as isize)) {
                kept.push(a);
                continue;
            }
            if ev.kind == KIND_USAGE
                && matches!(
                    a.key,
                    "input_tokens" | "output_tokens" | "cache_creation_tokens" | "cache_read_tokens" | "cache_creation_5m_tokens" | "cache_creation_1h_tokens"
                )
            {
                return Err(Error::new("a usage count's attribute name is in the line's own text, so the host would refuse it"));
            }
            withheld += 1;
        }
        if withheld > 0 {
            kept.push(A { key: "withheld", v: V::Int(withheld) });
        }
        ev.attrs = kept;
    }
    Ok(evs)
}
