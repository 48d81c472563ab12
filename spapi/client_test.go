package spapi_test

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/spapi"
)

func TestNewClientValidation(t *testing.T) {
	t.Parallel()
	ok := spapi.Config{LWAClientID: testClientID, LWAClientSecret: testClientSecret}
	s1 := spapi.Seller{ID: sellerOne, RefreshToken: refreshOne, Region: spapi.RegionNA}
	tests := []struct {
		name    string
		cfg     spapi.Config
		sellers []spapi.Seller
		want    []string
	}{
		{"NoClientID", spapi.Config{LWAClientSecret: testClientSecret}, nil, []string{"LWAClientID is required"}},
		{"NoSecret", spapi.Config{LWAClientID: testClientID}, nil, []string{"LWAClientSecret is required"}},
		{"SellerWithoutID", ok, []spapi.Seller{s1, {RefreshToken: refreshTwo, Region: "eu"}}, []string{"seller #2", "ID is required"}},
		{"SellerWithoutToken", ok, []spapi.Seller{{ID: sellerTwo, Region: "eu"}}, []string{`seller "A2SELLERTWO"`, "RefreshToken is required"}},
		{"BadRegion", ok, []spapi.Seller{{ID: sellerTwo, RefreshToken: refreshTwo, Region: "mars"}}, []string{`seller "A2SELLERTWO"`, "Region", "mars"}},
		{"DuplicateSeller", ok, []spapi.Seller{s1, s1}, []string{"listed twice"}},
		{"HTTPLWAWithoutEndpoint", spapi.Config{LWAClientID: testClientID, LWAClientSecret: testClientSecret, LWAEndpoint: "http://lwa.local/token"}, nil,
			[]string{"LWAEndpoint", "plain http is allowed only when Endpoint is set"}},
		{"FTPEndpoint", spapi.Config{LWAClientID: testClientID, LWAClientSecret: testClientSecret, Endpoint: "ftp://x"}, nil, []string{"Endpoint", "scheme"}},
		{"EndpointWithQuery", spapi.Config{LWAClientID: testClientID, LWAClientSecret: testClientSecret, Endpoint: "https://x/?a=b"}, nil, []string{"query"}},
		{"EndpointWithUser", spapi.Config{LWAClientID: testClientID, LWAClientSecret: testClientSecret, Endpoint: "https://u:pw@x/"}, nil, []string{"user info"}},
		{"LongUserAgent", spapi.Config{LWAClientID: testClientID, LWAClientSecret: testClientSecret, UserAgent: strings.Repeat("a", 501)}, nil, []string{"UserAgent", "500"}},
		{"UserAgentNewline", spapi.Config{LWAClientID: testClientID, LWAClientSecret: testClientSecret, UserAgent: "a\r\nX: y"}, nil, []string{"control"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := spapi.NewClient(tc.cfg, tc.sellers...)
			require.Error(t, err)
			assert.Nil(t, c)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), testClientSecret)
			assert.NotContains(t, err.Error(), refreshOne)
			assert.NotContains(t, err.Error(), refreshTwo)
		})
	}

	c, err := spapi.NewClient(ok)
	require.NoError(t, err, "no sellers yet is fine")
	assert.ErrorContains(t, c.AddSeller(spapi.Seller{ID: "X", Region: "na"}), "RefreshToken is required")
	require.NoError(t, c.AddSeller(spapi.Seller{ID: " X ", RefreshToken: refreshOne, Region: "EU"}))
	r, found := c.SellerRegion("X")
	assert.True(t, found)
	assert.Equal(t, spapi.RegionEU, r)
	_, found = c.SellerRegion("Y")
	assert.False(t, found)
}

func TestDefaultUserAgent(t *testing.T) {
	t.Parallel()
	ua := spapi.DefaultUserAgent()
	want := fmt.Sprintf("spmsg/%s (Language=Go/%s; Platform=%s)", spapi.Version, strings.TrimPrefix(runtime.Version(), "go"), runtime.GOOS)
	assert.Equal(t, want, ua)
	assert.Regexp(t, regexp.MustCompile(`^spmsg/[^ ]+ \(Language=Go/[^;]+; Platform=[a-z0-9]+\)$`), ua)
	assert.LessOrEqual(t, len(ua), spapi.MaxUserAgentLength)
}

func TestSecretsNotPrintedByValues(t *testing.T) {
	t.Parallel()
	cfg := spapi.Config{LWAClientID: testClientID, LWAClientSecret: testClientSecret}
	s := spapi.Seller{ID: sellerOne, RefreshToken: refreshOne, Region: spapi.RegionNA}
	for _, out := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%v", s), fmt.Sprintf("%+v", s), fmt.Sprintf("%s", []spapi.Seller{s})} {
		assert.NotContains(t, out, testClientSecret)
		assert.NotContains(t, out, refreshOne)
	}
	assert.Contains(t, fmt.Sprint(s), sellerOne)
}

