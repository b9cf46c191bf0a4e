package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Options controls how a config is loaded. The zero value reads the real
// files and environment.
type Options struct {
	// LookupEnv resolves ${VAR}; default os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// ReadFile and Glob resolve include and env_file; default the os ones.
	ReadFile func(string) ([]byte, error)
	Glob     func(string) ([]string, error)
	// Platform reports settings this OS cannot enforce; nil checks nothing.
	Platform Platform
}

// Platform is the hook through which an OS adapter reports, at validation
// time, what it cannot do (a limit it cannot enforce, a probe it lacks).
type Platform interface {
	// Check calls report for each unsupported setting, with its key path
	// (like workers.api.resources.io).
	Check(cfg *Config, report func(path, msg string))
}

func (o *Options) fill() {
	if o.LookupEnv == nil {
		o.LookupEnv = os.LookupEnv
	}
	if o.ReadFile == nil {
		o.ReadFile = os.ReadFile
	}
	if o.Glob == nil {
		o.Glob = filepath.Glob
	}
}

// Load reads, decodes and validates the config at path. On failure the
// error is an *ErrorList naming every problem with file:line:col.
func Load(path string, opts Options) (*Config, error) {
	opts.fill()
	data, err := opts.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(path, data, opts)
}

// Parse is Load for a file already read; path names it in errors and
// anchors relative paths.
func Parse(path string, data []byte, opts Options) (*Config, error) {
	l := newLoader(opts)
	var cfg *Config
	if root := l.parseFile(path, data); root != nil {
		cfg = l.build(path, root)
	}
	if err := l.errs.finish(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// ParseNode is Parse for a config that is part of another YAML document
// (a simulator scenario's inline config): errors point into file.
func ParseNode(file string, root *yaml.Node, opts Options) (*Config, error) {
	l := newLoader(opts)
	l.mark(file, root)
	var cfg *Config
	if root = resolve(root); isNull(root) || root.Kind != yaml.MappingNode {
		l.errs.add(Error{Pos: Pos{file, max(root.Line, 1), max(root.Column, 1)}, Msg: "expected a config mapping"})
	} else {
		cfg = l.build(file, root)
	}
	if err := l.errs.finish(); err != nil {
		return nil, err
	}
	return cfg, nil
}

// DecodeNode decodes n into v (a pointer to a struct tagged like Config)
// with the same strictness and ${VAR} expansion as a config file.
// The returned Positions locate each key path for later semantic errors.
func DecodeNode(file string, n *yaml.Node, v any, lookupEnv func(string) (string, bool)) (Positions, error) {
	l := newLoader(Options{LookupEnv: lookupEnv})
	l.mark(file, n)
	l.dec.pos[""] = l.dec.at(resolve(n))
	rv := reflect.ValueOf(v).Elem()
	applyDefaults(rv)
	l.dec.decode(n, rv, "", "")
	return l.dec.pos, l.errs.finish()
}

// Errorf builds a positioned Error for a key path recorded in p.
func (p Positions) Errorf(path, format string, args ...any) Error {
	return Error{Pos: p.Near(path), Path: path, Msg: fmt.Sprintf(format, args...)}
}

// Add records e in the list (for callers building their own ErrorList).
func (l *ErrorList) Add(e Error) { l.add(e) }

// Err returns the list sorted and capped, or nil when it is empty.
func (l *ErrorList) Err() error { return l.finish() }

func newLoader(opts Options) *loader {
	opts.fill()
	l := &loader{
		opts:      opts,
		errs:      &ErrorList{},
		files:     map[*yaml.Node]string{},
		loading:   map[string]bool{},
		templates: map[string]entry{},
		workers:   map[string]entry{},
		merged:    map[[2]*yaml.Node]*yaml.Node{},
	}
	l.dec = &decoder{errs: l.errs, files: l.files, pos: Positions{}, budget: 200000,
		expand: func(s string) (string, error) { return Expand(s, opts.LookupEnv) }}
	return l
}

// entry is a named mapping (a worker or template) and where it was written.
type entry struct {
	key, val *yaml.Node
	file     string
}

type loader struct {
	opts      Options
	errs      *ErrorList
	files     map[*yaml.Node]string
	dec       *decoder
	loading   map[string]bool
	defaults  *yaml.Node
	version   *yaml.Node
	root      *yaml.Node
	templates map[string]entry
	tmplOrder []string
	workers   map[string]entry
	order     []string
	merged    map[[2]*yaml.Node]*yaml.Node // memo of mergeNodes
}

// build turns the main file's root mapping into a validated Config.
func (l *loader) build(path string, root *yaml.Node) *Config {
	l.root = root
	l.dec.pos[""] = l.dec.at(root)
	l.collect(path, root, true)
	if isNull(l.version) { // "version:" with no value is as good as none
		l.dec.errorf(root, "", "missing required key \"version\" (add version: 1)")
	}
	cfg := &Config{File: path, pos: l.dec.pos}
	if l.version != nil {
		l.dec.decode(l.version, reflect.ValueOf(&cfg.Version).Elem(), "version", `min:"1" max:"1"`)
	}
	if abs, err := filepath.Abs(path); err == nil {
		cfg.File = abs
	}
	if l.defaults != nil {
		if ext := mapValue(l.defaults, "extends"); ext != nil {
			l.dec.errorf(ext, "defaults.extends", "defaults cannot extend a template")
		}
		cfg.Defaults = &Worker{}
		l.dec.decode(l.defaults, reflect.ValueOf(&cfg.Defaults).Elem(), "defaults", "")
	}
	if len(l.tmplOrder) > 0 {
		cfg.Templates = map[string]*Worker{}
	}
	resolved := map[string]*yaml.Node{}
	for _, name := range l.tmplOrder {
		n := l.resolveTemplate(name, resolved, nil)
		w := &Worker{}
		applyDefaults(reflect.ValueOf(w).Elem())
		// Errors about the template as a whole point at its name.
		l.dec.remember("templates."+name, l.templates[name].key)
		if n != nil {
			l.dec.decode(n, reflect.ValueOf(w).Elem(), "templates."+name, "")
		}
		w.Name = name
		cfg.Templates[name] = w
	}
	cfg.Workers = map[string]*Worker{}
	// Workers whose decoding failed are not validated further: their
	// half-decoded values would only produce follow-on errors.
	dirty := map[string]bool{}
	for _, name := range l.order {
		e := l.workers[name]
		path := "workers." + name
		if !validName(name) {
			l.dec.errorf(e.key, path, "invalid worker name: use letters, digits, '_', '-' and '.', starting with a letter or digit")
		}
		// Errors about the worker as a whole (no command, say) point at its
		// name, not at its first key or at whatever defaults it inherits.
		l.dec.remember(path, e.key)
		n := resolve(e.val)
		bad := false
		if !isNull(n) && n.Kind != yaml.MappingNode {
			l.dec.errorf(n, path, "expected a mapping, got %s", kindName(n))
			// It is still defined, so that the rest of the config is not
			// judged as if it were missing ("no workers", "unknown worker").
			n, bad = nil, true
		}
		merged := l.defaults
		for _, t := range l.extendsOf(n, path) {
			tn := l.resolveTemplate(t, resolved, nil)
			if tn != nil {
				merged = l.mergeNodes(merged, tn)
			}
		}
		merged = l.mergeNodes(merged, n)
		w := &Worker{}
		applyDefaults(reflect.ValueOf(w).Elem())
		before := l.errs.len()
		if merged != nil {
			l.dec.decode(merged, reflect.ValueOf(w).Elem(), path, "")
		}
		deriveDefaults(w, merged)
		w.Name = name
		cfg.Workers[name] = w
		cfg.Order = append(cfg.Order, name)
		l.resolvePaths(e.file, w)
		if bad || l.errs.len() > before {
			dirty[name] = true
		}
	}
	validate(cfg, dirty, l.errs, l.opts)
	if l.errs.len() == 0 {
		if l.opts.Platform != nil {
			l.opts.Platform.Check(cfg, func(path, msg string) {
				l.errs.add(Error{Pos: cfg.pos.Near(path), Path: path, Msg: msg})
			})
		}
	}
	return cfg
}

// parseFile parses one YAML document and records which file each node is in.
func (l *loader) parseFile(path string, data []byte) *yaml.Node {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			l.errs.add(Error{Pos: Pos{path, 1, 1}, Msg: "empty config file"})
			return nil
		}
		l.errs.add(yamlError(path, err))
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		l.errs.add(Error{Pos: Pos{path, max(extra.Line, 1), max(extra.Column, 1)}, Msg: "more than one YAML document in the file; hsu reads one"})
		return nil
	} else if !errors.Is(err, io.EOF) {
		l.errs.add(yamlError(path, err))
		return nil
	}
	before := l.errs.len()
	l.mark(path, &doc)
	if l.errs.len() > before {
		return nil // an alias cycle: the rest would only be follow-on errors
	}
	root := resolve(&doc)
	if isNull(root) {
		l.errs.add(Error{Pos: Pos{path, 1, 1}, Msg: "empty config file"})
		return nil
	}
	if root.Kind != yaml.MappingNode {
		l.dec.errorf(root, "", "expected a mapping at the top of the file, got %s", kindName(root))
		return nil
	}
	return root
}

