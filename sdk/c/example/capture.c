/*
 * The example capture plugin in C: one event "hook.<hook_event_name>" per Claude Code hook
 * payload, with the session id and, when there is one, the tool name. It reads only the fields
 * its manifest asks for (plugin.toml), which are all the host gives it. It does what the
 * AssemblyScript SDK's example and the Go test plugin host/testdata/echo do, byte for byte.
 */
#include "../hangar.h"

static void handle(hangar_record *rec) {
  hangar_str name, session, tool;
  if (!hangar_get_string(rec, "hook_event_name", &name) || name.len == 0) {
    hangar_fail(rec, HANGAR_LIT("no hook_event_name"));
    return;
  }
  hangar_event *ev = hangar_event_new(rec, hangar_concat(rec, HANGAR_LIT("hook."), name));
  if (hangar_get_string(rec, "session_id", &session)) hangar_event_session(ev, session);
  if (hangar_get_string(rec, "tool_name", &tool) && tool.len > 0) hangar_event_ident(ev, "tool_name", tool);
}

/* The host calls the export named after the plugin's kind. */
HANGAR_EXPORT("capture") int32_t capture(void) { return hangar_run(handle); }
