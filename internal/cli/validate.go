package cli

import (
	"fmt"
	"io"

	"github.com/hsu-run/hsu/config"
	"github.com/hsu-run/hsu/osadapters/platform"
)

// defaultConfig is the file used when -f is not given.
const defaultConfig = "hsu.yaml"

// thisPlatform reports what this OS (and build) cannot enforce, at validation.
var thisPlatform config.Platform = platform.ThisPlatform()

func loadConfig(path string) (*config.Config, error) {
	return config.Load(path, config.Options{Platform: thisPlatform})
}

func cmdValidate(args []string, out, errOut io.Writer) int {
	fs := newFlags("validate", errOut)
	file := fs.StringP("file", "f", defaultConfig, "config file")
	if code, done := parse(fs, args); done {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(errOut, "hsu validate: unexpected argument %q (use -f FILE)\n", fs.Arg(0))
		return exitUsage
	}
	cfg, err := loadConfig(*file)
	if err != nil {
		printLoadError(errOut, "validate", *file, err)
		return exitFailure
	}
	replicas := 0
	for _, w := range cfg.Workers {
		replicas += w.Replicas
	}
	fmt.Fprintf(out, "%s: ok: %d worker%s, %d instance%s\n", *file, len(cfg.Workers), plural(len(cfg.Workers)), replicas, plural(replicas))
	return exitOK
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

func cmdSchema(args []string, out, errOut io.Writer) int {
	fs := newFlags("schema", errOut)
	if code, done := parse(fs, args); done {
		return code
	}
	b, err := config.JSONSchema()
	if err != nil {
		fmt.Fprintf(errOut, "hsu schema: %v\n", err)
		return exitFailure
	}
	out.Write(append(b, '\n'))
	return exitOK
}
