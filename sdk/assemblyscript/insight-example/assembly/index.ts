// error-sessions is a Hangar insight plugin in AssemblyScript, the worked example of
// docs/PLUGINS.md: it flags the sessions where a large share of the tool calls failed.
//
// It reads one derived kind, conversation.session (the first-party conversations plugin writes
// one record per session, keyed by the session id, and writes it again as the session goes on),
// and nothing else: plugin.toml asks for read:derived:conversation.session alone. Each record
// decides its session's insight on its own, so the plugin keeps no state: the store keeps the
// latest insight per key, and the latest record of a session gives the latest insight.

import { Event, Record, handleInsight } from "@hangar-dev/as-sdk";

// The host calls the export "insight"; the SDK implements it with the handler registered below.
export { insight } from "@hangar-dev/as-sdk";

/** A session needs at least MIN_CALLS tool calls to be judged. */
const MIN_CALLS: i64 = 10;
/** The share of failed calls, in percent, from which a session is flagged: warning, critical. */
const WARNING_PCT: i64 = 30;
const CRITICAL_PCT: i64 = 60;

/** CODE is the code of the insight; plugin.toml's [messages.error_heavy_session] holds its words. */
const CODE = "error_heavy_session";

function insight(rec: Record): Event[] {
  const kind = rec.getString("kind");
  if (kind == null || kind != "conversation.session") return [];
  // Attributes are an array of {key, type, value}: read them by key.
  const session = rec.attrIdent("key");
  const calls = rec.attrInt("tool_calls");
  if (session == null || calls < MIN_CALLS) return [];
  const errors = rec.attrInt("tool_errors");
  const pct = (200 * errors + calls) / (2 * calls); // rounded to the nearest percent
  const flagged = pct >= WARNING_PCT;
  let severity = "info";
  if (flagged) severity = pct >= CRITICAL_PCT ? "critical" : "warning";
  // An insight holds only identifiers, numbers and flags; its words are in plugin.toml.
  const ev = new Event(CODE)
    .ident("key", session)
    .ident("code", CODE)
    .ident("severity", severity)
    .ident("session_1", session)
    .int("tool_calls", calls)
    .int("tool_errors", errors)
    .int("error_pct", pct)
    .int("turns", rec.attrInt("turns"))
    .int("turns_with_error", rec.attrInt("turns_with_error"))
    // resolved: the session's latest record no longer meets the rule (agent insights hides it).
    .bool("resolved", !flagged);
  const model = rec.attrIdent("model");
  if (model != null && model.length > 0) ev.ident("model", model);
  const start = rec.attrInt("start"); // Unix milliseconds
  if (start > 0) ev.at(start * 1_000_000);
  return [ev];
}

handleInsight(insight);
