package osadapters

import (
	"fmt"
	"os"
	"slices"
	"strconv"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/engine"
)

// workerEnv is hsu's environment, then the env_files in order, then env,
// then HSU_WORKER and HSU_REPLICA (later wins).
func workerEnv(spec *config.Worker, h engine.Handle) ([]string, error) {
	vars := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vars[k]; !ok {
			order = append(order, k)
		}
		vars[k] = v
	}
	for _, kv := range os.Environ() {
		for i := 0; i < len(kv); i++ {
			if kv[i] == '=' {
				set(kv[:i], kv[i+1:])
				break
			}
		}
	}
	for _, f := range spec.EnvFile {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("env_file: %w", err)
		}
		pairs, err := config.ParseEnvFile(data)
		if err != nil {
			return nil, fmt.Errorf("env_file %s: %w", f, err)
		}
		for _, p := range pairs {
			set(p[0], p[1])
		}
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range spec.Env {
			if !yield(k) {
				return
			}
		}
	}) {
		set(k, spec.Env[k])
	}
	set("HSU_WORKER", h.Worker)
	set("HSU_REPLICA", strconv.Itoa(h.Replica))
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vars[k])
	}
	return out, nil
}
