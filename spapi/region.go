package spapi

import (
	"fmt"
	"strings"
)

// Region is an SP-API region: na, eu or fe.
type Region string

// The three SP-API regions.
const (
	RegionNA Region = "na"
	RegionEU Region = "eu"
	RegionFE Region = "fe"
)

// ParseRegion accepts na, eu or fe in any case.
func ParseRegion(s string) (Region, error) {
	switch r := Region(strings.ToLower(strings.TrimSpace(s))); r {
	case RegionNA, RegionEU, RegionFE:
		return r, nil
	}
	return "", fmt.Errorf("unknown region %q (want na, eu or fe)", s)
}

// Host returns the production SP-API base URL of the region.
func (r Region) Host() string {
	switch r {
	case RegionEU:
		return "https://sellingpartnerapi-eu.amazon.com"
	case RegionFE:
		return "https://sellingpartnerapi-fe.amazon.com"
	default:
		return "https://sellingpartnerapi-na.amazon.com"
	}
}

// DefaultLWAEndpoint is Amazon's LWA token URL, the same for every region.
const DefaultLWAEndpoint = "https://api.amazon.com/auth/o2/token"

// Marketplace is one Amazon marketplace.
type Marketplace struct {
	ID      string
	Country string
	Name    string
	Region  Region
}

func marketplaceTable() []Marketplace {
	return []Marketplace{
		{"ATVPDKIKX0DER", "US", "United States", RegionNA},
		{"A2EUQ1WTGCTBG2", "CA", "Canada", RegionNA},
		{"A1AM78C64UM0Y8", "MX", "Mexico", RegionNA},
		{"A2Q3Y263D00KWC", "BR", "Brazil", RegionNA},
		{"A1F83G8C2ARO7P", "UK", "United Kingdom", RegionEU},
		{"A1PA6795UKMFR9", "DE", "Germany", RegionEU},
		{"A13V1IB3VIYZZH", "FR", "France", RegionEU},
		{"APJ6JRA9NG5V4", "IT", "Italy", RegionEU},
		{"A1RKKUPIHCS9HS", "ES", "Spain", RegionEU},
		{"A1805IZSGTT6HS", "NL", "Netherlands", RegionEU},
		{"A2NODRKZP88ZB9", "SE", "Sweden", RegionEU},
		{"A1C3SOZRARQ6R3", "PL", "Poland", RegionEU},
		{"A33AVAJ2PDY3EV", "TR", "Turkey", RegionEU},
		{"A2VIGQ35RCS4UG", "AE", "United Arab Emirates", RegionEU},
		{"A17E79C6D8DWNP", "SA", "Saudi Arabia", RegionEU},
		{"ARBP9OOSHTCHU", "EG", "Egypt", RegionEU},
		{"A21TJRUUN4KGV", "IN", "India", RegionEU},
		{"AMEN7PMS3EDWL", "BE", "Belgium", RegionEU},
		{"A28R8C7NBKEWEA", "IE", "Ireland", RegionEU},
		{"AE08WJ6YKNBMC", "ZA", "South Africa", RegionEU},
		{"A1VC38T7YXB528", "JP", "Japan", RegionFE},
		{"A39IBJ37TRP1C6", "AU", "Australia", RegionFE},
		{"A19VAU5U5O7RUS", "SG", "Singapore", RegionFE},
	}
}

// marketplaces is the table, built once and never modified.
var marketplaces = marketplaceTable()

// Marketplaces returns every known marketplace (a fresh copy).
func Marketplaces() []Marketplace { return marketplaceTable() }

// LookupMarketplace finds a marketplace by id.
func LookupMarketplace(id string) (Marketplace, bool) {
	for _, m := range marketplaces {
		if m.ID == id {
			return m, true
		}
	}
	return Marketplace{}, false
}

// CheckMarketplace returns an error unless id is a known marketplace of
// region r.
func CheckMarketplace(r Region, id string) error {
	m, ok := LookupMarketplace(id)
	if !ok {
		return fmt.Errorf("unknown marketplace id %q", id)
	}
	if m.Region != r {
		return fmt.Errorf("marketplace %s (%s) is in region %s, not the seller's region %s", id, m.Country, m.Region, r)
	}
	return nil
}
