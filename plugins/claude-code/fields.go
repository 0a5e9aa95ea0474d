package main

// The fields the plugin asks for, as plugin.toml lists them (TestManifestFields checks that it
// does): the host hands the plugin these and nothing else of each record.

// readFields are the metadata fields (capability "read:payload.<field>"). The host passes only
// their values that are metadata by type (numbers, flags, identifiers: sdk/abi), abi.Withheld in
// place of any other, and exempts them from its content-leak check, as guard does. A field the
// plugin needs the text of is a content field.
var readFields = []string{
	// Hook payloads.
	"hook_event_name",
	"session_id",
	"tool_name",
	"tool_use_id",
	"permission_mode",
	"model",
	"source",
	"reason",
	"trigger",
	"notification_type",
	"stop_hook_active",
	"is_interrupt",
	"error_type",
	"duration_ms",
	// Transcript lines.
	"type",
	"subtype",
	"timestamp",
	"sessionId",
	"requestId",
	"isSidechain",
	"isMeta",
	"isCompactSummary",
	"version",
	"costUSD",
	"compactMetadata.trigger",
	"compactMetadata.preTokens",
	"message.id",
	"message.model",
	"message.usage",
}

// contentFields are the fields holding content (capability "content:<field>"): text, code,
// paths and command lines the plugin reduces to sizes, counts, hashes and sketches in memory.
// Nothing it emits may carry 12 bytes of them (guard, and the host's check).
var contentFields = []string{
	"prompt",
	"tool_input",
	"tool_response",
	"last_assistant_message",
	"custom_instructions",
	"error",
	"cwd",
	"transcript_path",
	"message.content",
	"summary",
}
