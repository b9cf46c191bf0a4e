package config

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Reference returns the Markdown reference of every config key, generated
// from the struct tags in types.go (the same tags the decoder and the JSON
// Schema use). docs/config.md embeds it between the markers
// <!-- BEGIN GENERATED REFERENCE --> and <!-- END GENERATED REFERENCE -->;
// `go test ./config -run Reference -update` rewrites that part.
func Reference() string {
	w := &refWalker{secs: map[reflect.Type]*refSection{}}
	w.visit(reflect.TypeOf(Config{}), "", "")

	var b strings.Builder
	b.WriteString(refValueTypes())
	required := rootRequired()
	for _, t := range w.order {
		w.writeSection(&b, w.secs[t], required)
	}
	return b.String()
}

// refSection is one struct type of the schema and where it appears.
type refSection struct {
	t     reflect.Type
	paths []string // key paths, with <name> for map keys
	docs  []string // docs of the fields that lead to it
}

// refWalker collects the struct types reachable from Config in depth-first
// order of first appearance, so the output follows the field order of
// types.go and is the same on every run.
type refWalker struct {
	order []reflect.Type
	secs  map[reflect.Type]*refSection
}

var (
	durationType   = reflect.TypeOf(Duration(0))
	sizeType       = reflect.TypeOf(Size(0))
	coresType      = reflect.TypeOf(Cores(0))
	signalType     = reflect.TypeOf(Signal(""))
	stringListType = reflect.TypeOf(StringList(nil))
	envMapType     = reflect.TypeOf(EnvMap(nil))
	dependsOnType  = reflect.TypeOf(DependsOn(nil))
	dependencyType = reflect.TypeOf(Dependency{})
)

// refTarget returns the struct type a field of type t leads to, and the
// path suffix for the map key in between (".<name>"); nil when t holds no
// struct.
func refTarget(t reflect.Type) (reflect.Type, string) {
	if t == dependsOnType {
		return dependencyType, ".<worker>"
	}
	if reflect.PointerTo(t).Implements(scalarType) || reflect.PointerTo(t).Implements(nodeType) {
		return nil, ""
	}
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice:
		return refTarget(t.Elem())
	case reflect.Map:
		st, suffix := refTarget(t.Elem())
		if st == nil {
			return nil, ""
		}
		return st, ".<name>" + suffix
	case reflect.Struct:
		return t, ""
	}
	return nil, ""
}

func (w *refWalker) visit(t reflect.Type, path, doc string) {
	s, ok := w.secs[t]
	if !ok {
		s = &refSection{t: t}
		w.secs[t] = s
		w.order = append(w.order, t)
	}
	s.paths = appendNew(s.paths, path)
	if doc != "" {
		s.docs = appendNew(s.docs, doc)
	}
	// Fields of one struct that hold the same struct type directly share a
	// path written as {a,b,c}, so health.{startup,readiness,liveness} is one
	// path; maps (templates, workers) keep paths of their own.
	type group struct {
		t      reflect.Type
		suffix string
		keys   []string
		docs   []string
	}
	var groups []*group
	for _, f := range fieldsOf(t).list {
		st, suffix := refTarget(f.typ)
		if st == nil {
			continue
		}
		var g *group
		for _, x := range groups {
			if x.t == st && suffix == "" && x.suffix == "" {
				g = x
			}
		}
		if g == nil {
			g = &group{t: st, suffix: suffix}
			groups = append(groups, g)
		}
		g.keys = append(g.keys, f.key)
		g.docs = append(g.docs, f.tag.Get("doc"))
	}
	for _, g := range groups {
		seg := g.keys[0]
		if len(g.keys) > 1 {
			seg = "{" + strings.Join(g.keys, ",") + "}"
		}
		for _, d := range g.docs {
			w.visit(g.t, joinPath(path, seg)+g.suffix, d)
		}
	}
}

