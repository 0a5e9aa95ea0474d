//! Reductions of content to safe values (reduce.go): each returns a number, a flag, or an
//! identifier checked against a narrow alphabet, never text.

use crate::json::{self, decode_rune, J};

pub fn is_alnum(c: u8) -> bool {
    c.is_ascii_alphanumeric()
}

/// The operation of a tool.
pub fn operation(tool: &[u8]) -> &'static str {
    match tool {
        b"Read" | b"NotebookRead" => "read",
        b"Write" => "write",
        b"Edit" | b"NotebookEdit" => "edit",
        b"MultiEdit" => "multi_edit",
        b"Grep" | b"Glob" | b"ToolSearch" => "search",
        b"LS" => "list",
        b"Bash" | b"BashOutput" | b"KillBash" | b"KillShell" | b"PowerShell" => "shell",
        b"WebFetch" | b"web_fetch" => "web_fetch",
        b"WebSearch" | b"web_search" => "web_search",
        b"Task" | b"Agent" | b"TaskOutput" | b"TaskStop" => "task",
        b"TodoWrite" | b"TodoRead" | b"TaskCreate" | b"TaskUpdate" | b"TaskGet" | b"TaskList" => "todo",
        _ if tool.starts_with(b"mcp__") => "mcp",
        _ => "other",
    }
}

/// Splits an MCP tool name, mcp__<server>__<tool>: each part if it is a name (else empty); None
/// for other tools.
pub fn mcp_names(tool: &[u8]) -> Option<(&[u8], &[u8])> {
    let rest = tool.strip_prefix(b"mcp__")?;
    let (server, name) = match find(rest, b"__") {
        Some(i) => (&rest[..i], &rest[i + 2..]),
        None => (rest, &b""[..]),
    };
    Some((if is_name(server) { server } else { b"" }, if is_name(name) { name } else { b"" }))
}

pub fn find(s: &[u8], pat: &[u8]) -> Option<usize> {
    if pat.len() > s.len() {
        return None;
    }
    (0..=s.len() - pat.len()).find(|&i| &s[i..i + pat.len()] == pat)
}

fn is_name(s: &[u8]) -> bool {
    !s.is_empty() && s.len() <= 64 && is_alnum(s[0]) && s.iter().all(|&c| is_alnum(c) || c == b'_' || c == b'.' || c == b'-')
}

fn last_slash(s: &[u8]) -> Option<usize> {
    s.iter().rposition(|&c| c == b'/' || c == b'\\')
}

/// The lowercased extension of the file a path names, or empty.
pub fn file_ext(path: &[u8]) -> Vec<u8> {
    let base = &path[last_slash(path).map_or(0, |i| i + 1)..];
    let i = match base.iter().rposition(|&c| c == b'.') {
        Some(i) if i > 0 => i,
        _ => return Vec::new(),
    };
    if base.len() - i - 1 > 10 || i == base.len() - 1 {
        return Vec::new();
    }
    let mut ext = base[i + 1..].to_vec();
    for c in ext.iter_mut() {
        match *c {
            b'A'..=b'Z' => *c += b'a' - b'A',
            b'a'..=b'z' | b'0'..=b'9' => {}
            _ => return Vec::new(),
        }
    }
    ext
}

/// The lines of a text.
pub fn line_count(s: &[u8]) -> i64 {
    if s.is_empty() {
        return 0;
    }
    let mut n = s.iter().filter(|&&c| c == b'\n').count() as i64;
    if s[s.len() - 1] != b'\n' {
        n += 1;
    }
    n
}

/// The lines a Write, Edit or MultiEdit input adds and removes.
pub fn edit_lines<'a>(tool: &[u8], get: impl Fn(&str) -> J<'a>) -> Option<(i64, i64)> {
    match tool {
        b"Write" => {
            let c = get("content");
            if c.is_str() {
                return Some((line_count(c.s()), 0));
            }
        }
        b"Edit" => {
            let (o, n) = (get("old_string"), get("new_string"));
            if o.is_str() || n.is_str() {
                return Some((line_count(n.s()), line_count(o.s())));
            }
        }
        b"MultiEdit" => {
            let raw = match get("edits") {
                J::Json(raw) if raw[0] == b'[' => raw,
                _ => return None,
            };
            let (mut added, mut removed) = (0, 0);
            json::elements(raw, |e| {
                added += line_count(get_member(e, b"new_string").s());
                removed += line_count(get_member(e, b"old_string").s());
                true
            });
            return Some((added, removed));
        }
        _ => {}
    }
    None
}

