package tasks

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/spapi"
)

// liveSchemaFor is a live-shape confirmOrderDetails schema whose HAL link
// names the order, as Amazon's (and the sandbox's) answers do.
func liveSchemaFor(orderID string, maxLen int) json.RawMessage {
	return json.RawMessage(`{"_links":{"self":{"href":"/messaging/v1/orders/` + orderID +
		`/messages/confirmOrderDetails/schema?marketplaceIds=ATVPDKIKX0DER"}},"$schema":"http://json-schema.org/draft-04/schema#",` +
		`"type":"object","properties":{"rawMessageBody":{"type":"string","minLength":1,"maxLength":` +
		strconv.Itoa(maxLen) + `}},"required":["rawMessageBody"]}`)
}

func TestSchemaKeyBlanksEveryOrderID(t *testing.T) {
	for _, tc := range []struct{ schema, orderID string }{
		{`{"a":"111-1","b":"x111-1y111-1"}`, "111-1"},
		{`{"a":1}`, "111-1"},
		{`{"a":1}`, ""},
		{`111-1`, "111-1"},
		{``, "111-1"},
	} {
		want := []byte(tc.schema)
		if tc.orderID != "" {
			want = bytes.ReplaceAll(want, []byte(tc.orderID), []byte("{order}"))
		}
		require.Equal(t, sha256.Sum256(want), schemaKey([]byte(tc.schema), tc.orderID), "%q/%q", tc.schema, tc.orderID)
	}
}

func TestSchemaCacheCompilesEachSchemaOnce(t *testing.T) {
	ct, ok := spapi.LookupType("confirmOrderDetails")
	require.True(t, ok)
	var c schemaCache
	job := &Job{Type: ct.Name, Text: "Which size would you like?"}

	for _, order := range []string{"111-0000001-0000001", "111-0000001-0000002", "111-0000001-0000003"} {
		errs, err := c.check(liveSchemaFor(order, 2000), order, ct, job)
		require.NoError(t, err)
		require.Empty(t, errs)
	}
	require.Len(t, c.m, 1, "schemas differing only in the order id share one compiled entry")
	first := c.m[schemaKey(liveSchemaFor("111-0000001-0000001", 2000), "111-0000001-0000001")]
	require.NotNil(t, first)

	// Other content is another entry, and its own rules apply.
	errs, err := c.check(liveSchemaFor("111-0000001-0000004", 5), "111-0000001-0000004", ct, job)
	require.NoError(t, err)
	require.Len(t, errs, 1)
	require.Equal(t, "text", errs[0].Field)
	require.Len(t, c.m, 2)
	require.Same(t, first, c.m[schemaKey(liveSchemaFor("111-0000001-0000009", 2000), "111-0000001-0000009")])
}
