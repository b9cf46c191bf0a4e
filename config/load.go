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
	opts.fill()
	l := &loader{
		opts:      opts,
		errs:      &ErrorList{},
		files:     map[*yaml.Node]string{},
		loading:   map[string]bool{},
		templates: map[string]entry{},
		workers:   map[string]entry{},
	}
	l.dec = &decoder{errs: l.errs, files: l.files, pos: positions{}, budget: 200000,
		expand: func(s string) (string, error) { return Expand(s, opts.LookupEnv) }}
	cfg := l.load(path, data)
	if err := l.errs.finish(); err != nil {
		return nil, err
	}
	return cfg, nil
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
}

func (l *loader) load(path string, data []byte) *Config {
	root := l.parseFile(path, data)
	if root == nil {
		return nil
	}
	l.root = root
	l.dec.pos[""] = l.dec.at(root)
	l.collect(path, root, true)
	if l.version == nil {
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
		n := resolve(e.val)
		if !isNull(n) && n.Kind != yaml.MappingNode {
			l.dec.errorf(n, path, "expected a mapping, got %s", kindName(n))
			continue
		}
		merged := l.defaults
		for _, t := range l.extendsOf(n, path) {
			tn := l.resolveTemplate(t, resolved, nil)
			if tn != nil {
				merged = mergeNodes(merged, tn)
			}
		}
		merged = mergeNodes(merged, n)
		w := &Worker{}
		applyDefaults(reflect.ValueOf(w).Elem())
		before := l.errs.len()
		if merged != nil {
			l.dec.decode(merged, reflect.ValueOf(w).Elem(), path, "")
		}
		w.Name = name
		cfg.Workers[name] = w
		cfg.Order = append(cfg.Order, name)
		l.resolvePaths(e.file, w)
		if l.errs.len() > before {
			dirty[name] = true
		}
	}
	validate(cfg, dirty, l.errs, l.opts)
	if l.errs.len() == 0 {
		if l.opts.Platform != nil {
			l.opts.Platform.Check(cfg, func(path, msg string) {
				l.errs.add(Error{Pos: cfg.pos.near(path), Path: path, Msg: msg})
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
	var mark func(n *yaml.Node, depth int)
	mark = func(n *yaml.Node, depth int) {
		if n == nil || depth > 10000 {
			return
		}
		if _, done := l.files[n]; done {
			return
		}
		l.files[n] = path
		for _, c := range n.Content {
			mark(c, depth+1)
		}
	}
	mark(&doc, 0)
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

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a syntax error of the YAML parser into a positioned Error.
func yamlError(path string, err error) Error {
	msg := err.Error()
	line := 1
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		fmt.Sscan(m[1], &line)
		msg = m[2]
	} else {
		msg = strings.TrimPrefix(msg, "yaml: ")
	}
	return Error{Pos: Pos{path, line, 1}, Msg: "YAML syntax: " + msg}
}

var topKeys = fieldsOf(reflect.TypeOf(Config{}))

// collect reads the top-level keys of one file; included files may add
// workers, templates and further includes.
func (l *loader) collect(path string, root *yaml.Node, main bool) {
	l.loading[path] = true
	defer delete(l.loading, path)
	seen := map[string]*yaml.Node{}
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
			l.include(path, v)
		case "templates":
			l.named(v, "templates", path, l.templates, &l.tmplOrder)
		case "workers":
			l.named(v, "workers", path, l.workers, &l.order)
		}
	}
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
			if l.loading[m] {
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
			merged = mergeNodes(merged, pn)
		}
	}
	merged = mergeNodes(merged, n)
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
func mergeNodes(base, over *yaml.Node) *yaml.Node {
	base, over = resolve(base), resolve(over)
	if isNull(over) {
		return base
	}
	if isNull(base) || base.Kind != yaml.MappingNode || over.Kind != yaml.MappingNode {
		return over
	}
	out := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: over.Line, Column: over.Column}
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
			out.Content = append(out.Content, overPairs[i].key, mergeNodes(bp.val, overPairs[i].val))
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
func (p positions) near(path string) Pos {
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
