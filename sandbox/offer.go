package sandbox

import (
	"fmt"
	"sort"
	"strings"

	"github.com/spmsg/spmsg/spapi"
)

// action is one message type an order offers, under the name the
// getMessagingActionsForOrder answer shows.
type action struct {
	name     string
	typ      *spapi.MessageType
	disabled bool
	reason   string
}

// offer is what an order offers before once-per-order sends are taken
// into account. It is immutable once built.
type offer struct {
	actions []action
}

// newOffer resolves an Order's names against the message-type table.
// Available keeps its order; types only in Disabled follow, sorted by name.
func newOffer(o Order) (offer, error) {
	var off offer
	seen := map[string]int{}
	add := func(name string) (int, error) {
		t, ok := spapi.LookupType(name)
		if !ok || !isMessaging(&t) {
			return 0, fmt.Errorf("unknown Messaging message type %q (known: %v)", name, messagingTypeNames())
		}
		if i, dup := seen[t.Name]; dup {
			return i, fmt.Errorf("message type %s is listed twice", t.Name)
		}
		shown := name
		for _, n := range t.Names() { // use the table's spelling
			if strings.EqualFold(n, name) {
				shown = n
			}
		}
		off.actions = append(off.actions, action{name: shown, typ: &t})
		seen[t.Name] = len(off.actions) - 1
		return len(off.actions) - 1, nil
	}
	for _, name := range o.Available {
		if _, err := add(name); err != nil {
			return offer{}, err
		}
	}
	names := make([]string, 0, len(o.Disabled))
	for n := range o.Disabled {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		i := -1
		if t, ok := spapi.LookupType(name); ok {
			if j, dup := seen[t.Name]; dup {
				i = j
			}
		}
		if i < 0 {
			j, err := add(name)
			if err != nil {
				return offer{}, err
			}
			i = j
		}
		off.actions[i].disabled = true
		off.actions[i].reason = o.Disabled[name]
	}
	return off, nil
}

// messagingTypeNames returns the canonical names of the Messaging types.
func messagingTypeNames() []string {
	var out []string
	for _, t := range messagingTypes() {
		out = append(out, t.Name)
	}
	return out
}

// find returns the action for a canonical type name.
func (o offer) find(typeName string) (action, bool) {
	for _, a := range o.actions {
		if a.typ.Name == typeName {
			return a, true
		}
	}
	return action{}, false
}
