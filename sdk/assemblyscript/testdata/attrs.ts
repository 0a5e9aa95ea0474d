// A test plugin for the SDK's attribute getters (as_test.go builds it with the example's
// node_modules): for each record (a stored event or derived record, as sdk.Event.MarshalJSON
// writes it), one event "attrs" holding, for each of the keys below that the record has, its type
// as the ident <key>_type and its value read by key: ints, floats and bools as such, idents and
// hashes as idents, a sketch as the length of its JSON. The test compares the output byte for
// byte with the same reading done in Go with gjson (attrs.#(key=="...")).

import { Event, Record, handleInsight } from "@hangar-dev/as-sdk";
export { insight } from "@hangar-dev/as-sdk";

const KEYS: string[] = ["tool_name", "count", "ratio", "ok", "h", "latency", "missing", "key", "big"];

function insight(rec: Record): Event[] {
  const ev = new Event("attrs");
  for (let i = 0; i < KEYS.length; i++) {
    const k = KEYS[i];
    if (!rec.hasAttr(k)) continue;
    const t = rec.attrType(k);
    if (t == null) continue;
    ev.ident(k + "_type", t);
    if (t == "int") ev.int(k, rec.attrInt(k));
    else if (t == "float") ev.float(k, rec.attrFloat(k));
    else if (t == "bool") ev.bool(k, rec.attrBool(k));
    else if (t == "ident" || t == "hash") ev.ident(k, rec.attrIdent(k)!);
    else ev.int(k, rec.attrRaw(k)!.length);
  }
  // Paths still work beside attributes.
  const kind = rec.getString("kind");
  if (kind != null) ev.ident("kind", kind);
  return [ev];
}

handleInsight(insight);
