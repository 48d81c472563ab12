package sandbox

import (
	"encoding/json"
	"fmt"

	"github.com/spmsg/spmsg/spapi"
)

// actionDoc is the cached, order-independent part of one action in the
// getMessagingActionsForOrder answer.
type actionDoc struct {
	title string
	// schema is the embedded JSON schema without its _links and without
	// the opening brace: `"$schema":...}`.
	schema []byte
}

// presentation returns what live answers show for a type: its title (from
// Amazon's use-case guide and samples where known) and a description.
func presentation(typeName string) (title, description string, ok bool) {
	switch typeName {
	case "confirmCustomizationDetails":
		return "Confirm customization details", "Ask the buyer to provide or confirm customization details of the order.", true
	case "confirmDeliveryDetails":
		return "Confirm delivery details", "Arrange a delivery or confirm the delivery details with the buyer.", true
	case "legalDisclosure":
		return "Legal disclosure", "Send documents that you are legally required to provide to the buyer.", true
	case "confirmOrderDetails":
		return "Confirm order details", "Ask the buyer a question about the order before it ships.", true
	case "confirmServiceDetails":
		return "Confirm service details", "Contact a Home Services buyer to arrange or prepare the service call.", true
	case "warranty":
		return "Warranty information", "Send the buyer warranty information.", true
	case "digitalAccessKey":
		return "Digital access key", "Share a key the buyer needs to use the digital content of the order.", true
	case "unexpectedProblem":
		return "Notify of a problem with shipping your order", "Tell the buyer about an unexpected problem with completing the order.", true
	case "invoice":
		return "Send Invoice Message Template", "Send the buyer an invoice.", true
	case "negativeFeedbackRemoval":
		return "Request to update negative feedback", "Ask the buyer to update negative feedback after the problem was solved. You may only send this once per order.", true
	case "amazonMotors":
		return "Amazon Motors", "Send the buyer an Amazon Motors message.", true
	}
	return "", "", false
}

const attachmentsDescription = "Attachments to include in the message. Allowed files are text files, PDF, Word documents and .jpg/.gif/.png images; the total size of all attachments must be less than 10 MB."

// jsonSchema is a draft-04 schema as live answers embed it. Field order is
// the order of the output.
type jsonSchema struct {
	Schema      string                `json:"$schema"`
	Type        string                `json:"type"`
	Name        string                `json:"name"`
	Title       string                `json:"title"`
	Description string                `json:"description"`
	Properties  map[string]jsonObject `json:"properties"`
	Required    []string              `json:"required"`
	UIHidden    bool                  `json:"x-ui-hidden"`
}

type jsonObject map[string]any

// buildSchemas builds the action documents of every name of every
// Messaging type.
func buildSchemas() (map[string]*actionDoc, error) {
	out := map[string]*actionDoc{}
	for _, t := range messagingTypes() {
		title, descr, ok := presentation(t.Name)
		if !ok {
			return nil, fmt.Errorf("sandbox: no title for message type %s", t.Name)
		}
		for _, name := range t.Names() {
			sc := jsonSchema{
				Schema:      "http://json-schema.org/draft-04/schema#",
				Type:        "object",
				Name:        name,
				Title:       title,
				Description: descr,
				Properties:  map[string]jsonObject{},
				Required:    []string{},
			}
			if t.Has(spapi.FieldText) {
				sc.Properties["rawMessageBody"] = jsonObject{
					"type":        "string",
					"minLength":   max(t.TextMin, 1),
					"maxLength":   t.TextMax,
					"description": fmt.Sprintf("%d character limit. Only links related to order completion are allowed, no HTML or email addresses.", t.TextMax),
				}
				if t.TextMin > 0 {
					sc.Required = append(sc.Required, "rawMessageBody")
				}
			}
			if t.Has(spapi.FieldAttachments) {
				a := jsonObject{
					"type":     "array",
					"maxItems": t.AttachMax,
					"items": jsonObject{
						"type": "object",
						"properties": jsonObject{
							"uploadDestinationId": jsonObject{"type": "string"},
							"name":                jsonObject{"type": "string"},
						},
						"required": []string{"uploadDestinationId", "name"},
					},
					"description": attachmentsDescription,
				}
				if t.AttachMin > 0 {
					a["minItems"] = t.AttachMin
					sc.Required = append(sc.Required, "attachments")
				}
				sc.Properties["attachments"] = a
			}
			for _, f := range []spapi.BodyField{spapi.FieldCoverageStartDate, spapi.FieldCoverageEndDate} {
				if t.Has(f) {
					sc.Properties[string(f)] = jsonObject{"type": "string", "format": "date-time"}
				}
			}
			raw, err := json.Marshal(sc)
			if err != nil {
				return nil, err
			}
			out[name] = &actionDoc{title: title, schema: raw[1:]}
		}
	}
	return out, nil
}
