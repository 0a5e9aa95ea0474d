package transcripts

import (
	"context"
	"errors"

	"github.com/hangar-dev/hangar/store"
)

// StoreCheckpoints keeps a Tailer's checkpoints in a store, under the source Namespace. It is
// safe for concurrent use, and its swaps are atomic among all the writers of the process.
type StoreCheckpoints struct {
	St *store.Store
}

var _ Checkpoints = StoreCheckpoints{}

// List implements Checkpoints.
func (c StoreCheckpoints) List(_ context.Context, prefix string) (map[string]store.Checkpoint, error) {
	out := map[string]store.Checkpoint{}
	err := c.St.Checkpoints(Namespace, prefix, func(file string, cp store.Checkpoint) error {
		out[file] = cp
		return nil
	})
	return out, err
}

// Get implements Checkpoints.
func (c StoreCheckpoints) Get(_ context.Context, file string) (*store.Checkpoint, error) {
	cp, err := c.St.Checkpoint(Namespace, file)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &cp, nil
}

// Swap implements Checkpoints.
func (c StoreCheckpoints) Swap(_ context.Context, file string, from, to *store.Checkpoint) (bool, error) {
	return c.St.SwapCheckpoint(Namespace, file, from, to)
}
