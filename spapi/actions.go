package spapi

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
)

// Actions is the answer of GetMessagingActionsForOrder or
// GetSolicitationActionsForOrder: the message types Amazon offers for the
// order now.
type Actions struct {
	// Actions are the offered actions: the embedded ones first, then any
	// action link without an embedded entry (the static sandbox lists only
	// links, including a non-message "attributes" link). Every action has
	// a Name; an embedded entry with no name anywhere is left out.
	Actions []Action
}

// Action is one offered message type. Names in live answers are not always
// operation names (sendInvoice, updateFeedback); map them with Find.
type Action struct {
	// Name is the action's name, e.g. "confirmOrderDetails",
	// "sendInvoice" or "productReviewAndSellerFeedback"; from the schema
	// link's name (the Solicitations model's shape) or the last segment of
	// the self href when the answer has no name member.
	Name string
	// Title is Amazon's human title, e.g. "Send Invoice Message Template".
	Title string
	// Href is the action's link (path and query). Never POST to it: sends
	// go to the model path of the type (MessageType.Path).
	Href string
	// Disabled and DisabledReason are Amazon's flags on live answers; a
	// disabled action must not be sent.
	Disabled       bool
	DisabledReason string
	// Schema is the embedded JSON schema (draft-04) of the message body,
	// without HAL _links, or nil when the answer carries none.
	Schema json.RawMessage
}

// Find returns the action for message type t: the first action whose name,
// or the last path segment of whose href, equals any of t.Names()
// (case-insensitive). It returns disabled actions too; check Disabled.
func (a *Actions) Find(t MessageType) (Action, bool) {
	if a == nil {
		return Action{}, false
	}
	for _, act := range a.Actions {
		seg := lastSegment(act.Href)
		for _, n := range t.Names() {
			if strings.EqualFold(n, act.Name) || (seg != "" && strings.EqualFold(n, seg)) {
				return act, true
			}
		}
	}
	return Action{}, false
}

// halLink is a HAL link object.
type halLink struct {
	Href string `json:"href"`
	Name string `json:"name"`
}

// rawAction is one _embedded.actions element in the live or model shape.
type rawAction struct {
	Links struct {
		Self   halLink `json:"self"`
		Schema halLink `json:"schema"`
	} `json:"_links"`
	Embedded struct {
		Schema json.RawMessage `json:"schema"`
	} `json:"_embedded"`
	Payload *struct {
		Name string `json:"name"`
	} `json:"payload"`
	Name           string          `json:"name"`
	Title          string          `json:"title"`
	Disabled       json.RawMessage `json:"disabled"`
	DisabledReason json.RawMessage `json:"disabledReason"`
}

// parseActions decodes the live HAL shape (name/title/disabled on each
// embedded action, the schema itself under _embedded.schema), the models'
// shapes (payload.name, _embedded.schema.payload; the Solicitations
// example names its action only in _links.schema.name) and the links-only
// shape of the static sandboxes.
//
// The common shape is read by a single-pass checking walker (scanActions);
// any answer the walker is not sure to read exactly as
// encoding/json would (escaped or non-ASCII keys, repeated keys, nulls or
// unexpected types in decoded members) goes through json.Unmarshal.
func parseActions(body []byte) (*Actions, error) {
	var ans actionsAnswer
	if !scanActions(body, &ans) {
		ans = actionsAnswer{}
		if err := json.Unmarshal(body, &ans); err != nil {
			return nil, err
		}
	}
	return ans.actions(), nil
}

// actionsAnswer is the decoded HAL answer of an actions listing.
type actionsAnswer struct {
	Links struct {
		Actions []halLink `json:"actions"`
	} `json:"_links"`
	Embedded struct {
		Actions []rawAction `json:"actions"`
	} `json:"_embedded"`
}

