package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// LWA error codes (the ones Amazon's SDKs enumerate that the sandbox uses).
const (
	lwaInvalidRequest       = "invalid_request"
	lwaInvalidClient        = "invalid_client"
	lwaInvalidGrant         = "invalid_grant"
	lwaUnsupportedGrantType = "unsupported_grant_type"
)

const (
	accessTokenPrefix  = "Atza|"
	refreshTokenPrefix = "Atzr|"
	maxTokenBody       = 64 << 10
)

type lwaError struct {
	status      int
	code, descr string
}

func (e *lwaError) Error() string { return e.code + ": " + e.descr }

// serveToken is POST /auth/o2/token: the refresh_token grant, with the
// fields form-encoded or as a JSON object.
func (s *Sandbox) serveToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("x-amzn-RequestId", s.reqIDs.uuid())
	w.Header().Set("Cache-Control", "no-store")
	seller, refresh, err := s.exchange(r)
	if err != nil {
		s.counters().tokenErrors.Add(1)
		var le *lwaError
		if !errors.As(err, &le) {
			le = &lwaError{http.StatusBadRequest, lwaInvalidRequest, err.Error()}
		}
		writeJSON(w, le.status, map[string]string{"error": le.code, "error_description": le.descr})
		return
	}
	s.counters().tokenExchanges.Add(1)
	lifetime := s.p.TokenLifetime
	writeJSON(w, http.StatusOK, map[string]any{
		"access_token":  s.mintToken(seller, s.p.Now().Add(lifetime)),
		"refresh_token": refresh,
		"token_type":    "bearer",
		"expires_in":    int64(lifetime / time.Second),
	})
}

// exchange checks a token request and returns the seller id and the
// refresh token.
func (s *Sandbox) exchange(r *http.Request) (seller, refresh string, err error) {
	if r.Method != http.MethodPost {
		return "", "", &lwaError{http.StatusMethodNotAllowed, lwaInvalidRequest, "The token endpoint only accepts POST."}
	}
	f, err := tokenFields(r)
	if err != nil {
		return "", "", &lwaError{http.StatusBadRequest, lwaInvalidRequest, err.Error()}
	}
	switch g := f["grant_type"]; {
	case g == "":
		return "", "", &lwaError{http.StatusBadRequest, lwaInvalidRequest, "The request is missing a required parameter : grant_type"}
	case g != "refresh_token":
		return "", "", &lwaError{http.StatusBadRequest, lwaUnsupportedGrantType, "The authorization grant type is not supported by the authorization server: " + g}
	}
	for _, name := range []string{"client_id", "client_secret", "refresh_token"} {
		if f[name] == "" {
			return "", "", &lwaError{http.StatusBadRequest, lwaInvalidRequest, "The request is missing a required parameter : " + name}
		}
	}
	if (s.p.ClientID != "" && f["client_id"] != s.p.ClientID) ||
		(s.p.ClientSecret != "" && f["client_secret"] != s.p.ClientSecret) {
		return "", "", &lwaError{http.StatusUnauthorized, lwaInvalidClient, "Client authentication failed"}
	}
	refresh = f["refresh_token"]
	if sel, ok := s.p.sellersByToken[refresh]; ok {
		return sel.ID, refresh, nil
	}
	if !s.p.AutoSellers {
		return "", "", &lwaError{http.StatusBadRequest, lwaInvalidGrant, "The request has an invalid grant parameter : refresh_token"}
	}
	return autoSellerID(refresh), refresh, nil
}

// tokenFields reads the request's fields from a form or a JSON body.
func tokenFields(r *http.Request) (map[string]string, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	body, err := io.ReadAll(io.LimitReader(r.Body, maxTokenBody))
	if err != nil {
		return nil, errors.New("cannot read the request body")
	}
	out := map[string]string{}
	switch ct {
	case "application/json":
		var raw map[string]any
		if err := json.Unmarshal(body, &raw); err != nil {
			return nil, errors.New("the request body is not a JSON object")
		}
		for k, v := range raw {
			str, ok := v.(string)
			if !ok {
				return nil, errors.New("parameter " + k + " is not a string")
			}
			out[k] = str
		}
	case "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, errors.New("the request body is not valid form data")
		}
		for k, v := range vals {
			out[k] = v[0]
		}
	default:
		return nil, errors.New("Content-Type must be application/x-www-form-urlencoded or application/json")
	}
	return out, nil
}

// autoSellerID maps a refresh token to a seller id: "Atzr|<id>" or
// "Atzr|<id>|..." gives <id>; anything else a stable hash-based id.
func autoSellerID(token string) string {
	if rest, ok := strings.CutPrefix(token, refreshTokenPrefix); ok {
		id, _, _ := strings.Cut(rest, "|")
		if id != "" && len(id) <= 64 && isAlnum(id) {
			return id
		}
	}
	sum := sha256.Sum256([]byte(token))
	return "A" + base32.StdEncoding.EncodeToString(sum[:])[:13]
}

func isAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// mintToken returns an access token "Atza|<payload>.<mac>" that carries the
// seller id and the expiry, so checking one needs no shared state.
func (s *Sandbox) mintToken(seller string, exp time.Time) string {
	payload := seller + "|" + strconv.FormatInt(exp.UnixMilli(), 10) + "|" + strconv.FormatUint(s.serials.next()>>16, 36)
	enc := base64.RawURLEncoding.EncodeToString([]byte(payload))
	return accessTokenPrefix + enc + "." + s.sign(enc)
}

func (s *Sandbox) sign(data string) string {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(data))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

var (
	errTokenInvalid = errors.New("The access token you provided is revoked, malformed or invalid.")
	errTokenExpired = errors.New("The access token you provided has expired.")
	errTokenMissing = errors.New("Access token is missing in the request header.")
)

// parseToken returns the seller of a token and checks it is genuine;
// expiry is checked against now unless now is zero.
func (s *Sandbox) parseToken(tok string, now time.Time) (string, error) {
	if tok == "" {
		return "", errTokenMissing
	}
	rest, ok := strings.CutPrefix(tok, accessTokenPrefix)
	if !ok {
		return "", errTokenInvalid
	}
	enc, mac, ok := strings.Cut(rest, ".")
	if !ok || !hmac.Equal([]byte(mac), []byte(s.sign(enc))) {
		return "", errTokenInvalid
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return "", errTokenInvalid
	}
	payload := string(raw)
	i := strings.LastIndexByte(payload, '|')
	if i < 0 {
		return "", errTokenInvalid
	}
	j := strings.LastIndexByte(payload[:i], '|')
	if j < 0 {
		return "", errTokenInvalid
	}
	exp, err := strconv.ParseInt(payload[j+1:i], 10, 64)
	if err != nil {
		return "", errTokenInvalid
	}
	if !now.IsZero() && !now.Before(time.UnixMilli(exp)) {
		return payload[:j], errTokenExpired
	}
	return payload[:j], nil
}
