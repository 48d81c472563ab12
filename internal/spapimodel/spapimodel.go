// Package spapimodel checks HTTP requests against Amazon's own SP-API models
// (Swagger 2.0 files from amzn/selling-partner-api-models, embedded under
// models/, Apache 2.0). The models are converted to OpenAPI 3 with
// kin-openapi and each request is validated for its path, query, headers and
// JSON body.
//
// It serves the spapi conformance tests and the local sandbox, which both
// need to know whether a request is one that Amazon's model allows.
package spapimodel

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
)

//go:embed models/*.json
var modelFS embed.FS

// Model files embedded in this package.
const (
	MessagingModel     = "messaging.json"
	MessagingOldModel  = "messaging_pre-2025-08_with-removed-ops.json"
	UploadsModel       = "uploads_2020-11-01.json"
	SolicitationsModel = "solicitations.json"
)

// Route is one operation of a model that a request matched.
type Route struct {
	// OperationID is the model's operationId, e.g. "sendInvoice".
	OperationID string
	// Method and Template are the operation's HTTP method and path template.
	Method, Template string
	// PathParams are the path parameters of the matched request.
	PathParams map[string]string
	// Model is the embedded file the operation came from.
	Model string
	// Removed is true for operations that only the pre-2025-08 model has.
	Removed bool

	op      *openapi3.Operation
	item    *openapi3.PathItem
	doc     *openapi3.T
	re      *regexp.Regexp
	names   []string
	hasBody bool
}

// Validator matches requests to model operations and validates them.
// It is safe for concurrent use once built.
type Validator struct {
	routes []*Route
}

// New loads the embedded models: the current Messaging model, the two
// removed operations (createNegativeFeedbackRemoval, CreateAmazonMotors) from
// the pre-2025-08 model, the Uploads model and the Solicitations model.
func New() (*Validator, error) {
	v := &Validator{}
	current := map[string]bool{}
	for _, f := range []string{MessagingModel, UploadsModel, SolicitationsModel, MessagingOldModel} {
		doc, err := load(f)
		if err != nil {
			return nil, err
		}
		for tmpl, item := range doc.Paths.Map() {
			for method, op := range item.Operations() {
				key := method + " " + tmpl
				if f == MessagingOldModel && current[key] {
					continue // the current model wins
				}
				current[key] = true
				r, err := newRoute(f, doc, tmpl, method, item, op)
				if err != nil {
					return nil, err
				}
				r.Removed = f == MessagingOldModel
				v.routes = append(v.routes, r)
			}
		}
	}
	// Longer literal templates first, so /attributes beats a shorter match.
	sort.Slice(v.routes, func(i, j int) bool { return len(v.routes[i].Template) > len(v.routes[j].Template) })
	return v, nil
}

// Routes lists every operation the validator knows.
func (v *Validator) Routes() []*Route { return v.routes }

// ModelBytes returns one embedded model file, e.g. for a test that compares
// it with the reference copy.
func ModelBytes(name string) ([]byte, error) { return modelFS.ReadFile("models/" + name) }

func load(name string) (*openapi3.T, error) {
	raw, err := modelFS.ReadFile("models/" + name)
	if err != nil {
		return nil, err
	}
	var v2 openapi2.T
	if err := json.Unmarshal(raw, &v2); err != nil {
		return nil, fmt.Errorf("spapimodel: parse %s: %w", name, err)
	}
	doc, err := openapi2conv.ToV3(&v2)
	if err != nil {
		return nil, fmt.Errorf("spapimodel: convert %s: %w", name, err)
	}
	return doc, nil
}

var paramRE = regexp.MustCompile(`\{([^}]+)\}`)

func newRoute(model string, doc *openapi3.T, tmpl, method string, item *openapi3.PathItem, op *openapi3.Operation) (*Route, error) {
	greedy := map[string]bool{}
	for _, p := range append(openapi3.Parameters{}, op.Parameters...) {
		if p.Value != nil && p.Value.In == "path" {
			if g, ok := p.Value.Extensions["x-amazon-spds-greedy-path-parameter"].(bool); ok && g {
				greedy[p.Value.Name] = true
			}
		}
	}
	var names []string
	var b strings.Builder
	b.WriteString("^")
	last := 0
	for _, m := range paramRE.FindAllStringSubmatchIndex(tmpl, -1) {
		b.WriteString(regexp.QuoteMeta(tmpl[last:m[0]]))
		name := tmpl[m[2]:m[3]]
		names = append(names, name)
		if greedy[name] {
			b.WriteString("(.+)")
		} else {
			b.WriteString("([^/]+)")
		}
		last = m[1]
	}
	b.WriteString(regexp.QuoteMeta(tmpl[last:]))
	b.WriteString("$")
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, err
	}
	return &Route{
		OperationID: op.OperationID, Method: method, Template: tmpl, Model: model,
		op: op, item: item, doc: doc, re: re, names: names, hasBody: op.RequestBody != nil,
	}, nil
}

// ErrNoRoute means no model operation has the request's method and path.
var ErrNoRoute = errors.New("no SP-API model operation matches the request")

