// Package daemon is the agent's core process: it owns the data directory's lock and the store, runs
// the intake, the consumers, the spool drainer and retention, and serves the local API over a Unix
// socket. The CLI talks to a running daemon through a [Client]; when none runs, it opens a Daemon
// in-process and talks to the same API handler without a socket, so that every command behaves the
// same either way.
package daemon