/// The first member key of the object raw, parsed (gjson's Get of a plain key).
pub fn get_member<'a>(raw: &'a [u8], key: &[u8]) -> J<'a> {
    let mut found: Option<&'a [u8]> = None;
    json::members(raw, |k, v| {
        if &k[..] == key {
            found = Some(v);
            return false;
        }
        true
    });
    match found {
        Some(v) => json::parse(v),
        None => J::None,
    }
}

/// unicode.IsSpace.
fn is_space(r: u32) -> bool {
    match r {
        0x09..=0x0d | 0x20 | 0x85 | 0xa0 | 0x1680 | 0x2000..=0x200a | 0x2028 | 0x2029 | 0x202f | 0x205f | 0x3000 => true,
        _ => false,
    }
}

/// The runes of s with their byte offsets, as Go's range over a string.
fn runes(s: &[u8]) -> impl Iterator<Item = (usize, usize, u32)> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        if i >= s.len() {
            return None;
        }
        let (r, n) = decode_rune(&s[i..]);
        let at = i;
        i += n;
        Some((at, n, r))
    })
}

fn trim_space(s: &[u8]) -> &[u8] {
    let mut start = s.len();
    for (at, _, r) in runes(s) {
        if !is_space(r) {
            start = at;
            break;
        }
    }
    let s = &s[start..];
    let mut end = 0;
    for (at, n, r) in runes(s) {
        if !is_space(r) {
            end = at + n;
        }
    }
    &s[..end]
}

fn fields(s: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    for (at, _, r) in runes(s) {
        if is_space(r) {
            if let Some(st) = start.take() {
                out.push(&s[st..at]);
            }
        } else if start.is_none() {
            start = Some(at);
        }
    }
    if let Some(st) = start {
        out.push(&s[st..]);
    }
    out
}

fn first_command(mut cmd: &[u8]) -> &[u8] {
    while !cmd.is_empty() {
        let (line, rest) = match cmd.iter().position(|&c| c == b'\n') {
            Some(i) => (&cmd[..i], &cmd[i + 1..]),
            None => (cmd, &b""[..]),
        };
        cmd = rest;
        let line = trim_space(line);
        if line.is_empty() || line[0] == b'#' {
            continue;
        }
        return match line.iter().position(|&c| c == b';' || c == b'&' || c == b'|') {
            Some(i) => &line[..i],
            None => line,
        };
    }
    b""
}

fn is_assignment(w: &[u8]) -> bool {
    let name = match w.iter().position(|&c| c == b'=') {
        Some(i) => &w[..i],
        None => return false,
    };
    if name.is_empty() || name[0].is_ascii_digit() {
        return false;
    }
    name.iter().all(|&c| is_alnum(c) || c == b'_')
}

fn is_command(s: &[u8]) -> bool {
    !s.is_empty() && s.len() <= 32 && s.iter().all(|&c| is_alnum(c) || c == b'.' || c == b'_' || c == b'+' || c == b'-')
}

/// The name of the program a shell command line runs first, or empty.
pub fn command_name(cmd: &[u8]) -> &[u8] {
    let words = fields(first_command(cmd));
    let mut wrapped = false;
    let mut i = 0;
    while i < words.len() {
        let mut w = words[i];
        while let Some((&c, rest)) = w.split_first() {
            if c == b'(' || c == b'{' || c == b'!' {
                w = rest;
            } else {
                break;
            }
        }
        if w.is_empty() || is_assignment(w) {
            i += 1;
            continue;
        }
        if wrapped && w[0] == b'-' {
            if matches!(w, b"-u" | b"-g" | b"-n" | b"-C" | b"-D" | b"-h" | b"-p" | b"-r" | b"-t" | b"-U") {
                i += 1;
            }
            i += 1;
            continue;
        }
        if matches!(w, b"sudo" | b"time" | b"env" | b"nohup" | b"exec" | b"command" | b"builtin" | b"nice" | b"doas") {
            wrapped = true;
            i += 1;
            continue;
        }
        while let Some((&c, rest)) = w.split_first() {
            if c == b'"' || c == b'\'' {
                w = rest;
            } else {
                break;
            }
        }
        while let Some((&c, rest)) = w.split_last() {
            if c == b'"' || c == b'\'' {
                w = rest;
            } else {
                break;
            }
        }
        let w = &w[last_slash(w).map_or(0, |i| i + 1)..];
        return if is_command(w) { w } else { b"" };
    }
    b""
}

fn hex_rune(s: &[u8]) -> u32 {
    let mut r = 0u32;
    for &c in &s[..4] {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return 0,
        };
        r = r << 4 | d as u32;
    }
    r
}

