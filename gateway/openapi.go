package gateway

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
)

// OpenAPIPath turns a Fiber path template into an OpenAPI one: ":id" becomes "{id}".
func OpenAPIPath(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if name, ok := strings.CutPrefix(s, ":"); ok {
			segs[i] = "{" + name + "}"
		}
	}
	return strings.Join(segs, "/")
}

// pathParams lists the ":name" parameters of a Fiber path template.
func pathParams(path string) []string {
	var names []string
	for _, s := range strings.Split(path, "/") {
		if name, ok := strings.CutPrefix(s, ":"); ok {
			names = append(names, name)
		}
	}
	return names
}

type obj = map[string]any

// buildOpenAPI renders the OpenAPI 3.1 document of routes. Request and reply schemas are
// derived from the Go types the routes decode and forward, so the document follows the
// contract in subjects/ by construction.
func buildOpenAPI(routes []Route) ([]byte, error) {
	sg := &schemaGen{components: obj{}}
	sg.components["Problem"] = sg.schema(reflect.TypeFor[Problem]())
	paths := obj{}
	for i := range routes {
		rt := &routes[i]
		p := OpenAPIPath(rt.Path)
		item, _ := paths[p].(obj)
		if item == nil {
			item = obj{}
			paths[p] = item
		}
		method := strings.ToLower(rt.Method)
		if _, dup := item[method]; dup {
			return nil, fmt.Errorf("route %s %s twice", rt.Method, rt.Path)
		}
		item[method] = sg.operation(rt)
	}
	doc := obj{
		"openapi": "3.1.0",
		"info": obj{
			"title":       "Souk API",
			"version":     "1",
			"description": "The public HTTP API of Souk. Errors are application/problem+json (RFC 9457).",
		},
		"paths": paths,
		"components": obj{
			"schemas": sg.components,
			"securitySchemes": obj{
				"bearer": obj{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
			},
		},
	}
	return json.Marshal(doc)
}

func (sg *schemaGen) operation(rt *Route) obj {
	op := obj{
		"summary":     rt.Summary,
		"operationId": operationID(rt),
	}
	if rt.Tag != "" {
		op["tags"] = []string{rt.Tag}
	}
	var params []obj
	for _, name := range pathParams(rt.Path) {
		params = append(params, obj{"name": name, "in": "path", "required": true, "schema": obj{"type": "string"}})
	}
	for _, q := range rt.Call.query {
		params = append(params, obj{"name": q.Name, "in": "query", "description": q.Description, "schema": obj{"type": q.Type}})
	}
	if len(params) > 0 {
		op["parameters"] = params
	}
	if rt.Call.body != nil {
		op["requestBody"] = obj{
			"required": true,
			"content":  obj{"application/json": obj{"schema": sg.bodySchema(rt.Call.body, pathParams(rt.Path))}},
		}
	}
	if rt.Access.IsPublic() {
		op["security"] = []obj{} // anonymous allowed; a token, when sent, is verified
	} else {
		op["security"] = []obj{{"bearer": []string{}}}
		op["x-permission"] = string(rt.Access.Permission())
	}
	op["responses"] = sg.responses(rt)
	return op
}

func operationID(rt *Route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.Method))
	for _, s := range strings.FieldsFunc(rt.Path, func(r rune) bool { return r == '/' || r == '-' || r == '.' || r == ':' || r == '_' }) {
		b.WriteString(strings.ToUpper(s[:1]) + s[1:])
	}
	return b.String()
}

func (sg *schemaGen) responses(rt *Route) obj {
	status := rt.status()
	ok := obj{"description": http.StatusText(status)}
	if status != http.StatusNoContent {
		media := rt.Call.media
		if media == "" {
			media = "application/json"
		}
		schema := obj{}
		if rt.Call.reply != nil {
			schema = sg.schema(rt.Call.reply)
		} else if media == "text/plain" {
			schema = obj{"type": "string"}
		}
		ok["content"] = obj{media: obj{"schema": schema}}
	}
	res := obj{strconv.Itoa(status): ok}
	codes := slices.Clone(rt.Errors)
	if rt.Call.body != nil || len(rt.Call.query) > 0 || len(pathParams(rt.Path)) > 0 {
		codes = append(codes, 400)
	}
	if rt.Call.body != nil {
		codes = append(codes, 413, 415)
	}
	if !rt.Access.IsPublic() {
		codes = append(codes, 401, 403)
	}
	codes = append(codes, 429)
	if rt.Call.forward {
		codes = append(codes, 503, 504)
	}
	for _, code := range codes {
		res[strconv.Itoa(code)] = problemResponse(code)
	}
	res["default"] = problemResponse(0)
	return res
}

func problemResponse(code int) obj {
	desc := http.StatusText(code)
	if code == 0 {
		desc = "Any other error"
	}
	r := obj{
		"description": desc,
		"content":     obj{MIMEProblem: obj{"schema": obj{"$ref": "#/components/schemas/Problem"}}},
	}
	if code == 429 || code == 503 {
		r["headers"] = obj{"Retry-After": obj{"description": "seconds to wait", "schema": obj{"type": "integer"}}}
	}
	return r
}

// schemaGen derives JSON Schemas (2020-12, as OpenAPI 3.1 uses) from Go types: named structs
// become components referenced by $ref.
type schemaGen struct {
	components obj
}

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

func (sg *schemaGen) schema(t reflect.Type) obj {
	switch {
	case t == timeType:
		return obj{"type": "string", "format": "date-time"}
	case t == rawType:
		return obj{}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return sg.schema(t.Elem())
	case reflect.String:
		return obj{"type": "string"}
	case reflect.Bool:
		return obj{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return obj{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return obj{"type": "number"}
	case reflect.Slice, reflect.Array:
		return obj{"type": "array", "items": sg.schema(t.Elem())}
	case reflect.Map:
		return obj{"type": "object", "additionalProperties": sg.schema(t.Elem())}
	case reflect.Struct:
		if t.Name() == "" {
			return sg.structSchema(t, nil)
		}
		if _, ok := sg.components[t.Name()]; !ok {
			sg.components[t.Name()] = obj{} // placeholder: recursive types terminate
			sg.components[t.Name()] = sg.structSchema(t, nil)
		}
		return obj{"$ref": "#/components/schemas/" + t.Name()}
	}
	return obj{}
}

// bodySchema is the schema of a request body: fields filled from path parameters are left out.
func (sg *schemaGen) bodySchema(t reflect.Type, fromPath []string) obj {
	if len(fromPath) == 0 {
		return sg.schema(t)
	}
	return sg.structSchema(t, fromPath)
}

func (sg *schemaGen) structSchema(t reflect.Type, skip []string) obj {
	props := obj{}
	var required []string
	for f := range t.Fields() {
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if name == "" && f.Anonymous && f.Type.Kind() == reflect.Struct {
			embedded := sg.structSchema(f.Type, skip)
			for k, v := range embedded["properties"].(obj) {
				props[k] = v
			}
			if req, ok := embedded["required"].([]string); ok {
				required = append(required, req...)
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		if slices.Contains(skip, name) {
			continue
		}
		props[name] = sg.schema(f.Type)
		if !strings.Contains(opts, "omitempty") && f.Type.Kind() != reflect.Pointer {
			required = append(required, name)
		}
	}
	s := obj{"type": "object", "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}