// actions turns the decoded answer into Actions.
func (ans *actionsAnswer) actions() *Actions {
	out := &Actions{}
	seen := map[string]bool{}
	for _, ra := range ans.Embedded.Actions {
		act := Action{Name: ra.Name, Title: ra.Title, Href: ra.Links.Self.Href}
		if act.Name == "" && ra.Payload != nil {
			act.Name = ra.Payload.Name
		}
		if act.Name == "" {
			act.Name = ra.Links.Self.Name
		}
		if act.Name == "" {
			act.Name = ra.Links.Schema.Name
		}
		if act.Name == "" {
			act.Name = lastSegment(act.Href)
		}
		if act.Name == "" {
			continue
		}
		if act.Href == "" {
			for _, l := range ans.Links.Actions {
				if strings.EqualFold(l.Name, act.Name) {
					act.Href = l.Href
					break
				}
			}
		}
		act.Disabled = jsonTrue(ra.Disabled)
		act.DisabledReason = jsonText(ra.DisabledReason)
		act.Schema = schemaOf(ra.Embedded.Schema)
		out.Actions = append(out.Actions, act)
		seen[strings.ToLower(act.Name)] = true
	}
	for _, l := range ans.Links.Actions {
		name := l.Name
		if name == "" {
			name = lastSegment(l.Href)
		}
		if name == "" || seen[strings.ToLower(name)] {
			continue
		}
		seen[strings.ToLower(name)] = true
		out.Actions = append(out.Actions, Action{Name: name, Href: l.Href})
	}
	return out
}

// schemaOf returns the JSON schema object of an _embedded.schema value:
// the object itself (live; it may still carry its HAL _links member, which
// JSON Schema ignores) or its payload (model). Anything that is not an
// object gives nil. It decodes only the top-level members it needs.
func schemaOf(raw json.RawMessage) json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil
	}
	if !bytes.Contains(raw, []byte(`"payload"`)) {
		return raw // the live shape: the schema itself
	}
	var probe struct {
		Payload    json.RawMessage `json:"payload"`
		Type       json.RawMessage `json:"type"`
		Properties json.RawMessage `json:"properties"`
		Schema     json.RawMessage `json:"$schema"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return nil
	}
	if len(probe.Payload) > 0 && len(probe.Type) == 0 && len(probe.Properties) == 0 && len(probe.Schema) == 0 {
		return schemaOf(probe.Payload)
	}
	return raw
}

// isSchemaObject reports whether obj has JSON-schema keywords itself.
func isSchemaObject(obj map[string]json.RawMessage) bool {
	for _, k := range []string{"$schema", "type", "properties"} {
		if _, ok := obj[k]; ok {
			return true
		}
	}
	return false
}

// lastSegment is the last path segment of an href ("" if none).
func lastSegment(href string) string {
	if href == "" {
		return ""
	}
	p := href
	if u, err := url.Parse(href); err == nil {
		p = u.Path
	} else if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	p = strings.TrimRight(p, "/")
	if i := strings.LastIndex(p, "/"); i >= 0 {
		p = p[i+1:]
	}
	return p
}

// jsonTrue accepts true or "true".
func jsonTrue(raw json.RawMessage) bool {
	s := strings.Trim(strings.TrimSpace(string(raw)), `"`)
	return strings.EqualFold(s, "true")
}

// jsonText returns a JSON string's value, "" for null or absent, and the
// compact JSON text of any other value.
func jsonText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var b bytes.Buffer
	if json.Compact(&b, raw) == nil {
		return b.String()
	}
	return string(raw)
}

