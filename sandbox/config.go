package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spmsg/spmsg/spapi"
)

// Defaults used when a Config field is zero.
const (
	DefaultTokenLifetime   = time.Hour
	DefaultUploadURLExpiry = 900 * time.Second
	// MaxAttachmentBytes is Amazon's limit on the total size of a message's
	// attachments: the total must be less than 10 MB.
	MaxAttachmentBytes = 10 << 20
	// maxPutBytes caps one S3 PUT body so a runaway client cannot exhaust
	// memory; it is above MaxAttachmentBytes so the total-size rule can be
	// exercised with one file.
	maxPutBytes = 16 << 20
)

// Config configures a Sandbox. The zero value is usable: any LWA client and
// any refresh token are accepted, every order offers DefaultAvailable, and
// Amazon's default rate limits apply.
type Config struct {
	// Seed seeds every pseudo-random choice (faults, request ids, upload
	// destination ids). Two sandboxes with the same Seed that receive the
	// same requests in the same order answer the same way. Zero is a seed
	// like any other.
	Seed int64

	// ClientID and ClientSecret are the LWA application credentials the
	// token endpoint accepts. Empty means any client id and secret are
	// accepted (each must still be present in the request).
	ClientID, ClientSecret string

	// Sellers are the selling partners the sandbox knows, each with the
	// refresh token that identifies it. When Sellers is empty every refresh
	// token is accepted, as if AutoSellers were set.
	Sellers []Seller

	// AutoSellers accepts refresh tokens that no Seller lists. A token of
	// the form "Atzr|<sellerID>" or "Atzr|<sellerID>|anything" maps to that
	// seller id (letters and digits, up to 64); any other token maps to a
	// seller id derived from a hash of the token ("A" and 13 characters).
	AutoSellers bool

	// TokenLifetime is how long an access token stays valid. Zero means
	// DefaultTokenLifetime (3600 s, like LWA).
	TokenLifetime time.Duration

	// DefaultAvailable lists the message types an order offers when no
	// Order configures it. Names may be any known type name or alias
	// (spapi.LookupType); the name given is the action name the sandbox
	// shows. Nil means DefaultAvailableTypes(); an empty non-nil slice means
	// orders offer nothing unless configured.
	DefaultAvailable []string

	// Orders configures individual orders. An order that is not listed
	// offers DefaultAvailable.
	Orders []Order

	// NoRateLimits turns throttling off. The x-amzn-RateLimit-Limit header
	// is still sent.
	NoRateLimits bool

	// MessagingRate is the default plan of every Messaging operation
	// (sendInvoice included). Zero means 1 request/s, burst 5.
	MessagingRate Rate
	// UploadsRate is the default plan of createUploadDestinationForResource.
	// Zero means 10 requests/s, burst 10.
	UploadsRate Rate
	// SolicitationsRate is the default plan of each Solicitations operation
	// (getSolicitationActionsForOrder and
	// createProductReviewAndSellerFeedbackSolicitation, a bucket each).
	// Zero means 1 request/s, burst 5.
	SolicitationsRate Rate
	// Rates overrides the plan of single operations (by operationId, e.g.
	// "sendInvoice" or "createProductReviewAndSellerFeedbackSolicitation")
	// for every seller. Seller.Rates wins over it.
	Rates map[string]Rate

	// Faults injects failures. The zero value injects none.
	Faults Faults

	// UploadURLExpiry is how long a presigned upload URL accepts a PUT.
	// Zero means DefaultUploadURLExpiry (900 s, like Amazon's URLs).
	UploadURLExpiry time.Duration

	// Now is the clock for token expiry, URL expiry, rate limits and
	// timestamps. Nil means time.Now.
	Now func() time.Time
}

// Seller is a selling partner known to the sandbox.
type Seller struct {
	// ID is the selling partner id, e.g. "A2EXAMPLE1SELLER".
	ID string `json:"id"`
	// RefreshToken is the LWA refresh token that identifies the seller.
	RefreshToken string `json:"refresh_token"`
	// Rates overrides plans for this seller by operationId: a seller with a
	// higher grant than the published default. Clients can learn the grant
	// only from the x-amzn-RateLimit-Limit header, as with Amazon.
	Rates map[string]Rate `json:"rates,omitempty"`
}

// Rate is a token-bucket plan: PerSecond tokens are added each second up
// to Burst; each request takes one.
type Rate struct {
	// PerSecond is the refill rate in requests per second.
	PerSecond float64 `json:"rate"`
	// Burst is the bucket size. Zero means max(1, ceil(PerSecond)).
	Burst int `json:"burst"`
	// Advertise, when positive, is the rate sent in x-amzn-RateLimit-Limit
	// instead of PerSecond (to test clients that trust the header); when
	// negative the header is left out. Zero advertises PerSecond.
	Advertise float64 `json:"advertise,omitempty"`
}

