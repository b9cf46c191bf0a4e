package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// SchemaID is the $id of the generated JSON Schema.
const SchemaID = "https://github.com/hsu-run/hsu/schema/v1.json"

// JSONSchema returns the JSON Schema (draft 2020-12) of the config file,
// generated from the same struct tags the decoder uses.
func JSONSchema() ([]byte, error) {
	g := &schemaGen{defs: map[string]any{}}
	root := g.structSchema(reflect.TypeOf(Config{}))
	root["$schema"] = "https://json-schema.org/draft/2020-12/schema"
	root["$id"] = SchemaID
	root["title"] = "hsu configuration"
	root["required"] = []string{"version", "workers"}
	root["$defs"] = g.defs
	return json.MarshalIndent(root, "", "  ")
}

type schemaGen struct{ defs map[string]any }

var (
	scalarType = reflect.TypeOf((*scalar)(nil)).Elem()
	nodeType   = reflect.TypeOf((*nodeDecoder)(nil)).Elem()
)

// varString lets a typed value be written as a ${VAR} reference.
var varString = map[string]any{"type": "string", "pattern": `\$\{[A-Za-z_][A-Za-z0-9_]*`}

func (g *schemaGen) typeSchema(t reflect.Type) map[string]any {
	if reflect.PointerTo(t).Implements(nodeType) {
		// Its schema refers to its element's definition by name (DependsOn
		// to Dependency); nothing else may generate that definition.
		if (t.Kind() == reflect.Map || t.Kind() == reflect.Slice) && t.Elem().Kind() == reflect.Struct {
			g.typeSchema(t.Elem())
		}
		return reflect.New(t).Interface().(nodeDecoder).schema()
	}
	if reflect.PointerTo(t).Implements(scalarType) {
		return reflect.New(t).Interface().(scalar).schema()
	}
	switch t.Kind() {
	case reflect.Pointer:
		return g.typeSchema(t.Elem())
	case reflect.Struct:
		name := t.Name()
		if _, ok := g.defs[name]; !ok {
			g.defs[name] = map[string]any{} // placeholder against recursion
			g.defs[name] = g.structSchema(t)
		}
		return map[string]any{"$ref": "#/$defs/" + name}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": g.typeSchema(t.Elem())}
	case reflect.Slice:
		return map[string]any{"type": "array", "items": g.typeSchema(t.Elem())}
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Int, reflect.Int64:
		return map[string]any{"anyOf": []any{map[string]any{"type": "integer"}, varString}}
	case reflect.Float64:
		return map[string]any{"anyOf": []any{map[string]any{"type": "number"}, varString}}
	case reflect.Bool:
		return map[string]any{"anyOf": []any{map[string]any{"type": "boolean"}, varString}}
	}
	panic(fmt.Sprintf("config: no schema for %s", t))
}

func (g *schemaGen) structSchema(t reflect.Type) map[string]any {
	props := map[string]any{}
	var required []string
	for _, f := range fieldsOf(t).list {
		s := g.typeSchema(f.typ)
		// Copy before annotating: typeSchema may return a shared $ref map.
		p := map[string]any{}
		for k, v := range s {
			p[k] = v
		}
		if d := f.tag.Get("doc"); d != "" {
			p["description"] = d
		}
		if def, ok := f.tag.Lookup("default"); ok {
			var v any
			if err := yaml.Unmarshal([]byte(def), &v); err == nil {
				p["default"] = v
			}
		}
		if e := f.tag.Get("enum"); e != "" {
			p["enum"] = strings.Split(e, "|")
		}
		if m := f.tag.Get("min"); m != "" {
			setBound(p, "minimum", m)
		}
		if m := f.tag.Get("max"); m != "" {
			setBound(p, "maximum", m)
		}
		if f.tag.Get("required") == "true" {
			required = append(required, f.key)
		}
		props[f.key] = p
	}
	out := map[string]any{"type": "object", "additionalProperties": false, "properties": props}
	if len(required) > 0 {
		out["required"] = required
	}
	return out
}

// setBound puts a numeric bound on the numeric branch of an anyOf.
func setBound(p map[string]any, key, val string) {
	f, _ := strconv.ParseFloat(val, 64)
	if alts, ok := p["anyOf"].([]any); ok {
		for i, a := range alts {
			if m, ok := a.(map[string]any); ok && (m["type"] == "integer" || m["type"] == "number") {
				c := map[string]any{}
				for k, v := range m {
					c[k] = v
				}
				c[key] = f
				alts[i] = c
			}
		}
		return
	}
	p[key] = f
}