// Match finds the operation for a method and an (unescaped) URL path.
func (v *Validator) Match(method, path string) (*Route, error) {
	for _, r := range v.routes {
		if r.Method != method {
			continue
		}
		m := r.re.FindStringSubmatch(path)
		if m == nil {
			continue
		}
		rr := *r
		rr.PathParams = make(map[string]string, len(r.names))
		for i, n := range r.names {
			rr.PathParams[n] = m[i+1]
		}
		return &rr, nil
	}
	return nil, fmt.Errorf("%w: %s %s", ErrNoRoute, method, path)
}

// Violation describes why a request does not conform to the model.
type Violation struct {
	OperationID string
	Problems    []string
}

func (e *Violation) Error() string {
	op := e.OperationID
	if op == "" {
		op = "request"
	}
	return fmt.Sprintf("%s does not conform to the SP-API model: %s", op, strings.Join(e.Problems, "; "))
}

// Validate checks r against the model: it must match an operation, and its
// path parameters, query, headers and JSON body must satisfy that
// operation's parameters and body schema. Beyond the model it requires what
// every SP-API call needs: an x-amz-access-token header, a User-Agent of at
// most 500 characters, Content-Type application/json on a body, and no body
// properties that the body schema does not define. The request body is read
// and put back, so r can still be served afterwards.
//
// It returns the matched route, and a *Violation (or an ErrNoRoute error)
// when the request does not conform.
func (v *Validator) Validate(ctx context.Context, r *http.Request) (*Route, error) {
	route, err := v.Match(r.Method, r.URL.Path)
	if err != nil {
		return nil, err
	}
	var body []byte
	if r.Body != nil {
		body, err = io.ReadAll(r.Body)
		if err != nil {
			return route, &Violation{OperationID: route.OperationID, Problems: []string{"read body: " + err.Error()}}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	var problems []string
	if r.Header.Get("x-amz-access-token") == "" {
		problems = append(problems, "header x-amz-access-token is missing")
	}
	ua := r.Header.Get("User-Agent")
	if ua == "" {
		problems = append(problems, "header User-Agent is missing")
	} else if len(ua) > 500 {
		problems = append(problems, "header User-Agent is longer than 500 characters")
	}
	if route.hasBody {
		if len(bytes.TrimSpace(body)) == 0 {
			problems = append(problems, "body is required")
		} else {
			ct := r.Header.Get("Content-Type")
			if !strings.HasPrefix(strings.ToLower(ct), "application/json") {
				problems = append(problems, fmt.Sprintf("Content-Type %q is not application/json", ct))
			}
			problems = append(problems, unknownProperties(route, body)...)
		}
	} else if len(bytes.TrimSpace(body)) > 0 {
		problems = append(problems, "operation takes no body but one was sent")
	}

	clone := r.Clone(ctx)
	clone.Body = io.NopCloser(bytes.NewReader(body))
	if !route.hasBody {
		clone.Body = http.NoBody
	}
	in := &openapi3filter.RequestValidationInput{
		Request:    clone,
		PathParams: route.PathParams,
		Route:      &routers.Route{Spec: route.doc, Path: route.Template, PathItem: route.item, Method: route.Method, Operation: route.op},
		Options:    &openapi3filter.Options{MultiError: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
	}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil {
		var me openapi3.MultiError
		if errors.As(err, &me) {
			for _, e := range me {
				problems = append(problems, oneLine(e.Error()))
			}
		} else {
			problems = append(problems, oneLine(err.Error()))
		}
	}
	if len(problems) > 0 {
		return route, &Violation{OperationID: route.OperationID, Problems: problems}
	}
	return route, nil
}

// unknownProperties reports top-level body properties the schema lacks, and
// attachment arrays longer than the model's maxLength (the model writes item
// counts as minLength/maxLength on arrays, which OpenAPI validators ignore).
func unknownProperties(route *Route, body []byte) []string {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil // the schema check reports malformed JSON
	}
	rb := route.op.RequestBody
	if rb == nil || rb.Value == nil {
		return nil
	}
	mt := rb.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil || mt.Schema.Value == nil {
		return nil
	}
	props := mt.Schema.Value.Properties
	var out []string
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p, ok := props[k]
		if !ok {
			out = append(out, fmt.Sprintf("body property %q is not in the model", k))
			continue
		}
		if p.Value == nil || p.Value.Type == nil || !p.Value.Type.Is("array") {
			continue
		}
		var items []json.RawMessage
		if json.Unmarshal(obj[k], &items) != nil {
			continue
		}
		if p.Value.MaxLength != nil && uint64(len(items)) > *p.Value.MaxLength {
			out = append(out, fmt.Sprintf("body property %q has %d items, more than %d", k, len(items), *p.Value.MaxLength))
		}
		if uint64(len(items)) < p.Value.MinLength {
			out = append(out, fmt.Sprintf("body property %q has %d items, fewer than %d", k, len(items), p.Value.MinLength))
		}
	}
	return out
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 400 {
		s = s[:400] + "..."
	}
	return s
}