// mark records that every node under n was read from path. It also
// reports each alias to a node that contains it (a: &x {b: *x}): the YAML
// parser allows them, but they make the document infinite, so it replaces
// them with null to keep every later walk finite.
func (l *loader) mark(path string, n *yaml.Node) {
	inside := map[*yaml.Node]bool{}
	var walk func(n *yaml.Node, depth int)
	walk = func(n *yaml.Node, depth int) {
		if n == nil || depth > 10000 {
			return
		}
		if _, done := l.files[n]; done {
			return
		}
		l.files[n] = path
		if n.Kind == yaml.AliasNode && inside[n.Alias] {
			l.dec.errorf(n, "", "alias *%s refers to a node that contains it", n.Value)
			n.Kind, n.Tag, n.Alias = yaml.ScalarNode, "!!null", nil
			return
		}
		inside[n] = true
		for _, c := range n.Content {
			walk(c, depth+1)
		}
		delete(inside, n)
	}
	walk(n, 0)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlParserProblems are the messages of the YAML parser, as opposed to its
// scanner. go.yaml.in/yaml/v3 reports the parser's line numbers 0-based (and
// leaves out "line 0") but the scanner's 1-based (decode.go, parser.fail),
// so these need one added.
var yamlParserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"did not find expected node content":     true,
	"did not find expected key":              true,
	"did not find expected '-' indicator":    true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found undefined tag handle":             true,
	"found duplicate %YAML directive":        true,
	"found incompatible YAML document":       true,
	"found duplicate %TAG directive":         true,
}