// hostRecorder is a RoundTripper that answers every request itself and
// records the hosts, so production URLs can be checked without a network.
type hostRecorder struct {
	mu    sync.Mutex
	urls  []string
	calls int
}

func (h *hostRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	h.mu.Lock()
	h.urls = append(h.urls, r.URL.Scheme+"://"+r.URL.Host+r.URL.Path)
	h.calls++
	h.mu.Unlock()
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	body := `{"buyer":{"locale":"en-US"}}`
	if strings.HasSuffix(r.URL.Path, "/auth/o2/token") {
		body = fmt.Sprintf(`{"access_token":"%s%d","expires_in":3600}`, accessPrefix, h.calls)
	}
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(body)), Request: r}, nil
}

func (h *hostRecorder) seen() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.urls...)
}

func TestRegionHosts(t *testing.T) {
	t.Parallel()
	rec := &hostRecorder{}
	hc := &http.Client{Transport: rec}
	c, err := spapi.NewClient(spapi.Config{LWAClientID: testClientID, LWAClientSecret: testClientSecret, HTTPClient: hc},
		spapi.Seller{ID: "NA1", RefreshToken: refreshOne, Region: spapi.RegionNA},
		spapi.Seller{ID: "EU1", RefreshToken: refreshTwo, Region: spapi.RegionEU},
		spapi.Seller{ID: "FE1", RefreshToken: refreshTwo + "fe", Region: spapi.RegionFE})
	require.NoError(t, err)
	ctx := ctxT(t)
	for _, tc := range []struct{ seller, mp, host string }{
		{"NA1", "ATVPDKIKX0DER", "https://sellingpartnerapi-na.amazon.com"},
		{"EU1", "A1PA6795UKMFR9", "https://sellingpartnerapi-eu.amazon.com"},
		{"FE1", "A1VC38T7YXB528", "https://sellingpartnerapi-fe.amazon.com"},
	} {
		_, _, err := c.GetAttributes(ctx, tc.seller, orderID, tc.mp)
		require.NoError(t, err, tc.seller)
		urls := rec.seen()
		assert.Equal(t, tc.host+"/messaging/v1/orders/"+orderID+"/attributes", urls[len(urls)-1], tc.seller)
		assert.Equal(t, spapi.DefaultLWAEndpoint, urls[len(urls)-2], "LWA is the same for every region")
	}
	assert.Nil(t, hc.CheckRedirect, "the caller's client is not modified")
	assert.Zero(t, hc.Timeout)

	// Endpoint overrides every region (with its base path).
	rec2 := &hostRecorder{}
	c2, err := spapi.NewClient(spapi.Config{LWAClientID: testClientID, LWAClientSecret: testClientSecret,
		HTTPClient: &http.Client{Transport: rec2}, Endpoint: "http://sandbox.local:8080/base/"},
		spapi.Seller{ID: "EU1", RefreshToken: refreshTwo, Region: spapi.RegionEU})
	require.NoError(t, err)
	_, _, err = c2.GetAttributes(ctx, "EU1", orderID, "A1PA6795UKMFR9")
	require.NoError(t, err)
	urls := rec2.seen()
	assert.Equal(t, "http://sandbox.local:8080/base/messaging/v1/orders/"+orderID+"/attributes", urls[len(urls)-1])

	// With Endpoint set, a plain-http LWA endpoint is allowed.
	_, err = spapi.NewClient(spapi.Config{LWAClientID: testClientID, LWAClientSecret: testClientSecret,
		Endpoint: "http://127.0.0.1:1", LWAEndpoint: "http://127.0.0.1:2/auth/o2/token"})
	require.NoError(t, err)
}

func TestRegionMarketplaceMismatchRefused(t *testing.T) {
	t.Parallel()
	rec := &hostRecorder{}
	c, err := spapi.NewClient(spapi.Config{LWAClientID: testClientID, LWAClientSecret: testClientSecret, HTTPClient: &http.Client{Transport: rec}},
		spapi.Seller{ID: "EU1", RefreshToken: refreshTwo, Region: spapi.RegionEU})
	require.NoError(t, err)
	_, _, err = c.GetAttributes(ctxT(t), "EU1", orderID, "ATVPDKIKX0DER")
	require.ErrorIs(t, err, spapi.ErrInvalidRequest)
	assert.Contains(t, err.Error(), "not the seller's region")
	_, _, err = c.GetAttributes(ctxT(t), "EU1", orderID, "ANEWMARKETPLACE")
	require.NoError(t, err, "unknown marketplace ids pass through")
}
