package spapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"time"
)

// Version is the spmsg version that the default User-Agent reports.
const Version = "0.1.0"

// Defaults used when the matching Config field is zero.
const (
	// DefaultHTTPTimeout bounds one whole SP-API, LWA or upload exchange
	// (connect, write, wait, read) on the default HTTP client.
	DefaultHTTPTimeout = 60 * time.Second
	// MaxUserAgentLength is Amazon's documented User-Agent limit; longer
	// values are rejected by the gateway, so NewClient rejects them first.
	MaxUserAgentLength = 500
)

const (
	defaultDialTimeout           = 10 * time.Second
	defaultTLSHandshakeTimeout   = 10 * time.Second
	defaultResponseHeaderTimeout = 30 * time.Second
	// lwaExchangeTimeout bounds one token exchange even when the caller's
	// HTTP client has no timeout, because every waiting call depends on it.
	lwaExchangeTimeout = 30 * time.Second
)

// Config configures a Client. The zero value of every optional field picks
// the documented default; only the LWA credentials are required.
type Config struct {
	// LWAClientID and LWAClientSecret are the application's Login with
	// Amazon credentials. Both are required. The secret never appears in
	// an error or a log line.
	LWAClientID, LWAClientSecret string

	// LWAEndpoint is the LWA token URL. Zero means DefaultLWAEndpoint. It
	// must be https unless Endpoint is set (a sandbox or test setup).
	LWAEndpoint string

	// Endpoint is one SP-API base URL used for every region (SPAPI_ENDPOINT:
	// a sandbox or a test server); it may carry a base path. Zero means the
	// region's production host (always https). Plain http is allowed only
	// here, and then also for LWAEndpoint and upload URLs.
	Endpoint string

	// HTTPClient sends the SP-API and LWA requests. Zero means a client
	// with DefaultHTTPTimeout and dial, TLS and response-header timeouts.
	// The client is copied; the caller's value is never modified.
	HTTPClient *http.Client

	// UploadHTTPClient sends the presigned PUT of Upload. Zero means (a
	// copy of) the effective HTTPClient.
	UploadHTTPClient *http.Client

	// UserAgent is sent on every request. Zero means
	// "spmsg/<Version> (Language=Go/<go version>; Platform=<GOOS>)", the
	// format Amazon documents. At most MaxUserAgentLength characters.
	UserAgent string

	// Logger receives debug lines per request and info lines per token
	// exchange, never secrets. Zero means a logger that discards.
	Logger *slog.Logger

	// Now returns the current time, for token expiry. Zero means time.Now.
	Now func() time.Time
}

// String describes the configuration without its secret, so that printing
// a Config (also with %+v) never leaks the client secret.
func (c Config) String() string {
	return fmt.Sprintf("spapi.Config{LWAClientID:%q LWAClientSecret:%s LWAEndpoint:%q Endpoint:%q UserAgent:%q}",
		c.LWAClientID, redactedIfSet(c.LWAClientSecret), c.LWAEndpoint, c.Endpoint, c.UserAgent)
}

// GoString is String, so %#v hides the client secret too.
func (c Config) GoString() string { return c.String() }

// Format prints String for every verb, so no verb (%d, %x, %q, %#v, ...)
// can reach the client secret through fmt's field-by-field printing.
func (c Config) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue implements slog.LogValuer without the client secret.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("lwa_client_id", c.LWAClientID),
		slog.Bool("lwa_client_secret_set", c.LWAClientSecret != ""),
		slog.String("lwa_endpoint", c.LWAEndpoint),
		slog.String("endpoint", c.Endpoint),
	)
}

// MarshalJSON encodes the configuration without the client secret, so a
// Config nested in a value that slog's JSON handler (or anything else)
// marshals stays redacted too.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		LWAClientID        string `json:"lwa_client_id"`
		LWAClientSecretSet bool   `json:"lwa_client_secret_set"`
		LWAEndpoint        string `json:"lwa_endpoint"`
		Endpoint           string `json:"endpoint"`
		UserAgent          string `json:"user_agent"`
	}{c.LWAClientID, c.LWAClientSecret != "", c.LWAEndpoint, c.Endpoint, c.UserAgent})
}

func redactedIfSet(s string) string {
	if s == "" {
		return `""`
	}
	return "[redacted]"
}

