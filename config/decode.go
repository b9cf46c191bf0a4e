package config

import (
	"encoding"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"
)

// nodeDecoder is implemented by types that accept more than one YAML shape
// (a string or a list, a map or a list).
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
	schema() map[string]any
}

// decoder turns yaml.Nodes into typed values, strictly: every unknown key,
// wrong type and out-of-range value becomes an Error at the node.
type decoder struct {
	errs   *ErrorList
	files  map[*yaml.Node]string
	pos    Positions
	expand func(s string) (string, error)
	// budget bounds the work on hostile input (alias bombs).
	budget int
}

// Positions remembers where each key path was written, so validation that
// runs after decoding can still point at the line.
type Positions map[string]Pos

func (d *decoder) at(n *yaml.Node) Pos {
	return Pos{File: d.files[n], Line: max(n.Line, 1), Col: max(n.Column, 1)}
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs.add(Error{Pos: d.at(n), Path: path, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) remember(path string, n *yaml.Node) {
	if _, ok := d.pos[path]; !ok {
		d.pos[path] = d.at(n)
	}
}

// resolve follows aliases.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		return resolve(n.Content[0])
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

// pair is one key/value of a mapping.
type pair struct{ key, val *yaml.Node }

// pairs lists a mapping's entries with YAML merge keys (<<) applied: keys
// written in the mapping win over merged ones.
func pairs(n *yaml.Node) []pair { return mergedPairs(n, map[*yaml.Node]bool{}) }

// mergedPairs is pairs for a mapping reached through the merge sources in
// expanded. A source merged already (twice in one list, or through an
// earlier source) adds no key that is not set yet, so it is skipped: that
// keeps chains of merges linear rather than exponential.
func mergedPairs(n *yaml.Node, expanded map[*yaml.Node]bool) []pair {
	n = resolve(n)
	expanded[n] = true
	var own, merged []pair
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Value == "<<" && k.Tag == "!!merge" {
			v = resolve(v)
			srcs := []*yaml.Node{v}
			if v.Kind == yaml.SequenceNode {
				srcs = v.Content
			}
			for _, s := range srcs {
				if s = resolve(s); s != nil && s.Kind == yaml.MappingNode && !expanded[s] {
					merged = append(merged, mergedPairs(s, expanded)...)
				}
			}
			continue
		}
		own = append(own, pair{k, v})
		seen[k.Value] = true
	}
	for _, p := range merged {
		if !seen[p.key.Value] {
			seen[p.key.Value] = true
			own = append(own, p)
		}
	}
	return own
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if isNull(n) {
			return "nothing"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "an unknown node"
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// scalarText returns the scalar's text after ${VAR} expansion, or ok=false
// after reporting why it is not a scalar.
func (d *decoder) scalarText(n *yaml.Node, path, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "expected %s, got %s", want, kindName(n))
		return "", false
	}
	s, err := d.expand(n.Value)
	if err != nil {
		d.errorf(n, path, "%v", err)
		return "", false
	}
	return s, true
}

// decode fills v from n. A null node leaves v as it is (its default).
func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string, tag reflect.StructTag) {
	n = resolve(n)
	if n == nil {
		return
	}
	d.budget--
	if d.budget < 0 {
		if d.budget == -1 {
			d.errorf(n, path, "document too large or too deeply aliased")
		}
		return
	}
	d.remember(path, n)
	if v.CanAddr() {
		if nd, ok := v.Addr().Interface().(nodeDecoder); ok {
			if !isNull(n) {
				nd.decodeNode(d, n, path)
			}
			return
		}
		if tu, ok := v.Addr().Interface().(encoding.TextUnmarshaler); ok && v.Kind() != reflect.Pointer {
			if isNull(n) {
				return
			}
			if s, ok := d.scalarText(n, path, "a value"); ok {
				if err := tu.UnmarshalText([]byte(s)); err != nil {
					d.errorf(n, path, "%v", err)
				}
			}
			return
		}
		if sc, ok := v.Addr().Interface().(scalar); ok {
			if isNull(n) {
				return
			}
			if s, ok := d.scalarText(n, path, "a value"); ok {
				if err := sc.parseScalar(s); err != nil {
					d.errorf(n, path, "%v", err)
				}
			}
			return
		}
	}
	if isNull(n) {
		// "liveness:" or "process:" with nothing after it still means the
		// section is present, with its defaults.
		if v.Kind() == reflect.Pointer && v.IsNil() && v.Type().Elem().Kind() == reflect.Struct {
			nv := reflect.New(v.Type().Elem())
			applyDefaults(nv.Elem())
			v.Set(nv)
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			nv := reflect.New(v.Type().Elem())
			applyDefaults(nv.Elem())
			v.Set(nv)
		}
		d.decode(n, v.Elem(), path, tag)
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "expected a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i), tag)
		}
		v.Set(s)
	case reflect.String:
		if s, ok := d.scalarText(n, path, "a string"); ok {
			if e := tag.Get("enum"); e != "" && !contains(strings.Split(e, "|"), s) {
				msg := fmt.Sprintf("unknown value %q (want one of %s)", s, strings.ReplaceAll(e, "|", ", "))
				if sg := suggest(s, strings.Split(e, "|")); sg != "" {
					msg += fmt.Sprintf("; did you mean %s?", sg)
				}
				d.errorf(n, path, "%s", msg)
				return
			}
			v.SetString(s)
		}
	case reflect.Int, reflect.Int64:
		s, ok := d.scalarText(n, path, "an integer")
		if !ok {
			return
		}
		i, err := strconv.ParseInt(strings.TrimSpace(s), 0, 64)
		if err != nil || (v.Kind() == reflect.Int && (i > math.MaxInt32 || i < math.MinInt32)) {
			d.errorf(n, path, "expected an integer, got %q", s)
			return
		}
		if d.checkRange(n, path, tag, float64(i)) {
			v.SetInt(i)
		}
	case reflect.Float64:
		s, ok := d.scalarText(n, path, "a number")
		if !ok {
			return
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			d.errorf(n, path, "expected a number, got %q", s)
			return
		}
		if d.checkRange(n, path, tag, f) {
			v.SetFloat(f)
		}
	case reflect.Bool:
		s, ok := d.scalarText(n, path, "true or false")
		if !ok {
			return
		}
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true", "yes", "on":
			v.SetBool(true)
		case "false", "no", "off":
			v.SetBool(false)
		default:
			d.errorf(n, path, "expected true or false, got %q", s)
		}
	default:
		panic(fmt.Sprintf("config: no decoder for %s", v.Type()))
	}
}

