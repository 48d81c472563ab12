package tasks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/spmsg/spmsg/spapi"
)

// Rate is a request rate and burst, as in a sellers-file override.
type Rate struct {
	Rate  float64 `json:"rate"`
	Burst int     `json:"burst"`
}

// SellerConfig is one entry of the sellers file (SPAPI_SELLERS_FILE).
type SellerConfig struct {
	ID           string `json:"id"`
	RefreshToken string `json:"refresh_token"`
	Region       string `json:"region"`
	// Rates overrides Amazon's default rate plans for this seller, keyed by
	// operation id (e.g. "sendInvoice", "getMessagingActionsForOrder",
	// "createUploadDestinationForResource") or by the groups "messaging",
	// "uploads" and "solicitations" (review requests).
	Rates map[string]Rate `json:"rates,omitempty"`
}

// String describes the seller without its refresh token.
func (c SellerConfig) String() string {
	return fmt.Sprintf("tasks.SellerConfig{ID:%q RefreshToken:%s Region:%q Rates:%v}",
		c.ID, redactedIfSet(c.RefreshToken), c.Region, c.Rates)
}

// GoString is String, so %#v hides the refresh token too.
func (c SellerConfig) GoString() string { return c.String() }

// Format prints String for every verb, so no verb (%d, %x, %#v, ...) can
// reach the refresh token through fmt's field-by-field printing.
func (c SellerConfig) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue implements slog.LogValuer without the refresh token.
func (c SellerConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", c.ID), slog.String("region", c.Region),
		slog.Bool("refresh_token_set", c.RefreshToken != ""))
}

func redactedIfSet(s string) string {
	if s == "" {
		return `""`
	}
	return "[redacted]"
}

// Sellers is the validated sellers file. It implements SellerDirectory.
// Printed or logged, it shows the sellers' ids and regions only.
type Sellers struct {
	list []SellerConfig
	byID map[string]int
}

// String lists the sellers without their refresh tokens.
func (s *Sellers) String() string {
	if s == nil {
		return "tasks.Sellers(nil)"
	}
	var b strings.Builder
	b.WriteString("tasks.Sellers[")
	for i, c := range s.list {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(c.String())
	}
	b.WriteString("]")
	return b.String()
}

// GoString is String, so %#v hides the refresh tokens too.
func (s *Sellers) GoString() string { return s.String() }

// Format prints String for every verb (see SellerConfig.Format).
func (s *Sellers) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue implements slog.LogValuer without the refresh tokens.
func (s *Sellers) LogValue() slog.Value {
	if s == nil {
		return slog.GroupValue()
	}
	attrs := make([]slog.Attr, len(s.list))
	for i, c := range s.list {
		attrs[i] = slog.Any(strconv.Itoa(i), c)
	}
	return slog.GroupValue(attrs...)
}

// LoadSellersFile reads and validates a sellers file.
func LoadSellersFile(path string) (*Sellers, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sellers file: %w", err)
	}
	defer f.Close()
	s, err := ParseSellers(f)
	if err != nil {
		return nil, fmt.Errorf("sellers file %s: %w", path, err)
	}
	return s, nil
}

// sellerFields are the keys of a sellers-file entry.
var sellerFields = map[string]bool{"id": true, "refresh_token": true, "region": true, "rates": true}

// maxEchoedKey is the longest unknown key an error quotes: a longer one is
// likelier a misplaced value (a refresh token) than a misspelt field.
const maxEchoedKey = 40

// ParseSellers parses a JSON array of sellers and validates every entry:
// id present and unique, refresh_token present, region one of na, eu, fe,
// rate overrides positive, no other fields. Errors name the line (for bad
// JSON) or the seller (by id, else by its 1-based index) and the field;
// they never hold a refresh token.
func ParseSellers(r io.Reader) (*Sellers, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(raw, &entries); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("line %d: not valid JSON: %v", lineOf(raw, se.Offset), se)
		}
		return nil, errors.New("want a JSON array of sellers ([{\"id\": ..., \"refresh_token\": ..., \"region\": ...}])")
	}
	if len(entries) == 0 {
		return nil, errors.New("no sellers")
	}
	s := &Sellers{byID: map[string]int{}}
	for i, e := range entries {
		c, err := parseSeller(e)
		name := fmt.Sprintf("seller #%d", i+1)
		if c.ID != "" {
			name = fmt.Sprintf("seller %q", c.ID)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %v", name, err)
		}
		if c.ID == "" {
			return nil, fmt.Errorf("%s: id is required", name)
		}
		if _, dup := s.byID[c.ID]; dup {
			return nil, fmt.Errorf("%s: listed twice", name)
		}
		if c.RefreshToken == "" {
			return nil, fmt.Errorf("%s: refresh_token is required", name)
		}
		reg, err := spapi.ParseRegion(c.Region)
		if err != nil {
			return nil, fmt.Errorf("%s: region: %v", name, err)
		}
		c.Region = string(reg)
		keys := make([]string, 0, len(c.Rates))
		for k := range c.Rates {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if r := c.Rates[k]; r.Rate <= 0 || r.Burst < 1 {
				return nil, fmt.Errorf("%s: rates[%s]: rate must be > 0 and burst >= 1", name, quoteKey(k))
			}
		}
		s.byID[c.ID] = len(s.list)
		s.list = append(s.list, c)
	}
	return s, nil
}

