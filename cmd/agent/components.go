package main

import (
	"github.com/hangar-dev/hangar/pipeline"
	"github.com/hangar-dev/hangar/store"
)

// captures lists the built-in capture stages, by platform. This is the one place they are wired.
func captures() (pipeline.Captures, error) {
	c := pipeline.Captures{}
	if err := c.Register(pipeline.PlatformClaudeCode, pipeline.ClaudeCode{}); err != nil {
		return nil, err
	}
	return c, nil
}

// consumers lists the built-in consumers of the event log.
func consumers(st *store.Store) []pipeline.Consumer {
	return []pipeline.Consumer{pipeline.NewDailyCounts(st)}
}
