package spapi

import "strings"

// BodyField names a field that a send operation's JSON body may carry.
type BodyField string

// Body fields of the Messaging send operations, as the model spells them.
const (
	FieldText              BodyField = "text"
	FieldAttachments       BodyField = "attachments"
	FieldCoverageStartDate BodyField = "coverageStartDate"
	FieldCoverageEndDate   BodyField = "coverageEndDate"
)

// MessageType describes one seller-to-buyer message type: the operation that
// sends it, where, what its body carries and its limits. The table in Types
// is the single source of these facts for the client, the job validation, the
// worker and the sandbox.
type MessageType struct {
	// Name is spmsg's canonical type name (the model's path segment).
	Name string
	// Aliases are other names Amazon uses for the type, e.g. in live
	// getMessagingActionsForOrder answers (sendInvoice, updateFeedback).
	Aliases []string
	// OperationID is the model's operationId for the send.
	OperationID string
	// PathSegment is the last path segment of the send operation:
	// POST /messaging/v1/orders/{amazonOrderId}/messages/{PathSegment}.
	PathSegment string
	// Fields lists the body fields the operation accepts; empty means the
	// operation takes no body at all (negativeFeedbackRemoval).
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

// Path returns the send path for an order, without query.
func (t *MessageType) Path(orderID string) string {
	return "/messaging/v1/orders/" + orderID + "/messages/" + t.PathSegment
}

// UploadResource returns the resource for createUploadDestinationForResource
// that uploads attachments for this type's send on orderID (no leading slash).
func (t *MessageType) UploadResource(orderID string) string {
	return "messaging/v1/orders/" + orderID + "/messages/" + t.PathSegment
}

// Names returns the canonical name followed by the aliases.
func (t *MessageType) Names() []string {
	return append([]string{t.Name}, t.Aliases...)
}

// Default rate plans from the models (requests per second, burst).
const (
	MessagingRate  = 1.0
	MessagingBurst = 5
	UploadsRate    = 10.0
	UploadsBurst   = 10
)

// Operation ids that are not sends.
const (
	OpGetMessagingActionsForOrder        = "getMessagingActionsForOrder"
	OpGetAttributes                      = "GetAttributes"
	OpCreateUploadDestinationForResource = "createUploadDestinationForResource"
)

var textAttach = []BodyField{FieldText, FieldAttachments}

// typeTable is the message type table (PRODUCT.md "Message types"). It is
// returned by Types as a copy; nothing mutates it.
func typeTable() []MessageType {
	return []MessageType{
		{Name: "confirmCustomizationDetails", OperationID: "confirmCustomizationDetails", PathSegment: "confirmCustomizationDetails",
			Fields: textAttach, TextMin: 1, TextMax: 800, AttachMax: 5},
		{Name: "confirmDeliveryDetails", OperationID: "createConfirmDeliveryDetails", PathSegment: "confirmDeliveryDetails",
			Fields: []BodyField{FieldText}, TextMin: 1, TextMax: 2000},
		{Name: "legalDisclosure", OperationID: "createLegalDisclosure", PathSegment: "legalDisclosure",
			Fields: []BodyField{FieldAttachments}, AttachMax: 5},
		{Name: "confirmOrderDetails", OperationID: "createConfirmOrderDetails", PathSegment: "confirmOrderDetails",
			Fields: []BodyField{FieldText}, TextMin: 1, TextMax: 2000},
		{Name: "confirmServiceDetails", OperationID: "createConfirmServiceDetails", PathSegment: "confirmServiceDetails",
			Fields: []BodyField{FieldText}, TextMin: 1, TextMax: 2000},
		{Name: "warranty", OperationID: "CreateWarranty", PathSegment: "warranty",
			Fields: []BodyField{FieldAttachments, FieldCoverageStartDate, FieldCoverageEndDate}, AttachMin: 1, AttachMax: 5},
		{Name: "digitalAccessKey", OperationID: "createDigitalAccessKey", PathSegment: "digitalAccessKey",
			Fields: textAttach, TextMin: 1, TextMax: 400, AttachMax: 5},
		{Name: "unexpectedProblem", OperationID: "createUnexpectedProblem", PathSegment: "unexpectedProblem",
			Fields: []BodyField{FieldText}, TextMin: 1, TextMax: 2000},
		{Name: "invoice", Aliases: []string{"sendInvoice"}, OperationID: "sendInvoice", PathSegment: "invoice",
			Fields: []BodyField{FieldAttachments}, AttachMin: 1, AttachMax: 5},
		{Name: "negativeFeedbackRemoval", Aliases: []string{"updateFeedback"}, OperationID: "createNegativeFeedbackRemoval", PathSegment: "negativeFeedbackRemoval",
			OncePerOrder: true, Removed: true},
		{Name: "amazonMotors", OperationID: "CreateAmazonMotors", PathSegment: "amazonMotors",
			Fields: []BodyField{FieldAttachments}, AttachMax: 5, Removed: true},
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
