package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/store/seal"
)

// hookDeadline bounds the whole hook: reading stdin and posting to the daemon.
const hookDeadline = 2 * time.Second

// HookCmd takes one hook payload on stdin and hands it to the daemon, or to the spool when the
// daemon is down, busy or slow. It always exits 0 and never writes to stdout; its own errors go to
// <data-dir>/logs/hook.log.
type HookCmd struct {
	Platform string `arg:"" help:"The assistant whose hook this is, e.g. claude-code."`
}

// Run implements the command.
func (h *HookCmd) Run(g *Globals) error {
	start := time.Now()
	ctx, cancel := context.WithDeadline(context.Background(), start.Add(hookDeadline))
	defer cancel()
	rec := pipeline.RawRecord{Platform: h.Platform, Source: "hook", ReceivedAt: start.UTC()}
	rand.Read(rec.ID[:])
	// Leave part of the deadline for posting or spooling what was read.
	readCtx, cancelRead := context.WithTimeout(ctx, hookDeadline*3/4)
	payload, size, err := readPayload(readCtx, g.stdin)
	cancelRead()
	if err != nil {
		hookLog(g.DataDir, fmt.Errorf("read payload: %w", err))
	}
	if size > pipeline.MaxPayload {
		rec.Oversize = size
	} else {
		rec.Payload = payload
	}
	frame := pipeline.AppendFrame(nil, &rec)
	_, postErr := daemon.PostFramesOnce(ctx, g.DataDir, frame)
	if postErr == nil {
		return nil
	}
	// The spool seals the payload: load the payload key (or create it, if no daemon ever ran;
	// see seal.LoadOrCreate). Only this path pays for it; a posted record is never at rest here.
	key, err := seal.LoadOrCreate(filepath.Join(g.DataDir, seal.KeyName))
	if err != nil {
		// Never spooled in the clear: the record is lost, and hook.log says why. The daemon
		// replaces an unusable key file when it starts.
		hookLog(g.DataDir, fmt.Errorf("daemon unavailable (%v), and the payload was not spooled: it is spooled only sealed, and the payload key is unusable: %w", postErr, err))
		return nil
	}
	if err := pipeline.NewSpool(filepath.Join(g.DataDir, daemon.SpoolName), key).Append(&rec); err != nil {
		hookLog(g.DataDir, fmt.Errorf("daemon unavailable (%v) and spool failed: %w", postErr, err))
		return nil
	}
	if !errors.Is(postErr, daemon.ErrNoDaemon) {
		hookLog(g.DataDir, fmt.Errorf("spooled: %w", postErr))
	}
	return nil
}

// readPayload reads stdin up to pipeline.MaxPayload bytes and counts (but discards) the rest. If
// stdin is not closed by the deadline, it returns what it has with an error.
func readPayload(ctx context.Context, r io.Reader) ([]byte, int64, error) {
	var (
		mu   sync.Mutex // guards data and size, which the reader grows while we may give up
		data []byte
		size int64
	)
	done := make(chan error, 1)
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			mu.Lock()
			size += int64(n)
			if size > pipeline.MaxPayload {
				data = nil // oversized: only its size is kept
			} else {
				data = append(data, buf[:n]...)
			}
			mu.Unlock()
			if err != nil {
				if err == io.EOF {
					err = nil
				}
				done <- err
				return
			}
		}
	}()
	select {
	case err := <-done:
		return data, size, err
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(data), size, errors.New("stdin was not closed in time")
	}
}
