package spapi

import (
	"strings"
	"time"
)

// BodyField names a field that a send operation's JSON body may carry.
type BodyField string

// Body fields of the Messaging send operations, as the model spells them.
const (
	FieldText              BodyField = "text"
	FieldAttachments       BodyField = "attachments"
	FieldCoverageStartDate BodyField = "coverageStartDate"
	FieldCoverageEndDate   BodyField = "coverageEndDate"
)

// API names the SP-API that sends a message type.
type API string

// The APIs a message type can belong to.
const (
	// APIMessaging is Messaging v1: POST
	// /messaging/v1/orders/{amazonOrderId}/messages/{PathSegment}.
	APIMessaging API = "messaging"
	// APISolicitations is Solicitations v1 (review requests): POST
	// /solicitations/v1/orders/{amazonOrderId}/solicitations/{PathSegment},
	// no body, no attachments.
	APISolicitations API = "solicitations"
)

// MessageType describes one seller-to-buyer message type: the operation that
// sends it, where, what its body carries and its limits. The table in Types
// is the single source of these facts for the client, the job validation, the
// worker and the sandbox.
type MessageType struct {
	// Name is spmsg's canonical type name (the model's path segment).
	Name string
	// Aliases are other names Amazon uses for the type, e.g. in live
	// getMessagingActionsForOrder answers (sendInvoice, updateFeedback), or
	// spmsg's short names (requestReview).
	Aliases []string
	// OperationID is the model's operationId for the send.
	OperationID string
	// PathSegment is the last path segment of the send operation (see
	// Path): POST /messaging/v1/orders/{amazonOrderId}/messages/{PathSegment}
	// or /solicitations/v1/orders/{amazonOrderId}/solicitations/{PathSegment}.
	PathSegment string
	// API is the SP-API the type is sent with; every table entry sets it.
	// An empty API (a MessageType built by hand) means APIMessaging.
	API API
	// Fields lists the body fields the operation accepts; empty means the
	// operation takes no body at all (negativeFeedbackRemoval,
	// productReviewAndSellerFeedback).
	Fields []BodyField
	// TextMin and TextMax bound the text in Unicode code points when the
	// type has a text field.
	TextMin, TextMax int
	// AttachMin and AttachMax bound the number of attachments when the type
	// has an attachments field.
	AttachMin, AttachMax int
	// OncePerOrder is true for types Amazon allows only once per order.
	OncePerOrder bool
	// Removed is true for operations Amazon has removed from the current
	// model; they are sent only when the live answer still offers them.
	Removed bool
}

// Has reports whether the type's body carries field f.
func (t *MessageType) Has(f BodyField) bool {
	for _, x := range t.Fields {
		if x == f {
			return true
		}
	}
	return false
}

// Path returns the send path for an order, without query:
// /messaging/v1/orders/{orderID}/messages/{PathSegment} for Messaging types,
// /solicitations/v1/orders/{orderID}/solicitations/{PathSegment} for
// Solicitations types. orderID is used as given (not escaped).
func (t *MessageType) Path(orderID string) string {
	return t.ordersBase() + orderID + t.sendSuffix()
}

// ordersBase is the orders collection of the type's API, with a trailing
// slash.
func (t *MessageType) ordersBase() string {
	if t.API == APISolicitations {
		return "/solicitations/v1/orders/"
	}
	return "/messaging/v1/orders/"
}

// sendSuffix is what follows /orders/{amazonOrderId} in the send path.
func (t *MessageType) sendSuffix() string {
	if t.API == APISolicitations {
		return "/solicitations/" + t.PathSegment
	}
	return "/messages/" + t.PathSegment
}

// ActionsOperation returns the operationId that lists whether the type is
// offered for an order: OpGetSolicitationActionsForOrder for Solicitations
// types, OpGetMessagingActionsForOrder otherwise (see Client.GetActions).
func (t *MessageType) ActionsOperation() string {
	if t.API == APISolicitations {
		return OpGetSolicitationActionsForOrder
	}
	return OpGetMessagingActionsForOrder
}

// UploadResource returns the resource for createUploadDestinationForResource
// that uploads attachments for this type's send on orderID (no leading
// slash). Only Messaging types take attachments: for a Solicitations type
// it returns "", which CreateUploadDestination refuses.
func (t *MessageType) UploadResource(orderID string) string {
	if t.API == APISolicitations {
		return ""
	}
	return "messaging/v1/orders/" + orderID + "/messages/" + t.PathSegment
}

// Names returns the canonical name followed by the aliases.
func (t *MessageType) Names() []string {
	return append([]string{t.Name}, t.Aliases...)
}

// Default rate plans from the models (requests per second, burst). The
// Solicitations plan applies to getSolicitationActionsForOrder and
// createProductReviewAndSellerFeedbackSolicitation each.
const (
	MessagingRate      = 1.0
	MessagingBurst     = 5
	UploadsRate        = 10.0
	UploadsBurst       = 10
	SolicitationsRate  = 1.0
	SolicitationsBurst = 5
)

// Rate-plan groups: the sellers file overrides a plan by operation id or
// by the group of its API.
const (
	GroupMessaging     = "messaging"
	GroupUploads       = "uploads"
	GroupSolicitations = "solicitations"
)

// OperationGroup returns the rate-plan group of an operation id: uploads
// for createUploadDestinationForResource, solicitations for the two
// Solicitations operations, else messaging.
func OperationGroup(op string) string {
	switch op {
	case OpCreateUploadDestinationForResource:
		return GroupUploads
	case OpGetSolicitationActionsForOrder, OpCreateProductReviewAndSellerFeedbackSolicitation:
		return GroupSolicitations
	}
	return GroupMessaging
}

