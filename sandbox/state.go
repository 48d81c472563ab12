package sandbox

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// sellerState is everything that changes for one seller. Its mutex is the
// only lock on the hot path, so sellers do not contend with each other.
type sellerState struct {
	id      string
	rates   map[string]Rate // the seller's own overrides (read-only)
	mu      sync.Mutex
	buckets map[string]*bucket
	orders  map[string]*orderState
	sent    []SentMessage
}

// orderState is an order's offer plus the once-per-order types already
// sent. Guarded by the owning sellerState's mutex.
type orderState struct {
	off  offer
	done map[string]bool // canonical type names sent (once-per-order only)
}

// available returns the action for a canonical type name if the order
// currently lists it (possibly disabled).
func (o *orderState) available(typeName string) (action, bool) {
	if o.done[typeName] {
		return action{}, false
	}
	return o.off.find(typeName)
}

// listed returns the actions the order lists now.
func (o *orderState) listed() []action {
	if len(o.done) == 0 {
		return o.off.actions
	}
	out := make([]action, 0, len(o.off.actions))
	for _, a := range o.off.actions {
		if !o.done[a.typ.Name] {
			out = append(out, a)
		}
	}
	return out
}

// seller returns the state of a seller, creating it on first use.
func (s *Sandbox) seller(id string) *sellerState {
	if v, ok := s.sellers.Load(id); ok {
		return v.(*sellerState)
	}
	st := &sellerState{
		id:      id,
		rates:   s.p.sellersByID[id].Rates,
		buckets: map[string]*bucket{},
		orders:  map[string]*orderState{},
	}
	v, _ := s.sellers.LoadOrStore(id, st)
	return v.(*sellerState)
}

// order returns the state of one of the seller's orders, creating it from
// the configuration on first use. The caller holds ss.mu.
func (s *Sandbox) orderLocked(ss *sellerState, orderID string) *orderState {
	if o, ok := ss.orders[orderID]; ok {
		return o
	}
	o := &orderState{off: s.orderConfig(ss.id, orderID).off}
	ss.orders[orderID] = o
	return o
}

// orderConfig returns the configuration of an order: an entry for the
// seller, else one for every seller, else the default offer.
func (s *Sandbox) orderConfig(sellerID, orderID string) orderCfg {
	s.ordersMu.RLock()
	defer s.ordersMu.RUnlock()
	if o, ok := lookupOrder(s.orders, sellerID, orderID); ok {
		return o
	}
	return orderCfg{off: s.p.defaultOffer}
}

// lookupOrder finds an order's entry for the seller, else the one for every
// seller. The caller holds ordersMu.
func lookupOrder[T any](m map[orderKey]T, sellerID, orderID string) (T, bool) {
	if v, ok := m[orderKey{sellerID, orderID}]; ok {
		return v, true
	}
	v, ok := m[orderKey{"", orderID}]
	return v, ok
}

// SentMessage is one message the sandbox accepted (answered 201, or
// recorded and then lost or answered 500 on purpose). Review requests
// (productReviewAndSellerFeedback) are recorded the same way.
type SentMessage struct {
	// Seq orders messages across sellers, starting at 1 after New or Reset.
	Seq int64 `json:"seq"`
	// Seller is the selling partner id the access token belonged to.
	Seller string `json:"seller"`
	// Marketplace is the marketplaceIds value of the request.
	Marketplace string `json:"marketplace"`
	// Order is the Amazon order id.
	Order string `json:"order"`
	// Type is spmsg's canonical type name (spapi.MessageType.Name).
	Type string `json:"type"`
	// Operation is the model operationId that was called.
	Operation string `json:"operation"`
	// Text is the message text, if the type has one.
	Text string `json:"text,omitempty"`
	// Attachments are the files attached, in request order.
	Attachments []SentAttachment `json:"attachments,omitempty"`
	// CoverageStart and CoverageEnd are the warranty dates as sent.
	CoverageStart string `json:"coverage_start,omitempty"`
	CoverageEnd   string `json:"coverage_end,omitempty"`
	// RequestID is the x-amzn-RequestId of the send.
	RequestID string `json:"request_id"`
	// Time is when the sandbox accepted the message (Config.Now).
	Time time.Time `json:"time"`
	// Lost is true when the answer was dropped by Faults.Lost.
	Lost bool `json:"lost,omitempty"`
	// Answered500 is true when the send was answered 500 after being
	// recorded (the send-then-500 fault).
	Answered500 bool `json:"answered_500,omitempty"`
}

