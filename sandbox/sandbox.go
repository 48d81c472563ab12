package sandbox

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spmsg/spmsg/internal/spapimodel"
	"github.com/spmsg/spmsg/spapi"
)

// Paths served besides the SP-API operations.
const (
	// TokenPath is the LWA token endpoint.
	TokenPath = "/auth/o2/token"
	// S3Prefix starts the presigned upload URLs.
	S3Prefix = "/s3/"
	// AdminPrefix starts the inspection and admin endpoints.
	AdminPrefix = "/_sandbox/"
	// UploadBucket is the bucket name in upload URLs.
	UploadBucket = "buyer-seller-messaging-sandbox"
)

// Sandbox is a stateful local stand-in for Amazon's LWA token endpoint, the
// Messaging v1, Solicitations v1 and Uploads 2020-11-01 APIs and the S3
// upload target. It is
// an http.Handler serving all of them on one host, plus JSON inspection
// endpoints under /_sandbox/. It is safe for concurrent use.
type Sandbox struct {
	p       *params
	v       *spapimodel.Validator
	key     []byte                        // HMAC key for access tokens and upload URLs
	opTypes map[string]*spapi.MessageType // send operations by operationId
	opFam   map[string]Rate               // default plan by operationId
	schemas map[string]*actionDoc         // by action name
	content contentRules

	sellers sync.Map // seller id -> *sellerState

	start        time.Time // Config.Now at New: default delivery dates count from it
	reviewSchema []byte    // embedded JSON schema of productReviewAndSellerFeedback

	ordersMu   sync.RWMutex
	orders     map[orderKey]orderCfg
	deliveries map[orderKey]Delivery

	rulesMu sync.Mutex // taken after a sellerState's mutex, never before
	rules   []SendThen500Rule

	uploadsMu sync.Mutex
	uploads   map[string]*upload

	stats   atomic.Pointer[counters]
	seq     atomic.Int64 // SentMessage.Seq
	reqIDs  *stream
	upIDs   *stream
	faults  *stream
	lost    *stream
	then500 *stream
	serials *stream
}

// New builds a Sandbox from cfg. It returns an error naming every invalid
// field (unknown type names, duplicate sellers, bad fractions, ...).
func New(cfg Config) (*Sandbox, error) {
	p, err := newParams(cfg)
	if err != nil {
		return nil, err
	}
	v, err := spapimodel.New()
	if err != nil {
		return nil, fmt.Errorf("sandbox: load models: %w", err)
	}
	var seed [8]byte
	binary.BigEndian.PutUint64(seed[:], uint64(p.Seed))
	key := sha256.Sum256(append([]byte("spmsg-sandbox-key:"), seed[:]...))
	s := &Sandbox{
		p:       p,
		v:       v,
		key:     key[:],
		opTypes: map[string]*spapi.MessageType{},
		opFam:   map[string]Rate{},
		reqIDs:  newStream(p.Seed, saltRequestID),
		upIDs:   newStream(p.Seed, saltUploadID),
		faults:  newStream(p.Seed, saltFault),
		lost:    newStream(p.Seed, saltLost),
		then500: newStream(p.Seed, saltThen500),
		serials: newStream(p.Seed, saltToken),
		content: newContentRules(),
		start:   p.Now(),
	}
	for _, t := range messagingTypes() {
		s.opTypes[t.OperationID] = &t
	}
	var ops []string
	for _, r := range v.Routes() {
		ops = append(ops, r.OperationID)
		switch {
		case strings.HasPrefix(r.Template, "/uploads/"):
			s.opFam[r.OperationID] = p.UploadsRate
		case strings.HasPrefix(r.Template, solicitationsPrefix):
			s.opFam[r.OperationID] = p.SolicitationsRate
		default:
			s.opFam[r.OperationID] = p.MessagingRate
		}
	}
	s.schemas, err = buildSchemas()
	if err != nil {
		return nil, err
	}
	s.reviewSchema, err = buildReviewSchema()
	if err != nil {
		return nil, err
	}
	s.stats.Store(newCounters(ops))
	s.Reset()
	return s, nil
}

