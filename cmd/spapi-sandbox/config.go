package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/spmsg/spmsg/sandbox"
)

// fileConfig is the JSON form of sandbox.Config read by --config.
type fileConfig struct {
	Seed              int64                   `json:"seed"`
	ClientID          string                  `json:"client_id"`
	ClientSecret      string                  `json:"client_secret"`
	AutoSellers       bool                    `json:"auto_sellers"`
	TokenLifetime     duration                `json:"token_lifetime"`
	Sellers           []sandbox.Seller        `json:"sellers"`
	DefaultAvailable  []string                `json:"default_available"`
	Orders            []sandbox.Order         `json:"orders"`
	NoRateLimits      bool                    `json:"no_rate_limits"`
	MessagingRate     sandbox.Rate            `json:"messaging_rate"`
	UploadsRate       sandbox.Rate            `json:"uploads_rate"`
	SolicitationsRate sandbox.Rate            `json:"solicitations_rate"`
	Rates             map[string]sandbox.Rate `json:"rates"`
	Faults            struct {
		Error5xx         float64                   `json:"error_5xx"`
		Latency          duration                  `json:"latency"`
		Lost             float64                   `json:"lost"`
		SendThen500      float64                   `json:"send_then_500"`
		SendThen500Rules []sandbox.SendThen500Rule `json:"send_then_500_rules"`
	} `json:"faults"`
	UploadURLExpiry duration `json:"upload_url_expiry"`
}

// duration reads "90s"-style strings or a number of seconds.
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = duration(v)
		return nil
	}
	var secs float64
	if err := json.Unmarshal(b, &secs); err != nil {
		return fmt.Errorf("duration must be a string like \"90s\" or a number of seconds, not %s", b)
	}
	*d = duration(secs * float64(time.Second))
	return nil
}

// loadConfig reads a --config file. Unknown fields are errors, so typos do
// not pass silently.
func loadConfig(path string) (sandbox.Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return sandbox.Config{}, err
	}
	var fc fileConfig
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fc); err != nil {
		return sandbox.Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return sandbox.Config{
		Seed:              fc.Seed,
		ClientID:          fc.ClientID,
		ClientSecret:      fc.ClientSecret,
		Sellers:           fc.Sellers,
		AutoSellers:       fc.AutoSellers,
		TokenLifetime:     time.Duration(fc.TokenLifetime),
		DefaultAvailable:  fc.DefaultAvailable,
		Orders:            fc.Orders,
		NoRateLimits:      fc.NoRateLimits,
		MessagingRate:     fc.MessagingRate,
		UploadsRate:       fc.UploadsRate,
		SolicitationsRate: fc.SolicitationsRate,
		Rates:             fc.Rates,
		Faults: sandbox.Faults{
			Error5xx:         fc.Faults.Error5xx,
			Latency:          time.Duration(fc.Faults.Latency),
			Lost:             fc.Faults.Lost,
			SendThen500:      fc.Faults.SendThen500,
			SendThen500Rules: fc.Faults.SendThen500Rules,
		},
		UploadURLExpiry: time.Duration(fc.UploadURLExpiry),
	}, nil
}