// SentAttachment is one file of a SentMessage.
type SentAttachment struct {
	// UploadDestinationID is the id from createUploadDestinationForResource.
	UploadDestinationID string `json:"upload_destination_id"`
	// FileName is the name the request gave the file.
	FileName string `json:"file_name"`
	// Size is the uploaded size in bytes.
	Size int64 `json:"size"`
	// MD5 is the base64 MD5 of the uploaded bytes.
	MD5 string `json:"md5"`
	// MIME is the type sniffed from the bytes (net/http.DetectContentType).
	MIME string `json:"mime"`
}

// Stats counts what the sandbox has seen since New or Reset.
type Stats struct {
	// Requests counts SP-API requests by operationId (every answer,
	// faults included); "unknown" counts requests that matched no
	// operation and "s3:PutObject" counts requests to upload URLs.
	Requests map[string]int64 `json:"requests"`
	// Throttled counts 429 QuotaExceeded answers.
	Throttled int64 `json:"throttled"`
	// Violations counts 400 answers for requests the model does not allow
	// (spapimodel violations, unknown marketplace, bad contentMD5).
	Violations int64 `json:"violations"`
	// Rejected counts sends refused for their content (text rules,
	// attachments) with 400 InvalidInput.
	Rejected int64 `json:"rejected"`
	// Unauthorized counts 403 answers for missing, invalid or expired
	// access tokens and for denied upload resources.
	Unauthorized int64 `json:"unauthorized"`
	// Unavailable counts sends of a type the order did not offer (403
	// "Invalid amazonOrderId and template combination.") and review
	// requests refused with 403 (already requested, outside the window).
	Unavailable int64 `json:"unavailable"`
	// TokenExchanges counts access tokens issued; TokenErrors counts LWA
	// requests refused.
	TokenExchanges int64 `json:"token_exchanges"`
	TokenErrors    int64 `json:"token_errors"`
	// Faults5xx counts injected 500/503 answers.
	Faults5xx int64 `json:"faults_5xx"`
	// Lost counts sends recorded whose answer was dropped.
	Lost int64 `json:"lost"`
	// SendThen500 counts sends recorded and then answered 500.
	SendThen500 int64 `json:"send_then_500"`
	// Sent counts messages recorded (lost and send-then-500 ones
	// included), review requests among them.
	Sent int64 `json:"sent"`
	// Uploads counts successful PUTs to upload URLs; UploadErrors counts
	// PUTs (and other methods) refused there.
	Uploads      int64 `json:"uploads"`
	UploadErrors int64 `json:"upload_errors"`
}

// counters are the live, lock-free form of Stats.
type counters struct {
	requests map[string]*atomic.Int64 // fixed key set, built in New
	throttled, violations, rejected, unauthorized, unavailable,
	tokenExchanges, tokenErrors, faults5xx, lost, sendThen500, sent, uploads, uploadErrors atomic.Int64
}

const (
	opUnknown = "unknown"
	opS3Put   = "s3:PutObject"
)

func newCounters(ops []string) *counters {
	c := &counters{requests: map[string]*atomic.Int64{}}
	for _, op := range append(ops, opUnknown, opS3Put) {
		c.requests[op] = new(atomic.Int64)
	}
	return c
}

func (c *counters) request(op string) {
	if n, ok := c.requests[op]; ok {
		n.Add(1)
	}
}

func (c *counters) snapshot() Stats {
	st := Stats{Requests: map[string]int64{}}
	for op, n := range c.requests {
		if v := n.Load(); v > 0 {
			st.Requests[op] = v
		}
	}
	st.Throttled = c.throttled.Load()
	st.Violations = c.violations.Load()
	st.Rejected = c.rejected.Load()
	st.Unauthorized = c.unauthorized.Load()
	st.Unavailable = c.unavailable.Load()
	st.TokenExchanges = c.tokenExchanges.Load()
	st.TokenErrors = c.tokenErrors.Load()
	st.Faults5xx = c.faults5xx.Load()
	st.Lost = c.lost.Load()
	st.SendThen500 = c.sendThen500.Load()
	st.Sent = c.sent.Load()
	st.Uploads = c.uploads.Load()
	st.UploadErrors = c.uploadErrors.Load()
	return st
}

// sortSent orders messages by Seq.
func sortSent(m []SentMessage) {
	sort.Slice(m, func(i, j int) bool { return m[i].Seq < m[j].Seq })
}