// Order configures one order's message-type availability.
type Order struct {
	// ID is the Amazon order id.
	ID string `json:"id"`
	// Seller limits the entry to one seller id. Empty applies it to every
	// seller; an entry for a specific seller wins over an empty one.
	Seller string `json:"seller,omitempty"`
	// Available lists the offered message types by any known name or alias;
	// the name given is the action name shown (so "sendInvoice" is shown as
	// sendInvoice and "invoice" as invoice). Nil means DefaultAvailable.
	Available []string `json:"available"`
	// Disabled lists types shown as offered but disabled, by name, with the
	// disabledReason to show. A disabled type cannot be sent.
	Disabled map[string]string `json:"disabled,omitempty"`
	// Locale is the buyer locale GetAttributes answers. Empty means the
	// marketplace's usual locale.
	Locale string `json:"locale,omitempty"`
	// Delivery sets the order's delivery dates, which decide when a review
	// may be requested. Nil leaves them as they are: by default every order
	// was delivered DefaultDeliveryAge before the sandbox was created.
	Delivery *Delivery `json:"delivery,omitempty"`
}

// Delivery is an order's delivery date range, as Amazon's order data gives
// it (EarliestDeliveryDate, LatestDeliveryDate). A review request
// (productReviewAndSellerFeedback) is possible from ReviewWindowStart
// after Earliest to ReviewWindowEnd after Latest, both ends included.
type Delivery struct {
	// Earliest is the earliest delivery date.
	Earliest time.Time `json:"earliest"`
	// Latest is the latest delivery date. Zero means Earliest.
	Latest time.Time `json:"latest,omitempty"`
}

// Amazon's review-request window and the sandbox's default delivery date.
const (
	// ReviewWindowStart is how long after the earliest delivery date a
	// review may first be requested.
	ReviewWindowStart = spapi.ReviewWindowOpens
	// ReviewWindowEnd is how long after the latest delivery date a review
	// may last be requested.
	ReviewWindowEnd = spapi.ReviewWindowCloses
	// DefaultDeliveryAge is how long before New an order without
	// configured delivery dates was delivered (so it is inside the window).
	DefaultDeliveryAge = 10 * 24 * time.Hour
)

// check fills in Latest and reports a missing or reversed range.
func (d Delivery) check() (Delivery, error) {
	if d.Earliest.IsZero() {
		return d, errors.New("delivery: earliest is empty")
	}
	if d.Latest.IsZero() {
		d.Latest = d.Earliest
	}
	if d.Latest.Before(d.Earliest) {
		return d, fmt.Errorf("delivery: latest %s is before earliest %s", d.Latest.Format(time.RFC3339), d.Earliest.Format(time.RFC3339))
	}
	return d, nil
}

// reviewable reports whether now is inside the review-request window.
func (d Delivery) reviewable(now time.Time) bool {
	return !now.Before(d.Earliest.Add(ReviewWindowStart)) && !now.After(d.Latest.Add(ReviewWindowEnd))
}

// Faults describes injected failures. All fractions are in [0, 1].
type Faults struct {
	// Error5xx is the fraction of SP-API requests answered with 500
	// InternalFailure or 503 ServiceUnavailable (half each) before anything
	// else happens: no validation, no quota used, no message sent.
	Error5xx float64
	// Latency is added to every SP-API answer.
	Latency time.Duration
	// Lost is the fraction of successful sends whose answer is lost: the
	// message is recorded as sent (it appears in Sent and uses up a
	// once-per-order type) and then the connection is closed without a
	// response.
	Lost float64
	// SendThen500 is the fraction of successful sends (Messaging sends and
	// review requests) that are recorded as sent, exactly as a 201 would
	// be, and then answered 500 InternalFailure: what Amazon may do when it
	// fails after processing. Lost is drawn first; a lost answer is not
	// also a 500.
	SendThen500 float64
	// SendThen500Rules are deterministic send-then-500 rules in force
	// after New and Reset (see Sandbox.AddSendThen500). A send that a rule
	// matches is answered 500 whatever Lost and SendThen500 draw.
	SendThen500Rules []SendThen500Rule
}

// SendThen500Rule answers matching sends 500 InternalFailure after
// recording them (see Faults.SendThen500).
type SendThen500Rule struct {
	// Order limits the rule to one Amazon order id. Empty matches any.
	Order string `json:"order,omitempty"`
	// Seller limits the rule to one selling partner id. Empty matches any.
	Seller string `json:"seller,omitempty"`
	// Count is how many matching sends the rule applies to, the next ones
	// first; zero or less means every matching send until Reset.
	Count int `json:"count"`
}