// ServeHTTP serves LWA at TokenPath, upload URLs under S3Prefix, the
// inspection endpoints under AdminPrefix, and everything else as SP-API.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; {
	case p == TokenPath:
		s.serveToken(w, r)
	case strings.HasPrefix(p, S3Prefix):
		s.serveS3(w, r)
	case strings.HasPrefix(p, AdminPrefix):
		s.serveAdmin(w, r)
	default:
		s.serveSPAPI(w, r)
	}
}

// Reset forgets everything that happened since New: sent messages, stats,
// uploads, rate-limit buckets, once-per-order sends and review requests,
// SetOrder and SetDelivery changes and send-then-500 rules added since
// (the configured ones start over). The id and fault sequences restart, so
// a seeded run can be repeated. Access tokens already issued stay valid.
func (s *Sandbox) Reset() {
	s.ordersMu.Lock()
	s.orders = make(map[orderKey]orderCfg, len(s.p.orders))
	for k, v := range s.p.orders {
		s.orders[k] = v
	}
	s.deliveries = make(map[orderKey]Delivery, len(s.p.deliveries))
	for k, v := range s.p.deliveries {
		s.deliveries[k] = v
	}
	s.ordersMu.Unlock()
	s.rulesMu.Lock()
	s.rules = append([]SendThen500Rule(nil), s.p.Faults.SendThen500Rules...)
	s.rulesMu.Unlock()
	s.uploadsMu.Lock()
	s.uploads = map[string]*upload{}
	s.uploadsMu.Unlock()
	s.sellers.Clear()
	old := s.stats.Load()
	ops := make([]string, 0, len(old.requests))
	for op := range old.requests {
		ops = append(ops, op)
	}
	s.stats.Store(newCounters(ops))
	s.seq.Store(0)
	for _, st := range []*stream{s.reqIDs, s.upIDs, s.faults, s.lost, s.then500, s.serials} {
		st.reset()
	}
}

// SetOrder replaces the configuration of one order (for o.Seller, or for
// every seller when o.Seller is empty) and forgets which once-per-order
// types were sent for it (a review request included). A nil o.Available
// means Config.DefaultAvailable; a nil o.Delivery keeps the order's
// delivery dates. It returns an error for an empty id, an unknown type
// name or a bad delivery range.
func (s *Sandbox) SetOrder(o Order) error {
	if o.ID == "" {
		return errors.New("sandbox: order id is empty")
	}
	if o.Available == nil {
		o.Available = s.p.DefaultAvailable
	}
	off, err := newOffer(o)
	if err != nil {
		return fmt.Errorf("sandbox: order %s: %w", o.ID, err)
	}
	var d Delivery
	if o.Delivery != nil {
		if d, err = o.Delivery.check(); err != nil {
			return fmt.Errorf("sandbox: order %s: %w", o.ID, err)
		}
	}
	s.ordersMu.Lock()
	s.orders[orderKey{o.Seller, o.ID}] = orderCfg{off: off, locale: o.Locale}
	if o.Delivery != nil {
		s.deliveries[orderKey{o.Seller, o.ID}] = d
	}
	s.ordersMu.Unlock()
	s.sellers.Range(func(_, v any) bool {
		ss := v.(*sellerState)
		if o.Seller == "" || o.Seller == ss.id {
			ss.mu.Lock()
			delete(ss.orders, o.ID)
			ss.mu.Unlock()
		}
		return true
	})
	return nil
}

// Sent returns every message recorded since New or Reset, in the order
// they were accepted (by Seq).
func (s *Sandbox) Sent() []SentMessage {
	var out []SentMessage
	s.sellers.Range(func(_, v any) bool {
		ss := v.(*sellerState)
		ss.mu.Lock()
		out = append(out, ss.sent...)
		ss.mu.Unlock()
		return true
	})
	sortSent(out)
	return out
}

// Stats returns a snapshot of the counters.
func (s *Sandbox) Stats() Stats { return s.stats.Load().snapshot() }

func (s *Sandbox) counters() *counters { return s.stats.Load() }
