package tasks

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/spmsg/spmsg/spapi"
)

// CheckLiveSchema validates a job's text and attachments against the JSON
// schema that getMessagingActionsForOrder embedded for the action (draft-04).
// The live schema names the text field rawMessageBody; spmsg maps the job's
// text to it, its attachments to the schema's attachment items, and its
// coverage dates to any date properties. Array item counts written as
// minLength/maxLength (as Amazon's models do) are read as minItems/maxItems.
// A nil or empty schema passes. Problems are returned as FieldErrors naming
// the job's fields.
func CheckLiveSchema(schema json.RawMessage, t spapi.MessageType, j *Job) ([]FieldError, error) {
	c, err := compileLive(schema)
	if err != nil || c == nil {
		return nil, err
	}
	return c.check(t, j)
}

// liveSchema is a compiled live schema.
type liveSchema struct {
	sch   *jsonschema.Schema
	props map[string]any
}

func compileLive(schema json.RawMessage) (*liveSchema, error) {
	if len(bytes.TrimSpace(schema)) == 0 || string(bytes.TrimSpace(schema)) == "null" {
		return nil, nil
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schema))
	if err != nil {
		return nil, fmt.Errorf("live schema is not JSON: %w", err)
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return nil, errors.New("live schema is not a JSON object")
	}
	props, _ := obj["properties"].(map[string]any)
	normalize(obj)

	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft4)
	if err := c.AddResource(liveSchemaURL, obj); err != nil {
		return nil, fmt.Errorf("live schema: %w", err)
	}
	sch, err := c.Compile(liveSchemaURL)
	if err != nil {
		return nil, fmt.Errorf("live schema does not compile: %w", err)
	}
	return &liveSchema{sch: sch, props: props}, nil
}

func (l *liveSchema) check(t spapi.MessageType, j *Job) ([]FieldError, error) {
	inst, fieldOf := instance(l.props, t, j)
	err := l.sch.Validate(inst)
	if err == nil {
		return nil, nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil, err
	}
	printer := message.NewPrinter(language.English)
	var out []FieldError
	for _, leaf := range leaves(ve) {
		field := "text"
		if len(leaf.InstanceLocation) > 0 {
			if f, ok := fieldOf[leaf.InstanceLocation[0]]; ok {
				field = f
			} else {
				field = leaf.InstanceLocation[0]
			}
		} else if strings.Contains(leaf.Error(), "attachments") {
			field = "attachments"
		}
		out = append(out, FieldError{Field: field, Reason: "Amazon's schema for " + t.Name + ": " + leaf.ErrorKind.LocalizedString(printer)})
	}
	return out, nil
}

// schemaCache keeps compiled live schemas by content, so a worker compiles
// each distinct schema Amazon returns once, not once per message. It is
// bounded: when full it starts over. The zero value is ready to use.
type schemaCache struct {
	mu sync.Mutex
	m  map[[32]byte]*liveSchema
}

const schemaCacheSize = 256

// check validates j against schema, compiling it at most once. Live
// schemas embed the order id in their links, so the cache key is the schema
// with the order id blanked out.
func (c *schemaCache) check(schema json.RawMessage, orderID string, t spapi.MessageType, j *Job) ([]FieldError, error) {
	if len(bytes.TrimSpace(schema)) == 0 {
		return nil, nil
	}
	key := schemaKey(schema, orderID)
	c.mu.Lock()
	ls, ok := c.m[key]
	c.mu.Unlock()
	if !ok {
		var err error
		ls, err = compileLive(schema)
		if err != nil || ls == nil {
			return nil, err
		}
		c.mu.Lock()
		if c.m == nil || len(c.m) >= schemaCacheSize {
			c.m = map[[32]byte]*liveSchema{}
		}
		c.m[key] = ls
		c.mu.Unlock()
	}
	return ls.check(t, j)
}

// schemaKey is the SHA-256 of schema with each orderID replaced by
// "{order}", hashed piecewise without copying the schema.
func schemaKey(schema []byte, orderID string) [32]byte {
	if orderID == "" {
		return sha256.Sum256(schema)
	}
	h := sha256.New()
	for {
		i := bytes.Index(schema, []byte(orderID))
		if i < 0 {
			break
		}
		h.Write(schema[:i])
		h.Write([]byte("{order}"))
		schema = schema[i+len(orderID):]
	}
	h.Write(schema)
	var key [32]byte
	h.Sum(key[:0])
	return key
}

// liveSchemaURL names the live schema inside the compiler.
const liveSchemaURL = "urn:spmsg:live-schema"

// instance builds the document to validate from the job, using the live
// schema's own property names.
func instance(props map[string]any, t spapi.MessageType, j *Job) (map[string]any, map[string]string) {
	inst := map[string]any{}
	fieldOf := map[string]string{}
	for name, p := range props {
		pm, _ := p.(map[string]any)
		typ, _ := pm["type"].(string)
		lname := strings.ToLower(name)
		switch {
		case typ == "array" || strings.Contains(lname, "attachment"):
			if len(j.Attachments) == 0 {
				continue
			}
			items := make([]any, len(j.Attachments))
			itemProps := map[string]any{}
			if it, ok := pm["items"].(map[string]any); ok {
				itemProps, _ = it["properties"].(map[string]any)
			}
			for i, a := range j.Attachments {
				item := map[string]any{}
				for ip := range itemProps {
					switch strings.ToLower(ip) {
					case "uploaddestinationid":
						item[ip] = "pending-upload"
					case "filename", "name", "file_name":
						item[ip] = a.FileName
					}
				}
				if len(itemProps) == 0 {
					item["uploadDestinationId"] = "pending-upload"
					item["fileName"] = a.FileName
				}
				items[i] = item
			}
			inst[name] = items
			fieldOf[name] = "attachments"
		case strings.Contains(lname, "start"):
			if j.CoverageStart != nil {
				inst[name] = j.CoverageStart.Format(time.RFC3339)
				fieldOf[name] = "coverage_start"
			}
		case strings.Contains(lname, "end") && typ == "string" && !strings.Contains(lname, "body"):
			if j.CoverageEnd != nil {
				inst[name] = j.CoverageEnd.Format(time.RFC3339)
				fieldOf[name] = "coverage_end"
			}
		case typ == "string" || lname == "rawmessagebody" || lname == "text":
			if j.Text != "" || t.Has(spapi.FieldText) {
				inst[name] = j.Text
				fieldOf[name] = "text"
			}
		}
	}
	return inst, fieldOf
}

// normalize rewrites array minLength/maxLength into minItems/maxItems, and
// drops keywords that are presentation only.
func normalize(v any) {
	switch x := v.(type) {
	case map[string]any:
		if x["type"] == "array" {
			if n, ok := x["maxLength"]; ok {
				if _, has := x["maxItems"]; !has {
					x["maxItems"] = n
				}
				delete(x, "maxLength")
			}
			if n, ok := x["minLength"]; ok {
				if _, has := x["minItems"]; !has {
					x["minItems"] = n
				}
				delete(x, "minLength")
			}
		}
		delete(x, "_links")
		// draft-04 wants a non-empty required list; live answers may
		// carry an empty one.
		if req, ok := x["required"].([]any); !ok || len(req) == 0 {
			delete(x, "required")
		}
		for _, c := range x {
			normalize(c)
		}
	case []any:
		for _, c := range x {
			normalize(c)
		}
	}
}

func leaves(ve *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return []*jsonschema.ValidationError{ve}
	}
	var out []*jsonschema.ValidationError
	for _, c := range ve.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}
