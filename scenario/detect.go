package scenario

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hsu-run/hsu/config"
)

// Kind is what a file given to hsu-sim turned out to be.
type Kind int

const (
	// KindScenario is a scenario file (DESIGN.md §4).
	KindScenario Kind = iota
	// KindConfig is a plain hsu config, run as a scenario of its own
	// (FromConfig).
	KindConfig
)

func (k Kind) String() string {
	if k == KindConfig {
		return "config"
	}
	return "scenario"
}

// ConfigDuration is how long a plain config runs: long enough for swarm
// faults to spread out and for restart windows (often 10m) to roll over
// several times, and still milliseconds of real time.
const ConfigDuration = time.Hour

// ConfigSeed is a plain config's seed when --seed does not give one; the
// same as a scenario without seed:.
const ConfigSeed = 1

// Key sets, read from the struct tags so that a key added to either format
// is recognised here without a second list to keep in step.
var (
	scenarioKeys = yamlKeys(reflect.TypeFor[Scenario]())
	configKeys   = yamlKeys(reflect.TypeFor[config.Config]())
)

func yamlKeys(t reflect.Type) []string {
	var keys []string
	for i := 0; i < t.NumField(); i++ {
		if k, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); k != "" && k != "-" {
			keys = append(keys, k)
		}
	}
	return keys
}

// LoadFile reads a scenario or a plain hsu config. Which one it is comes
// from its top-level keys (see Detect); a config becomes a scenario with
// FromConfig.
func LoadFile(path string) (*Scenario, Kind, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, KindScenario, fmt.Errorf("read scenario: %w", err)
	}
	return ParseFile(path, data)
}

// ParseFile is LoadFile for a file already read.
func ParseFile(path string, data []byte) (*Scenario, Kind, error) {
	if len(strings.TrimSpace(string(data))) == 0 {
		sc, err := Parse(path, data) // reports the empty file as before
		return sc, KindScenario, err
	}
	root, err := config.ParseYAML(path, data)
	if err != nil {
		return nil, KindScenario, err
	}
	kind, err := Detect(root)
	if err != nil {
		return nil, KindScenario, err
	}
	if kind == KindConfig {
		sc, err := FromConfig(path, data)
		return sc, KindConfig, err
	}
	sc, err := Parse(path, data)
	return sc, KindScenario, err
}

// Detect tells a scenario from a plain hsu config by the document's
// top-level keys:
//
//   - config: or config_file: makes it a scenario, decoded strictly (so a
//     stray config key in it is an unknown key with its file:line:col);
//   - workers: or include: and no scenario key makes it a config;
//   - anything else is neither, and the error says what it looked like:
//     a scenario without its config, a config without workers, or a
//     scenario with its config's keys at the top level.
//
// Deciding by keys rather than by trying both decoders keeps each
// format's own errors intact: a config with a typo gets the config's
// file:line:col errors, not a scenario's "unknown key version".
func Detect(root *yaml.Node) (Kind, error) {
	n := root
	for i := 0; n != nil && i < 100 && (n.Kind == yaml.DocumentNode || n.Kind == yaml.AliasNode); i++ {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		} else if len(n.Content) > 0 {
			n = n.Content[0]
		} else {
			n = nil
		}
	}
	if n == nil || n.Kind != yaml.MappingNode {
		what := "nothing"
		if n != nil {
			what = map[yaml.Kind]string{yaml.SequenceNode: "a list", yaml.ScalarNode: "a single value"}[n.Kind]
		}
		return KindScenario, &NeitherError{Msg: fmt.Sprintf("neither an hsu config nor a scenario: the file holds %s, not top-level keys", what)}
	}
	var keys []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		keys = append(keys, n.Content[i].Value)
	}
	return classify(keys)
}

// NeitherError is a file that is neither an hsu config nor a scenario. It
// names no line: it is about the file's keys as a whole.
type NeitherError struct{ Msg string }

func (e *NeitherError) Error() string { return e.Msg }

// IsNeither reports whether err is a NeitherError.
func IsNeither(err error) bool {
	var n *NeitherError
	return errors.As(err, &n)
}

func classify(keys []string) (Kind, error) {
	var sc, cfg, other []string
	for _, k := range keys {
		switch {
		case slices.Contains(scenarioKeys, k):
			sc = append(sc, k)
		case slices.Contains(configKeys, k):
			cfg = append(cfg, k)
		default:
			other = append(other, k)
		}
	}
	has := func(k string) bool { return slices.Contains(keys, k) }
	switch {
	case has("config") || has("config_file"):
		return KindScenario, nil
	case len(sc) == 0 && (has("workers") || has("include")):
		return KindConfig, nil
	}
	notConfig := "no workers:"
	if has("workers") || has("include") {
		notConfig = "it has scenario keys " + strings.Join(sc, ", ")
	}
	msg := fmt.Sprintf("neither an hsu config (%s) nor a scenario (no config: or config_file:)", notConfig)
	switch {
	case len(sc) > 0 && len(cfg) > 0:
		msg += fmt.Sprintf("; it looks like a scenario with its config at the top level: put %s under config:", strings.Join(cfg, ", "))
	case len(sc) > 0:
		msg += fmt.Sprintf("; it looks like a scenario (it has %s) without config: or config_file:", strings.Join(sc, ", "))
	case len(cfg) > 0:
		msg += fmt.Sprintf("; it looks like an hsu config (it has %s) without workers:", strings.Join(cfg, ", "))
	case len(other) == 0:
		msg += "; it has no keys"
	default:
		msg += fmt.Sprintf("; its top-level keys are %s", strings.Join(other, ", "))
	}
	known := append(slices.Clone(scenarioKeys), configKeys...)
	for _, k := range other {
		if s := closest(k, known); s != "" {
			msg += fmt.Sprintf("; %s: did you mean %s?", k, s)
		}
	}
	return KindScenario, &NeitherError{Msg: msg}
}

// FromConfig makes a scenario of a plain hsu config: named after the file,
// ConfigDuration long, seed ConfigSeed, no behaviours (every process starts
// at once, stays up and is healthy), no faults and no expectations. The
// config is loaded the way hsu validate loads it, so include and env_file
// resolve relative to the file and its errors keep their file:line:col.
func FromConfig(path string, data []byte) (*Scenario, error) {
	cfg, err := config.Parse(path, data, config.Options{})
	if err != nil {
		return nil, err
	}
	name := filepath.Base(path)
	if ext := filepath.Ext(name); ext == ".yaml" || ext == ".yml" {
		name = strings.TrimSuffix(name, ext)
	}
	return &Scenario{
		Name:     name,
		Seed:     ConfigSeed,
		Duration: config.Duration(ConfigDuration),
		File:     path,
		Cfg:      cfg,
	}, nil
}

// closest is the known key within two edits of s (a plausible typo), or "".
func closest(s string, known []string) string {
	best, bestD := "", 3
	for _, k := range known {
		if d := editDistance(s, k); d < bestD && d < len(s) {
			best, bestD = k, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
