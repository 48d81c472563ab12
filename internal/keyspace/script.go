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
	if p.eval {
		return s.s.Eval(ctx, p, keys, args...)
	}
	return s.s.EvalSha(ctx, p, keys, args...)
}

// Pipe is a pipeline of Pipelined.
type Pipe struct {
	redis.Pipeliner
	eval bool // send scripts' sources (Redis lost them)
}

// Pipelined sends fn's commands in one round trip and returns them. When
// Redis has lost a script it runs the pipeline again with the scripts'
// sources; a script that was refused did nothing, so only the other
// commands run twice, and they must be safe to repeat. The error is the
// first command's error other than redis.Nil.
func Pipelined(ctx context.Context, c redis.Cmdable, fn func(Pipe) error) ([]redis.Cmder, error) {
	cmds, err := c.Pipelined(ctx, func(p redis.Pipeliner) error { return fn(Pipe{Pipeliner: p}) })
	if lostScript(cmds) {
		cmds, err = c.Pipelined(ctx, func(p redis.Pipeliner) error { return fn(Pipe{Pipeliner: p, eval: true}) })
	}
	if err == nil || !errors.Is(err, redis.Nil) {
		return cmds, err
	}
	for _, c := range cmds {
		if e := c.Err(); e != nil && !errors.Is(e, redis.Nil) {
			return cmds, e
		}
	}
	return cmds, nil
}

func lostScript(cmds []redis.Cmder) bool {
	for _, c := range cmds {
		if err := c.Err(); err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			return true
		}
	}
	return false
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
