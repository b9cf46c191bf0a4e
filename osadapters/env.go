package osadapters

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"syscall"

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

// errnoName turns a spawn error into the errno name the engine reasons
// about (ENOENT is permanent, EAGAIN is not, ...).
func errnoName(err error) string {
	var errno syscall.Errno
	switch {
	case errors.As(err, &errno): // first: EPERM is not EACCES
		if name, ok := errnoNames[errno]; ok {
			return name
		}
		return "E" + strconv.Itoa(int(errno))
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return "ENOENT"
	case errors.Is(err, os.ErrPermission):
		return "EACCES"
	}
	return "EIO"
}

var errnoNames = map[syscall.Errno]string{
	syscall.ENOENT: "ENOENT", syscall.EACCES: "EACCES", syscall.EPERM: "EPERM", syscall.ENOEXEC: "ENOEXEC",
	syscall.ENOTDIR: "ENOTDIR", syscall.EISDIR: "EISDIR", syscall.ELOOP: "ELOOP", syscall.ENAMETOOLONG: "ENAMETOOLONG",
	syscall.EAGAIN: "EAGAIN", syscall.ENOMEM: "ENOMEM", syscall.EMFILE: "EMFILE", syscall.ENFILE: "ENFILE", syscall.EINVAL: "EINVAL",
}