/// The size of a raw JSON value as the plugin measures text: a string's bytes once unescaped, or
/// the raw JSON of anything else.
pub fn raw_size(raw: &[u8]) -> i64 {
    if raw.len() < 2 || raw[0] != b'"' {
        return raw.len() as i64;
    }
    let mut s = &raw[1..raw.len() - 1];
    let mut n = 0i64;
    loop {
        let k = match s.iter().position(|&c| c == b'\\') {
            None => return n + s.len() as i64,
            Some(k) => k,
        };
        if k + 1 == s.len() {
            return n + k as i64;
        }
        n += k as i64;
        s = &s[k..];
        if s[1] != b'u' {
            n += 1;
            s = &s[2..];
            continue;
        }
        if s.len() < 6 {
            return n;
        }
        let mut ru = hex_rune(&s[2..6]);
        s = &s[6..];
        if (0xd800..0xdc00).contains(&ru) && s.len() >= 6 && s[0] == b'\\' && s[1] == b'u' {
            let r2 = hex_rune(&s[2..6]);
            if (0xdc00..0xe000).contains(&r2) {
                ru = (((ru - 0xd800) << 10) | (r2 - 0xdc00)) + 0x10000;
                s = &s[6..];
            }
        }
        n += match ru {
            0..=0x7f => 1,
            0x80..=0x7ff => 2,
            0xd800..=0xdfff => 3,
            0x800..=0xffff => 3,
            0x10000..=0x10ffff => 4,
            _ => 3,
        };
    }
}

/// A JSON number that is an integer written without a fraction or exponent.
pub fn int_value(v: &J) -> Option<i64> {
    let raw = match v {
        J::Num(_, raw) if !raw.is_empty() => *raw,
        _ => return None,
    };
    let neg = raw[0] == b'-';
    let s = if neg { &raw[1..] } else { raw };
    if s.is_empty() || s.len() > 18 {
        return None;
    }
    let mut n = 0i64;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        n = n * 10 + (c - b'0') as i64;
    }
    Some(if neg { -n } else { n })
}

pub fn is_digits(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|c| c.is_ascii_digit())
}

/// The name of a project's folder under ~/.claude/projects for a path.
pub fn project_name(path: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(path.len());
    for (_, _, r) in runes(path) {
        if r < 0x80 && is_alnum(r as u8) {
            b.push(r as u8);
        } else if r > 0xffff {
            b.extend_from_slice(b"--");
        } else {
            b.push(b'-');
        }
    }
    normalize_drive(b)
}

/// The project folder's name from a transcript's path.
pub fn transcript_project(path: &[u8]) -> Vec<u8> {
    let i = match last_slash(path) {
        Some(i) if i > 0 => i,
        _ => return Vec::new(),
    };
    let dir = &path[..i];
    normalize_drive(dir[last_slash(dir).map_or(0, |i| i + 1)..].to_vec())
}

fn normalize_drive(mut name: Vec<u8>) -> Vec<u8> {
    if name.len() >= 3 && name[1] == b'-' && name[2] == b'-' && name[0].is_ascii_lowercase() {
        name[0] -= b'a' - b'A';
    }
    name
}

pub const ERR_INTERRUPTED: &str = "interrupted";
pub const ERR_EXIT_CODE: &str = "exit_code";
pub const ERR_OTHER: &str = "other";

const ERROR_MARKS: &[(&[u8], &str)] = &[
    (b"doesn't want to proceed", "rejected"),
    (b"doesn't want to take this action", "rejected"),
    (b"tool use was rejected", "rejected"),
    (b"user rejected", "rejected"),
    (b"interrupted by user", ERR_INTERRUPTED),
    (b"[request interrupted", ERR_INTERRUPTED),
    (b"inputvalidationerror", "invalid_input"),
    (b"string to replace not found", "invalid_input"),
    (b"has not been read yet", "invalid_input"),
    (b"invalid input", "invalid_input"),
    (b"invalid parameter", "invalid_input"),
    (b"timed out", "timeout"),
    (b"timeout", "timeout"),
    (b"permission denied", "permission"),
    (b"operation not permitted", "permission"),
    (b"eacces", "permission"),
    (b"eperm", "permission"),
    (b"haven't granted", "permission"),
    (b"requires approval", "permission"),
    (b"no such file", "not_found"),
    (b"does not exist", "not_found"),
    (b"enoent", "not_found"),
    (b"not found", "not_found"),
    (b"cannot find", "not_found"),
    (b"exit code", ERR_EXIT_CODE),
    (b"exited with", ERR_EXIT_CODE),
];

pub const MAX_ERROR_TEXT: usize = 2048;

/// Classifies an error text.
pub fn error_kind(text: &[u8]) -> &'static str {
    let text = &text[..text.len().min(MAX_ERROR_TEXT)];
    let low = text.to_ascii_lowercase();
    for (mark, kind) in ERROR_MARKS {
        if find(&low, mark).is_some() {
            return kind;
        }
    }
    ERR_OTHER
}