func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// refTitles are the section headings; a type without one uses its Go name.
var refTitles = map[string]string{
	"Config":          "Top level",
	"Worker":          "Worker",
	"Dependency":      "Dependency",
	"Restart":         "Restart",
	"Backoff":         "Backoff",
	"Triggers":        "Restart triggers",
	"TriggerRestart":  "Trigger override",
	"BackoffOverride": "Backoff override",
	"Health":          "Health",
	"Probe":           "Probe",
	"HTTPProbe":       "HTTP probe",
	"TCPProbe":        "TCP probe",
	"GRPCProbe":       "gRPC probe",
	"ExecProbe":       "Exec probe",
	"ProcessProbe":    "Process probe",
	"Resources":       "Resources",
	"MemoryLimit":     "Memory limit",
	"CPULimit":        "CPU limit",
	"PidsLimit":       "PIDs limit",
	"IOLimit":         "I/O limit",
	"FDLimit":         "FD limit",
	"Stop":            "Stop",
	"Logs":            "Logs",
	"Rotate":          "Rotate",
	"Discover":        "Discover",
}

// refNotes are said once per section where the field docs that lead to it
// differ (so none of them introduces the section).
var refNotes = map[string]string{
	"Config":         "The keys at the top of a config file.",
	"Worker":         "One entry under `workers`. The same keys are accepted under `defaults` and in each entry of `templates`.",
	"Probe":          "Set exactly one probe kind (`http`, `tcp`, `grpc`, `exec` or `process`) plus any of the timing keys.",
	"TriggerRestart": "Overrides for the restarts one trigger causes; an unset key inherits the worker's `restart` setting.",
}

func refTitle(t reflect.Type) string {
	if s, ok := refTitles[t.Name()]; ok {
		return s
	}
	return t.Name()
}

