package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/testkit"
)

// lockedBuffer is a goroutine-safe buffer for output the test reads.
type lockedBuffer = testkit.Buffer

// start runs the command on a free loopback port and returns its base URL
// and a function that stops it and returns run's error.
func start(t *testing.T, args ...string) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrs := make(chan string, 1)
	done := make(chan error, 1)
	var out lockedBuffer
	go func() {
		done <- run(ctx, append([]string{"--addr", "127.0.0.1:0"}, args...), &out, &out, func(a string) { addrs <- a })
	}()
	select {
	case a := <-addrs:
		var once sync.Once
		var stopErr error
		stop := func() error {
			once.Do(func() {
				cancel()
				select {
				case stopErr = <-done:
				case <-time.After(10 * time.Second):
					stopErr = errors.New("run did not return after cancel")
				}
			})
			return stopErr
		}
		t.Cleanup(func() { _ = stop() })
		return "http://" + a, stop
	case err := <-done:
		cancel()
		t.Fatalf("run: %v\n%s", err, out.String())
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatal("sandbox did not start")
	}
	return "", nil
}

func exchange(t *testing.T, base, refresh string) (int, map[string]any) {
	t.Helper()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}, "client_id": {"c"}, "client_secret": {"s"}}
	res, err := http.PostForm(base+"/auth/o2/token", form)
	require.NoError(t, err)
	defer res.Body.Close()
	var m map[string]any
	require.NoError(t, json.NewDecoder(res.Body).Decode(&m))
	return res.StatusCode, m
}

func TestRunServesLWAAndShutsDown(t *testing.T) {
	base, stop := start(t, "--seed", "3", "--no-rate-limits")
	status, m := exchange(t, base, "Atzr|A1SELLER")
	require.Equal(t, http.StatusOK, status, "%v", m)
	assert.True(t, strings.HasPrefix(m["access_token"].(string), "Atza|"))
	assert.Equal(t, "bearer", m["token_type"])
	assert.EqualValues(t, 3600, m["expires_in"])

	res, err := http.Get(base + "/_sandbox/stats")
	require.NoError(t, err)
	var st struct {
		TokenExchanges int `json:"token_exchanges"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&st))
	_ = res.Body.Close()
	assert.Equal(t, 1, st.TokenExchanges)

	require.NoError(t, stop())
	_, err = http.Get(base + "/_sandbox/stats")
	assert.Error(t, err, "the listener is closed after shutdown")
}

func TestRunConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sandbox.json")
	require.NoError(t, os.WriteFile(path, []byte(`{
		"sellers": [{"id": "A1ONE", "refresh_token": "Atzr|one"}],
		"orders": [{"id": "123-1234567-1234567", "available": ["sendInvoice"]}],
		"token_lifetime": "10m",
		"faults": {"latency": "1ms"}
	}`), 0o600))
	base, _ := start(t, "--config", path)
	status, m := exchange(t, base, "Atzr|one")
	require.Equal(t, http.StatusOK, status)
	assert.EqualValues(t, 600, m["expires_in"])
	status, m = exchange(t, base, "Atzr|unknown")
	assert.Equal(t, http.StatusBadRequest, status)
	assert.Equal(t, "invalid_grant", m["error"])
}

func TestRunFlagsOverrideConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sandbox.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"sellers": [{"id": "A1ONE", "refresh_token": "Atzr|one"}]}`), 0o600))
	base, _ := start(t, "--config", path, "--auto-sellers", "--token-lifetime", "2m")
	status, m := exchange(t, base, "Atzr|A2OTHER")
	require.Equal(t, http.StatusOK, status, "%v", m)
	assert.EqualValues(t, 120, m["expires_in"])
}

func TestHelpDocumentsFlagsAndSetup(t *testing.T) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"--help"}, &out, &out, nil)
	require.ErrorIs(t, err, flag.ErrHelp)
	help := out.String()
	for _, want := range []string{
		"-addr", "-seed", "-config", "-token-lifetime", "-no-rate-limits", "-fault-5xx", "-latency", "-lost", "-send-then-500", "-auto-sellers",
		"/_sandbox/faults/send-then-500", "/delivery", "solicitations_rate", "send_then_500_rules",
		"SPAPI_ENDPOINT=http://127.0.0.1:8090", "SPAPI_LWA_ENDPOINT=http://127.0.0.1:8090/auth/o2/token", "/_sandbox/sent",
	} {
		assert.Contains(t, help, want)
	}
}

func TestBadUsage(t *testing.T) {
	for name, args := range map[string][]string{
		"UnknownFlag":     {"--nope"},
		"ExtraArgument":   {"serve"},
		"BadFraction":     {"--fault-5xx", "2"},
		"MissingConfig":   {"--config", filepath.Join(t.TempDir(), "missing.json")},
		"BadConfigField":  {"--config", writeFile(t, `{"selers": []}`)},
		"UnknownTypeName": {"--config", writeFile(t, `{"default_available": ["postcard"]}`)},
		"ReviewIsNotMsg":  {"--config", writeFile(t, `{"default_available": ["requestReview"]}`)},
		"BadThen500":      {"--send-then-500", "1.5"},
		"BadDelivery":     {"--config", writeFile(t, `{"orders": [{"id": "1", "delivery": {"latest": "2026-01-01T00:00:00Z"}}]}`)},
	} {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"--addr", "127.0.0.1:0"}, args...), &out, &out, nil)
		var ue usageError
		assert.True(t, errors.As(err, &ue), "%s: %v", name, err)
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.json")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestRunSolicitationsAndSendThen500Config(t *testing.T) {
	const order = "123-1234567-1234567"
	path := writeFile(t, `{
		"orders": [{"id": "`+order+`", "delivery": {"earliest": "2020-01-01T00:00:00Z", "latest": "2020-01-02T00:00:00Z"}}],
		"solicitations_rate": {"rate": 2, "burst": 5},
		"faults": {"send_then_500_rules": [{"order": "902-6786204-8179805", "count": 1}]}
	}`)
	base, _ := start(t, "--config", path, "--send-then-500", "0")
	status, m := exchange(t, base, "Atzr|A1SELLER")
	require.Equal(t, http.StatusOK, status, "%v", m)
	tok := m["access_token"].(string)
	post := func(order string) *http.Response {
		req, err := http.NewRequest(http.MethodPost, base+"/solicitations/v1/orders/"+order+"/solicitations/productReviewAndSellerFeedback?marketplaceIds=ATVPDKIKX0DER", nil)
		require.NoError(t, err)
		req.Header.Set("x-amz-access-token", tok)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = res.Body.Close()
		return res
	}
	res := post(order)
	assert.Equal(t, http.StatusForbidden, res.StatusCode, "delivered in 2020: outside the window")
	res = post("902-6786204-8179805")
	assert.Equal(t, http.StatusInternalServerError, res.StatusCode, "the configured send-then-500 rule")
	assert.Equal(t, "2.0", res.Header.Get("x-amzn-RateLimit-Limit"))

	res, err := http.Get(base + "/_sandbox/sent?type=productReviewAndSellerFeedback")
	require.NoError(t, err)
	var sent []struct {
		Order       string `json:"order"`
		Answered500 bool   `json:"answered_500"`
	}
	require.NoError(t, json.NewDecoder(res.Body).Decode(&sent))
	_ = res.Body.Close()
	require.Len(t, sent, 1)
	assert.Equal(t, "902-6786204-8179805", sent[0].Order)
	assert.True(t, sent[0].Answered500)
}
