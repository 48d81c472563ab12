package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
)

// MinTokenLength is the shortest bearer token accepted: a token is a
// shared secret and must not be guessable.
const MinTokenLength = 16

// ParseTokens splits ENQUEUE_API_TOKENS: comma-separated bearer tokens
// (several, so a new one can be rolled out before the old one is
// removed), blanks around each ignored. An empty string gives no tokens.
// Errors name the token by position, never by value.
func ParseTokens(s string) ([]string, error) {
	var out []string
	for i, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		if t == "" {
			continue
		}
		if err := checkToken(t); err != nil {
			return nil, fmt.Errorf("ENQUEUE_API_TOKENS: token #%d %v", i+1, err)
		}
		out = append(out, t)
	}
	return out, nil
}

func checkToken(t string) error {
	if len(t) < MinTokenLength {
		return fmt.Errorf("is shorter than %d characters", MinTokenLength)
	}
	for _, c := range t {
		if c <= ' ' || c >= 0x7f {
			return fmt.Errorf("contains a space, a control or a non-ASCII character")
		}
	}
	return nil
}

// IsLoopback reports whether a listen address (HOST:PORT) only accepts
// connections from this machine: a loopback IP or "localhost". An empty
// host (every interface) is not loopback. err is a malformed address.
func IsLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("address %q: %v (want HOST:PORT, e.g. 127.0.0.1:8080)", addr, err)
	}
	if strings.EqualFold(host, "localhost") {
		return true, nil
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback(), nil
}

// authenticator checks bearer tokens. It keeps only SHA-256 digests, and
// compares a presented token's digest with every one of them in constant
// time, so neither a token's value nor its length leaks through timing.
type authenticator struct {
	digests [][sha256.Size]byte
}

func newAuthenticator(tokens []string) (*authenticator, error) {
	a := &authenticator{}
	for i, t := range tokens {
		if err := checkToken(t); err != nil {
			return nil, fmt.Errorf("httpapi: token #%d %v", i+1, err)
		}
		a.digests = append(a.digests, sha256.Sum256([]byte(t)))
	}
	return a, nil
}

// enabled reports whether tokens are required.
func (a *authenticator) enabled() bool { return len(a.digests) > 0 }

// check returns "" for a request with a valid token, else the reason to
// give the client.
func (a *authenticator) check(r *http.Request) string {
	h := r.Header.Get("Authorization")
	if h == "" {
		return "missing bearer token: send the header Authorization: Bearer <token>"
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "the Authorization header must use the Bearer scheme"
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	match := 0
	for i := range a.digests {
		match |= subtle.ConstantTimeCompare(sum[:], a.digests[i][:])
	}
	if match != 1 {
		return "invalid bearer token"
	}
	return ""
}

// require wraps next so that it runs only with a valid token; otherwise it
// answers 401 with a WWW-Authenticate challenge (RFC 6750).
func (a *authenticator) require(log *slog.Logger, next http.Handler) http.Handler {
	if !a.enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reason := a.check(r)
		if reason == "" {
			next.ServeHTTP(w, r)
			return
		}
		challenge := `Bearer realm="spmsg"`
		if r.Header.Get("Authorization") != "" {
			challenge += `, error="invalid_token"`
		}
		log.Info("unauthorized request", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr, "reason", reason)
		w.Header().Set("WWW-Authenticate", challenge)
		writeError(w, http.StatusUnauthorized, "%s", reason)
	})
}