// refAnchor is the anchor GitHub and most Markdown renderers derive from a
// heading: lower case, punctuation dropped, spaces as hyphens.
func refAnchor(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

func refLink(t reflect.Type) string {
	title := refTitle(t)
	return fmt.Sprintf("[%s](#%s)", title, refAnchor(title))
}

func (w *refWalker) writeSection(b *strings.Builder, s *refSection, required map[string]bool) {
	fmt.Fprintf(b, "### %s\n\n", refTitle(s.t))
	if note := refNotes[s.t.Name()]; note != "" {
		fmt.Fprintf(b, "%s\n\n", note)
	} else if len(s.docs) == 1 {
		fmt.Fprintf(b, "%s\n\n", s.docs[0])
	}
	if paths := refShownPaths(s); len(paths) > 0 {
		for i, p := range paths {
			paths[i] = "`" + p + "`"
		}
		fmt.Fprintf(b, "Path: %s\n\n", strings.Join(paths, ", "))
	}
	fields := fieldsOf(s.t).list
	if len(fields) == 0 {
		b.WriteString("No keys: write it empty (`{}`) or with nothing after the colon.\n\n")
		return
	}
	b.WriteString("| key | type | default | description |\n|---|---|---|---|\n")
	for _, f := range fields {
		def := refDefault(f.tag)
		if f.tag.Get("required") == "true" || (s.t == reflect.TypeOf(Config{}) && required[f.key]) {
			def = "**required**"
		}
		desc := f.tag.Get("doc")
		if ex := f.tag.Get("example"); ex != "" {
			desc += " Example: `" + ex + "`."
		}
		fmt.Fprintf(b, "| `%s` | %s | %s | %s |\n", f.key, refCell(refType(f.typ, f.tag)), refCell(def), refCell(desc))
	}
	b.WriteString("\n")
}

// refShownPaths lists where a section appears. Worker settings are shown
// under workers.<name> only (they are also valid under defaults and
// templates.<name>, as the Worker section says).
func refShownPaths(s *refSection) []string {
	if s.t == reflect.TypeOf(Config{}) {
		return nil
	}
	if s.t == reflect.TypeOf(Worker{}) {
		return append([]string(nil), s.paths...)
	}
	var out []string
	for _, p := range s.paths {
		if strings.HasPrefix(p, "workers.") {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		out = append(out, s.paths...)
	}
	return out
}

// rootRequired reads the top-level required keys from the JSON Schema,
// which is where they are declared.
func rootRequired() map[string]bool {
	out := map[string]bool{}
	data, err := JSONSchema()
	if err != nil {
		return out
	}
	var root struct {
		Required []string `json:"required"`
	}
	if json.Unmarshal(data, &root) == nil {
		for _, k := range root.Required {
			out[k] = true
		}
	}
	return out
}

// refDefault renders a default tag: the value itself when it is a YAML
// string, else the tag text as written.
func refDefault(tag reflect.StructTag) string {
	def, ok := tag.Lookup("default")
	if !ok {
		return "—"
	}
	var v any
	if err := yaml.Unmarshal([]byte(def), &v); err == nil {
		if s, ok := v.(string); ok {
			def = s
		}
	}
	return "`" + def + "`"
}

// refType names a field's type for humans.
func refType(t reflect.Type, tag reflect.StructTag) string {
	switch t {
	case durationType:
		return "duration"
	case sizeType:
		return "size"
	case coresType:
		return "cores"
	case signalType:
		return "signal"
	case stringListType:
		return "string or list of strings"
	case envMapType:
		return "map of string"
	case dependsOnType:
		return "map of worker → " + refLink(dependencyType) + ", or list of names"
	}
	switch t.Kind() {
	case reflect.Pointer:
		return refType(t.Elem(), tag)
	case reflect.Struct:
		return refLink(t)
	case reflect.Map:
		if t.Elem().Kind() == reflect.String {
			return "map of string"
		}
		return "map of name → " + refType(t.Elem(), "")
	case reflect.Slice:
		return "list of " + refPlural(refType(t.Elem(), ""))
	case reflect.String:
		if e := tag.Get("enum"); e != "" {
			return "`" + strings.Join(strings.Split(e, "|"), "` | `") + "`"
		}
		return "string"
	case reflect.Int, reflect.Int64:
		return refBounds("integer", tag)
	case reflect.Float64:
		return refBounds("number", tag)
	case reflect.Bool:
		return "boolean"
	}
	return t.String()
}

func refPlural(s string) string {
	switch s {
	case "integer", "string", "number", "boolean", "duration", "size", "signal":
		return s + "s"
	}
	return s
}

func refBounds(kind string, tag reflect.StructTag) string {
	lo, hi := tag.Get("min"), tag.Get("max")
	switch {
	case lo != "" && lo == hi:
		return "`" + lo + "`"
	case lo != "" && hi != "":
		return fmt.Sprintf("%s %s–%s", kind, lo, hi)
	case lo != "":
		return fmt.Sprintf("%s ≥ %s", kind, lo)
	case hi != "":
		return fmt.Sprintf("%s ≤ %s", kind, hi)
	}
	return kind
}

// refCell makes text safe inside a Markdown table cell.
func refCell(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	return strings.ReplaceAll(s, "|", `\|`)
}

// refValueTypes explains the value syntaxes the tables name.
func refValueTypes() string {
	var b strings.Builder
	b.WriteString("### Value types\n\n")
	b.WriteString("| type | written as |\n|---|---|\n")
	rows := [][2]string{
		{"duration", "Go syntax (`250ms`, `10s`, `1m30s`, `2h`), a `d` suffix for days (`7d`, `1d12h`), or a bare number of seconds (`10`, `0.5`)."},
		{"size", "Bytes (`4096`), or a number with a binary suffix `Ki`, `Mi`, `Gi`, `Ti` or a decimal one `K`, `M`, `G`, `T`; a trailing `B` is allowed (`512Mi`, `1GiB`, `1G`, `1.5Gi`)."},
		{"cores", "Cores (`1.5`), millicores (`500m`) or percent of one core (`150%`)."},
		{"signal", "A name with or without `SIG`, any case (`TERM`, `SIGTERM`, `sigterm`), or its Linux number (`15`). Names: " + refSignalNames() + "."},
		{"string or list of strings", "`a` or `[a, b]`."},
		{"integer, number, boolean", "A YAML scalar, or a string that expands to one (`replicas: ${REPLICAS:-2}`). Booleans also accept `yes`/`no`/`on`/`off`."},
	}
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s |\n", r[0], refCell(r[1]))
	}
	b.WriteString("\n")
	return b.String()
}

func refSignalNames() string {
	names := SignalNames()
	for i, n := range names {
		names[i] = "`" + n + "`"
	}
	return strings.Join(names, ", ")
}
