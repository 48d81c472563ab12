package sandbox

import (
	"bytes"
	"net/http"
	"net/url"

	"github.com/spmsg/spmsg/spapi"
)

// getActions answers getMessagingActionsForOrder in the shape live Amazon
// uses: _links.self, _links.actions[{href,name}] and _embedded.actions[]
// with name, title, disabled, disabledReason and the JSON schema itself
// under _embedded.schema. Hrefs use the action name (e.g.
// /messages/sendInvoice), which, as with Amazon, is not always the path of
// the send operation.
func (s *Sandbox) getActions(k *call) {
	orderID := k.route.PathParams["amazonOrderId"]
	ss := k.seller
	ss.mu.Lock()
	acts := s.orderLocked(ss, orderID).listed()
	ss.mu.Unlock()

	base := "/messaging/v1/orders/" + url.PathEscape(orderID)
	query := "?marketplaceIds=" + url.QueryEscape(k.marketplace)
	var b bytes.Buffer
	b.Grow(512 + 1400*len(acts))
	b.WriteString(`{"_links":{"self":{"href":`)
	writeString(&b, base+query)
	b.WriteString(`},"actions":[`)
	for i, a := range acts {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"href":`)
		writeString(&b, base+"/messages/"+a.name+query)
		b.WriteString(`,"name":`)
		writeString(&b, a.name)
		b.WriteByte('}')
	}
	b.WriteString(`]},"_embedded":{"actions":[`)
	for i, a := range acts {
		if i > 0 {
			b.WriteByte(',')
		}
		doc := s.schemas[a.name]
		self := base + "/messages/" + a.name + query
		schema := base + "/messages/" + a.name + "/schema" + query
		b.WriteString(`{"_links":{"self":{"href":`)
		writeString(&b, self)
		b.WriteString(`},"schema":{"href":`)
		writeString(&b, schema)
		b.WriteString(`}},"_embedded":{"schema":{"_links":{"self":{"href":`)
		writeString(&b, schema)
		b.WriteString(`}},`)
		b.Write(doc.schema)
		b.WriteString(`},"name":`)
		writeString(&b, a.name)
		b.WriteString(`,"title":`)
		writeString(&b, doc.title)
		if a.disabled {
			b.WriteString(`,"disabled":true,"disabledReason":`)
			writeString(&b, a.reason)
		} else {
			b.WriteString(`,"disabled":false,"disabledReason":null`)
		}
		b.WriteByte('}')
	}
	b.WriteString(`]}}`)
	k.ok(http.StatusOK, b.Bytes())
}

// getAttributes answers GetAttributes with the buyer's locale: the order's
// configured Locale, else the marketplace's usual one.
func (s *Sandbox) getAttributes(k *call) {
	orderID := k.route.PathParams["amazonOrderId"]
	loc := s.orderConfig(k.seller.id, orderID).locale
	if loc == "" {
		loc = marketplaceLocale(k.marketplace)
	}
	body, _ := marshal(map[string]any{"buyer": map[string]string{"locale": loc}})
	k.ok(http.StatusOK, body)
}

// marketplaceLocale is the usual buyer locale of a marketplace.
func marketplaceLocale(id string) string {
	m, _ := spapi.LookupMarketplace(id)
	switch m.Country {
	case "CA":
		return "en-CA"
	case "MX":
		return "es-MX"
	case "BR":
		return "pt-BR"
	case "UK":
		return "en-GB"
	case "DE":
		return "de-DE"
	case "FR":
		return "fr-FR"
	case "IT":
		return "it-IT"
	case "ES":
		return "es-ES"
	case "NL":
		return "nl-NL"
	case "SE":
		return "sv-SE"
	case "PL":
		return "pl-PL"
	case "TR":
		return "tr-TR"
	case "AE", "SA", "EG":
		return "ar-" + m.Country
	case "IN", "IE", "ZA", "AU", "SG":
		return "en-" + m.Country
	case "BE":
		return "fr-BE"
	case "JP":
		return "ja-JP"
	}
	return "en-US"
}

// writeString writes s as a JSON string.
func writeString(b *bytes.Buffer, s string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			q, _ := marshal(s)
			b.Write(q)
			return
		}
	}
	b.WriteByte('"')
	b.WriteString(s)
	b.WriteByte('"')
}
