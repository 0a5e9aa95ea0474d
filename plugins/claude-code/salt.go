package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
)

// saltSource returns the plugin's salt: pdk.Salt in the module (salt_wasip1.go), a fixed salt in
// native tests.
var saltSource func() []byte

// hashLen is the size of the plugin's salted hashes.
const hashLen = 16

// keys holds what the plugin derives from its salt, once per instance.
type keys struct {
	salt     []byte
	sk0, sk1 uint64            // the sketch's SipHash key
	projects map[string][]byte // project hashes by folder name, a bounded cache

	lastCwd     string // the working directory of the last transcript line with one
	lastCwdHash []byte // and its project's hash
}

var saltKeys *keys

// maxProjectCache bounds the project hash cache.
const maxProjectCache = 256

// getKeys returns the plugin's keys, asking the host for the salt on first use (so records that
// need no hash never ask).
func getKeys() (*keys, error) {
	if saltKeys != nil {
		return saltKeys, nil
	}
	if saltSource == nil {
		return nil, errors.New("no salt source")
	}
	salt := saltSource()
	if len(salt) < 16 {
		return nil, errors.New("salt too short")
	}
	k := &keys{salt: salt, projects: map[string][]byte{}}
	sk := k.mac([]byte(sketchKeyLabel))
	k.sk0, k.sk1 = binary.LittleEndian.Uint64(sk[:8]), binary.LittleEndian.Uint64(sk[8:16])
	saltKeys = k
	return k, nil
}

// mac returns HMAC-SHA256(salt, data) cut to hashLen bytes.
func (k *keys) mac(data []byte) []byte {
	m := hmac.New(sha256.New, k.salt)
	m.Write(data)
	return m.Sum(nil)[:hashLen]
}

// project returns the salted hash of a project folder's name.
func (k *keys) project(name string) []byte {
	if h, ok := k.projects[name]; ok {
		return h
	}
	if len(k.projects) >= maxProjectCache {
		clear(k.projects)
	}
	h := k.mac([]byte(name))
	k.projects[name] = h
	return h
}

// toolUseLabel separates the tool-use id hash from the plugin's other salted hashes.
const toolUseLabel = "claude-code/tool_use_id\x00"

// toolUseID returns the join key of a tool use: 12 bytes of the salted hash of Claude Code's
// tool_use_id. A hook has the id as metadata, but a transcript line has it inside its content,
// where the host would refuse it verbatim; both emit this form, so hook and transcript events of
// one tool use carry the same tool_use_id. It is a hash, not its hex digits: the host decides
// nearly every hash against what the plugin was shown by a lookup of its byte pairs, where a
// hex string, whose pairs any text holds, would cost a scan of the whole window.
func (k *keys) toolUseID(id string) []byte {
	m := hmac.New(sha256.New, k.salt)
	m.Write([]byte(toolUseLabel))
	m.Write([]byte(id))
	return m.Sum(nil)[:12]
}
