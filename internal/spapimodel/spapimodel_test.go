package spapimodel_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/spmsg/spmsg/internal/spapimodel"
)

const order = "902-6786204-8179805"

func req(method, target, body string) *http.Request {
	var r *http.Request
	if body == "" {
		r = httptest.NewRequest(method, target, nil)
	} else {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
	}
	r.Header.Set("x-amz-access-token", "Atza|test")
	r.Header.Set("User-Agent", "spmsg/test (Language=Go)")
	return r
}

func TestValidate(t *testing.T) {
	v, err := spapimodel.New()
	require.NoError(t, err)
	ctx := context.Background()
	base := "/messaging/v1/orders/" + order
	tests := []struct {
		name, method, target, body string
		op                         string
		problem                    string // "" means valid
	}{
		{"ActionsOK", "GET", base + "?marketplaceIds=ATVPDKIKX0DER", "", "getMessagingActionsForOrder", ""},
		{"ActionsMissingMarketplace", "GET", base, "", "getMessagingActionsForOrder", "marketplaceIds"},
		{"ActionsTwoMarketplaces", "GET", base + "?marketplaceIds=ATVPDKIKX0DER&marketplaceIds=A2EUQ1WTGCTBG2", "", "getMessagingActionsForOrder", "marketplaceIds"},
		{"AttributesOK", "GET", base + "/attributes?marketplaceIds=ATVPDKIKX0DER", "", "GetAttributes", ""},
		{"TextOK", "POST", base + "/messages/confirmOrderDetails?marketplaceIds=ATVPDKIKX0DER", `{"text":"hello"}`, "createConfirmOrderDetails", ""},
		{"TextTooLong", "POST", base + "/messages/digitalAccessKey?marketplaceIds=ATVPDKIKX0DER", `{"text":"` + strings.Repeat("x", 401) + `"}`, "createDigitalAccessKey", "text"},
		{"EmptyText", "POST", base + "/messages/confirmOrderDetails?marketplaceIds=ATVPDKIKX0DER", `{"text":""}`, "createConfirmOrderDetails", "text"},
		{"UnknownField", "POST", base + "/messages/confirmOrderDetails?marketplaceIds=ATVPDKIKX0DER", `{"text":"hi","attachments":[]}`, "createConfirmOrderDetails", `"attachments" is not in the model`},
		{"InvoiceOK", "POST", base + "/messages/invoice?marketplaceIds=ATVPDKIKX0DER", `{"attachments":[{"uploadDestinationId":"u","fileName":"i.pdf"}]}`, "sendInvoice", ""},
		{"InvoiceAttachmentMissingName", "POST", base + "/messages/invoice?marketplaceIds=ATVPDKIKX0DER", `{"attachments":[{"uploadDestinationId":"u"}]}`, "sendInvoice", "fileName"},
		{"SixAttachments", "POST", base + "/messages/legalDisclosure?marketplaceIds=ATVPDKIKX0DER", `{"attachments":[` + strings.TrimSuffix(strings.Repeat(`{"uploadDestinationId":"u","fileName":"a.pdf"},`, 6), ",") + `]}`, "createLegalDisclosure", "more than 5"},
		{"WarrantyBadDate", "POST", base + "/messages/warranty?marketplaceIds=ATVPDKIKX0DER", `{"attachments":[{"uploadDestinationId":"u","fileName":"w.pdf"}],"coverageStartDate":"yesterday"}`, "CreateWarranty", "coverageStartDate"},
		{"WarrantyOK", "POST", base + "/messages/warranty?marketplaceIds=ATVPDKIKX0DER", `{"attachments":[{"uploadDestinationId":"u","fileName":"w.pdf"}],"coverageStartDate":"2004-12-13T21:39:45.618-08:00","coverageEndDate":"2005-12-13T21:39:45Z"}`, "CreateWarranty", ""},
		{"RemovedNegativeFeedbackNoBody", "POST", base + "/messages/negativeFeedbackRemoval?marketplaceIds=ATVPDKIKX0DER", "", "createNegativeFeedbackRemoval", ""},
		{"RemovedAmazonMotors", "POST", base + "/messages/amazonMotors?marketplaceIds=ATVPDKIKX0DER", `{"attachments":[{"uploadDestinationId":"u","fileName":"m.txt"}]}`, "CreateAmazonMotors", ""},
		{"SolicitationActionsOK", "GET", "/solicitations/v1/orders/" + order + "?marketplaceIds=ATVPDKIKX0DER", "", "getSolicitationActionsForOrder", ""},
		{"SolicitationActionsMissingMarketplace", "GET", "/solicitations/v1/orders/" + order, "", "getSolicitationActionsForOrder", "marketplaceIds"},
		{"ReviewRequestOK", "POST", "/solicitations/v1/orders/" + order + "/solicitations/productReviewAndSellerFeedback?marketplaceIds=ATVPDKIKX0DER", "", "createProductReviewAndSellerFeedbackSolicitation", ""},
		{"ReviewRequestWithBody", "POST", "/solicitations/v1/orders/" + order + "/solicitations/productReviewAndSellerFeedback?marketplaceIds=ATVPDKIKX0DER", `{"text":"hi"}`, "createProductReviewAndSellerFeedbackSolicitation", "takes no body"},
		{"UploadOK", "POST", "/uploads/2020-11-01/uploadDestinations/messaging/v1/orders/" + order + "/messages/invoice?marketplaceIds=ATVPDKIKX0DER&contentMD5=1jnGuPv7xwPiat6NesKL%2Fw%3D%3D&contentType=application%2Fpdf", "", "createUploadDestinationForResource", ""},
		{"UploadNoMD5", "POST", "/uploads/2020-11-01/uploadDestinations/messaging/v1/orders/" + order + "/messages/invoice?marketplaceIds=ATVPDKIKX0DER", "", "createUploadDestinationForResource", "contentMD5"},
		{"SendInvoiceNotAPath", "POST", base + "/messages/sendInvoice?marketplaceIds=ATVPDKIKX0DER", `{"attachments":[{"uploadDestinationId":"u","fileName":"i.pdf"}]}`, "", "no SP-API model operation"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			route, err := v.Validate(ctx, req(tc.method, tc.target, tc.body))
			if tc.op != "" {
				require.NotNil(t, route)
				assert.Equal(t, tc.op, route.OperationID)
			}
			if tc.problem == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.problem)
		})
	}
}