func (d *decoder) checkRange(n *yaml.Node, path string, tag reflect.StructTag, f float64) bool {
	if m := tag.Get("min"); m != "" {
		if lo, _ := strconv.ParseFloat(m, 64); f < lo {
			d.errorf(n, path, "must be at least %s, got %v", m, f)
			return false
		}
	}
	if m := tag.Get("max"); m != "" {
		if hi, _ := strconv.ParseFloat(m, 64); f > hi {
			d.errorf(n, path, "must be at most %s, got %v", m, f)
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// checkKey reports a non-string or repeated key and says whether to use it.
func (d *decoder) checkKey(k *yaml.Node, path string, seen map[string]*yaml.Node) bool {
	if k.Kind != yaml.ScalarNode {
		d.errorf(k, path, "keys must be strings, got %s", kindName(k))
		return false
	}
	if first, dup := seen[k.Value]; dup {
		d.errorf(k, joinPath(path, k.Value), "duplicate key (first set at %s)", d.at(first))
		return false
	}
	seen[k.Value] = k
	return true
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, got %s", kindName(n))
		return
	}
	fields := fieldsOf(v.Type())
	seen := map[string]*yaml.Node{}
	for _, p := range pairs(n) {
		if !d.checkKey(p.key, path, seen) {
			continue
		}
		f, ok := fields.byKey[p.key.Value]
		kp := joinPath(path, p.key.Value)
		if !ok {
			msg := fmt.Sprintf("unknown key %q", p.key.Value)
			if s := suggest(p.key.Value, fields.keys); s != "" {
				msg += fmt.Sprintf("; did you mean %s?", s)
			}
			d.errorf(p.key, kp, "%s", msg)
			continue
		}
		d.remember(kp, p.key)
		d.decode(p.val, v.Field(f.index), kp, f.tag)
	}
	for _, f := range fields.list {
		if f.required {
			if k, ok := seen[f.key]; !ok || isNull(valueOf(n, k)) {
				d.errorf(n, path, "missing required key %q", f.key)
			}
		}
	}
}

func valueOf(m *yaml.Node, key *yaml.Node) *yaml.Node {
	for _, p := range pairs(m) {
		if p.key == key {
			return resolve(p.val)
		}
	}
	return nil
}

func (d *decoder) decodeMap(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "expected a mapping, got %s", kindName(n))
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	seen := map[string]*yaml.Node{}
	et := v.Type().Elem()
	for _, p := range pairs(n) {
		if !d.checkKey(p.key, path, seen) {
			continue
		}
		kp := joinPath(path, p.key.Value)
		d.remember(kp, p.key)
		ev := reflect.New(et).Elem()
		if et.Kind() == reflect.Struct {
			applyDefaults(ev)
		}
		d.decode(p.val, ev, kp, "")
		if et.Kind() == reflect.Pointer && ev.IsNil() {
			// A null entry ("name:") still defines the entry, with defaults.
			nv := reflect.New(et.Elem())
			applyDefaults(nv.Elem())
			ev.Set(nv)
		}
		v.SetMapIndex(reflect.ValueOf(p.key.Value), ev)
	}
}

// field is one decodable struct field.
type field struct {
	key   string
	index int
	tag   reflect.StructTag
	typ   reflect.Type
	// def is the field's default tag decoded (valid only if it has one):
	// decoded once per type, not once per worker (a third of the parse
	// of a config of 100 workers went to decoding the same defaults).
	def      reflect.Value
	required bool // tag required:"true" (looked up once per type)
}

type structFields struct {
	list  []field
	byKey map[string]field
	keys  []string
}

var fieldCache sync.Map // reflect.Type -> *structFields

func fieldsOf(t reflect.Type) *structFields {
	if c, ok := fieldCache.Load(t); ok {
		return c.(*structFields)
	}
	sf := &structFields{byKey: map[string]field{}}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		key := f.Tag.Get("yaml")
		if key == "" || key == "-" || !f.IsExported() {
			continue
		}
		fl := field{key: key, index: i, tag: f.Tag, typ: f.Type, required: f.Tag.Get("required") == "true"}
		if def, ok := f.Tag.Lookup("default"); ok {
			fl.def = decodeDefault(def, fl)
		}
		sf.list = append(sf.list, fl)
		sf.byKey[key] = fl
		sf.keys = append(sf.keys, key)
	}
	fieldCache.Store(t, sf)
	return sf
}

