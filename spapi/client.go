package spapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"
)

// Seller is one selling partner the client acts for: its id, its LWA refresh
// token and its SP-API region.
type Seller struct {
	// ID is the selling partner id (e.g. "A1B2C3..."). Required.
	ID string
	// RefreshToken is the seller's LWA refresh token ("Atzr|..."). Required;
	// it never appears in an error or a log line.
	RefreshToken string
	// Region picks the production host when Config.Endpoint is empty. It
	// must be na, eu or fe (any case).
	Region Region
}

// String describes the seller without its refresh token.
func (s Seller) String() string {
	return fmt.Sprintf("spapi.Seller{ID:%q RefreshToken:%s Region:%q}", s.ID, redactedIfSet(s.RefreshToken), s.Region)
}

// GoString is String, so %#v hides the refresh token too.
func (s Seller) GoString() string { return s.String() }

// Format prints String for every verb, so no verb (%d, %x, %q, %#v, ...)
// can reach the refresh token through fmt's field-by-field printing.
func (s Seller) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue implements slog.LogValuer without the refresh token.
func (s Seller) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", s.ID), slog.String("region", string(s.Region)),
		slog.Bool("refresh_token_set", s.RefreshToken != ""))
}

// MarshalJSON encodes the seller without its refresh token, so a Seller
// nested in a value that slog's JSON handler marshals stays redacted too.
func (s Seller) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID              string `json:"id"`
		Region          Region `json:"region"`
		RefreshTokenSet bool   `json:"refresh_token_set"`
	}{s.ID, s.Region, s.RefreshToken != ""})
}

// ErrUnknownSeller is wrapped by the *Error returned for a seller id the
// client does not know. It is permanent: the call is never sent.
var ErrUnknownSeller = errors.New("spapi: unknown seller")

// Client calls the Messaging, Solicitations and Uploads APIs for many
// sellers. Each seller has its own LWA access-token cache. A Client is safe
// for concurrent use.
//
// The client never retries on its own, with one exception: when SP-API
// rejects a call with a 403 that blames the access token, it refreshes that
// seller's token once and repeats the call once (the gateway refused the
// first attempt, so nothing was done). It never resends a request that
// reached the wire otherwise; retries are the caller's decision, guided by
// the Is* predicates.
type Client struct {
	cfg *settings

	mu      sync.RWMutex
	sellers map[string]*sellerState
}

// sellerState is a seller with its token cache.
type sellerState struct {
	Seller
	tokens *tokenSource
}

// NewClient validates cfg and the sellers and returns a client. Errors name
// the missing or bad field and the seller (by id or position), never a
// secret. Duplicate seller ids are an error.
func NewClient(cfg Config, sellers ...Seller) (*Client, error) {
	s, err := newSettings(cfg)
	if err != nil {
		return nil, err
	}
	c := &Client{cfg: s, sellers: make(map[string]*sellerState, len(sellers))}
	var errs []error
	for i, sl := range sellers {
		st, err := c.newSellerState(sl, i)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := c.sellers[st.ID]; dup {
			errs = append(errs, fmt.Errorf("spapi: seller %q: listed twice", st.ID))
			continue
		}
		c.sellers[st.ID] = st
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// AddSeller adds a seller, or replaces the seller with the same id (its
// cached access token is dropped, e.g. after a refresh-token rotation).
// It returns the same validation errors as NewClient.
func (c *Client) AddSeller(s Seller) error {
	st, err := c.newSellerState(s, -1)
	if err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sellers[st.ID] = st
	return nil
}

// SellerRegion returns the region of a known seller; ok is false for an
// unknown id.
func (c *Client) SellerRegion(sellerID string) (r Region, ok bool) {
	st, err := c.seller(sellerID)
	if err != nil {
		return "", false
	}
	return st.Region, true
}

func (c *Client) newSellerState(s Seller, index int) (*sellerState, error) {
	name := fmt.Sprintf("seller %q", s.ID)
	if index >= 0 && strings.TrimSpace(s.ID) == "" {
		name = fmt.Sprintf("seller #%d", index+1)
	}
	var errs []string
	s.ID = strings.TrimSpace(s.ID)
	if s.ID == "" {
		errs = append(errs, "ID is required")
	}
	if strings.TrimSpace(s.RefreshToken) == "" {
		errs = append(errs, "RefreshToken is required")
	}
	s.RefreshToken = strings.TrimSpace(s.RefreshToken)
	r, err := ParseRegion(string(s.Region))
	if err != nil {
		errs = append(errs, "Region: "+err.Error())
	}
	s.Region = r
	if len(errs) > 0 {
		return nil, fmt.Errorf("spapi: %s: %s", name, strings.Join(errs, "; "))
	}
	st := &sellerState{Seller: s}
	st.tokens = &tokenSource{
		now:      c.cfg.now,
		exchange: func(ctx context.Context) (string, time.Duration, error) { return c.exchangeToken(ctx, s) },
	}
	return st, nil
}

func (c *Client) seller(id string) (*sellerState, error) {
	c.mu.RLock()
	st, ok := c.sellers[id]
	c.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownSeller, id)
	}
	return st, nil
}

// baseURL is the SP-API base for a seller: Config.Endpoint or the region
// host.
func (c *Client) baseURL(st *sellerState) string {
	if c.cfg.endpoint != "" {
		return c.cfg.endpoint
	}
	return st.Region.Host()
}