// DefaultAvailableTypes returns what an unconfigured order offers by
// default: every type of the current Messaging model, under the names live
// getMessagingActionsForOrder answers use (invoice as "sendInvoice"), plus
// negativeFeedbackRemoval as "updateFeedback", which live answers still
// offer.
func DefaultAvailableTypes() []string {
	var out []string
	for _, t := range messagingTypes() {
		switch {
		case t.Name == "negativeFeedbackRemoval":
			out = append(out, "updateFeedback")
		case t.Removed:
		case t.Name == "invoice":
			out = append(out, "sendInvoice")
		default:
			out = append(out, t.Name)
		}
	}
	return out
}

// params is a validated Config with defaults filled in.
type params struct {
	Config
	sellersByToken map[string]Seller
	sellersByID    map[string]Seller
	defaultOffer   offer
	orders         map[orderKey]orderCfg
	deliveries     map[orderKey]Delivery
}

type orderKey struct{ seller, id string }

// orderCfg is a resolved Order.
type orderCfg struct {
	off    offer
	locale string
}

func (c Config) withDefaults() Config {
	if c.TokenLifetime <= 0 {
		c.TokenLifetime = DefaultTokenLifetime
	}
	if c.UploadURLExpiry <= 0 {
		c.UploadURLExpiry = DefaultUploadURLExpiry
	}
	if c.DefaultAvailable == nil {
		c.DefaultAvailable = DefaultAvailableTypes()
	}
	if c.MessagingRate.PerSecond == 0 {
		c.MessagingRate = Rate{PerSecond: spapi.MessagingRate, Burst: spapi.MessagingBurst, Advertise: c.MessagingRate.Advertise}
	}
	if c.UploadsRate.PerSecond == 0 {
		c.UploadsRate = Rate{PerSecond: spapi.UploadsRate, Burst: spapi.UploadsBurst, Advertise: c.UploadsRate.Advertise}
	}
	if c.SolicitationsRate.PerSecond == 0 {
		c.SolicitationsRate = Rate{PerSecond: spapi.SolicitationsRate, Burst: spapi.SolicitationsBurst, Advertise: c.SolicitationsRate.Advertise}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if len(c.Sellers) == 0 {
		c.AutoSellers = true
	}
	return c
}

func newParams(cfg Config) (*params, error) {
	c := cfg.withDefaults()
	p := &params{
		Config:         c,
		sellersByToken: map[string]Seller{},
		sellersByID:    map[string]Seller{},
		orders:         map[orderKey]orderCfg{},
		deliveries:     map[orderKey]Delivery{},
	}
	var errs []error
	for i, s := range c.Sellers {
		switch {
		case s.ID == "":
			errs = append(errs, fmt.Errorf("sellers[%d]: id is empty", i))
		case s.RefreshToken == "":
			errs = append(errs, fmt.Errorf("sellers[%d] (%s): refresh_token is empty", i, s.ID))
		case p.sellersByID[s.ID].ID != "":
			errs = append(errs, fmt.Errorf("sellers[%d]: seller id %s appears twice", i, s.ID))
		case p.sellersByToken[s.RefreshToken].ID != "":
			errs = append(errs, fmt.Errorf("sellers[%d] (%s): refresh token already used by seller %s", i, s.ID, p.sellersByToken[s.RefreshToken].ID))
		default:
			p.sellersByID[s.ID] = s
			p.sellersByToken[s.RefreshToken] = s
		}
		for op, r := range s.Rates {
			if err := r.check(); err != nil {
				errs = append(errs, fmt.Errorf("sellers[%d] (%s): rate for %s: %w", i, s.ID, op, err))
			}
		}
	}
	for name, r := range map[string]Rate{"messaging rate": c.MessagingRate, "uploads rate": c.UploadsRate, "solicitations rate": c.SolicitationsRate} {
		if err := r.check(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
	}
	for op, r := range c.Rates {
		if err := r.check(); err != nil {
			errs = append(errs, fmt.Errorf("rate for %s: %w", op, err))
		}
	}
	def, err := newOffer(Order{Available: c.DefaultAvailable})
	if err != nil {
		errs = append(errs, fmt.Errorf("default available: %w", err))
	}
	p.defaultOffer = def
	for i, o := range c.Orders {
		if o.ID == "" {
			errs = append(errs, fmt.Errorf("orders[%d]: id is empty", i))
			continue
		}
		if o.Available == nil {
			o.Available = c.DefaultAvailable
		}
		if o.Delivery != nil {
			d, err := o.Delivery.check()
			if err != nil {
				errs = append(errs, fmt.Errorf("orders[%d] (%s): %w", i, o.ID, err))
			}
			p.deliveries[orderKey{o.Seller, o.ID}] = d
		}
		off, err := newOffer(o)
		if err != nil {
			errs = append(errs, fmt.Errorf("orders[%d] (%s): %w", i, o.ID, err))
			continue
		}
		p.orders[orderKey{o.Seller, o.ID}] = orderCfg{off: off, locale: o.Locale}
	}
	f := c.Faults
	if f.Error5xx < 0 || f.Error5xx > 1 {
		errs = append(errs, fmt.Errorf("faults: error_5xx %v is not in [0, 1]", f.Error5xx))
	}
	if f.Lost < 0 || f.Lost > 1 {
		errs = append(errs, fmt.Errorf("faults: lost %v is not in [0, 1]", f.Lost))
	}
	if f.SendThen500 < 0 || f.SendThen500 > 1 {
		errs = append(errs, fmt.Errorf("faults: send_then_500 %v is not in [0, 1]", f.SendThen500))
	}
	if f.Latency < 0 {
		errs = append(errs, fmt.Errorf("faults: latency %v is negative", f.Latency))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("sandbox: invalid config: %w", err)
	}
	return p, nil
}

func (r Rate) check() error {
	if r.PerSecond < 0 || r.Burst < 0 {
		return errors.New("rate and burst must not be negative")
	}
	return nil
}

func (r Rate) burst() int {
	if r.Burst > 0 {
		return r.Burst
	}
	b := int(r.PerSecond)
	if float64(b) < r.PerSecond {
		b++
	}
	return max(b, 1)
}

// String describes the configuration without the client secret or the
// sellers' refresh tokens.
func (c Config) String() string {
	sellers := make([]string, len(c.Sellers))
	for i, s := range c.Sellers {
		sellers[i] = s.String()
	}
	return fmt.Sprintf("sandbox.Config{Seed:%d ClientID:%q ClientSecret:%s Sellers:[%s] AutoSellers:%t TokenLifetime:%s NoRateLimits:%t UploadURLExpiry:%s}",
		c.Seed, c.ClientID, redactedIfSet(c.ClientSecret), strings.Join(sellers, " "), c.AutoSellers,
		c.TokenLifetime, c.NoRateLimits, c.UploadURLExpiry)
}

// GoString is String, so %#v hides the secrets too.
func (c Config) GoString() string { return c.String() }

// Format prints String for every verb, so no verb (%d, %x, %q, %#v, ...)
// can reach a secret through fmt's field-by-field printing.
func (c Config) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// LogValue implements slog.LogValuer without the secrets.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(slog.Int64("seed", c.Seed), slog.String("client_id", c.ClientID),
		slog.Bool("client_secret_set", c.ClientSecret != ""), slog.Any("sellers", c.Sellers),
		slog.Bool("auto_sellers", c.AutoSellers))
}