// applyDefaults sets every field that has a default tag, recursing into
// nested (non-pointer) structs, so an absent section still has its defaults.
func applyDefaults(v reflect.Value) {
	if v.Kind() != reflect.Struct {
		return
	}
	for _, f := range fieldsOf(v.Type()).list {
		fv := v.Field(f.index)
		switch {
		case f.def.IsValid():
			fv.Set(copyDefault(f.def))
		case fv.Kind() == reflect.Struct:
			applyDefaults(fv)
		}
	}
}

// decodeDefault decodes a field's default tag into a value of its type.
func decodeDefault(def string, f field) reflect.Value {
	v := reflect.New(f.typ).Elem()
	d := &decoder{errs: &ErrorList{}, files: map[*yaml.Node]string{}, pos: Positions{}, expand: noExpand, budget: 1000}
	d.decode(defaultNode(def), v, f.key, f.tag)
	if d.errs.len() > 0 {
		panic(fmt.Sprintf("config: bad default for %s: %v", f.key, d.errs))
	}
	return v
}

// copyDefault is a copy of a decoded default that shares nothing a
// worker's config could change with another's.
func copyDefault(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		return reflect.AppendSlice(reflect.MakeSlice(v.Type(), 0, v.Len()), v)
	case reflect.Map, reflect.Pointer, reflect.Interface, reflect.Struct:
		panic("config: a default of kind " + v.Kind().String() + " would be shared between workers")
	}
	return v
}