// scanActions reads an actions answer into ans in one pass, checking its
// JSON syntax,
// without reflection, copying only the decoded strings and the schemas.
// It reports false, leaving ans partly filled, when the answer is outside
// the shapes it reads exactly like json.Unmarshal: bad JSON, a top level that is not
// an object, a key with escapes or non-ASCII bytes (encoding/json folds
// those with Unicode rules), a decoded member given twice or as null or
// with another JSON type.
func scanActions(body []byte, ans *actionsAnswer) bool {
	s := &scanner{b: body}
	if s.ws() != '{' {
		return false
	}
	var seenLinks, seenEmbedded bool
	ok := s.object(func(key []byte) bool {
		switch {
		case foldIs(key, "_links"):
			if seenLinks {
				return false
			}
			seenLinks = true
			seen := false
			return s.want('{') && s.object(func(key []byte) bool {
				if !foldIs(key, "actions") {
					return s.skip()
				}
				if seen || !s.want('[') {
					return false
				}
				seen = true
				return s.array(func() bool {
					var l halLink
					ok := s.link(&l)
					ans.Links.Actions = append(ans.Links.Actions, l)
					return ok
				})
			})
		case foldIs(key, "_embedded"):
			if seenEmbedded {
				return false
			}
			seenEmbedded = true
			seen := false
			return s.want('{') && s.object(func(key []byte) bool {
				if !foldIs(key, "actions") {
					return s.skip()
				}
				if seen || !s.want('[') {
					return false
				}
				seen = true
				return s.array(func() bool {
					var ra rawAction
					ok := s.action(&ra)
					ans.Embedded.Actions = append(ans.Embedded.Actions, ra)
					return ok
				})
			})
		}
		return s.skip()
	})
	return ok && s.end()
}

// scanner walks a JSON document, checking its syntax as strictly as
// encoding/json does; i is the next byte to read. Any method returning
// false means "not read": bad syntax or a shape left to json.Unmarshal.
type scanner struct {
	b     []byte
	i     int
	depth int
}

// maxScanDepth bounds nesting; deeper answers go to json.Unmarshal.
const maxScanDepth = 512

// ws skips white space and returns the next byte (0 at the end).
func (s *scanner) ws() byte {
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return c
		}
	}
	return 0
}

// want reports whether the next value starts with c.
func (s *scanner) want(c byte) bool { return s.ws() == c }

// end reports whether only white space is left.
func (s *scanner) end() bool {
	s.ws()
	return s.i == len(s.b)
}

// object reads the object at the cursor, calling member with each key and
// the cursor at the member's value; member must consume the value.
func (s *scanner) object(member func(key []byte) bool) bool {
	if s.depth++; s.depth > maxScanDepth {
		return false
	}
	defer func() { s.depth-- }()
	s.i++ // '{'
	if s.ws() == '}' {
		s.i++
		return true
	}
	for {
		if s.ws() != '"' {
			return false
		}
		start := s.i + 1
		plain, ok := s.str()
		if !ok || !plain {
			return false
		}
		key := s.b[start : s.i-1]
		for _, c := range key {
			if c >= 0x80 {
				return false
			}
		}
		if s.ws() != ':' {
			return false
		}
		s.i++
		if s.ws() == 0 || !member(key) {
			return false
		}
		switch s.ws() {
		case ',':
			s.i++
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

// array reads the array at the cursor, calling elem with the cursor at
// each element; elem must consume it.
func (s *scanner) array(elem func() bool) bool {
	if s.depth++; s.depth > maxScanDepth {
		return false
	}
	defer func() { s.depth-- }()
	s.i++ // '['
	if s.ws() == ']' {
		s.i++
		return true
	}
	for {
		if s.ws() == 0 || !elem() {
			return false
		}
		switch s.ws() {
		case ',':
			s.i++
		case ']':
			s.i++
			return true
		default:
			return false
		}
	}
}

// str moves past the string at the cursor (its opening quote) and
// reports whether it has no escapes and whether it is valid JSON.
func (s *scanner) str() (plain, ok bool) {
	plain = true
	for s.i++; s.i < len(s.b); s.i++ {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return plain, true
		case c < 0x20:
			return false, false
		case c == '\\':
			plain = false
			s.i++
			if s.i >= len(s.b) {
				return false, false
			}
			switch s.b[s.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if s.i+4 >= len(s.b) {
					return false, false
				}
				for _, h := range s.b[s.i+1 : s.i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return false, false
					}
				}
				s.i += 4
			default:
				return false, false
			}
		}
	}
	return false, false
}

// skip moves past the value at the cursor, checking its syntax.
func (s *scanner) skip() bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '"':
		_, ok := s.str()
		return ok
	case c == '{':
		return s.object(func([]byte) bool { return s.skip() })
	case c == '[':
		return s.array(s.skip)
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	case c == '-' || '0' <= c && c <= '9':
		return s.number()
	}
	return false
}

