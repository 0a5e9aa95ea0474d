// Package jsonwalk finds the values of a set of dotted paths in a JSON document in one pass, as
// gjson.Get would find each ([Walk.Run]), and the strings with escape sequences inside a JSON
// container ([Walk.Escaped]). The host projects each record a plugin is shown with it, so it reads
// untrusted bytes: whatever the input, valid JSON or not, its values are gjson's, and it never
// panics (FuzzWalk).
package jsonwalk
