package httpapi

import (
	"context"
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

// Token is one accepted bearer token and the sellers it may act for.
type Token struct {
	// Secret is the bearer token: at least MinTokenLength printable ASCII
	// characters, no spaces.
	Secret string
	// Sellers, when not empty, are the only sellers the token may enqueue
	// jobs for and read the jobs and campaigns of. Empty means every
	// seller.
	Sellers []string
}

// ParseTokens splits ENQUEUE_API_TOKENS: comma-separated entries (several,
// so a new token can be rolled out before the old one is removed), blanks
// around each ignored. An entry is a bare TOKEN, which may act for every
// seller, or TOKEN=SELLER1|SELLER2, which may act only for those sellers.
// The entry is split at its last "=" when a seller list follows it, so a
// base64 token's "=" padding stays part of the token. An empty string
// gives no tokens. Errors name the token by position, never by value.
func ParseTokens(s string) ([]Token, error) {
	var out []Token
	for i, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		t := Token{Secret: e}
		if k := strings.LastIndexByte(e, '='); k >= 0 && k < len(e)-1 {
			t.Secret = e[:k]
			for n, id := range strings.Split(e[k+1:], "|") {
				if id == "" {
					return nil, fmt.Errorf("ENQUEUE_API_TOKENS: token #%d: seller #%d of its list is empty (want TOKEN=SELLER1|SELLER2)", i+1, n+1)
				}
				t.Sellers = append(t.Sellers, id)
			}
		}
		if err := checkToken(t.Secret); err != nil {
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
	scopes  []*scope // per digest; nil: every seller
}

// scope is the sellers a request may act for; a nil *scope allows every
// seller.
type scope struct {
	sellers map[string]bool
}

// allows reports whether the request may act for seller.
func (s *scope) allows(seller string) bool { return s == nil || s.sellers[seller] }

// allowsAll reports whether every one of sellers is allowed; a seller-bound
// scope allows no empty list (a campaign nothing is known of).
func (s *scope) allowsAll(sellers []string) bool {
	if s == nil {
		return true
	}
	for _, id := range sellers {
		if !s.sellers[id] {
			return false
		}
	}
	return len(sellers) > 0
}

// scopeKey is the context key of a request's scope.
type scopeKey struct{}

// scopeOf returns the sellers a request may act for (nil: every seller).
func scopeOf(r *http.Request) *scope {
	s, _ := r.Context().Value(scopeKey{}).(*scope)
	return s
}

// newAuthenticator checks the tokens; known, when not nil, reports whether
// a seller is in the sellers file, for the sellers a token is bound to.
func newAuthenticator(tokens []Token, known func(string) bool) (*authenticator, error) {
	a := &authenticator{}
	seen := map[[sha256.Size]byte]int{}
	for i, t := range tokens {
		if err := checkToken(t.Secret); err != nil {
			return nil, fmt.Errorf("httpapi: token #%d %v", i+1, err)
		}
		var sc *scope
		if len(t.Sellers) > 0 {
			sc = &scope{sellers: map[string]bool{}}
			for n, id := range t.Sellers {
				if id == "" || (known != nil && !known(id)) {
					// By position: a mistyped entry may hold part of a secret.
					return nil, fmt.Errorf("httpapi: token #%d: seller #%d of its list is not in the sellers file", i+1, n+1)
				}
				sc.sellers[id] = true
			}
		}
		d := sha256.Sum256([]byte(t.Secret))
		if k, dup := seen[d]; dup {
			return nil, fmt.Errorf("httpapi: token #%d repeats token #%d", i+1, k+1)
		}
		seen[d] = i
		a.digests = append(a.digests, d)
		a.scopes = append(a.scopes, sc)
	}
	return a, nil
}

// enabled reports whether tokens are required.
func (a *authenticator) enabled() bool { return len(a.digests) > 0 }

// check returns the scope of a request with a valid token, else the reason
// to give the client.
func (a *authenticator) check(r *http.Request) (*scope, string) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return nil, "missing bearer token: send the header Authorization: Bearer <token>"
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil, "the Authorization header must use the Bearer scheme"
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	match, which := 0, 0
	for i := range a.digests {
		eq := subtle.ConstantTimeCompare(sum[:], a.digests[i][:])
		which = subtle.ConstantTimeSelect(eq, i, which)
		match |= eq
	}
	if match != 1 {
		return nil, "invalid bearer token"
	}
	return a.scopes[which], ""
}

// require wraps next so that it runs only with a valid token, with the
// token's scope in the request's context; otherwise it answers 401 with a
// WWW-Authenticate challenge (RFC 6750).
func (a *authenticator) require(log *slog.Logger, next http.Handler) http.Handler {
	if !a.enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sc, reason := a.check(r)
		if reason == "" {
			if sc != nil {
				r = r.WithContext(context.WithValue(r.Context(), scopeKey{}, sc))
			}
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

// loopbackHost reports whether a request's Host header names this
// machine: localhost, a loopback IP or [::1], with or without a port.
func loopbackHost(host string) bool {
	h := host
	if sh, _, err := net.SplitHostPort(host); err == nil {
		h = sh
	} else if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") {
		h = h[1 : len(h)-1]
	}
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// requireLoopbackHost wraps next, for a server without tokens, so that it
// runs only for a Host header that names this machine: a web page whose
// name an attacker re-points at 127.0.0.1 (DNS rebinding) sends its own
// name as Host, and is answered 421.
func (a *authenticator) requireLoopbackHost(next http.Handler) http.Handler {
	if a.enabled() {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !loopbackHost(r.Host) {
			writeError(w, http.StatusMisdirectedRequest,
				"Host %q is not this machine: without ENQUEUE_API_TOKENS the API answers only requests for localhost, 127.0.0.1 or [::1]", r.Host)
			return
		}
		next.ServeHTTP(w, r)
	})
}
