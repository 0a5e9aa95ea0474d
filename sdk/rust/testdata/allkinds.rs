//! A test plugin for the SDK (rust_test.go builds it): its exports turn records into events with
//! every kind of attribute, so that the test can compare the output byte for byte with the Go
//! encoders, and call every host function.
//!
//! capture, per record:
//!
//!   {"fail": "msg"}                        fails the record
//!   {"panic": "msg"}                       panics (fails the whole call)
//!   {"count": n, "kind": k, "session": s, "t": nanos, "n": int, "f": float, "b": bool,
//!    "id": ident, "h": "hash bytes", "sk": [[i, v], ...], "log": "line", "kv": "value", "w": any,
//!    "salt": any, "leaks": ["s", ...], "leak_of": "a.b", "path": "a.b"}
//!
//! emits n events of kind k (default 1), each with the attributes whose fields are present ("w":
//! the bool "withheld", whether the host withheld it; "salt": the salt as the hash "salt", twice
//! read alike as the bool "salt_same"; "leaks": the bools leak_0, leak_1, ... the host's answers;
//! "leak_of": the bools leak_of_0 and leak_of_1, the host's answers for the first 16 bytes of the
//! string at that path and for a string shown nowhere;
//! "path": the ident "at", the string at that path of the record, or "<none>").
//!
//! insight: per record (a stored event or derived record as sdk.Event.MarshalJSON writes it),
//! one event "attrs" with, for each key of KEYS the record has, its type as the ident <key>_type
//! and its value read by key: ints, floats and bools as such, idents and hashes as idents, another
//! type as the length of its JSON; then the record's "kind" as the ident "kind".
//!
//! enrich (a batch handler): per record, one event "batch" with the int "index" and the int "of"
//! (the call's record count), or the record's "fail" as its error; the last result is left out
//! when a record has "short", which must count as no events.

use hangar_pdk::{kv_get, kv_set, leaks, log, salt, Error, Event, Level, Outcome, Record};

fn capture(rec: &Record) -> Outcome {
    if let Some(msg) = rec.get_str("fail") {
        return Err(Error::new(msg.into_owned()));
    }
    if let Some(msg) = rec.get_str("panic") {
        panic!("{}", msg);
    }
    if let Some(line) = rec.get_str("log") {
        log(Level::Info, &line);
    }
    let count = rec.get_int("count").unwrap_or(1);
    let mut out = Vec::new();
    for _ in 0..count {
        let kind = rec.get_str("kind");
        let mut ev = Event::new(kind.as_deref().unwrap_or("test"));
        if let Some(s) = rec.get_str("session") {
            ev.session(&s);
        }
        if let Some(t) = rec.get_int("t") {
            ev.at(t);
        }
        if let Some(n) = rec.get_int("n") {
            ev.int("n", n);
        }
        if let Some(f) = rec.get_float("f") {
            ev.float("f", f);
        }
        if let Some(b) = rec.get_bool("b") {
            ev.bool("b", b);
        }
        if let Some(id) = rec.get_str("id") {
            ev.ident("id", &id);
        }
        if let Some(h) = rec.get_str("h") {
            ev.hash("h", h.as_bytes());
        }
        if let Some(sk) = rec.get("sk") {
            let entries: Vec<(u16, f32)> = sk
                .elements()
                .map(|e| (e.get("0").and_then(|v| v.as_i64()).unwrap_or(0) as u16, e.get("1").and_then(|v| v.as_f64()).unwrap_or(0.0) as f32))
                .collect();
            ev.sketch("sk", &entries);
        }
        if let Some(v) = rec.get_str("kv") {
            kv_set(b"k", v.as_bytes());
            let got = kv_get(b"k");
            ev.ident("kv", got.as_deref().map(|g| std::str::from_utf8(g).unwrap_or("<bad>")).unwrap_or("<none>"));
            ev.bool("kv_missing", kv_get(b"never-set").is_none());
        }
        if rec.has("w") {
            ev.bool("withheld", rec.is_withheld("w"));
        }
        if rec.has("salt") {
            let s = salt();
            ev.hash("salt", &s);
            ev.bool("salt_same", salt() == s);
        }
        if let Some(q) = rec.get("leaks") {
            let strs: Vec<String> = q.elements().filter_map(|e| e.as_str().map(|s| s.into_owned())).collect();
            for (i, hit) in leaks(&strs).iter().enumerate() {
                ev.bool(&format!("leak_{}", i), *hit);
            }
        }
        if let Some(p) = rec.get_str("leak_of") {
            // The first 16 bytes of the string at that path, and a string shown nowhere.
            let text = rec.get_str(&p).unwrap_or_default();
            let head = &text.as_bytes()[..text.len().min(16)];
            let q: [&[u8]; 2] = [head, b"nothing-like-it-anywhere"];
            for (i, hit) in leaks(&q).iter().enumerate() {
                ev.bool(&format!("leak_of_{}", i), *hit);
            }
        }
        if let Some(p) = rec.get_str("path") {
            let at = rec.get_str(&p);
            ev.ident("at", at.as_deref().unwrap_or("<none>"));
        }
        out.push(ev);
    }
    Ok(out)
}

const KEYS: [&str; 9] = ["tool_name", "count", "ratio", "ok", "h", "latency", "missing", "key", "big"];

fn insight(rec: &Record) -> Outcome {
    let mut ev = Event::new("attrs");
    for k in KEYS {
        let a = match rec.attr(k) {
            Some(a) => a,
            None => continue,
        };
        let t = match a.typ.as_str() {
            Some(t) => t,
            None => continue,
        };
        ev.ident(&format!("{}_type", k), &t);
        match &*t {
            "int" => ev.int(k, rec.attr_int(k).unwrap_or(0)),
            "float" => ev.float(k, rec.attr_float(k).unwrap_or(f64::NAN)),
            "bool" => ev.bool(k, rec.attr_bool(k).unwrap_or(false)),
            "ident" | "hash" => ev.ident(k, &rec.attr_ident(k).unwrap_or_default()),
            _ => ev.int(k, a.value.raw().len() as i64),
        };
    }
    if let Some(kind) = rec.get_str("kind") {
        ev.ident("kind", &kind);
    }
    Ok(vec![ev])
}

fn enrich(recs: &[Record]) -> Vec<Outcome> {
    let mut out: Vec<Outcome> = recs
        .iter()
        .enumerate()
        .map(|(i, rec)| match rec.get_str("fail") {
            Some(msg) => Err(Error::new(msg.into_owned())),
            None => {
                let mut ev = Event::new("batch");
                ev.int("index", i as i64).int("of", recs.len() as i64);
                Ok(vec![ev])
            }
        })
        .collect();
    if recs.iter().any(|r| r.has("short")) {
        out.pop();
    }
    out
}

hangar_pdk::capture!(capture);
hangar_pdk::insight!(insight);
hangar_pdk::enrich_batch!(enrich);