// parseSeller decodes one entry field by field, so an error names the
// field; the id is decoded first so that it can name the seller. Values
// are never quoted in errors.
func parseSeller(raw json.RawMessage) (SellerConfig, error) {
	var c SellerConfig
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return c, errors.New("want a JSON object with id, refresh_token, region and optional rates")
	}
	if v, ok := fields["id"]; ok {
		if err := json.Unmarshal(v, &c.ID); err != nil {
			return c, errors.New("id: want a string")
		}
	}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !sellerFields[k] {
			return c, fmt.Errorf("unknown field %s (want id, refresh_token, region, rates)", quoteKey(k))
		}
	}
	if v, ok := fields["refresh_token"]; ok {
		if err := json.Unmarshal(v, &c.RefreshToken); err != nil {
			return c, errors.New("refresh_token: want a string")
		}
	}
	if v, ok := fields["region"]; ok {
		if err := json.Unmarshal(v, &c.Region); err != nil {
			return c, errors.New("region: want a string (na, eu or fe)")
		}
	}
	if v, ok := fields["rates"]; ok {
		var rates map[string]json.RawMessage
		if err := json.Unmarshal(v, &rates); err != nil {
			return c, errors.New(`rates: want an object of {"rate": N, "burst": N} by operation or group`)
		}
		if len(rates) > 0 { // "rates": {} is no overrides, as when absent
			c.Rates = make(map[string]Rate, len(rates))
		}
		ops := make([]string, 0, len(rates))
		for k := range rates {
			ops = append(ops, k)
		}
		sort.Strings(ops)
		for _, k := range ops {
			dec := json.NewDecoder(bytes.NewReader(rates[k]))
			dec.DisallowUnknownFields()
			var r Rate
			if err := dec.Decode(&r); err != nil {
				return c, fmt.Errorf(`rates[%s]: want {"rate": N, "burst": N}`, quoteKey(k))
			}
			c.Rates[k] = r
		}
	}
	return c, nil
}

// quoteKey quotes a key for an error, unless it is too long to be a field
// or operation name.
func quoteKey(k string) string {
	if len(k) > maxEchoedKey {
		return fmt.Sprintf("(a key of %d bytes)", len(k))
	}
	return strconv.Quote(k)
}

// lineOf is the 1-based line of a byte offset.
func lineOf(raw []byte, offset int64) int {
	if offset > int64(len(raw)) {
		offset = int64(len(raw))
	}
	return bytes.Count(raw[:offset], []byte("\n")) + 1
}

// List returns the sellers in file order.
func (s *Sellers) List() []SellerConfig { return append([]SellerConfig(nil), s.list...) }

// Get returns a seller's configuration.
func (s *Sellers) Get(id string) (SellerConfig, bool) {
	i, ok := s.byID[id]
	if !ok {
		return SellerConfig{}, false
	}
	return s.list[i], true
}

// SellerRegion implements SellerDirectory.
func (s *Sellers) SellerRegion(id string) (spapi.Region, bool) {
	c, ok := s.Get(id)
	return spapi.Region(c.Region), ok
}

// SPAPISellers converts the file to spapi.Seller credentials.
func (s *Sellers) SPAPISellers() []spapi.Seller {
	out := make([]spapi.Seller, len(s.list))
	for i, c := range s.list {
		out[i] = spapi.Seller{ID: c.ID, RefreshToken: c.RefreshToken, Region: spapi.Region(c.Region)}
	}
	return out
}

// override returns the seller's sellers-file override for an operation
// (by operation id, else by group), if any.
func (s *Sellers) override(sellerID, operation string) (Rate, bool) {
	if s == nil {
		return Rate{}, false
	}
	c, ok := s.Get(sellerID)
	if !ok {
		return Rate{}, false
	}
	if r, ok := c.Rates[operation]; ok {
		return r, true
	}
	r, ok := c.Rates[spapi.OperationGroup(operation)]
	return r, ok
}
