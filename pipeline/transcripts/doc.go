// Package transcripts brings Claude Code's session transcripts into the pipeline: each line of
// each transcript becomes one pipeline.RawRecord (Platform "claude-code", Source "transcript"),
// read once, whether by `agent import` or by the daemon following the files as they grow.
//
// # Where transcripts are
//
// Locations finds the folders as ccusage does: CLAUDE_CONFIG_DIR, a comma-separated list of
// folders that each hold a projects/ folder (only those that do count); when it is unset or
// blank, $XDG_CONFIG_HOME/claude (~/.config/claude) and ~/.claude, both when both hold projects/.
// Every *.jsonl file below projects/ is a transcript, at any depth (subagent transcripts
// included), following symbolic links; like ccusage's glob, names starting with a dot are
// skipped. A file reached twice (by a link, or through two locations that are one folder) is
// read once.
//
// # Records and ids
//
// A record's payload is the line without its newline (and without a carriage return before it);
// blank lines make no record. Its id is sdk.NewID("claude-code-transcript", name, line), name
// being the file's slash-separated path below projects/. Reading a line again, from another copy
// of the folder, after a crash, or by both `agent import` and the daemon, gives the same id, and
// the store keeps one. A line longer than pipeline.MaxPayload is never held in memory: it
// becomes an oversized record (its size, no payload), as the hook makes of a huge payload, with
// the id sdk.NewID("claude-code-transcript", name, "oversize", sha256(line)).
//
// # Checkpoints
//
// Each file has a checkpoint in the store (store.Checkpoint, under the source Namespace,
// "claude-code-transcript"): its device and inode, its size, the hash of its first 64 bytes (fewer
// in a smaller file) and the offset of the next unread byte. A checkpoint is not keyed by the
// file's path, which names the user's projects and must not be at rest, but by keyed hashes of it:
// HashedCheckpoints stores it under HMAC(install secret, projects folder) "/" HMAC(install secret,
// path), truncated, as the daemon and `agent import` do (StoreCheckpoints alone keys by path:
// the daemon always wraps it). The key layout is in docs/ARCHITECTURE.md ("Pebble key layout").
// Reading a file resumes at the offset unless:
//
//   - the device or inode differ: the file was replaced (a new file under the old name), so it is
//     read from the start;
//   - the file is now shorter than the offset, or than the hashed head: it was truncated, read
//     from the start;
//   - its first bytes hash differently: it was rewritten in place, read from the start.
//
// Reading from the start again sends lines that may have been sent before; their ids make that
// harmless. A checkpoint is written only after the intake acknowledged (committed durably) every
// record before its offset, so a crash resends a batch, never skips one. Writes are
// compare-and-swap (store.SwapCheckpoint): when two readers of one file race (the daemon's
// tailer and an import through it), the one behind gives way.
//
// A file that no longer exists loses its checkpoint when a scan of its folder notices, or when a
// pass finds it gone since the scan (unreported: deleting a transcript is no error). A file that
// cannot be read (permissions, a symbolic link loop, a name that is a folder) is reported and
// skipped, and the others go on; its checkpoint stays.
//
// # Lines still being written
//
// A final line without its newline is a line being written: it is left for later, and its
// bytes are not consumed. Claude Code writes a line and its newline at once, so such a line is
// normally complete a moment later. A file whose last line still has no newline once the file
// has not changed for QuiesceAfter (60 s by default, by its modification time) is taken to be
// finished (a copy made by another tool, or a writer that died mid-line): that line is taken as
// it is. Had the writer only paused, the rest of its line arrives later as a line of its own;
// both halves then fail capture and go to the dead-letter queue, and the lines after them are
// read normally.
//
// # Following files
//
// Watcher follows the locations: fsnotify on every folder below projects/ (new sessions are new
// files, new projects new folders), plus a full scan every 30 s by default, the safety net for
// lost or unsupported notifications (kqueue, on macOS and BSD, needs a file descriptor per
// watched file, so there folders are watched only within a budget of descriptors and the scan
// does the rest).
//
// Tailer, Watcher and StoreCheckpoints are safe for concurrent use; one Tailer may sync several
// files at once, but not the same file twice at once (Sync and Watcher never do).
package transcripts