func TestValidateHeaders(t *testing.T) {
	v, err := spapimodel.New()
	require.NoError(t, err)
	r := req("POST", "/messaging/v1/orders/"+order+"/messages/confirmOrderDetails?marketplaceIds=ATVPDKIKX0DER", `{"text":"x"}`)
	r.Header.Del("x-amz-access-token")
	r.Header.Set("Content-Type", "text/plain")
	_, err = v.Validate(context.Background(), r)
	var viol *spapimodel.Violation
	require.True(t, errors.As(err, &viol))
	assert.Contains(t, err.Error(), "x-amz-access-token")
	assert.Contains(t, err.Error(), "Content-Type")
	// The body is still readable afterwards.
	var buf bytes.Buffer
	_, _ = buf.ReadFrom(r.Body)
	assert.Equal(t, `{"text":"x"}`, buf.String())
}

func TestUploadResourceIsGreedy(t *testing.T) {
	v, err := spapimodel.New()
	require.NoError(t, err)
	route, err := v.Match("POST", "/uploads/2020-11-01/uploadDestinations/messaging/v1/orders/"+order+"/messages/legalDisclosure")
	require.NoError(t, err)
	assert.Equal(t, "messaging/v1/orders/"+order+"/messages/legalDisclosure", route.PathParams["resource"])
}

// Ensure the embedded models are the reference copies in ../shared when
// that folder is present (it is beside every checkout and CI run).
func TestEmbeddedModelsMatchShared(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "spapi-models")
	if _, err := os.Stat(dir); err != nil {
		t.Logf("no %s beside the checkout; embedded copies not compared", dir)
		return
	}
	for _, f := range []string{spapimodel.MessagingModel, spapimodel.MessagingOldModel, spapimodel.UploadsModel} {
		want, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		got, err := spapimodel.ModelBytes(f)
		require.NoError(t, err)
		assert.Equal(t, want, got, f)
	}
}