// yamlError turns a syntax error of the YAML parser into a positioned Error.
func yamlError(path string, err error) Error {
	msg := err.Error()
	line := 0
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		fmt.Sscan(m[1], &line)
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	if yamlParserProblems[msg] {
		line++
	}
	return Error{Pos: Pos{path, max(line, 1), 1}, Msg: "YAML syntax: " + msg}
}

var topKeys = fieldsOf(reflect.TypeOf(Config{}))

// collect reads the top-level keys of one file; included files may add
// workers, templates and further includes.
func (l *loader) collect(path string, root *yaml.Node, main bool) {
	l.loading[fileKey(path)] = true
	defer delete(l.loading, fileKey(path))
	seen := map[string]*yaml.Node{}
	// Includes are read after this file's own keys, wherever include is
	// written, so a file's workers come before those it includes (Order)
	// and a name defined twice is reported in the included file.
	var includes *yaml.Node
	for _, p := range pairs(root) {
		if !l.dec.checkKey(p.key, "", seen) {
			continue
		}
		key := p.key.Value
		if _, ok := topKeys.byKey[key]; !ok {
			msg := fmt.Sprintf("unknown key %q", key)
			if s := suggest(key, topKeys.keys); s != "" {
				msg += fmt.Sprintf("; did you mean %s?", s)
			}
			l.dec.errorf(p.key, key, "%s", msg)
			continue
		}
		v := resolve(p.val)
		switch key {
		case "version":
			if main {
				l.version = v
			}
		case "defaults":
			if !main {
				l.dec.errorf(p.key, key, "defaults may only be set in the main config file")
				continue
			}
			l.defaults = v
		case "include":
			includes = v
		case "templates":
			l.named(v, "templates", path, l.templates, &l.tmplOrder)
		case "workers":
			l.named(v, "workers", path, l.workers, &l.order)
		}
	}
	if includes != nil {
		l.include(path, includes)
	}
}

