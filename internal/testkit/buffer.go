// Package testkit holds small helpers shared by tests across packages.
package testkit

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer safe for a writer goroutine (a server, a
// logger) and the test reading it.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns what was written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
