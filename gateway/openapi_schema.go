package gateway

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"time"
)

// schemaGen derives JSON Schemas (2020-12, as OpenAPI 3.1 uses) from Go types: named structs
// become components referenced by $ref. What a type does not say by itself comes from its
// struct tags and its source:
//
//   - `required:"true"`: a request must send the field; a reply always has it. Nothing else
//     makes a field required (omitempty says how Go encodes a value, not what a client must
//     send).
//   - `enum:"Name"`: the field (or each element of a list) is one of the string constants of
//     the const block that declares Name, or of the []string variable Name, in the type's
//     package.
//   - `path:"param"`: a route with the path parameter param fills the field from the path,
//     so that route's body leaves it out (as it leaves out a field named like a parameter).
//   - descriptions: the doc comments of types and fields (apiDocs).
//
// A slice or map field without omitempty may be encoded as null (a nil slice), so its
// schema allows null; an element of a map of pointers too (null removes a key in a merge).
type schemaGen struct {
	components obj
	docs       *apiDocs
	// names maps a component name to the type it was made for, so that two types of one
	// name in two packages do not overwrite each other.
	names map[string]reflect.Type
	// problems are the error statuses the operations answer (0: any other), each a
	// components.responses entry.
	problems map[int]bool
}

func newSchemaGen() *schemaGen {
	return &schemaGen{components: obj{}, docs: docsOnce(), names: map[string]reflect.Type{}, problems: map[int]bool{}}
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
	case reflect.Int64, reflect.Uint64:
		return obj{"type": "integer", "format": "int64"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return obj{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return obj{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return obj{"type": "string", "contentEncoding": "base64"} // encoding/json's []byte
		}
		return obj{"type": "array", "items": sg.schema(t.Elem())}
	case reflect.Map:
		elem := sg.schema(t.Elem())
		if t.Elem().Kind() == reflect.Pointer {
			elem = nullable(elem)
		}
		return obj{"type": "object", "additionalProperties": elem}
	case reflect.Struct:
		if t.Name() == "" {
			return sg.structSchema(t, nil)
		}
		return obj{"$ref": "#/components/schemas/" + sg.component(t)}
	}
	return obj{}
}

// component makes sure the named struct t has its component and returns the component's name.
func (sg *schemaGen) component(t reflect.Type) string {
	name := componentName(t.Name())
	if other, ok := sg.names[name]; ok && other != t {
		name = componentName(t.PkgPath() + "." + t.Name())
	}
	if _, ok := sg.names[name]; !ok {
		sg.names[name] = t
		sg.components[name] = obj{} // placeholder: recursive types terminate
		s := sg.structSchema(t, nil)
		if doc := sg.docs.typeDoc(t); doc != "" {
			s["description"] = doc
		}
		sg.components[name] = s
	}
	return name
}

// componentName keeps what a component name may hold: letters, digits, ".", "-", "_".
func componentName(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == '_' || ('a' <= r && r <= 'z') || ('A' <= r && r <= 'Z') || ('0' <= r && r <= '9') {
			return r
		}
		return '_'
	}, s)
}

// nullable lets s be null too.
func nullable(s obj) obj {
	switch typ := s["type"].(type) {
	case string:
		s["type"] = []string{typ, "null"}
		return s
	case nil:
		if _, ref := s["$ref"]; !ref {
			return s // any value, null included
		}
	}
	return obj{"anyOf": []obj{s, {"type": "null"}}}
}

// bodySchema is the schema of a request body: fields filled from path parameters are left out.
func (sg *schemaGen) bodySchema(t reflect.Type, fromPath []string) obj {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || !sg.skipsAny(t, fromPath) {
		return sg.schema(t)
	}
	s := sg.structSchema(t, fromPath)
	if doc := sg.docs.typeDoc(t); doc != "" {
		s["description"] = doc
	}
	return s
}

// skipsAny reports whether a field of t is filled from one of the path parameters.
func (sg *schemaGen) skipsAny(t reflect.Type, fromPath []string) bool {
	for f := range t.Fields() {
		if fromPathParam(f, fromPath) {
			return true
		}
		if f.Anonymous && f.Type.Kind() == reflect.Struct && sg.skipsAny(f.Type, fromPath) {
			return true
		}
	}
	return false
}

// fromPathParam reports whether a route with the path parameters params fills f from its path.
func fromPathParam(f reflect.StructField, params []string) bool {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	p := f.Tag.Get("path")
	return len(params) > 0 && (slices.Contains(params, name) || (p != "" && slices.Contains(params, p)))
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
		if fromPathParam(f, skip) {
			continue
		}
		props[name] = sg.field(t, f, strings.Contains(opts, "omitempty"))
		if f.Tag.Get("required") == "true" {
			required = append(required, name)
		}
	}
	s := obj{"type": "object", "properties": props}
	if len(required) > 0 {
		s["required"] = required
	}
	return s
}

// field is the schema of the struct field f of t: its type's, with the enum, nullability and
// description its tags and doc comment give.
func (sg *schemaGen) field(t reflect.Type, f reflect.StructField, omitempty bool) obj {
	s := sg.schema(f.Type)
	if name := f.Tag.Get("enum"); name != "" {
		values := sg.docs.enum(t.PkgPath(), name)
		if items, ok := s["items"].(obj); ok && s["type"] == "array" {
			items["enum"] = values
		} else {
			s["enum"] = values
		}
	}
	if k := f.Type.Kind(); !omitempty && (k == reflect.Slice || k == reflect.Map) && s["type"] != "string" {
		s = nullable(s)
	}
	if doc := sg.docs.fieldDoc(t, f); doc != "" {
		s["description"] = doc
	}
	return s
}
