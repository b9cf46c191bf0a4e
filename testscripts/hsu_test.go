package testscripts

import (
	"os"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/hsu-run/hsu/internal/cli"
)

// TestMain makes this test binary double as the hsu program: scripts run
// `exec hsu ...`, which re-executes the binary into cli.Run, so the scripts
// exercise the real CLI without a separate build step.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"hsu": func() { os.Exit(cli.Run(os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

func TestHsu(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/hsu",
		// Scripts write `exec hsu ...`, so each reads like the shell
		// session it stands for.
		RequireExplicitExec: true,
	})
}
