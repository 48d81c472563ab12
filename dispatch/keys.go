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

// Shard returns the shard of a seller.
func Shard(seller string) int { return int(crc32.ChecksumIEEE([]byte(seller)) % Shards) }

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
