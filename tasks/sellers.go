package tasks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"

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
	// "createUploadDestinationForResource") or by the groups "messaging" and
	// "uploads".
	Rates map[string]Rate `json:"rates,omitempty"`
}

// Sellers is the validated sellers file. It implements SellerDirectory.
type Sellers struct {
	list []SellerConfig
	byID map[string]int
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

// ParseSellers parses a JSON array of sellers and validates every entry:
// id present and unique, refresh_token present, region one of na, eu, fe,
// rate overrides positive. Errors name the seller (by id or index) and the
// field; secrets never appear in them.
func ParseSellers(r io.Reader) (*Sellers, error) {
	raw, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var list []SellerConfig
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("not a JSON array of sellers: %v", err)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("no sellers")
	}
	s := &Sellers{byID: map[string]int{}}
	for i, c := range list {
		name := fmt.Sprintf("seller #%d", i+1)
		if c.ID != "" {
			name = fmt.Sprintf("seller %q", c.ID)
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
				return nil, fmt.Errorf("%s: rates[%q]: rate must be > 0 and burst >= 1", name, k)
			}
		}
		s.byID[c.ID] = len(s.list)
		s.list = append(s.list, c)
	}
	return s, nil
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
	group := "messaging"
	if operation == spapi.OpCreateUploadDestinationForResource {
		group = "uploads"
	}
	r, ok := c.Rates[group]
	return r, ok
}

// Limit returns the rate plan for a seller and operation: the seller's
// override for the operation, else for its group, else Amazon's default.
func (s *Sellers) Limit(sellerID, operation string) Rate {
	if r, ok := s.override(sellerID, operation); ok {
		return r
	}
	d := defaultLimit(operation)
	return Rate{Rate: d.Rate, Burst: d.Burst}
}
