//! The example capture plugin: one event `hook.<hook_event_name>` per Claude Code hook payload,
//! with the session id and, when there is one, the tool name. It reads only the fields its
//! manifest asks for (plugin.toml), which are all the host gives it. It does what the Go reference
//! plugin `host/testdata/echo` does, byte for byte (`sdk/rust/rust_test.go` checks it).

use hangar_pdk::{Error, Event, Record};

fn capture(rec: &Record) -> Result<Vec<Event>, Error> {
    let name = match rec.get_str("hook_event_name") {
        Some(n) if !n.is_empty() => n,
        _ => return Err(Error::from("no hook_event_name")),
    };
    let mut kind = String::with_capacity(5 + name.len());
    kind.push_str("hook.");
    kind.push_str(&name);
    let mut ev = Event::new(&kind);
    if let Some(session) = rec.get_str("session_id") {
        ev.session(&session);
    }
    if let Some(tool) = rec.get_str("tool_name") {
        if !tool.is_empty() {
            ev.ident("tool_name", &tool);
        }
    }
    Ok(vec![ev])
}

hangar_pdk::capture!(capture);