// DefaultUserAgent returns the User-Agent used when Config.UserAgent is
// empty, in Amazon's "AppName/Version (Language=...; Platform=...)" format.
func DefaultUserAgent() string {
	return fmt.Sprintf("spmsg/%s (Language=Go/%s; Platform=%s)",
		Version, strings.TrimPrefix(runtime.Version(), "go"), runtime.GOOS)
}

// settings is the validated, defaulted form of Config used by the client.
type settings struct {
	clientID, clientSecret string
	lwaURL                 string
	endpoint               string // "" = region hosts; else no trailing slash
	allowHTTP              bool
	httpClient             *http.Client
	uploadClient           *http.Client
	userAgent              string
	logger                 *slog.Logger
	now                    func() time.Time
}

// newSettings validates cfg and fills defaults. Errors name the field.
func newSettings(cfg Config) (*settings, error) {
	var errs []error
	s := &settings{
		clientID:     strings.TrimSpace(cfg.LWAClientID),
		clientSecret: strings.TrimSpace(cfg.LWAClientSecret),
		userAgent:    cfg.UserAgent,
		logger:       cfg.Logger,
		now:          cfg.Now,
	}
	if s.clientID == "" {
		errs = append(errs, errors.New("LWAClientID is required"))
	}
	if s.clientSecret == "" {
		errs = append(errs, errors.New("LWAClientSecret is required"))
	}
	if cfg.Endpoint != "" {
		u, err := parseBaseURL("Endpoint", cfg.Endpoint, true)
		if err != nil {
			errs = append(errs, err)
		} else {
			s.endpoint = strings.TrimRight(u.String(), "/")
			s.allowHTTP = true
		}
	}
	s.lwaURL = cfg.LWAEndpoint
	if s.lwaURL == "" {
		s.lwaURL = DefaultLWAEndpoint
	}
	if u, err := parseBaseURL("LWAEndpoint", s.lwaURL, s.allowHTTP); err != nil {
		errs = append(errs, err)
	} else {
		s.lwaURL = u.String()
	}
	if s.userAgent == "" {
		s.userAgent = DefaultUserAgent()
	}
	if len(s.userAgent) > MaxUserAgentLength {
		errs = append(errs, fmt.Errorf("UserAgent is %d characters, more than %d", len(s.userAgent), MaxUserAgentLength))
	}
	if strings.ContainsFunc(s.userAgent, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		errs = append(errs, errors.New("UserAgent contains control characters"))
	}
	if len(errs) > 0 {
		// A URL field could carry the secret by mistake; never print it.
		return nil, errors.New("spapi: invalid config: " + redact(errors.Join(errs...).Error(), s.clientSecret))
	}
	if cfg.HTTPClient != nil {
		s.httpClient = copyClient(cfg.HTTPClient)
	} else {
		s.httpClient = defaultHTTPClient()
	}
	if cfg.UploadHTTPClient != nil {
		s.uploadClient = copyClient(cfg.UploadHTTPClient)
	} else {
		s.uploadClient = copyClient(s.httpClient)
	}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// parseBaseURL checks an absolute http(s) URL without query, fragment or
// user info (credentials do not belong in a URL that may be logged).
func parseBaseURL(field, raw string, allowHTTP bool) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: not a URL: %w", field, err)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && allowHTTP:
	case u.Scheme == "http":
		return nil, fmt.Errorf("%s %q: plain http is allowed only when Endpoint is set", field, u.Redacted())
	default:
		return nil, fmt.Errorf("%s %q: scheme must be https (or http with Endpoint set)", field, u.Redacted())
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%s %q: no host", field, u.Redacted())
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s: user info is not allowed in the URL", field)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%s %q: query and fragment are not allowed", field, u.Redacted())
	}
	return u, nil
}

func copyClient(c *http.Client) *http.Client {
	cp := *c
	return &cp
}

func defaultHTTPClient() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Timeout: defaultDialTimeout, KeepAlive: 30 * time.Second}).DialContext
	tr.TLSHandshakeTimeout = defaultTLSHandshakeTimeout
	tr.ResponseHeaderTimeout = defaultResponseHeaderTimeout
	// A worker runs many jobs at once against one or two hosts: keep their
	// connections (the default keeps 2 per host and re-dials the rest).
	tr.MaxIdleConns = 256
	tr.MaxIdleConnsPerHost = 128
	return &http.Client{Transport: tr, Timeout: DefaultHTTPTimeout}
}
