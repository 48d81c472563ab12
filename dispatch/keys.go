package dispatch

import (
	"fmt"
	"hash/crc32"
	"strings"
)

// Shards is the number of shards the sellers are spread over. A seller's
// keys all live in its shard's hash slot; changing it re-homes every line,
// so it is fixed.
const Shards = 16

// DefaultPrefix starts every key.
const DefaultPrefix = "spmsg"

// Shard returns the shard of a seller.
func Shard(seller string) int { return int(crc32.ChecksumIEEE([]byte(seller)) % Shards) }

// keys builds the Redis key names of one shard. Every key of a shard
// carries the hash tag {d<shard>}, so one script may touch all of them on
// Redis Cluster.
type keys struct{ base string }

func keysOf(prefix string, shard int) keys {
	return keys{base: fmt.Sprintf("%s:{d%02d}:", prefix, shard)}
}

// due is the shard's due index: a sorted set of "<seller>\n<actions op>"
// lines, scored by the Unix microsecond at which the line is next worth
// releasing from.
func (k keys) due() string { return k.base + "due" }

// jobs holds every job waiting in a line or being handed off, id ->
// "<send op>\n<deadline µs or 0>\n<t|c>\n<payload>".
func (k keys) jobs() string { return k.base + "jobs" }

// handoff holds the ids released to the queue and not yet confirmed
// there, scored by the Unix millisecond of the release.
func (k keys) handoff() string { return k.base + "handoff" }

// plans holds the sellers-file overrides, "<seller>\n<op>" -> "<rate>
// <burst>".
func (k keys) plans() string { return k.base + "plans" }

// line is one seller's line for one API (named by its actions operation),
// class "t" (transactional) or "c" (campaign): a sorted set of job ids
// scored by the Unix microsecond from which each may go (enqueue time when
// it may go at once, so each line is first in, first out).
func (k keys) line(seller, actionsOp, class string) string {
	return k.base + "line:" + seller + ":" + actionsOp + ":" + class
}

// sched is one seller's schedule for one operation: a hash of tat (the
// GCRA theoretical arrival time, µs on Redis's clock), ctat (the campaign
// share's), obs (the rate Amazon reported), iv and b (interval and burst
// last used).
func (k keys) sched(seller, op string) string { return k.base + "rl:" + seller + ":" + op }

// lineMember is a line's member in the due index.
func lineMember(seller, actionsOp string) string { return seller + "\n" + actionsOp }

// checkSeller refuses what would break a key or the due index's members.
func checkSeller(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("%w: empty seller", ErrInvalid)
	case strings.ContainsAny(s, "{}\n"):
		return fmt.Errorf("%w: seller %q contains a brace or a newline", ErrInvalid, s)
	}
	return nil
}

// checkOp refuses an operation name that would break a key.
func checkOp(op string) error {
	switch {
	case op == "":
		return fmt.Errorf("%w: empty operation", ErrInvalid)
	case strings.ContainsAny(op, "{}:\n "):
		return fmt.Errorf("%w: operation %q contains a brace, colon, space or newline", ErrInvalid, op)
	}
	return nil
}
