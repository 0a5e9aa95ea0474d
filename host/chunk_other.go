//go:build !unix

package host

// chunk is memory a window copies text into: a Go slice (chunk_unix.go maps it outside Go's
// heap where the system allows).
type chunk struct {
	b []byte
}

// newChunk returns an empty chunk of capacity n.
func newChunk(n int) chunk { return chunk{b: make([]byte, 0, n)} }

// free drops the chunk.
func (c *chunk) free() { *c = chunk{} }
