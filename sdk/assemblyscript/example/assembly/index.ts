// The example capture plugin: one event "hook.<hook_event_name>" per Claude Code hook payload,
// with the session id and, when there is one, the tool name. It reads only the fields its
// manifest asks for (plugin.toml), which are all the host gives it.

import { Event, Record, handleCapture } from "@hangar-dev/as-sdk";

// The host calls the export "capture"; the SDK implements it with the handler registered below.
export { capture } from "@hangar-dev/as-sdk";

function capture(rec: Record): Event[] {
  const name = rec.getString("hook_event_name");
  if (name == null || name.length == 0) {
    rec.fail("no hook_event_name");
    return [];
  }
  const ev = new Event("hook." + name);
  const session = rec.getString("session_id");
  if (session != null) ev.session(session);
  const tool = rec.getString("tool_name");
  if (tool != null && tool.length > 0) ev.ident("tool_name", tool);
  return [ev];
}

handleCapture(capture);
