// Package sdk is what plugin authors import: the event schema shared by the host, the plugins and
// the store.
//
// An [Event] is one privacy-safe fact about an AI assistant's work: what happened ([Event.Kind]), on
// which platform, in which session and when, with typed [Attr] values. Attributes are numbers,
// booleans, hashes and short identifiers; text, code, paths and command arguments never belong in an
// event, and [Event.Validate] refuses values that look like them.
//
// Events have deterministic ids ([NewID]): the same source record always yields the same id, so the
// store can drop a re-ingested record as a duplicate. Events are stored with a compact versioned binary
// encoding ([Event.MarshalBinary], [Event.UnmarshalBinary]); decoding an unknown version or corrupt
// bytes is an error, never a panic.
package sdk