// MarshalJSON encodes the configuration without the secrets, so a Config
// nested in a value that slog's JSON handler marshals stays redacted too.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Seed            int64    `json:"seed"`
		ClientID        string   `json:"client_id"`
		ClientSecretSet bool     `json:"client_secret_set"`
		Sellers         []Seller `json:"sellers"`
		AutoSellers     bool     `json:"auto_sellers"`
	}{c.Seed, c.ClientID, c.ClientSecret != "", c.Sellers, c.AutoSellers})
}

// String describes the seller without its refresh token.
func (s Seller) String() string {
	return fmt.Sprintf("sandbox.Seller{ID:%q RefreshToken:%s Rates:%v}", s.ID, redactedIfSet(s.RefreshToken), s.Rates)
}

// GoString is String, so %#v hides the refresh token too.
func (s Seller) GoString() string { return s.String() }

// Format prints String for every verb (see Config.Format).
func (s Seller) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, s.String()) }

// LogValue implements slog.LogValuer without the refresh token.
func (s Seller) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", s.ID), slog.Bool("refresh_token_set", s.RefreshToken != ""))
}

// MarshalJSON encodes the seller without its refresh token. Decoding is
// unaffected: a sellers list still reads "refresh_token".
func (s Seller) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		ID              string          `json:"id"`
		RefreshTokenSet bool            `json:"refresh_token_set"`
		Rates           map[string]Rate `json:"rates,omitempty"`
	}{s.ID, s.RefreshToken != "", s.Rates})
}

func redactedIfSet(s string) string {
	if s == "" {
		return `""`
	}
	return "[redacted]"
}
