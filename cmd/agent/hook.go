package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/hangar-dev/hangar/cmd/agent/internal/daemon"
	"github.com/hangar-dev/hangar/pipeline"
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
	if err := pipeline.NewSpool(filepath.Join(g.DataDir, daemon.SpoolName)).Append(&rec); err != nil {
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
	type result struct {
		data []byte
		size int64
		err  error
	}
	done := make(chan result, 1)
	go func() {
		data, err := io.ReadAll(io.LimitReader(r, pipeline.MaxPayload+1))
		size := int64(len(data))
		if err == nil && size > pipeline.MaxPayload {
			var rest int64
			rest, err = io.Copy(io.Discard, r)
			size += rest
			data = nil
		}
		done <- result{data, size, err}
	}()
	select {
	case res := <-done:
		return res.data, res.size, res.err
	case <-ctx.Done():
		return nil, 0, errors.New("stdin was not closed in time")
	}
}
