//go:build unix

package host

import "syscall"

// chunk is memory a window copies text into: mapped outside Go's heap, so that the garbage
// collector neither scans it nor counts it toward its goal, or, if mapping fails, a Go slice.
type chunk struct {
	b      []byte
	mapped bool
}

// newChunk returns an empty chunk of capacity n.
func newChunk(n int) chunk {
	b, err := syscall.Mmap(-1, 0, n, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return chunk{b: make([]byte, 0, n)}
	}
	return chunk{b: b[:0], mapped: true}
}

// free unmaps a mapped chunk; nothing may point into it afterwards.
func (c *chunk) free() {
	if c.mapped {
		syscall.Munmap(c.b[:cap(c.b)])
	}
	*c = chunk{}
}
