// Package vectors will own conversation feature vectors: hashed, salted sketches of what a
// conversation was about (never its text), kept in the Pebble store and loaded into an in-memory
// chromem-go collection for `agent search similar`.
package vectors