// DefaultPlan returns Amazon's published plan for an operation id (rate
// per second, burst).
func DefaultPlan(op string) (rate float64, burst int) {
	switch OperationGroup(op) {
	case GroupUploads:
		return UploadsRate, UploadsBurst
	case GroupSolicitations:
		return SolicitationsRate, SolicitationsBurst
	}
	return MessagingRate, MessagingBurst
}

// Review requests (Solicitations API): the type's name, its send
// operation, and Amazon's window, from ReviewWindowOpens after the order's
// earliest delivery date to ReviewWindowCloses after its latest.
const (
	ReviewRequestType                                  = "productReviewAndSellerFeedback"
	OpCreateProductReviewAndSellerFeedbackSolicitation = "createProductReviewAndSellerFeedbackSolicitation"
	ReviewWindowOpens                                  = 5 * 24 * time.Hour
	ReviewWindowCloses                                 = 30 * 24 * time.Hour
)

// Operation ids that are not sends.
const (
	OpGetMessagingActionsForOrder        = "getMessagingActionsForOrder"
	OpGetSolicitationActionsForOrder     = "getSolicitationActionsForOrder"
	OpGetAttributes                      = "GetAttributes"
	OpCreateUploadDestinationForResource = "createUploadDestinationForResource"
)

var textAttach = []BodyField{FieldText, FieldAttachments}

// typeTable is the message type table (PRODUCT.md "Message types"). It is
// returned by Types as a copy; nothing mutates it.
func typeTable() []MessageType {
	return []MessageType{
		{Name: "confirmCustomizationDetails", OperationID: "confirmCustomizationDetails", PathSegment: "confirmCustomizationDetails",
			Fields: textAttach, TextMin: 1, TextMax: 800, AttachMax: 5, API: APIMessaging},
		{Name: "confirmDeliveryDetails", OperationID: "createConfirmDeliveryDetails", PathSegment: "confirmDeliveryDetails",
			Fields: []BodyField{FieldText}, TextMin: 1, TextMax: 2000, API: APIMessaging},
		{Name: "legalDisclosure", OperationID: "createLegalDisclosure", PathSegment: "legalDisclosure",
			Fields: []BodyField{FieldAttachments}, AttachMax: 5, API: APIMessaging},
		{Name: "confirmOrderDetails", OperationID: "createConfirmOrderDetails", PathSegment: "confirmOrderDetails",
			Fields: []BodyField{FieldText}, TextMin: 1, TextMax: 2000, API: APIMessaging},
		{Name: "confirmServiceDetails", OperationID: "createConfirmServiceDetails", PathSegment: "confirmServiceDetails",
			Fields: []BodyField{FieldText}, TextMin: 1, TextMax: 2000, API: APIMessaging},
		{Name: "warranty", OperationID: "CreateWarranty", PathSegment: "warranty",
			Fields: []BodyField{FieldAttachments, FieldCoverageStartDate, FieldCoverageEndDate}, AttachMin: 1, AttachMax: 5, API: APIMessaging},
		{Name: "digitalAccessKey", OperationID: "createDigitalAccessKey", PathSegment: "digitalAccessKey",
			Fields: textAttach, TextMin: 1, TextMax: 400, AttachMax: 5, API: APIMessaging},
		{Name: "unexpectedProblem", OperationID: "createUnexpectedProblem", PathSegment: "unexpectedProblem",
			Fields: []BodyField{FieldText}, TextMin: 1, TextMax: 2000, API: APIMessaging},
		{Name: "invoice", Aliases: []string{"sendInvoice"}, OperationID: "sendInvoice", PathSegment: "invoice",
			Fields: []BodyField{FieldAttachments}, AttachMin: 1, AttachMax: 5, API: APIMessaging},
		{Name: "negativeFeedbackRemoval", Aliases: []string{"updateFeedback"}, OperationID: "createNegativeFeedbackRemoval", PathSegment: "negativeFeedbackRemoval",
			OncePerOrder: true, Removed: true, API: APIMessaging},
		{Name: "amazonMotors", OperationID: "CreateAmazonMotors", PathSegment: "amazonMotors",
			Fields: []BodyField{FieldAttachments}, AttachMax: 5, Removed: true, API: APIMessaging},
		{Name: ReviewRequestType, Aliases: []string{"requestReview"}, OperationID: OpCreateProductReviewAndSellerFeedbackSolicitation,
			PathSegment: ReviewRequestType, OncePerOrder: true, API: APISolicitations},
	}
}

// messageTypes is the table, built once and never modified: lookups read
// it, Types hands out copies.
var messageTypes = typeTable()

// Types returns every known message type, in PRODUCT.md order. The slice is
// a fresh copy on each call.
func Types() []MessageType { return typeTable() }

// LookupType finds a message type by any of its names (canonical or alias),
// case-insensitively. ok is false for an unknown name.
func LookupType(name string) (MessageType, bool) {
	for i := range messageTypes {
		t := &messageTypes[i]
		if strings.EqualFold(t.Name, name) {
			return *t, true
		}
		for _, n := range t.Aliases {
			if strings.EqualFold(n, name) {
				return *t, true
			}
		}
	}
	return MessageType{}, false
}

// TypeNames returns the canonical names of every type, for error messages.
func TypeNames() []string {
	tt := typeTable()
	out := make([]string, len(tt))
	for i, t := range tt {
		out[i] = t.Name
	}
	return out
}