var defaultNodes sync.Map // string -> *yaml.Node

func defaultNode(text string) *yaml.Node {
	if n, ok := defaultNodes.Load(text); ok {
		return n.(*yaml.Node)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		panic(fmt.Sprintf("config: default %q is not YAML: %v", text, err))
	}
	n := resolve(&doc)
	defaultNodes.Store(text, n)
	return n
}

func noExpand(s string) (string, error) { return s, nil }

// RawNode keeps a YAML subtree undecoded, with its positions, for formats
// that embed a config (a simulator scenario's inline config).
type RawNode struct{ Node *yaml.Node }

func (r *RawNode) decodeNode(d *decoder, n *yaml.Node, path string) { r.Node = n }

func (RawNode) schema() map[string]any { return map[string]any{"type": "object"} }

// StringList is one string or a list of strings.
type StringList []string

func (l *StringList) decodeNode(d *decoder, n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.ScalarNode:
		if s, ok := d.scalarText(n, path, "a string"); ok {
			*l = StringList{s}
		}
	case yaml.SequenceNode:
		out := make(StringList, 0, len(n.Content))
		for i, item := range n.Content {
			item = resolve(item)
			if s, ok := d.scalarText(item, fmt.Sprintf("%s[%d]", path, i), "a string"); ok {
				out = append(out, s)
			}
		}
		*l = out
	default:
		d.errorf(n, path, "expected a string or a list of strings, got %s", kindName(n))
	}
}

func (StringList) schema() map[string]any {
	return map[string]any{"anyOf": []any{
		map[string]any{"type": "string"},
		map[string]any{"type": "array", "items": map[string]any{"type": "string"}},
	}}
}

// EnvMap holds environment variables; values may be written as numbers or
// booleans and are kept as their text.
type EnvMap map[string]string

// DependsOn maps dependency names to their condition. It may also be
// written as a list of names, each with condition started.
type DependsOn map[string]Dependency

func (m *DependsOn) decodeNode(d *decoder, n *yaml.Node, path string) {
	out := DependsOn{}
	switch n.Kind {
	case yaml.SequenceNode:
		seen := map[string]*yaml.Node{}
		for i, item := range n.Content {
			item = resolve(item)
			ip := fmt.Sprintf("%s[%d]", path, i)
			s, ok := d.scalarText(item, ip, "a worker name")
			if !ok {
				continue
			}
			if first, dup := seen[s]; dup {
				d.errorf(item, ip, "duplicate dependency %q (first at %s)", s, d.at(first))
				continue
			}
			seen[s] = item
			d.remember(joinPath(path, s), item)
			out[s] = Dependency{Condition: CondStarted}
		}
	case yaml.MappingNode:
		v := reflect.ValueOf(&out).Elem()
		d.decodeMap(n, v, path)
	default:
		d.errorf(n, path, "expected a mapping of worker names to conditions, or a list of names; got %s", kindName(n))
		return
	}
	*m = out
}

func (DependsOn) schema() map[string]any {
	return map[string]any{"anyOf": []any{
		map[string]any{"type": "object", "additionalProperties": map[string]any{"$ref": "#/$defs/Dependency"}},
		map[string]any{"type": "array", "items": map[string]any{"type": "string"}, "uniqueItems": true},
	}}
}