// fileKey names a file for include cycle detection, so "./hsu.yaml",
// "hsu.yaml" and its absolute path are the same file.
func fileKey(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return filepath.Clean(path)
}

func (l *loader) named(n *yaml.Node, section, file string, into map[string]entry, order *[]string) {
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		l.dec.errorf(n, section, "expected a mapping of names, got %s", kindName(n))
		return
	}
	for _, p := range pairs(n) {
		if p.key.Kind != yaml.ScalarNode {
			l.dec.errorf(p.key, section, "names must be strings, got %s", kindName(p.key))
			continue
		}
		name := p.key.Value
		if first, dup := into[name]; dup {
			l.dec.errorf(p.key, section+"."+name, "duplicate %s %q (first defined at %s)", strings.TrimSuffix(section, "s"), name, l.dec.at(first.key))
			continue
		}
		into[name] = entry{key: p.key, val: p.val, file: file}
		*order = append(*order, name)
	}
}

func (l *loader) include(from string, n *yaml.Node) {
	var list StringList
	l.dec.decode(n, reflect.ValueOf(&list).Elem(), "include", "")
	items := []*yaml.Node{n}
	if n.Kind == yaml.SequenceNode {
		items = n.Content
	}
	for i, pattern := range list {
		at := n
		if i < len(items) {
			at = resolve(items[i])
		}
		full := pattern
		if !filepath.IsAbs(full) {
			full = filepath.Join(filepath.Dir(from), pattern)
		}
		matches, err := l.opts.Glob(full)
		if err != nil {
			l.dec.errorf(at, "include", "bad pattern %q: %v", pattern, err)
			continue
		}
		if len(matches) == 0 {
			l.dec.errorf(at, "include", "%q matches no file", pattern)
			continue
		}
		sort.Strings(matches)
		for _, m := range matches {
			if l.loading[fileKey(m)] {
				l.dec.errorf(at, "include", "include cycle: %s includes %s, which is already being loaded", from, m)
				continue
			}
			data, err := l.opts.ReadFile(m)
			if err != nil {
				l.dec.errorf(at, "include", "read %s: %v", m, err)
				continue
			}
			if root := l.parseFile(m, data); root != nil {
				l.collect(m, root, false)
			}
		}
	}
}

// extendsOf reads a worker's or template's extends list, reporting unknown
// template names.
func (l *loader) extendsOf(n *yaml.Node, path string) []string {
	ext := mapValue(n, "extends")
	if ext == nil {
		return nil
	}
	var list StringList
	l.dec.decode(ext, reflect.ValueOf(&list).Elem(), path+".extends", "")
	var out []string
	for _, t := range list {
		if _, ok := l.templates[t]; !ok {
			msg := fmt.Sprintf("unknown template %q", t)
			if s := suggest(t, l.tmplOrder); s != "" {
				msg += fmt.Sprintf("; did you mean %s?", s)
			}
			l.dec.errorf(ext, path+".extends", "%s", msg)
			continue
		}
		out = append(out, t)
	}
	return out
}

// resolveTemplate returns the template merged over the templates it
// extends; a cycle is reported once, with its members in order.
func (l *loader) resolveTemplate(name string, done map[string]*yaml.Node, stack []string) *yaml.Node {
	if n, ok := done[name]; ok {
		return n
	}
	e := l.templates[name]
	for i, s := range stack {
		if s == name {
			cycle := append(append([]string{}, stack[i:]...), name)
			l.dec.errorf(e.key, "templates."+name+".extends", "extends cycle: %s", strings.Join(cycle, " -> "))
			return nil
		}
	}
	n := resolve(e.val)
	if !isNull(n) && n.Kind != yaml.MappingNode {
		l.dec.errorf(n, "templates."+name, "expected a mapping, got %s", kindName(n))
		done[name] = nil
		return nil
	}
	var merged *yaml.Node
	for _, parent := range l.extendsOf(n, "templates."+name) {
		pn := l.resolveTemplate(parent, done, append(stack, name))
		if pn != nil {
			merged = l.mergeNodes(merged, pn)
		}
	}
	merged = l.mergeNodes(merged, n)
	done[name] = merged
	return merged
}

