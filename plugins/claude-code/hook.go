package main

import (
	"errors"
	"strings"

	"github.com/hangar-dev/hangar/sdk"
	"github.com/tidwall/gjson"
)

// enums are the hook enumerations whose values the plugin keeps, and the values it accepts:
// anything else is dropped, so that a free-text value can never slip through.
var enums = []struct {
	field   string
	allowed map[string]bool
}{
	{"source", map[string]bool{"startup": true, "resume": true, "clear": true, "compact": true}},
	{"reason", map[string]bool{"clear": true, "logout": true, "prompt_input_exit": true, "other": true, "bypass_permissions_disabled": true}},
	{"trigger", map[string]bool{"manual": true, "auto": true}},
	{"notification_type", map[string]bool{"permission_prompt": true, "idle_prompt": true, "auth_success": true, "elicitation_dialog": true}},
	{"error_type", map[string]bool{
		"rate_limit": true, "authentication_failed": true, "oauth_org_not_allowed": true, "billing_error": true,
		"invalid_request": true, "model_not_found": true, "server_error": true, "max_output_tokens": true, "unknown": true,
	}},
}

// sizes are the content fields whose size in bytes the plugin keeps, by attribute name (see size).
var sizes = [][2]string{
	{"tool_input", "tool_input_bytes"},
	{"tool_response", "tool_response_bytes"},
	{"prompt", "prompt_bytes"},
	{"last_assistant_message", "assistant_message_bytes"},
	{"custom_instructions", "custom_instructions_bytes"},
	{"error", "error_bytes"},
}

// exitCodeFields are the names tool responses give a process's exit status.
var exitCodeFields = []string{"exitCode", "exit_code", "returnCode", "return_code"}

var errHookName = errors.New("record has no hook_event_name: it is not a non-empty string")

// hookEvent turns a hook payload into its event, hook.<hook_event_name> (hook.other for a name
// that is not a plain name).
func hookEvent(r *record, name gjson.Result) (sdk.Event, error) {
	if name.Type != gjson.String || name.Str == "" {
		return sdk.Event{}, errHookName
	}
	ev := sdk.Event{Kind: "hook.other", SessionID: sessionID(r.get("session_id"))}
	if isKindName(name.Str) {
		ev.Kind = "hook." + name.Str
	}
	a := newAttrs(16)
	a.identOf("tool_name", r.get("tool_name"))
	if err := a.toolUse(r.get("tool_use_id")); err != nil {
		return sdk.Event{}, err
	}
	for _, f := range []string{"permission_mode", "model"} {
		a.identOf(f, r.get(f))
	}
	for _, e := range enums {
		a.enumOf(e.field, r.get(e.field), e.allowed)
	}
	for _, f := range sizes {
		if raw, ok := r.top.lookup(f[0]); ok && raw != "null" {
			a.int(f[1], rawSize(raw))
		}
	}
	a.boolOf("stop_hook_active", r.get("stop_hook_active"))

	_, hasResp := r.top.lookup("tool_response")
	failed := name.Str == "PostToolUseFailure"
	if resp := r.sub("tool_response"); resp.ok {
		interrupted, isError := resp.get("interrupted"), resp.get("is_error")
		a.boolOf("interrupted", interrupted)
		a.boolOf("is_error", isError)
		if v := resp.get("durationMs"); v.Type == gjson.Number && v.Num >= 0 && v.Num < 1<<53 {
			a.int("duration_ms", int64(v.Num))
		}
		for _, f := range exitCodeFields {
			if n, ok := intValue(resp.get(f)); ok && n >= -1<<31 && n < 1<<32 {
				a.int("exit_code", n)
				failed = failed || n != 0
				break
			}
		}
		if raw, ok := resp.lookup("stderr"); ok && strings.HasPrefix(raw, `"`) {
			a.int("stderr_bytes", rawSize(raw))
		}
		if v := resp.get("success"); v.IsBool() && !v.Bool() {
			failed = true
		}
		if isError.Bool() || interrupted.Bool() {
			failed = true
		}
	}
	// Claude Code 2.1.x gives PostToolUse and PostToolUseFailure the tool's duration at the top
	// level (tool_response.durationMs is older, and only some tools').
	if v := r.get("duration_ms"); !a.has("duration_ms") && v.Type == gjson.Number && v.Num >= 0 && v.Num < 1<<53 {
		a.int("duration_ms", int64(v.Num))
	}
	if v := r.get("is_interrupt"); v.IsBool() && !a.has("interrupted") {
		a.bool("interrupted", v.Bool())
		failed = failed || v.Bool()
	}
	if name.Str == "PostToolUseFailure" || name.Str == "PostToolUse" && hasResp {
		a.bool("success", !failed)
		if failed {
			a.ident("error_kind", hookErrorKind(r, a))
		}
	}

	if tool := r.get("tool_name"); tool.Type == gjson.String && tool.Str != "" {
		toolInput(&a, tool.Str, r.sub("tool_input"))
	}
	if p := r.get("prompt"); p.Type == gjson.String {
		if err := a.prompt(p.Str); err != nil {
			return sdk.Event{}, err
		}
	}
	project := ""
	if v := r.get("transcript_path"); v.Type == gjson.String {
		project = transcriptProject(v.Str)
	}
	if v := r.get("cwd"); project == "" && v.Type == gjson.String && v.Str != "" {
		project = projectName(v.Str)
	}
	if err := a.project(project); err != nil {
		return sdk.Event{}, err
	}
	ev.Attrs = a
	return ev, nil
}

// toolInput adds the reductions of a tool call's input: its operation, the extension of the file
// it reads or writes, the lines it adds and removes, the program a shell command runs, and an MCP
// tool's server and name.
func toolInput(a *attrs, tool string, input members) {
	a.ident("operation", operation(tool))
	if input.ok {
		for _, f := range []string{"file_path", "notebook_path"} {
			if p := input.get(f); p.Type == gjson.String {
				if ext := fileExt(p.Str); ext != "" {
					a.ident("file_ext", ext)
				}
				break
			}
		}
		if added, removed, ok := editLines(tool, input.get); ok {
			a.int("lines_added", added)
			a.int("lines_removed", removed)
		}
		if tool == "Bash" {
			if c := input.get("command"); c.Type == gjson.String {
				// A name of leakWindow bytes or more is in the input verbatim: the host would refuse it.
				if name := commandName(c.Str); name != "" && len(name) < leakWindow {
					a.ident("command", name)
				} else {
					a.ident("command_kind", "other")
				}
			}
		}
	}
	if server, name, ok := mcpNames(tool); ok {
		if server != "" {
			a.ident("mcp_server", server)
		}
		if name != "" {
			a.ident("mcp_tool", name)
		}
	}
}

// hookErrorKind classifies a failed tool call of a hook: from its error text (PostToolUseFailure's
// error, else the tool response's error or stderr), else from its flags (interrupted, a non-zero
// exit code).
func hookErrorKind(r *record, a attrs) string {
	text := r.get("error")
	if text.Type != gjson.String {
		resp := r.sub("tool_response")
		for _, f := range []string{"error", "stderr", "content"} {
			if v := resp.get(f); v.Type == gjson.String && v.Str != "" {
				text = v
				break
			}
		}
	}
	if kind := errorKind(text.Str); kind != errOther {
		return kind
	}
	for _, x := range a {
		switch {
		case x.Key == "interrupted" && x.Value.Bool():
			return errInterrupted
		case x.Key == "exit_code" && x.Value.Int() != 0:
			return errExitCode
		}
	}
	return errOther
}
