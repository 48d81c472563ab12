package spapi

import (
	"bytes"
	json "github.com/goccy/go-json"
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
func parseActions(body []byte) (*Actions, error) {
	var ans struct {
		Links struct {
			Actions []halLink `json:"actions"`
		} `json:"_links"`
		Embedded struct {
			Actions []rawAction `json:"actions"`
		} `json:"_embedded"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return nil, err
	}
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
	return out, nil
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
