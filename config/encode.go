package config

import (
	"maps"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Marshal writes the resolved config (defaults, templates and includes
// already applied) as YAML that Parse reads back to an equal config. Every
// value is written out, so the output also shows the effective settings.
func Marshal(cfg *Config) ([]byte, error) {
	root := &yaml.Node{Kind: yaml.MappingNode}
	root.Content = append(root.Content, keyNode("version"), &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(cfg.Version)})
	workers := &yaml.Node{Kind: yaml.MappingNode}
	for _, name := range cfg.workerNames() {
		w := *cfg.Workers[name]
		w.Extends = nil
		workers.Content = append(workers.Content, keyNode(name), encodeValue(reflect.ValueOf(w)))
	}
	root.Content = append(root.Content, keyNode("workers"), workers)
	return yaml.Marshal(root)
}

// workerNames is Order when the config came from Parse, else sorted names.
func (c *Config) workerNames() []string {
	if len(c.Order) == len(c.Workers) {
		return c.Order
	}
	return slices.Sorted(maps.Keys(c.Workers))
}

func strNode(s string) *yaml.Node {
	// $ is escaped so ${VAR} expansion on re-read gives back s.
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: strings.ReplaceAll(s, "$", "$$"), Style: styleFor(s)}
}

// keyNode is a mapping key. Keys are not ${VAR}-expanded when read, so
// unlike strNode it is written as it is.
func keyNode(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s, Style: styleFor(s)}
}

func styleFor(s string) yaml.Style {
	if s == "" {
		return yaml.DoubleQuotedStyle
	}
	return 0
}

func encodeValue(v reflect.Value) *yaml.Node {
	switch x := v.Interface().(type) {
	case Duration:
		return strNode(x.String())
	case Size:
		return strNode(x.String())
	case Cores:
		return &yaml.Node{Kind: yaml.ScalarNode, Value: strconv.FormatFloat(float64(x), 'g', -1, 64)}
	case Signal:
		return strNode(string(x))
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil
		}
		return encodeValue(v.Elem())
	case reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode}
		for _, f := range fieldsOf(v.Type()).list {
			fv := v.Field(f.index)
			if _, hasDefault := f.tag.Lookup("default"); !hasDefault && fv.IsZero() {
				continue // reads back as the same zero value; keeps the output short
			}
			if c := encodeValue(fv); c != nil {
				n.Content = append(n.Content, keyNode(f.key), c)
			}
		}
		return n
	case reflect.Map:
		if v.IsNil() {
			return nil
		}
		n := &yaml.Node{Kind: yaml.MappingNode}
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		sort.Strings(keys)
		for _, k := range keys {
			c := encodeValue(v.MapIndex(reflect.ValueOf(k).Convert(v.Type().Key())))
			if c == nil {
				c = &yaml.Node{Kind: yaml.MappingNode}
			}
			n.Content = append(n.Content, keyNode(k), c)
		}
		return n
	case reflect.Slice:
		if v.IsNil() {
			return nil
		}
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for i := 0; i < v.Len(); i++ {
			n.Content = append(n.Content, encodeValue(v.Index(i)))
		}
		return n
	case reflect.String:
		return strNode(v.String())
	case reflect.Int, reflect.Int64:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.FormatInt(v.Int(), 10)}
	case reflect.Float64:
		return &yaml.Node{Kind: yaml.ScalarNode, Value: strconv.FormatFloat(v.Float(), 'g', -1, 64)}
	case reflect.Bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(v.Bool())}
	}
	return nil
}
