package tasks_test

import (
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/tasks"
)

// jobSeeds are payloads for FuzzDecodeJob (also under
// testdata/fuzz/FuzzDecodeJob).
var jobSeeds = []string{
	`{"seller_id":"A1SELLER","marketplace_id":"ATVPDKIKX0DER","order_id":"112-1234567-1234567","type":"confirmOrderDetails","text":"Which size?"}`,
	`{"v":1,"seller_id":"A1SELLER","marketplace_id":"ATVPDKIKX0DER","order_id":"112-1234567-1234567","type":"invoice","attachments":[{"source":"inv/1.pdf","file_name":"invoice.pdf"}],"campaign":"bf","idempotency_key":"k1","not_before":"2030-01-01T00:00:00Z","deadline":"2030-01-02T00:00:00+02:00"}`,
	`{"seller_id":"A1SELLER","marketplace_id":"A1PA6795UKMFR9","order_id":"12-345","type":"warranty","coverage_start":"2030-01-02T00:00:00Z","coverage_end":"2030-01-01T00:00:00Z","attachments":[{"source":"","file_name":"../x"}]}`,
	`{"seller_id":"A1SELLER","marketplace_id":"ATVPDKIKX0DER","order_id":"112-1234567-1234567","type":"productsReview","delivered_at":"2030-01-01T00:00:00Z","delivery_start":"2030-01-01T00:00:00Z"}`,
	`{"seller_id":"NOPE","type":"sendCoupon","text":"mail bob@example.com <b>now</b> \xff"}`,
	`{"v":2,"seller_id":"A1SELLER","new_field":1}`,
	`{"seller_id":"A1SELLER","typo":1}`,
	`{"deadline":"not a time"}`,
	`{}`, `null`, `[]`, ``,
	"{\"seller_id\":\"A1SELLER\",\"type\":\"confirmOrderDetails\",\"text\":\"bad \xff byte\",\"campaign\":\"\\u00e9\\ud800\"}",
}

// jobFields are the payload's field names, as validation errors name them.
func jobFields() map[string]bool {
	out := map[string]bool{}
	t := reflect.TypeOf(tasks.Job{})
	for i := 0; i < t.NumField(); i++ {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ","); name != "" && name != "-" {
			out[name] = true
		}
	}
	return out
}

var attachmentField = regexp.MustCompile(`^attachments\[\d+\]\.(source|file_name)$`)

// FuzzDecodeJob feeds DecodeJob arbitrary payloads: it never panics; a
// decoded job encodes, and decodes again to an equal job and the same
// bytes; validating it never panics, and an error lists problems that each
// name a payload field.
func FuzzDecodeJob(f *testing.F) {
	for _, s := range jobSeeds {
		f.Add([]byte(s))
	}
	sellers, err := tasks.ParseSellers(strings.NewReader(`[{"id":"A1SELLER","refresh_token":"Atzr|x","region":"na"}]`))
	require.NoError(f, err)
	v := tasks.Validation{Sellers: sellers}
	fields := jobFields()
	f.Fuzz(func(t *testing.T, data []byte) {
		j, err := tasks.DecodeJob(data)
		if err != nil {
			require.Nil(t, j)
			return
		}
		require.Equal(t, tasks.JobVersion, j.V)
		b, err := j.Encode()
		require.NoError(t, err, "a decoded job must encode")
		again, err := tasks.DecodeJob(b)
		require.NoError(t, err, "%s", b)
		require.Equal(t, j, again)
		b2, err := again.Encode()
		require.NoError(t, err)
		require.Equal(t, string(b), string(b2))
		require.Equal(t, j.ID(), again.ID())

		err = v.Validate(j)
		if err == nil {
			return
		}
		var ve *tasks.ValidationError
		require.True(t, errors.As(err, &ve), "want a *ValidationError, got %T: %v", err, err)
		require.NotEmpty(t, ve.Problems)
		for _, p := range ve.Problems {
			require.True(t, fields[p.Field] || attachmentField.MatchString(p.Field), "problem names no field: %+v", p)
			require.NotEmpty(t, p.Reason)
			require.Contains(t, err.Error(), p.Field+": ", "the error names each field")
		}
	})
}
