package keyspace

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Script is a Lua script spmsg runs in Redis. Every script goes through
// it: by SHA, with the source sent again when Redis does not have it (first
// use, a restart, a failover), alone (Run) or in a pipeline (Pipelined and
// Queue); its keys must share one hash tag, so it runs on Redis Cluster.
type Script struct{ s *redis.Script }

// NewScript returns the script of src.
func NewScript(src string) *Script { return &Script{s: redis.NewScript(src)} }

// Run runs the script on its own.
func (s *Script) Run(ctx context.Context, c redis.Scripter, keys []string, args ...any) *redis.Cmd {
	if err := sameSlot(keys); err != nil {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	return s.s.Run(ctx, c, keys, args...)
}

// Queue adds a call of the script to a pipeline of Pipelined.
func (s *Script) Queue(ctx context.Context, p Pipe, keys []string, args ...any) *redis.Cmd {
	if err := sameSlot(keys); err != nil {
		cmd := redis.NewCmd(ctx)
		cmd.SetErr(err)
		return cmd
	}
	cmd := s.s.EvalSha(ctx, p, keys, args...)
	if p.calls != nil {
		*p.calls = append(*p.calls, call{s: s, keys: keys, args: args, cmd: cmd})
	}
	return cmd
}

// Pipe is a pipeline of Pipelined.
type Pipe struct {
	redis.Pipeliner
	calls *[]call // the scripts queued, to run again if Redis lost them
}

// call is one script queued in a Pipe.
type call struct {
	s    *Script
	keys []string
	args []any
	cmd  *redis.Cmd
}

// Pipelined sends fn's commands in one round trip and returns them. The
// scripts that Redis refused because it lost them (a restart, a
// fail-over, one node of a cluster) run again from their sources, in a
// second round trip, and their commands get those answers; nothing else
// runs twice. The error is the first command's error other than redis.Nil.
func Pipelined(ctx context.Context, c redis.Cmdable, fn func(Pipe) error) ([]redis.Cmder, error) {
	var calls []call
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error { return fn(Pipe{Pipeliner: p, calls: &calls}) })
	var lost []call
	for _, q := range calls {
		if e := q.cmd.Err(); e != nil && redis.HasErrorPrefix(e, "NOSCRIPT") {
			lost = append(lost, q)
		}
	}
	if len(lost) > 0 {
		again := make([]*redis.Cmd, len(lost))
		_, _ = c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, q := range lost {
				again[i] = q.s.s.Eval(ctx, p, q.keys, q.args...)
			}
			return nil
		})
		for i, q := range lost {
			q.cmd.SetVal(again[i].Val())
			q.cmd.SetErr(again[i].Err())
		}
		err = nil
	}
	if err == nil && len(lost) == 0 {
		return cmds, nil
	}
	for _, c := range cmds {
		if e := c.Err(); e != nil && !errors.Is(e, redis.Nil) {
			return cmds, e
		}
	}
	return cmds, nil
}

// sameSlot refuses keys of several hash tags in one script.
func sameSlot(keys []string) error {
	for _, k := range keys[min(1, len(keys)):] {
		if tag(k) != tag(keys[0]) {
			return fmt.Errorf("keyspace: script keys %q and %q are in different hash slots", keys[0], k)
		}
	}
	return nil
}

// tag is a key's hash tag as Redis Cluster reads it: the text between the
// first '{' and the next '}', when not empty; else the whole key.
func tag(key string) string {
	for i := 0; i < len(key); i++ {
		if key[i] == '{' {
			for j := i + 1; j < len(key); j++ {
				if key[j] == '}' {
					if j > i+1 {
						return key[i+1 : j]
					}
					return key
				}
			}
			return key
		}
	}
	return key
}