// mapValue returns the value of key in mapping n, or nil.
func mapValue(n *yaml.Node, key string) *yaml.Node {
	n = resolve(n)
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for _, p := range pairs(n) {
		if p.key.Kind == yaml.ScalarNode && p.key.Value == key {
			return resolve(p.val)
		}
	}
	return nil
}

// mergeNodes deep-merges over onto base: mappings merge key by key, any
// other value of over replaces base (lists replace, they do not append).
// The result shares the input nodes, so positions still point into the
// file each value came from.
func (l *loader) mergeNodes(base, over *yaml.Node) *yaml.Node {
	base, over = resolve(base), resolve(over)
	if isNull(over) {
		return base
	}
	if isNull(base) || base.Kind != yaml.MappingNode || over.Kind != yaml.MappingNode {
		return over
	}
	// Aliases make the input a graph that can share a subtree many times
	// over; merging each pair once keeps hostile input from taking
	// exponential time.
	memo := [2]*yaml.Node{base, over}
	if out, ok := l.merged[memo]; ok {
		return out
	}
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: over.Line, Column: over.Column}
	// Errors at the merged mapping (a missing required key) name over's file.
	l.files[out] = l.files[over]
	l.merged[memo] = out
	overPairs := pairs(over)
	idx := map[string]int{}
	for i, p := range overPairs {
		if _, dup := idx[p.key.Value]; !dup {
			idx[p.key.Value] = i
		}
	}
	used := map[int]bool{}
	for _, bp := range pairs(base) {
		if i, ok := idx[bp.key.Value]; ok {
			used[i] = true
			out.Content = append(out.Content, overPairs[i].key, l.mergeNodes(bp.val, overPairs[i].val))
			continue
		}
		out.Content = append(out.Content, bp.key, bp.val)
	}
	for i, p := range overPairs {
		if !used[i] {
			out.Content = append(out.Content, p.key, p.val)
		}
	}
	return out
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

func validName(s string) bool { return nameRE.MatchString(s) }

// resolvePaths makes workdir, env_file, pidfile and logs.file absolute,
// relative to the directory of the file that defines the worker.
func (l *loader) resolvePaths(file string, w *Worker) {
	dir, _ := filepath.Abs(filepath.Dir(file))
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	if w.Workdir == "" {
		w.Workdir = dir
	} else {
		w.Workdir = abs(w.Workdir)
	}
	for i := range w.EnvFile {
		w.EnvFile[i] = abs(w.EnvFile[i])
	}
	w.Logs.File = abs(w.Logs.File)
	w.Pidfile = abs(w.Pidfile)
}

// near returns the position of path, or of its closest recorded ancestor.
func (p Positions) Near(path string) Pos {
	for {
		if pos, ok := p[path]; ok {
			return pos
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			break
		}
		path = path[:i]
	}
	if pos, ok := p[""]; ok {
		return pos
	}
	return Pos{Line: 1, Col: 1}
}

// ParseYAML parses one YAML document, for other file formats built on the
// config decoder (simulator scenarios). Errors are an *ErrorList.
func ParseYAML(path string, data []byte) (*yaml.Node, error) {
	l := newLoader(Options{})
	root := l.parseFile(path, data)
	if err := l.errs.finish(); err != nil {
		return nil, err
	}
	return root, nil
}

// CheckPlatform applies a platform's capability rules to an already
// loaded config, as Load with Options.Platform would: hsu-sim --platform
// checks a config for another OS than the one it runs on.
func (c *Config) CheckPlatform(p Platform) error {
	errs := &ErrorList{}
	p.Check(c, func(path, msg string) {
		errs.add(Error{Pos: c.pos.Near(path), Path: path, Msg: msg})
	})
	return errs.finish()
}