// literal moves past lit if it is next.
func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// number moves past a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	if s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case s.digits() == 0:
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.digits() == 0 {
			return false
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.digits() == 0 {
			return false
		}
	}
	return true
}

// digits moves past a run of decimal digits and returns its length.
func (s *scanner) digits() int {
	n := 0
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
		n++
	}
	return n
}

// raw moves past the value at the cursor and returns its bytes.
func (s *scanner) raw() ([]byte, bool) {
	start := s.i
	ok := s.skip()
	return s.b[start:s.i], ok
}

// text reads the JSON string at the cursor into *dst, the way
// json.Unmarshal does; a value of another type gives false.
func (s *scanner) text(dst *string) bool {
	if s.b[s.i] != '"' {
		return false
	}
	start := s.i
	if _, ok := s.str(); !ok {
		return false
	}
	lit := s.b[start:s.i]
	for _, c := range lit {
		if c == '\\' || c >= 0x80 {
			return json.Unmarshal(lit, dst) == nil
		}
	}
	*dst = string(lit[1 : len(lit)-1])
	return true
}

// link reads a HAL link object.
func (s *scanner) link(l *halLink) bool {
	if s.b[s.i] != '{' {
		return false
	}
	var seenHref, seenName bool
	return s.object(func(key []byte) bool {
		switch {
		case foldIs(key, "href"):
			return once(&seenHref) && s.text(&l.Href)
		case foldIs(key, "name"):
			return once(&seenName) && s.text(&l.Name)
		}
		return s.skip()
	})
}

// action reads one _embedded.actions element.
func (s *scanner) action(ra *rawAction) bool {
	if s.b[s.i] != '{' {
		return false
	}
	var seenLinks, seenEmbedded, seenPayload, seenName, seenTitle, seenDisabled, seenReason bool
	return s.object(func(key []byte) bool {
		switch {
		case foldIs(key, "_links"):
			if !once(&seenLinks) || s.b[s.i] != '{' {
				return false
			}
			var seenSelf, seenSchema bool
			return s.object(func(key []byte) bool {
				switch {
				case foldIs(key, "self"):
					return once(&seenSelf) && s.link(&ra.Links.Self)
				case foldIs(key, "schema"):
					return once(&seenSchema) && s.link(&ra.Links.Schema)
				}
				return s.skip()
			})
		case foldIs(key, "_embedded"):
			if !once(&seenEmbedded) || s.b[s.i] != '{' {
				return false
			}
			var seenSchema bool
			return s.object(func(key []byte) bool {
				if !foldIs(key, "schema") {
					return s.skip()
				}
				if !once(&seenSchema) {
					return false
				}
				raw, ok := s.raw()
				ra.Embedded.Schema = bytes.Clone(raw)
				return ok
			})
		case foldIs(key, "payload"):
			if !once(&seenPayload) || s.b[s.i] != '{' {
				return false
			}
			ra.Payload = &struct {
				Name string `json:"name"`
			}{}
			var seenName bool
			return s.object(func(key []byte) bool {
				if foldIs(key, "name") {
					return once(&seenName) && s.text(&ra.Payload.Name)
				}
				return s.skip()
			})
		case foldIs(key, "name"):
			return once(&seenName) && s.text(&ra.Name)
		case foldIs(key, "title"):
			return once(&seenTitle) && s.text(&ra.Title)
		case foldIs(key, "disabled"):
			if !once(&seenDisabled) {
				return false
			}
			var ok bool
			ra.Disabled, ok = s.raw()
			return ok
		case foldIs(key, "disabledReason"):
			if !once(&seenReason) {
				return false
			}
			var ok bool
			ra.DisabledReason, ok = s.raw()
			return ok
		}
		return s.skip()
	})
}

// once marks *seen and reports whether it was not yet set.
func once(seen *bool) bool {
	if *seen {
		return false
	}
	*seen = true
	return true
}

// foldIs reports whether the ASCII key equals name ignoring case, as
// encoding/json matches keys to field names.
func foldIs(key []byte, name string) bool {
	if len(key) != len(name) {
		return false
	}
	for i := 0; i < len(key); i++ {
		a, b := key[i], name[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}
