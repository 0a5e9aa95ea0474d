// A test plugin for the SDK's encoders (as_test.go builds it with the example's node_modules): it
// turns each record's fields into events with every kind of attribute, so that the test can
// compare the output byte for byte with the Go encoders.
//
//   {"fail": "msg"}                      fails the record
//   {"count": n, "kind": k, "session": s, "t": nanos, "n": int, "f": float, "b": bool,
//    "id": ident, "h": "hash bytes", "log": "line", "kv": "value", "w": any}
//
// emits n events of kind k (default 1), each with the attributes whose fields are present ("w":
// the bool attribute "withheld", whether the host withheld it).

import { Event, Level, Record, handleCapture, kvGet, kvSet, log } from "@hangar-dev/as-sdk";
// enrich is exported without a handler, to test that calling it fails the call.
export { capture, enrich } from "@hangar-dev/as-sdk";

function capture(rec: Record): Event[] {
  const fail = rec.getString("fail");
  if (fail != null) {
    rec.fail(fail);
    return [];
  }
  const line = rec.getString("log");
  if (line != null) log(Level.Info, line);
  let count: i64 = 1;
  if (rec.has("count")) count = rec.getInt("count");
  const out: Event[] = [];
  for (let i: i64 = 0; i < count; i++) {
    const kind = rec.getString("kind");
    const ev = new Event(kind == null ? "test" : kind);
    const session = rec.getString("session");
    if (session != null) ev.session(session);
    if (rec.has("t")) ev.at(rec.getInt("t"));
    if (rec.has("n")) ev.int("n", rec.getInt("n"));
    if (rec.has("f")) ev.float("f", rec.getNumber("f"));
    if (rec.has("b")) ev.bool("b", rec.getBool("b"));
    const id = rec.getString("id");
    if (id != null) ev.ident("id", id);
    const h = rec.getString("h");
    if (h != null) ev.hash("h", Uint8Array.wrap(String.UTF8.encode(h)));
    const kv = rec.getString("kv");
    if (kv != null) {
      const key = Uint8Array.wrap(String.UTF8.encode("k"));
      kvSet(key, Uint8Array.wrap(String.UTF8.encode(kv)));
      const got = kvGet(key);
      ev.ident("kv", got == null ? "<none>" : String.UTF8.decode(got.buffer));
    }
    if (rec.has("w")) ev.bool("withheld", rec.isWithheld("w"));
    out.push(ev);
  }
  return out;
}

handleCapture(capture);
