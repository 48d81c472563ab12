package spapi

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/spapimodel"
)

// FuzzParseActions feeds arbitrary bytes to the HAL parser of
// getMessagingActionsForOrder and getSolicitationActionsForOrder answers.
// Properties: it never panics; an error comes without Actions; every
// reported action has a name and, if any, an object schema that is valid
// JSON; Find(t) returns exactly the first action whose name or href
// segment is one of t's names, so every reported name of a known type is
// found; and the reported links survive a round trip through the
// links-only shape.
func FuzzParseActions(f *testing.F) {
	for _, b := range modelActionsExamples(f) {
		f.Add(b)
	}
	for _, s := range []string{
		`{}`,
		`{"_links":{"actions":[]},"_embedded":{"actions":[]}}`,
		`{"_links":{"actions":[{"href":"/solicitations/v1/orders/1/solicitations/productReviewAndSellerFeedback?marketplaceIds=X"}]}}`,
		`{"_embedded":{"actions":[{"_links":{"schema":{"href":"/s/schema"}}},{"name":"requestReview","_embedded":{"schema":{"payload":{"type":"object"}}}}]}}`,
		`{"_embedded":{"actions":[{"_links":{"self":{"href":"/messaging/v1/orders/1/messages/sendInvoice"}},"disabled":"true","disabledReason":{"why":1}}]}}`,
		`{"_links":{"actions":[{"href":"%zz/x?y","name":""},{"href":"/a/%ff"}]}}`,
		`[]`,
		`null`,
	} {
		f.Add([]byte(s))
	}
	types := Types()
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := parseActions(body)
		if err != nil {
			require.Nil(t, a)
			return
		}
		require.NotNil(t, a)
		for i, act := range a.Actions {
			require.NotEmpty(t, act.Name, "action %d has no name", i)
			if act.Schema != nil {
				require.True(t, json.Valid(act.Schema), "action %d schema is not JSON", i)
				require.Equal(t, byte('{'), act.Schema[0], "action %d schema is not an object", i)
			}
		}
		for _, mt := range types {
			got, ok := a.Find(mt)
			wantIdx := -1
			for i, act := range a.Actions {
				if offers(act, mt) {
					wantIdx = i
					break
				}
			}
			require.Equal(t, wantIdx >= 0, ok, "Find(%s)", mt.Name)
			if ok {
				require.Equal(t, a.Actions[wantIdx], got, "Find(%s) returns the first match", mt.Name)
			}
		}
		for _, act := range a.Actions {
			if mt, known := LookupType(act.Name); known {
				got, ok := a.Find(mt)
				require.True(t, ok, "reported %q but Find(%s) misses it", act.Name, mt.Name)
				require.True(t, offers(got, mt))
			}
		}
		requireLinksRoundTrip(t, a)
	})
}

// offers reports whether act stands for mt: its name or the last path
// segment of its href is one of mt's names, ignoring case.
func offers(act Action, mt MessageType) bool {
	seg := lastSegment(act.Href)
	for _, n := range mt.Names() {
		if strings.EqualFold(n, act.Name) || (seg != "" && strings.EqualFold(n, seg)) {
			return true
		}
	}
	return false
}

// requireLinksRoundTrip writes a's actions as a links-only answer (the
// static sandbox's shape) and parses it again: the same names and hrefs
// come back, once per name.
func requireLinksRoundTrip(t *testing.T, a *Actions) {
	t.Helper()
	type link struct {
		Href string `json:"href"`
		Name string `json:"name"`
	}
	var links []link
	var want []link
	seen := map[string]bool{}
	for _, act := range a.Actions {
		l := link{Href: strings.ToValidUTF8(act.Href, "\uFFFD"), Name: strings.ToValidUTF8(act.Name, "\uFFFD")}
		links = append(links, l)
		if !seen[strings.ToLower(l.Name)] {
			seen[strings.ToLower(l.Name)] = true
			want = append(want, l)
		}
	}
	var doc struct {
		Links struct {
			Actions []link `json:"actions"`
		} `json:"_links"`
	}
	doc.Links.Actions = links
	b, err := json.Marshal(doc)
	require.NoError(t, err)
	back, err := parseActions(b)
	require.NoError(t, err, "%s", b)
	var got []link
	for _, act := range back.Actions {
		got = append(got, link{Href: act.Href, Name: act.Name})
	}
	require.Equal(t, want, got, "%s", b)
}

// modelActionsExamples returns every example and static-sandbox answer of
// the actions operations in the embedded models (Messaging, the older
// Messaging model, Solicitations).
func modelActionsExamples(tb testing.TB) [][]byte {
	tb.Helper()
	var out [][]byte
	for _, name := range []string{spapimodel.MessagingModel, spapimodel.MessagingOldModel, spapimodel.SolicitationsModel} {
		raw, err := spapimodel.ModelBytes(name)
		require.NoError(tb, err, name)
		var doc struct {
			Paths map[string]map[string]struct {
				OperationID string `json:"operationId"`
				Responses   map[string]struct {
					Examples map[string]json.RawMessage `json:"examples"`
					Sandbox  struct {
						Static []struct {
							Response json.RawMessage `json:"response"`
						} `json:"static"`
					} `json:"x-amzn-api-sandbox"`
				} `json:"responses"`
			} `json:"paths"`
		}
		require.NoError(tb, json.Unmarshal(raw, &doc), name)
		for _, item := range doc.Paths {
			for _, op := range item {
				if op.OperationID != OpGetMessagingActionsForOrder && op.OperationID != OpGetSolicitationActionsForOrder {
					continue
				}
				for _, r := range op.Responses {
					for _, ex := range r.Examples {
						out = append(out, ex)
					}
					for _, st := range r.Sandbox.Static {
						out = append(out, st.Response)
					}
				}
			}
		}
	}
	require.GreaterOrEqual(tb, len(out), 5, "model examples found")
	return out
}
