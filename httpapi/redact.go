package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// String describes the token without its secret: only the sellers it is
// bound to show.
func (t Token) String() string {
	return fmt.Sprintf("httpapi.Token{Secret:%s Sellers:%q}", redactedIfSet(t.Secret), t.Sellers)
}

// GoString is String, so %#v hides the secret too.
func (t Token) GoString() string { return t.String() }

// Format prints String for every verb, so no verb (%d, %x, %q, %#v, ...)
// can reach the secret through fmt's field-by-field printing.
func (t Token) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, t.String()) }

// LogValue implements slog.LogValuer without the secret.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(slog.Bool("secret_set", t.Secret != ""), slog.Any("sellers", t.Sellers))
}

// MarshalJSON encodes the token without its secret, so a Token nested in
// a value that slog's JSON handler marshals stays redacted too.
func (t Token) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		SecretSet bool     `json:"secret_set"`
		Sellers   []string `json:"sellers"`
	}{t.Secret != "", t.Sellers})
}

// String describes the configuration without the tokens' secrets.
func (c Config) String() string {
	toks := make([]string, len(c.Tokens))
	for i, t := range c.Tokens {
		toks[i] = t.String()
	}
	return fmt.Sprintf("httpapi.Config{Tokens:[%s] Producer:%s Outcomes:%s Store:%s Redis:%s MaxBodyBytes:%d MaxJobs:%d Parallel:%d}",
		strings.Join(toks, " "), setOrNil(c.Producer != nil), setOrNil(c.Outcomes != nil), setOrNil(c.Store != nil),
		setOrNil(c.Redis != nil), c.MaxBodyBytes, c.MaxJobs, c.Parallel)
}

// GoString is String, so %#v hides the tokens' secrets too.
func (c Config) GoString() string { return c.String() }

// Format prints String for every verb (see Token.Format).
func (c Config) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue implements slog.LogValuer without the tokens' secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.Any("tokens", c.Tokens), slog.Int64("max_body_bytes", c.MaxBodyBytes),
		slog.Int("max_jobs", c.MaxJobs), slog.Int("parallel", c.Parallel))
}

// MarshalJSON encodes the configuration without the tokens' secrets.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Tokens       []Token `json:"tokens"`
		MaxBodyBytes int64   `json:"max_body_bytes"`
		MaxJobs      int     `json:"max_jobs"`
		Parallel     int     `json:"parallel"`
	}{c.Tokens, c.MaxBodyBytes, c.MaxJobs, c.Parallel})
}

func redactedIfSet(s string) string {
	if s == "" {
		return `""`
	}
	return "[redacted]"
}

func setOrNil(ok bool) string {
	if ok {
		return "set"
	}
	return "nil"
}
